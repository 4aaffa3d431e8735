CREATE TABLE IF NOT EXISTS stats_hourly (
    started_at          BIGINT       NOT NULL,
    channel_name        VARCHAR(191) NOT NULL,
    model_requested     VARCHAR(191) NOT NULL,
    token_id            BIGINT       NOT NULL,
    requests            BIGINT       NOT NULL,
    errors              BIGINT       NOT NULL,
    input_tokens        BIGINT       NOT NULL,
    output_tokens       BIGINT       NOT NULL,
    cache_read_tokens   BIGINT       NOT NULL,
    cache_write_tokens  BIGINT       NOT NULL,
    cost_micro_usd      BIGINT       NOT NULL,
    unpriced            BIGINT       NOT NULL,
    PRIMARY KEY (started_at, channel_name, model_requested, token_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
