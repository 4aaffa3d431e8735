-- Reported vs estimated usage in hourly aggregates (SQLite 0007_estimated.sql): requests whose
-- usage was counted locally, and their tokens and cost. Reported = total - estimated.
-- Every statement is idempotent: MySQL DDL is not transactional.
ALTER TABLE stats_hourly ADD COLUMN IF NOT EXISTS estimated_requests BIGINT NOT NULL DEFAULT 0;
ALTER TABLE stats_hourly ADD COLUMN IF NOT EXISTS estimated_input_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE stats_hourly ADD COLUMN IF NOT EXISTS estimated_output_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE stats_hourly ADD COLUMN IF NOT EXISTS estimated_cost_micro_usd BIGINT NOT NULL DEFAULT 0;
