CREATE TABLE IF NOT EXISTS rate_events (
    key_name  VARCHAR(191) NOT NULL,
    ts_ms     BIGINT       NOT NULL,
    INDEX rate_events_key (key_name, ts_ms)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS limit_locks (
    key_name  VARCHAR(191) NOT NULL PRIMARY KEY
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS leases (
    lease_id  VARCHAR(191) NOT NULL PRIMARY KEY,
    key_name  VARCHAR(191) NOT NULL,
    until_ms  BIGINT       NOT NULL,
    INDEX leases_key (key_name, until_ms)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS spend (
    key_name   VARCHAR(191) NOT NULL PRIMARY KEY,
    micro_usd  BIGINT       NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

ALTER TABLE cooldowns ADD INDEX cooldowns_updated (updated_at);
