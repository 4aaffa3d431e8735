-- Hourly aggregates of request logs removed by retention, so statistics outlive raw rows.
-- Column names follow request_logs so the same grouping expressions apply.
CREATE TABLE stats_hourly (
    started_at          INTEGER NOT NULL,   -- hour start, unix ms
    channel_name        TEXT    NOT NULL,
    model_requested     TEXT    NOT NULL,
    token_id            INTEGER NOT NULL,   -- 0 = unauthenticated
    requests            INTEGER NOT NULL,
    errors              INTEGER NOT NULL,
    input_tokens        INTEGER NOT NULL,
    output_tokens       INTEGER NOT NULL,
    cache_read_tokens   INTEGER NOT NULL,
    cache_write_tokens  INTEGER NOT NULL,
    cost_micro_usd      INTEGER NOT NULL,
    unpriced            INTEGER NOT NULL,
    PRIMARY KEY (started_at, channel_name, model_requested, token_id)
);
