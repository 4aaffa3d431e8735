-- Admin API and dashboard: settings and admin sessions.
CREATE TABLE settings (
    key         TEXT    PRIMARY KEY,
    value       TEXT    NOT NULL,
    updated_at  INTEGER NOT NULL                 -- unix ms
);

-- Only the SHA-256 of a session token (and of its CSRF token) is stored.
CREATE TABLE admin_sessions (
    token_hash  TEXT    PRIMARY KEY,
    csrf_hash   TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
);
CREATE INDEX admin_sessions_expires ON admin_sessions(expires_at);

-- Log search by model and token, newest first.
CREATE INDEX request_logs_model ON request_logs(model_requested, id);
CREATE INDEX request_logs_token ON request_logs(token_id, id);
