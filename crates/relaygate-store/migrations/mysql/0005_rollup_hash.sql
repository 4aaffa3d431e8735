-- The hourly rollup was keyed by VARCHAR(191) copies of the channel and model names, while
-- request_logs holds them as TEXT: one model name longer than 191 characters made every later
-- rollup fail (and with it every retention cleanup). The names become TEXT and the key holds a
-- SHA-256 of both (length-prefixed so that no two pairs share a hash input) instead.
-- The expression must match ROLLUP_DIMS_HASH in mysql_shared.rs.
ALTER TABLE stats_hourly ADD COLUMN dims_hash BINARY(32) NULL;
UPDATE stats_hourly
   SET dims_hash = UNHEX(SHA2(CONCAT(CHAR_LENGTH(channel_name), ':', channel_name, model_requested), 256));
ALTER TABLE stats_hourly
    DROP PRIMARY KEY,
    MODIFY dims_hash       BINARY(32) NOT NULL,
    MODIFY channel_name    TEXT       NOT NULL,
    MODIFY model_requested TEXT       NOT NULL,
    ADD PRIMARY KEY (started_at, token_id, dims_hash);
