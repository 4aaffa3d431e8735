-- Channels: one upstream account each.
CREATE TABLE channels (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL UNIQUE,
    protocol    TEXT    NOT NULL,
    base_urls   TEXT    NOT NULL,            -- JSON array of strings
    priority    INTEGER NOT NULL DEFAULT 0,
    weight      INTEGER NOT NULL DEFAULT 1,
    enabled     INTEGER NOT NULL DEFAULT 1,
    created_at  INTEGER NOT NULL,            -- unix ms
    updated_at  INTEGER NOT NULL
);

CREATE TABLE channel_keys (
    channel_id  INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    key_index   INTEGER NOT NULL,
    secret      TEXT    NOT NULL,
    enabled     INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (channel_id, key_index)
);

CREATE TABLE channel_models (
    channel_id      INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    position        INTEGER NOT NULL,
    model           TEXT    NOT NULL,
    upstream_model  TEXT,                    -- redirect target, NULL when the same
    PRIMARY KEY (channel_id, model)
);
CREATE INDEX channel_models_model ON channel_models(model);

-- Client tokens: only the SHA-256 of the plaintext is kept.
CREATE TABLE client_tokens (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL UNIQUE,
    token_hash  TEXT    NOT NULL UNIQUE,
    hint        TEXT    NOT NULL,
    enabled     INTEGER NOT NULL DEFAULT 1,
    expires_at  INTEGER,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- One row per client request. No foreign key to channels: history outlives a deleted channel.
CREATE TABLE request_logs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id       TEXT    NOT NULL UNIQUE,
    started_at       INTEGER NOT NULL,
    token_id         INTEGER,
    client_protocol  TEXT    NOT NULL,
    model_requested  TEXT    NOT NULL,
    model_sent       TEXT,
    channel_id       INTEGER,
    channel_name     TEXT,
    key_index        INTEGER,
    upstream_url     TEXT,
    status           INTEGER NOT NULL,
    attempts         INTEGER NOT NULL,
    duration_ms      INTEGER NOT NULL,
    first_byte_ms    INTEGER,
    is_stream        INTEGER NOT NULL,
    error            TEXT
);
CREATE INDEX request_logs_started ON request_logs(started_at);
CREATE INDEX request_logs_channel ON request_logs(channel_id, started_at);
