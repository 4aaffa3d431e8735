-- The MySQL / MariaDB schema, equal to the SQLite schema after sqlite/0001..0003.
-- Portable to MySQL 8 and MariaDB 10.11: InnoDB, utf8mb4 with a binary collation (names compare
-- exactly, as in SQLite), BIGINT unix-ms timestamps, VARCHAR(191) for indexed strings.
-- Every statement is idempotent (IF NOT EXISTS) because MySQL DDL is not transactional: a
-- migration cut halfway is simply run again.

-- Channels: one upstream account each.
CREATE TABLE IF NOT EXISTS channels (
    id               BIGINT       NOT NULL AUTO_INCREMENT,
    name             VARCHAR(191) NOT NULL,
    protocol         VARCHAR(64)  NOT NULL,
    base_urls        TEXT         NOT NULL,            -- JSON array of strings
    priority         BIGINT       NOT NULL DEFAULT 0,
    weight           INT UNSIGNED NOT NULL DEFAULT 1,
    enabled          TINYINT(1)   NOT NULL DEFAULT 1,
    created_at       BIGINT       NOT NULL,            -- unix ms
    updated_at       BIGINT       NOT NULL,
    key_strategy     VARCHAR(32)  NOT NULL DEFAULT 'sequential',
    rpm_limit        INT UNSIGNED NOT NULL DEFAULT 0,
    max_concurrency  INT UNSIGNED NOT NULL DEFAULT 0,
    available_hours  VARCHAR(64)  NULL,
    PRIMARY KEY (id),
    UNIQUE KEY channels_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS channel_keys (
    channel_id  BIGINT       NOT NULL,
    key_index   INT UNSIGNED NOT NULL,
    secret      TEXT         NOT NULL,
    enabled     TINYINT(1)   NOT NULL DEFAULT 1,
    PRIMARY KEY (channel_id, key_index),
    CONSTRAINT channel_keys_channel FOREIGN KEY (channel_id) REFERENCES channels (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS channel_models (
    channel_id      BIGINT       NOT NULL,
    position        INT UNSIGNED NOT NULL,
    model           VARCHAR(191) NOT NULL,
    upstream_model  TEXT         NULL,                 -- redirect target, NULL when the same
    PRIMARY KEY (channel_id, model),
    KEY channel_models_model (model),
    CONSTRAINT channel_models_channel FOREIGN KEY (channel_id) REFERENCES channels (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Client tokens: only the SHA-256 of the plaintext is kept.
CREATE TABLE IF NOT EXISTS client_tokens (
    id                BIGINT       NOT NULL AUTO_INCREMENT,
    name              VARCHAR(191) NOT NULL,
    token_hash        VARCHAR(191) NOT NULL,
    hint              TEXT         NOT NULL,
    enabled           TINYINT(1)   NOT NULL DEFAULT 1,
    expires_at        BIGINT       NULL,
    created_at        BIGINT       NOT NULL,
    updated_at        BIGINT       NOT NULL,
    allowed_models    TEXT         NULL,               -- JSON array; NULL = no restriction
    allowed_channels  TEXT         NULL,
    max_concurrency   INT UNSIGNED NOT NULL DEFAULT 0,
    PRIMARY KEY (id),
    UNIQUE KEY client_tokens_name (name),
    UNIQUE KEY client_tokens_hash (token_hash)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One row per client request. No foreign key to channels: history outlives a deleted channel.
CREATE TABLE IF NOT EXISTS request_logs (
    id                  BIGINT            NOT NULL AUTO_INCREMENT,
    request_id          VARCHAR(191)      NOT NULL,
    started_at          BIGINT            NOT NULL,
    token_id            BIGINT            NULL,
    client_protocol     TEXT              NOT NULL,
    model_requested     TEXT              NOT NULL,
    model_sent          TEXT              NULL,
    channel_id          BIGINT            NULL,
    channel_name        TEXT              NULL,
    key_index           INT UNSIGNED      NULL,
    upstream_url        TEXT              NULL,
    status              SMALLINT UNSIGNED NOT NULL,
    attempts            INT UNSIGNED      NOT NULL,
    duration_ms         BIGINT            NOT NULL,
    first_byte_ms       BIGINT            NULL,
    is_stream           TINYINT(1)        NOT NULL,
    error               TEXT              NULL,
    input_tokens        BIGINT            NULL,
    output_tokens       BIGINT            NULL,
    cache_read_tokens   BIGINT            NULL,
    cache_write_tokens  BIGINT            NULL,
    reasoning_tokens    BIGINT            NULL,
    usage_estimated     TINYINT(1)        NOT NULL DEFAULT 0,
    cost_micro_usd      BIGINT            NULL,            -- integer micro-dollars
    unpriced            TINYINT(1)        NOT NULL DEFAULT 0,
    PRIMARY KEY (id),
    UNIQUE KEY request_logs_request (request_id),
    KEY request_logs_started (started_at),
    KEY request_logs_channel (channel_id, started_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Cooldowns that outlive the process. `target` is e.g. `channel:3`, `key:3:1`, `url:3:0`,
-- `model:3:claude-x`.
CREATE TABLE IF NOT EXISTS cooldowns (
    target       VARCHAR(191)  NOT NULL,
    until_ms     BIGINT        NOT NULL,
    interval_ms  BIGINT        NOT NULL,
    failures     INT UNSIGNED  NOT NULL,
    reason       TEXT          NOT NULL,
    updated_at   BIGINT        NOT NULL,
    PRIMARY KEY (target)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Every upstream attempt of a request, in order.
CREATE TABLE IF NOT EXISTS request_attempts (
    request_id      VARCHAR(191)      NOT NULL,
    seq             INT UNSIGNED      NOT NULL,
    channel_id      BIGINT            NULL,
    channel_name    TEXT              NULL,
    key_index       INT UNSIGNED      NULL,
    upstream_url    TEXT              NULL,
    status          SMALLINT UNSIGNED NULL,
    outcome         TEXT              NOT NULL,
    scope           TEXT              NULL,
    cooldown_until  BIGINT            NULL,
    duration_ms     BIGINT            NOT NULL,
    error           TEXT              NULL,
    PRIMARY KEY (request_id, seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
