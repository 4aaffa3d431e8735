-- State shared by gateway instances: rate windows, concurrency leases, spend counters.
CREATE TABLE rate_events (
    key_name  TEXT    NOT NULL,
    ts_ms     INTEGER NOT NULL
);
CREATE INDEX rate_events_key ON rate_events(key_name, ts_ms);

CREATE TABLE leases (
    lease_id  TEXT    PRIMARY KEY,
    key_name  TEXT    NOT NULL,
    until_ms  INTEGER NOT NULL
);
CREATE INDEX leases_key ON leases(key_name, until_ms);

CREATE TABLE spend (
    key_name   TEXT    PRIMARY KEY,
    micro_usd  INTEGER NOT NULL
);

-- Instances poll cooldown changes by time.
CREATE INDEX cooldowns_updated ON cooldowns(updated_at);
