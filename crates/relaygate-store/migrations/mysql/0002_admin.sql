-- Admin API and dashboard: settings and admin sessions (SQLite 0004_admin.sql).
-- Every statement is idempotent: MySQL DDL is not transactional.

CREATE TABLE IF NOT EXISTS settings (
    `key`       VARCHAR(128) NOT NULL,
    value       MEDIUMTEXT   NOT NULL,
    updated_at  BIGINT       NOT NULL,            -- unix ms
    PRIMARY KEY (`key`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Only the SHA-256 of a session token (and of its CSRF token) is stored.
CREATE TABLE IF NOT EXISTS admin_sessions (
    token_hash  VARCHAR(64)  NOT NULL,
    csrf_hash   VARCHAR(64)  NOT NULL,
    created_at  BIGINT       NOT NULL,
    expires_at  BIGINT       NOT NULL,
    PRIMARY KEY (token_hash),
    KEY admin_sessions_expires (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
