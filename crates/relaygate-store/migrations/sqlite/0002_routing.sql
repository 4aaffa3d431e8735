-- Routing rules and limits per channel.
ALTER TABLE channels ADD COLUMN key_strategy TEXT NOT NULL DEFAULT 'sequential';
ALTER TABLE channels ADD COLUMN rpm_limit INTEGER NOT NULL DEFAULT 0;
ALTER TABLE channels ADD COLUMN max_concurrency INTEGER NOT NULL DEFAULT 0;
ALTER TABLE channels ADD COLUMN available_hours TEXT;

-- Restrictions per client token (JSON arrays; NULL = no restriction).
ALTER TABLE client_tokens ADD COLUMN allowed_models TEXT;
ALTER TABLE client_tokens ADD COLUMN allowed_channels TEXT;
ALTER TABLE client_tokens ADD COLUMN max_concurrency INTEGER NOT NULL DEFAULT 0;

-- Cooldowns that outlive the process. `target` is e.g. `channel:3`, `key:3:1`, `url:3:0`,
-- `model:3:claude-x`.
CREATE TABLE cooldowns (
    target       TEXT    PRIMARY KEY,
    until_ms     INTEGER NOT NULL,
    interval_ms  INTEGER NOT NULL,
    failures     INTEGER NOT NULL,
    reason       TEXT    NOT NULL,
    updated_at   INTEGER NOT NULL
);

-- Every upstream attempt of a request, in order.
CREATE TABLE request_attempts (
    request_id      TEXT    NOT NULL,
    seq             INTEGER NOT NULL,
    channel_id      INTEGER,
    channel_name    TEXT,
    key_index       INTEGER,
    upstream_url    TEXT,
    status          INTEGER,
    outcome         TEXT    NOT NULL,
    scope           TEXT,
    cooldown_until  INTEGER,
    duration_ms     INTEGER NOT NULL,
    error           TEXT,
    PRIMARY KEY (request_id, seq)
);
