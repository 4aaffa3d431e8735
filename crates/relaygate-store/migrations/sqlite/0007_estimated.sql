-- Reported vs estimated usage in hourly aggregates: requests whose usage was counted locally
-- (the upstream reported none, an implausible one, or the stream was cut), and their tokens
-- and cost. Reported = total - estimated.
ALTER TABLE stats_hourly ADD COLUMN estimated_requests INTEGER NOT NULL DEFAULT 0;
ALTER TABLE stats_hourly ADD COLUMN estimated_input_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE stats_hourly ADD COLUMN estimated_output_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE stats_hourly ADD COLUMN estimated_cost_micro_usd INTEGER NOT NULL DEFAULT 0;
