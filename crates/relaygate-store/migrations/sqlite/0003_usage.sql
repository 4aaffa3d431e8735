-- Tokens and money per request (issue: tokens and money). Money is integer micro-dollars.
ALTER TABLE request_logs ADD COLUMN input_tokens INTEGER;
ALTER TABLE request_logs ADD COLUMN output_tokens INTEGER;
ALTER TABLE request_logs ADD COLUMN cache_read_tokens INTEGER;
ALTER TABLE request_logs ADD COLUMN cache_write_tokens INTEGER;
ALTER TABLE request_logs ADD COLUMN reasoning_tokens INTEGER;
ALTER TABLE request_logs ADD COLUMN usage_estimated INTEGER NOT NULL DEFAULT 0;
ALTER TABLE request_logs ADD COLUMN cost_micro_usd INTEGER;
ALTER TABLE request_logs ADD COLUMN unpriced INTEGER NOT NULL DEFAULT 0;
