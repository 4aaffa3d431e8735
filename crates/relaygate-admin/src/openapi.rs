//! The OpenAPI 3.0 document of the admin API, written by hand and served at
//! `/admin/api/openapi.json`. A test checks that it lists exactly the routes in
//! [`crate::api::ROUTES`].

use serde_json::{Map, Value, json};

fn path_params(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| {
            let ty = if name == "id" || name == "index" {
                "integer"
            } else {
                "string"
            };
            json!({"name": name, "in": "path", "required": true, "schema": {"type": ty}})
        })
        .collect()
}

fn query(name: &str, ty: &str, description: &str) -> Value {
    json!({"name": name, "in": "query", "required": false, "schema": {"type": ty}, "description": description})
}

/// (method, path, summary, request schema, extra query parameters)
type Op = (
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    Vec<Value>,
);

fn operations() -> Vec<Op> {
    let window = || {
        vec![
            query("from", "integer", "window start, unix ms"),
            query("to", "integer", "window end (exclusive), unix ms"),
        ]
    };
    let mut logs = window();
    logs.extend([
        query("channel_id", "integer", "only this channel"),
        query("model", "string", "only this requested model"),
        query("token_id", "integer", "only this client token"),
        query("status", "string", "`ok`, `failed` or an HTTP status"),
        query("q", "string", "text in request id, model, channel or error"),
        query("cursor", "integer", "next_cursor of the previous page"),
        query("limit", "integer", "rows per page, 1 to 1000 (default 50)"),
    ]);
    let mut stats = window();
    stats.extend([
        query("bucket", "string", "`total` (default), `hour` or `day`"),
        query(
            "group_by",
            "string",
            "`none` (default), `channel`, `model` or `token`",
        ),
    ]);
    vec![
        (
            "POST",
            "/admin/api/login",
            "Log in: returns a session token (also set as an HttpOnly cookie) and a CSRF token",
            Some("Login"),
            vec![],
        ),
        ("POST", "/admin/api/logout", "End the session", None, vec![]),
        (
            "GET",
            "/admin/api/session",
            "Check the session",
            None,
            vec![],
        ),
        (
            "POST",
            "/admin/api/password",
            "Change the admin password (ends every session)",
            Some("PasswordChange"),
            vec![],
        ),
        (
            "GET",
            "/admin/api/openapi.json",
            "This document",
            None,
            vec![],
        ),
        (
            "GET",
            "/admin/api/overview",
            "Counts and counters since start",
            None,
            vec![],
        ),
        (
            "GET",
            "/admin/api/channels",
            "List channels with health, cooldowns and in-flight counts (keys masked)",
            None,
            vec![],
        ),
        (
            "POST",
            "/admin/api/channels",
            "Create a channel",
            Some("ChannelInput"),
            vec![],
        ),
        (
            "POST",
            "/admin/api/channels/export",
            "Export every channel, keys in full (POST with CSRF; written to the audit log)",
            None,
            vec![],
        ),
        (
            "POST",
            "/admin/api/channels/import",
            "Create or update channels by name",
            Some("ChannelsDocument"),
            vec![],
        ),
        (
            "POST",
            "/admin/api/channels/export.csv",
            "Export every channel as CSV, keys in full (POST with CSRF; written to the audit log) (one row per channel; lists one item per line in a cell)",
            None,
            vec![],
        ),
        (
            "POST",
            "/admin/api/channels/import.csv",
            "Create or update channels by name from CSV (the columns of the CSV export)",
            Some("ChannelsCsv"),
            vec![],
        ),
        (
            "GET",
            "/admin/api/channels/{id}",
            "One channel (keys masked)",
            None,
            vec![],
        ),
        (
            "PUT",
            "/admin/api/channels/{id}",
            "Replace a channel's settings; omitted keys are kept",
            Some("ChannelInput"),
            vec![],
        ),
        (
            "DELETE",
            "/admin/api/channels/{id}",
            "Delete a channel (its logs are kept)",
            None,
            vec![],
        ),
        (
            "POST",
            "/admin/api/channels/{id}/enable",
            "Enable a channel",
            None,
            vec![],
        ),
        (
            "POST",
            "/admin/api/channels/{id}/disable",
            "Disable a channel",
            None,
            vec![],
        ),
        (
            "POST",
            "/admin/api/channels/{id}/keys/reveal",
            "Show a channel's keys in full",
            None,
            vec![],
        ),
        (
            "POST",
            "/admin/api/channels/{id}/keys/{index}/enable",
            "Enable one key",
            None,
            vec![],
        ),
        (
            "POST",
            "/admin/api/channels/{id}/keys/{index}/disable",
            "Disable one key",
            None,
            vec![],
        ),
        (
            "POST",
            "/admin/api/channels/{id}/urls/{index}/enable",
            "Switch a base URL back on (ends its manual switch-off or cooldown)",
            None,
            vec![],
        ),
        (
            "POST",
            "/admin/api/channels/{id}/urls/{index}/disable",
            "Switch a base URL off: routing skips it unless it is the channel's only URL",
            None,
            vec![],
        ),
        (
            "POST",
            "/admin/api/channels/{id}/test",
            "Send one small real request (\"Say hi\", 16 tokens) to the channel's first URL; returns ok, status, latency_ms, first_byte_ms, answer_text and error. Cooldowns are not touched",
            Some("ChannelTestInput"),
            vec![],
        ),
        (
            "GET",
            "/admin/api/channels/{id}/upstream-models",
            "The model ids the channel's upstream lists (GET /v1/models or /v1beta/models); 502 if it fails",
            None,
            vec![],
        ),
        (
            "GET",
            "/admin/api/tokens",
            "List client tokens (hints only)",
            None,
            vec![],
        ),
        (
            "POST",
            "/admin/api/tokens",
            "Create a client token; the plaintext is in this answer only",
            Some("TokenInput"),
            vec![],
        ),
        (
            "PUT",
            "/admin/api/tokens/{id}",
            "Change a token's restrictions, expiry or enabled flag",
            Some("TokenInput"),
            vec![],
        ),
        (
            "DELETE",
            "/admin/api/tokens/{id}",
            "Delete a client token",
            None,
            vec![],
        ),
        (
            "GET",
            "/admin/api/logs",
            "Search request logs, newest first, with cursor pagination",
            None,
            logs,
        ),
        (
            "GET",
            "/admin/api/logs/{request_id}",
            "One request with its attempt trail",
            None,
            vec![],
        ),
        (
            "GET",
            "/admin/api/active",
            "Requests in flight now",
            None,
            vec![],
        ),
        (
            "GET",
            "/admin/api/active/stream",
            "Requests in flight, pushed every 500 ms as `event: active` SSE frames (text/event-stream)",
            None,
            vec![],
        ),
        (
            "GET",
            "/admin/api/cooldowns",
            "Everything cooling now, with reason and remaining time",
            None,
            vec![],
        ),
        (
            "POST",
            "/admin/api/cooldowns/clear",
            "End one cooldown now",
            Some("ClearCooldown"),
            vec![],
        ),
        (
            "GET",
            "/admin/api/stats",
            "Requests, errors, tokens, cost and latency percentiles per bucket and group",
            None,
            stats,
        ),
        (
            "GET",
            "/admin/api/settings",
            "Dashboard settings with defaults",
            None,
            vec![],
        ),
        (
            "PUT",
            "/admin/api/settings/{key}",
            "Change a setting",
            Some("SettingValue"),
            vec![],
        ),
        (
            "DELETE",
            "/admin/api/settings/{key}",
            "Reset a setting to its default",
            None,
            vec![],
        ),
        (
            "GET",
            "/admin/api/prices",
            "Prices in force (dollars per million tokens, as exact decimal strings), the operator's stored table (TOML) and the models served without a price in the last 30 days",
            None,
            vec![],
        ),
        (
            "PUT",
            "/admin/api/prices",
            "Replace the operator's price table (TOML, read on top of the built-in one); in force at once here and within seconds on every instance; an empty table removes it",
            Some("PricesInput"),
            vec![],
        ),
        (
            "GET",
            "/admin/api/usage.csv",
            "Usage and cost per client token per UTC day as CSV (reported and estimated apart, exact dollars); from and to in unix ms, default the last 31 days",
            None,
            vec![
                query("from", "integer", "window start, unix ms"),
                query("to", "integer", "window end, unix ms"),
            ],
        ),
    ]
}

fn schemas() -> Value {
    let key = json!({"oneOf": [
        {"type": "string", "description": "a new key"},
        {"type": "object", "properties": {
            "secret": {"type": "string"}, "keep": {"type": "integer", "description": "index of an existing key to keep"},
            "enabled": {"type": "boolean", "default": true}}}
    ]});
    let model = json!({"oneOf": [
        {"type": "string"},
        {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}, "upstream": {"type": "string"}}}
    ]});
    json!({
        "Error": {"type": "object", "properties": {"error": {"type": "object", "properties": {
            "message": {"type": "string"}, "field": {"type": "string", "description": "the offending field, for 400"}}}}},
        "Login": {"type": "object", "required": ["password"], "properties": {"password": {"type": "string"}}},
        "PasswordChange": {"type": "object", "required": ["current", "new"], "properties": {
            "current": {"type": "string"}, "new": {"type": "string", "minLength": 8}}},
        "ChannelInput": {"type": "object", "required": ["name", "protocol", "base_urls", "models"], "properties": {
            "name": {"type": "string", "maxLength": 191},
            "protocol": {"type": "string", "enum": ["anthropic", "openai", "responses", "gemini"]},
            "base_urls": {"type": "array", "items": {"type": "string", "format": "uri"}, "minItems": 1},
            "keys": {"type": "array", "items": key, "description": "required on create"},
            "models": {"type": "array", "items": model, "minItems": 1},
            "priority": {"type": "integer", "default": 0},
            "weight": {"type": "integer", "minimum": 1, "default": 1},
            "enabled": {"type": "boolean", "default": true},
            "key_strategy": {"type": "string", "enum": ["sequential", "round_robin"]},
            "rpm_limit": {"type": "integer", "minimum": 0},
            "max_concurrency": {"type": "integer", "minimum": 0},
            "available_hours": {"type": "string", "example": "22:00-06:00"}}},
        "ChannelsDocument": {"type": "object", "required": ["version", "channels"], "properties": {
            "version": {"type": "integer", "enum": [1]},
            "channels": {"type": "array", "items": {"$ref": "#/components/schemas/ChannelInput"}}}},
        "TokenInput": {"type": "object", "properties": {
            "name": {"type": "string", "description": "required on create; cannot change"},
            "enabled": {"type": "boolean"}, "expires_at_ms": {"type": "integer", "nullable": true},
            "allowed_models": {"type": "array", "items": {"type": "string"}},
            "allowed_channels": {"type": "array", "items": {"type": "string"}},
            "max_concurrency": {"type": "integer", "minimum": 0}}},
        "ChannelsCsv": {"type": "string", "description": "CSV with a header row; columns name, protocol, enabled, priority, weight, base_urls, keys, disabled_keys, models, key_strategy, rpm_limit, max_concurrency, available_hours (name, protocol, base_urls, keys and models required). List cells hold one item per line; a model redirect is written name=>upstream; disabled_keys lists key positions from 0."},
        "ChannelTestInput": {"type": "object", "properties": {
            "model": {"type": "string", "description": "default: the channel's first model; a client name follows its redirect"},
            "key_index": {"type": "integer", "minimum": 0, "description": "default: the first enabled key"}}},
        "ClearCooldown": {"type": "object", "required": ["target"], "properties": {
            "target": {"type": "string", "example": "key:3:1"}}},
        "SettingValue": {"type": "object", "required": ["value"], "properties": {"value": {"type": "string"}}},
        "PricesInput": {"type": "object", "required": ["table"], "properties": {"table": {"type": "string", "description": "a price table in TOML (docs/tokens.md); empty removes it"}}},
    })
}

/// The document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for (method, path, summary, body, extra) in operations() {
        let mut params = path_params(path);
        params.extend(extra);
        let mut op = json!({
            "summary": summary,
            "parameters": params,
            "responses": {
                "200": {"description": "OK", "content": {"application/json": {}}},
                "400": {"description": "Bad input; `error.field` names the field",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                "401": {"description": "No valid admin session"},
            },
        });
        if path != "/admin/api/login" {
            op["security"] = json!([{"bearer": []}, {"cookie": []}]);
        } else {
            op["security"] = json!([]);
            op["responses"]["429"] = json!({"description": "Locked out after repeated failures"});
        }
        if let Some(schema) = body {
            let (required, content_type) = match schema {
                "ChannelTestInput" => (false, "application/json"),
                "ChannelsCsv" => (true, "text/csv"),
                _ => (true, "application/json"),
            };
            op["requestBody"] = json!({"required": required, "content": {content_type: {
                "schema": {"$ref": format!("#/components/schemas/{schema}")}}}});
        }
        if path.ends_with("/export.csv") {
            op["responses"]["200"] = json!({"description": "OK", "content": {"text/csv": {}}});
        }
        if path.ends_with("/upstream-models") {
            op["responses"]["502"] =
                json!({"description": "The upstream could not be reached or refused"});
        }
        let entry = paths
            .entry(path.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(m) = entry {
            m.insert(method.to_ascii_lowercase(), op);
        }
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "relaygate admin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Manage channels, client tokens and settings; read logs, live requests, cooldowns and statistics. Cookie sessions must send x-relaygate-csrf on POST, PUT and DELETE.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "relaygate_session"},
            },
        },
    })
}
