//! The admin REST API under `/admin/api`. Every route but `POST /admin/api/login` needs an
//! admin session ([`crate::auth::require_session`]); every change is written to the store and
//! then loaded into the gateway with `Gateway::reload`, so it applies to the next request.
//!
//! [`ROUTES`] lists every route; the router is built from it and the OpenAPI document is
//! checked against it.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::{MethodRouter, delete, get, post, put};
use relaygate_protocol::Protocol;
use relaygate_store::{
    Bucket, Channel, ChannelLimits, ChannelSpec, ClientToken, GroupBy, KeyStrategy, LogFilter,
    LogQuery, LoggedRequest, ModelEntry, RequestLog, StatsQuery, StatsRow, StatusFilter,
    TokenLimits, TokenSpec,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::body::{JsonBody, Params};
use crate::{AppState, Error, Result, auth, now_ms};

type Json = axum::Json<Value>;

/// Longest name of a channel, token or model (MySQL's indexed `VARCHAR(191)`).
pub const MAX_NAME: usize = 191;
/// Longest upstream key.
pub const MAX_KEY: usize = 4096;
/// Longest base URL.
pub const MAX_URL: usize = 2048;
/// Most keys, URLs or models in one channel.
pub const MAX_ITEMS: usize = 1000;

/// Every admin API route: (method, path as in the OpenAPI document). The first is the only
/// one that needs no session.
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", "/admin/api/login"),
    ("POST", "/admin/api/logout"),
    ("GET", "/admin/api/session"),
    ("POST", "/admin/api/password"),
    ("GET", "/admin/api/openapi.json"),
    ("GET", "/admin/api/overview"),
    ("GET", "/admin/api/channels"),
    ("POST", "/admin/api/channels"),
    ("POST", "/admin/api/channels/export"),
    ("POST", "/admin/api/channels/import"),
    ("POST", "/admin/api/channels/export.csv"),
    ("POST", "/admin/api/channels/import.csv"),
    ("GET", "/admin/api/channels/{id}"),
    ("PUT", "/admin/api/channels/{id}"),
    ("DELETE", "/admin/api/channels/{id}"),
    ("POST", "/admin/api/channels/{id}/enable"),
    ("POST", "/admin/api/channels/{id}/disable"),
    ("POST", "/admin/api/channels/{id}/keys/reveal"),
    ("POST", "/admin/api/channels/{id}/keys/{index}/enable"),
    ("POST", "/admin/api/channels/{id}/keys/{index}/disable"),
    ("POST", "/admin/api/channels/{id}/urls/{index}/enable"),
    ("POST", "/admin/api/channels/{id}/urls/{index}/disable"),
    ("POST", "/admin/api/channels/{id}/test"),
    ("GET", "/admin/api/channels/{id}/upstream-models"),
    ("GET", "/admin/api/tokens"),
    ("POST", "/admin/api/tokens"),
    ("PUT", "/admin/api/tokens/{id}"),
    ("DELETE", "/admin/api/tokens/{id}"),
    ("GET", "/admin/api/logs"),
    ("GET", "/admin/api/logs/{request_id}"),
    ("GET", "/admin/api/active"),
    ("GET", "/admin/api/active/stream"),
    ("GET", "/admin/api/cooldowns"),
    ("POST", "/admin/api/cooldowns/clear"),
    ("GET", "/admin/api/stats"),
    ("GET", "/admin/api/settings"),
    ("PUT", "/admin/api/settings/{key}"),
    ("DELETE", "/admin/api/settings/{key}"),
    ("GET", "/admin/api/prices"),
    ("PUT", "/admin/api/prices"),
    ("GET", "/admin/api/usage.csv"),
];

fn handler_for(method: &str, path: &str) -> Option<MethodRouter<AppState>> {
    Some(match (method, path) {
        ("POST", "/admin/api/login") => post(auth::login),
        ("POST", "/admin/api/logout") => post(auth::logout),
        ("GET", "/admin/api/session") => get(session),
        ("POST", "/admin/api/password") => post(auth::change_password),
        ("GET", "/admin/api/openapi.json") => get(openapi),
        ("GET", "/admin/api/overview") => get(overview),
        ("GET", "/admin/api/channels") => get(list_channels),
        ("POST", "/admin/api/channels") => post(create_channel),
        ("POST", "/admin/api/channels/export") => post(export_channels),
        ("POST", "/admin/api/channels/import") => post(import_channels),
        ("POST", "/admin/api/channels/export.csv") => post(export_channels_csv),
        ("POST", "/admin/api/channels/import.csv") => post(import_channels_csv),
        ("GET", "/admin/api/channels/{id}") => get(get_channel),
        ("PUT", "/admin/api/channels/{id}") => put(update_channel),
        ("DELETE", "/admin/api/channels/{id}") => delete(delete_channel),
        ("POST", "/admin/api/channels/{id}/enable") => post(enable_channel),
        ("POST", "/admin/api/channels/{id}/disable") => post(disable_channel),
        ("POST", "/admin/api/channels/{id}/keys/reveal") => post(reveal_keys),
        ("POST", "/admin/api/channels/{id}/keys/{index}/enable") => post(enable_key),
        ("POST", "/admin/api/channels/{id}/keys/{index}/disable") => post(disable_key),
        ("POST", "/admin/api/channels/{id}/urls/{index}/enable") => post(enable_url),
        ("POST", "/admin/api/channels/{id}/urls/{index}/disable") => post(disable_url),
        ("POST", "/admin/api/channels/{id}/test") => post(test_channel),
        ("GET", "/admin/api/channels/{id}/upstream-models") => get(upstream_models),
        ("GET", "/admin/api/tokens") => get(list_tokens),
        ("POST", "/admin/api/tokens") => post(create_token),
        ("PUT", "/admin/api/tokens/{id}") => put(update_token),
        ("DELETE", "/admin/api/tokens/{id}") => delete(delete_token),
        ("GET", "/admin/api/logs") => get(search_logs),
        ("GET", "/admin/api/logs/{request_id}") => get(log_detail),
        ("GET", "/admin/api/active") => get(active),
        ("GET", "/admin/api/active/stream") => get(active_stream),
        ("GET", "/admin/api/cooldowns") => get(cooldowns),
        ("POST", "/admin/api/cooldowns/clear") => post(clear_cooldown),
        ("GET", "/admin/api/stats") => get(stats),
        ("GET", "/admin/api/settings") => get(list_settings),
        ("PUT", "/admin/api/settings/{key}") => put(set_setting),
        ("DELETE", "/admin/api/settings/{key}") => delete(reset_setting),
        ("GET", "/admin/api/prices") => get(crate::prices::get_prices),
        ("PUT", "/admin/api/prices") => put(crate::prices::put_prices),
        ("GET", "/admin/api/usage.csv") => get(crate::usage::usage_csv),
        _ => return None,
    })
}

/// The admin API router (before state is attached).
pub fn router(state: AppState) -> Router<AppState> {
    let mut public = Router::new();
    let mut private = Router::new();
    for (i, (method, path)) in ROUTES.iter().enumerate() {
        let Some(h) = handler_for(method, path) else {
            tracing::error!(%method, %path, "admin route without a handler");
            continue;
        };
        if i == 0 {
            public = public.route(path, h);
        } else {
            private = private.route(path, h);
        }
    }
    private = private.route_layer(axum::middleware::from_fn_with_state(
        state,
        auth::require_session,
    ));
    public.merge(private)
}

async fn reload(st: &AppState) -> Result<()> {
    st.gateway.reload().await?;
    Ok(())
}

fn id_param(text: &str, name: &str) -> Result<i64> {
    text.parse()
        .map_err(|_| Error::field(name, format!("{name} must be an integer, got {text:?}")))
}

// ---------------------------------------------------------------------------------------------
// Session, OpenAPI, overview.

async fn session() -> Json {
    axum::Json(json!({ "ok": true }))
}

async fn openapi() -> Json {
    axum::Json(crate::openapi::document())
}

async fn overview(State(st): State<AppState>) -> Result<Json> {
    let table = st.gateway.table();
    let channels = st.gateway.store().list_channels().await?;
    let tokens = st.gateway.store().list_tokens().await?;
    let mut requests = 0;
    let mut errors = 0;
    let mut cost = 0;
    let mut unpriced = 0;
    let mut tokens_in = 0;
    let mut tokens_out = 0;
    for s in st.gateway.observer().series() {
        requests += s.requests;
        errors += s.errors;
        cost += s.cost_micro_usd;
        unpriced += s.unpriced;
        tokens_in += s.input_tokens;
        tokens_out += s.output_tokens;
    }
    Ok(axum::Json(json!({
        "channels": channels.len(),
        "channels_enabled": channels.iter().filter(|c| c.enabled).count(),
        "channels_routable": table.channel_count(),
        "tokens": tokens.len(),
        "models": table.models(),
        "in_flight": st.gateway.active_requests().len(),
        "cooling": st.gateway.cooldowns().len(),
        "since_start": {
            "requests": requests, "errors": errors, "input_tokens": tokens_in,
            "output_tokens": tokens_out, "cost_micro_usd": cost, "unpriced": unpriced,
        },
        "now_ms": now_ms(),
    })))
}

// ---------------------------------------------------------------------------------------------
// Channels.

/// A key in a channel request: a new secret, or an existing key kept by index.
#[derive(Debug, Deserialize, Serialize, Clone, PartialEq, Eq)]
#[serde(untagged)]
pub enum KeyInput {
    /// A new key, enabled.
    Plain(String),
    /// A key with options.
    Full {
        /// The secret of a new key.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret: Option<String>,
        /// Keep the existing key with this index (update only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        keep: Option<u32>,
        /// Whether it is used (default true).
        #[serde(default = "yes")]
        enabled: bool,
    },
}

fn yes() -> bool {
    true
}

/// A model in a channel request: a name, or a name with an upstream redirect.
#[derive(Debug, Deserialize, Serialize, Clone, PartialEq, Eq)]
#[serde(untagged)]
pub enum ModelInput {
    /// The same name upstream.
    Plain(String),
    /// A redirect.
    Full {
        /// The name clients ask for.
        name: String,
        /// The name sent upstream.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        upstream: Option<String>,
    },
}

/// The body of a channel create, update or import.
#[derive(Debug, Deserialize, Serialize, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ChannelInput {
    /// Unique name.
    pub name: String,
    /// `anthropic`, `openai`, `responses` or `gemini`.
    pub protocol: String,
    /// Base URLs, tried in order.
    pub base_urls: Vec<String>,
    /// Keys (required on create; on update, omitted means keep all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<Vec<KeyInput>>,
    /// Models served.
    pub models: Vec<ModelInput>,
    /// Higher first.
    #[serde(default)]
    pub priority: i64,
    /// Share inside its priority.
    #[serde(default = "one")]
    pub weight: u32,
    /// Takes traffic.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// `sequential` or `round_robin`.
    #[serde(default = "sequential")]
    pub key_strategy: String,
    /// Requests per minute (0 = unlimited).
    #[serde(default)]
    pub rpm_limit: u32,
    /// Requests in flight (0 = unlimited).
    #[serde(default)]
    pub max_concurrency: u32,
    /// `HH:MM-HH:MM`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_hours: Option<String>,
}

fn one() -> u32 {
    1
}

fn sequential() -> String {
    "sequential".to_owned()
}

fn check_url(field: &str, url: &str) -> Result<()> {
    if url.len() > MAX_URL {
        return Err(Error::field(
            field,
            format!("{field} is longer than {MAX_URL} bytes"),
        ));
    }
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| {
            Error::field(
                field,
                format!("{field} must start with http:// or https://"),
            )
        })?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty()
        || host.contains('@')
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(Error::field(
            field,
            format!("{field} {url:?} is not a valid URL (host required, no credentials or spaces)"),
        ));
    }
    Ok(())
}

fn check_name(field: &str, name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(Error::field(field, format!("{field} must not be empty")));
    }
    if name.len() > MAX_NAME {
        return Err(Error::field(
            field,
            format!("{field} is longer than {MAX_NAME} bytes"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::field(
            field,
            format!("{field} contains control characters"),
        ));
    }
    Ok(())
}

/// Turns a request into a spec plus the enabled flag of each key, using `existing` for kept keys.
fn to_spec(input: ChannelInput, existing: Option<&Channel>) -> Result<(ChannelSpec, Vec<bool>)> {
    check_name("name", &input.name)?;
    let protocol: Protocol = input.protocol.parse().map_err(|_| {
        Error::field(
            "protocol",
            format!(
                "protocol {:?} is not anthropic, openai, responses or gemini",
                input.protocol
            ),
        )
    })?;
    if input.base_urls.is_empty() {
        return Err(Error::field(
            "base_urls",
            "base_urls needs at least one URL",
        ));
    }
    if input.base_urls.len() > MAX_ITEMS {
        return Err(Error::field("base_urls", "too many URLs"));
    }
    for (i, u) in input.base_urls.iter().enumerate() {
        check_url(&format!("base_urls[{i}]"), u)?;
    }
    let mut keys = Vec::new();
    let mut enabled = Vec::new();
    match input.keys {
        None => match existing {
            Some(c) => {
                for k in &c.keys {
                    keys.push(k.secret.clone());
                    enabled.push(k.enabled);
                }
            }
            None => return Err(Error::field("keys", "keys needs at least one key")),
        },
        Some(list) => {
            if list.len() > MAX_ITEMS {
                return Err(Error::field("keys", "too many keys"));
            }
            for (i, k) in list.into_iter().enumerate() {
                let field = format!("keys[{i}]");
                let (secret, keep, on) = match k {
                    KeyInput::Plain(s) => (Some(s), None, true),
                    KeyInput::Full {
                        secret,
                        keep,
                        enabled,
                    } => (secret, keep, enabled),
                };
                let secret = match (secret, keep) {
                    (Some(s), None) => s.trim().to_owned(),
                    (None, Some(idx)) => existing
                        .and_then(|c| c.keys.iter().find(|k| k.index == idx))
                        .map(|k| k.secret.clone())
                        .ok_or_else(|| {
                            Error::field(&field, format!("{field}: no existing key {idx} to keep"))
                        })?,
                    _ => {
                        return Err(Error::field(
                            &field,
                            format!("{field} needs exactly one of secret or keep"),
                        ));
                    }
                };
                if secret.is_empty()
                    || secret.len() > MAX_KEY
                    || secret.chars().any(char::is_control)
                {
                    return Err(Error::field(
                        &field,
                        format!("{field} must be 1 to {MAX_KEY} bytes without control characters"),
                    ));
                }
                keys.push(secret);
                enabled.push(on);
            }
            if keys.is_empty() {
                return Err(Error::field("keys", "keys needs at least one key"));
            }
        }
    }
    if input.models.is_empty() {
        return Err(Error::field("models", "models needs at least one model"));
    }
    if input.models.len() > MAX_ITEMS {
        return Err(Error::field("models", "too many models"));
    }
    let mut models = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, m) in input.models.into_iter().enumerate() {
        let field = format!("models[{i}]");
        let (name, upstream) = match m {
            ModelInput::Plain(n) => (n, None),
            ModelInput::Full { name, upstream } => (name, upstream),
        };
        let name = name.trim().to_owned();
        check_name(&field, &name)?;
        if let Some(u) = &upstream {
            check_name(&format!("{field}.upstream"), u)?;
        }
        if !seen.insert(name.clone()) {
            return Err(Error::field(
                &field,
                format!("model {name:?} is listed twice"),
            ));
        }
        models.push(ModelEntry {
            upstream: upstream.map(|u| u.trim().to_owned()).filter(|u| *u != name),
            name,
        });
    }
    let key_strategy = KeyStrategy::parse(&input.key_strategy).ok_or_else(|| {
        Error::field(
            "key_strategy",
            format!(
                "key_strategy {:?} is not sequential or round_robin",
                input.key_strategy
            ),
        )
    })?;
    if input.weight == 0 {
        return Err(Error::field("weight", "weight must be at least 1"));
    }
    let available_hours = input.available_hours.filter(|h| !h.trim().is_empty());
    let spec = ChannelSpec {
        name: input.name.trim().to_owned(),
        protocol,
        base_urls: input.base_urls,
        keys,
        models,
        priority: input.priority,
        weight: input.weight,
        enabled: input.enabled,
        limits: ChannelLimits {
            key_strategy,
            rpm: input.rpm_limit,
            max_concurrency: input.max_concurrency,
            available_hours,
        },
    };
    spec.validate().map_err(|e| {
        let msg = e.to_string();
        let field = if msg.contains("available_hours") {
            "available_hours"
        } else {
            "channel"
        };
        Error::field(field, msg)
    })?;
    Ok((spec, enabled))
}

/// Writes a spec and the keys' enabled flags; returns the id.
async fn save_channel(st: &AppState, spec: ChannelSpec, enabled: &[bool]) -> Result<i64> {
    let store = st.gateway.store();
    let id = store.upsert_channel(spec).await?;
    for (i, on) in enabled.iter().enumerate() {
        if !on {
            store
                .set_key_enabled(id, u32::try_from(i).unwrap_or(u32::MAX), false)
                .await?;
        }
    }
    Ok(id)
}

fn channel_json(c: &Channel, st: &AppState, reveal: bool) -> Value {
    let cooldowns: Vec<Value> = st
        .gateway
        .cooldowns()
        .into_iter()
        .filter(|v| v.channel_id == c.id)
        .map(|v| {
            json!({"target": v.target, "scope": v.scope, "remaining_ms": v.remaining_ms,
                   "until_ms": v.until_ms, "failures": v.failures})
        })
        .collect();
    let in_flight = st
        .gateway
        .active_requests()
        .iter()
        .filter(|a| a.channel.as_deref() == Some(c.name.as_str()))
        .count();
    let (mut requests, mut errors) = (0, 0);
    for s in st.gateway.observer().series() {
        if s.channel == c.name {
            requests += s.requests;
            errors += s.errors;
        }
    }
    json!({
        "id": c.id,
        "name": c.name,
        "protocol": c.protocol.as_str(),
        "base_urls": c.base_urls,
        "disabled_urls": st.gateway.disabled_urls(c.id),
        "keys": c.keys.iter().map(|k| {
            let mut v = json!({"index": k.index, "masked": relaygate_proxy::auth::mask(&k.secret), "enabled": k.enabled});
            if reveal { v["secret"] = Value::String(k.secret.clone()); }
            v
        }).collect::<Vec<_>>(),
        "models": c.models.iter().map(|m| json!({"name": m.name, "upstream": m.upstream})).collect::<Vec<_>>(),
        "priority": c.priority,
        "weight": c.weight,
        "enabled": c.enabled,
        "key_strategy": c.limits.key_strategy.as_str(),
        "rpm_limit": c.limits.rpm,
        "max_concurrency": c.limits.max_concurrency,
        "available_hours": c.limits.available_hours,
        "created_at_ms": c.created_at_ms,
        "updated_at_ms": c.updated_at_ms,
        "status": {"in_flight": in_flight, "cooldowns": cooldowns, "requests": requests, "errors": errors},
    })
}

async fn find_channel(st: &AppState, id: i64) -> Result<Channel> {
    st.gateway
        .store()
        .list_channels()
        .await?
        .into_iter()
        .find(|c| c.id == id)
        .ok_or_else(|| Error::NotFound(format!("channel {id}")))
}

async fn list_channels(State(st): State<AppState>) -> Result<Json> {
    let list = st.gateway.store().list_channels().await?;
    Ok(axum::Json(json!({
        "channels": list.iter().map(|c| channel_json(c, &st, false)).collect::<Vec<_>>()
    })))
}

async fn create_channel(
    State(st): State<AppState>,
    JsonBody(input): JsonBody<ChannelInput>,
) -> Result<(http::StatusCode, Json)> {
    let (spec, enabled) = to_spec(input, None)?;
    let exists = st
        .gateway
        .store()
        .list_channels()
        .await?
        .into_iter()
        .any(|c| c.name == spec.name);
    if exists {
        return Err(Error::Conflict(format!(
            "a channel named {:?} exists",
            spec.name
        )));
    }
    let id = save_channel(&st, spec, &enabled).await?;
    reload(&st).await?;
    let c = find_channel(&st, id).await?;
    Ok((
        http::StatusCode::CREATED,
        axum::Json(channel_json(&c, &st, false)),
    ))
}

async fn get_channel(State(st): State<AppState>, Path(id): Path<String>) -> Result<Json> {
    let c = find_channel(&st, id_param(&id, "id")?).await?;
    Ok(axum::Json(channel_json(&c, &st, false)))
}

async fn update_channel(
    State(st): State<AppState>,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<ChannelInput>,
) -> Result<Json> {
    let old = find_channel(&st, id_param(&id, "id")?).await?;
    if input.name.trim() != old.name {
        let taken = st
            .gateway
            .store()
            .list_channels()
            .await?
            .into_iter()
            .any(|c| c.name == input.name.trim());
        if taken {
            return Err(Error::Conflict(format!(
                "a channel named {:?} exists",
                input.name
            )));
        }
    }
    let (spec, enabled) = to_spec(input, Some(&old))?;
    let renamed = spec.name != old.name;
    let new_id = save_channel(&st, spec, &enabled).await?;
    if renamed {
        // Upserts go by name: a rename wrote a new row; drop the old one.
        st.gateway.store().delete_channel(old.id).await?;
    }
    reload(&st).await?;
    let c = find_channel(&st, new_id).await?;
    carry_url_switches(&st, old.id, Some((new_id, c.base_urls.len()))).await?;
    Ok(axum::Json(channel_json(&c, &st, false)))
}

/// URLs switched off by hand belong to a channel id and a URL position: after an update they
/// follow the channel to its new id (a rename) where the position still exists, and a deleted
/// channel leaves none behind.
async fn carry_url_switches(st: &AppState, old_id: i64, new: Option<(i64, usize)>) -> Result<()> {
    for i in st.gateway.disabled_urls(old_id) {
        match new {
            Some((new_id, len)) if new_id == old_id && i < len => continue,
            Some((new_id, len)) if i < len => {
                st.gateway.disable_url(new_id, i, true).await?;
            }
            _ => {}
        }
        st.gateway.clear_cooldown(&format!("url:{old_id}:{i}"));
    }
    Ok(())
}

async fn delete_channel(State(st): State<AppState>, Path(id): Path<String>) -> Result<Json> {
    let id = id_param(&id, "id")?;
    if !st.gateway.store().delete_channel(id).await? {
        return Err(Error::NotFound(format!("channel {id}")));
    }
    carry_url_switches(&st, id, None).await?;
    reload(&st).await?;
    Ok(axum::Json(json!({"ok": true})))
}

async fn switch_channel(st: &AppState, id: &str, on: bool) -> Result<Json> {
    let id = id_param(id, "id")?;
    if !st.gateway.store().set_channel_enabled(id, on).await? {
        return Err(Error::NotFound(format!("channel {id}")));
    }
    reload(st).await?;
    let c = find_channel(st, id).await?;
    Ok(axum::Json(channel_json(&c, st, false)))
}

async fn enable_channel(State(st): State<AppState>, Path(id): Path<String>) -> Result<Json> {
    switch_channel(&st, &id, true).await
}

async fn disable_channel(State(st): State<AppState>, Path(id): Path<String>) -> Result<Json> {
    switch_channel(&st, &id, false).await
}

async fn reveal_keys(State(st): State<AppState>, Path(id): Path<String>) -> Result<Json> {
    let c = find_channel(&st, id_param(&id, "id")?).await?;
    tracing::info!(channel = %c.name, "admin revealed channel keys");
    Ok(axum::Json(json!({
        "keys": c.keys.iter().map(|k| json!({"index": k.index, "secret": k.secret, "enabled": k.enabled})).collect::<Vec<_>>()
    })))
}

async fn switch_key(st: &AppState, id: &str, index: &str, on: bool) -> Result<Json> {
    let id = id_param(id, "id")?;
    let index: u32 = index
        .parse()
        .map_err(|_| Error::field("index", format!("index must be a key index, got {index:?}")))?;
    if !st.gateway.store().set_key_enabled(id, index, on).await? {
        return Err(Error::NotFound(format!("key {index} of channel {id}")));
    }
    reload(st).await?;
    let c = find_channel(st, id).await?;
    Ok(axum::Json(channel_json(&c, st, false)))
}

async fn enable_key(
    State(st): State<AppState>,
    Path((id, index)): Path<(String, String)>,
) -> Result<Json> {
    switch_key(&st, &id, &index, true).await
}

async fn disable_key(
    State(st): State<AppState>,
    Path((id, index)): Path<(String, String)>,
) -> Result<Json> {
    switch_key(&st, &id, &index, false).await
}

/// The export / import document.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelsDocument {
    /// Format version (1).
    pub version: u32,
    /// Every channel, keys in full.
    pub channels: Vec<ChannelInput>,
}

/// A stored channel as an import item (keys in full with their enabled flag).
pub fn export_item(c: &Channel) -> ChannelInput {
    ChannelInput {
        name: c.name.clone(),
        protocol: c.protocol.as_str().to_owned(),
        base_urls: c.base_urls.clone(),
        keys: Some(
            c.keys
                .iter()
                .map(|k| KeyInput::Full {
                    secret: Some(k.secret.clone()),
                    keep: None,
                    enabled: k.enabled,
                })
                .collect(),
        ),
        models: c
            .models
            .iter()
            .map(|m| match &m.upstream {
                None => ModelInput::Plain(m.name.clone()),
                Some(u) => ModelInput::Full {
                    name: m.name.clone(),
                    upstream: Some(u.clone()),
                },
            })
            .collect(),
        priority: c.priority,
        weight: c.weight,
        enabled: c.enabled,
        key_strategy: c.limits.key_strategy.as_str().to_owned(),
        rpm_limit: c.limits.rpm,
        max_concurrency: c.limits.max_concurrency,
        available_hours: c.limits.available_hours.clone(),
    }
}

/// Writes the audit line of an export that carries keys: who (the client address) and how
/// many channels and keys left.
fn audit_export(format: &str, peer: Option<&std::net::SocketAddr>, list: &[Channel]) {
    let keys: usize = list.iter().map(|c| c.keys.len()).sum();
    tracing::warn!(
        target: "relaygate::audit",
        action = "channels.export",
        format,
        client = %peer.map_or_else(|| "unknown".to_owned(), |a| a.ip().to_string()),
        channels = list.len(),
        keys,
        "channels exported with their keys"
    );
}

/// `POST /admin/api/channels/export`: keys in full, so a POST (CSRF-checked for cookie
/// sessions, never a link a third-party page can make the browser follow) with an audit line.
async fn export_channels(
    State(st): State<AppState>,
    peer: Option<axum::Extension<std::net::SocketAddr>>,
) -> Result<axum::response::Response> {
    use axum::response::IntoResponse as _;
    let list = st.gateway.store().list_channels().await?;
    audit_export("json", peer.as_ref().map(|p| &p.0), &list);
    let doc = ChannelsDocument {
        version: 1,
        channels: list.iter().map(export_item).collect(),
    };
    let mut resp = axum::Json(doc).into_response();
    resp.headers_mut().insert(
        http::header::CONTENT_DISPOSITION,
        http::HeaderValue::from_static("attachment; filename=\"relaygate-channels.json\""),
    );
    Ok(resp)
}

async fn import_channels(
    State(st): State<AppState>,
    JsonBody(doc): JsonBody<ChannelsDocument>,
) -> Result<Json> {
    if doc.version != 1 {
        return Err(Error::field("version", "only version 1 is supported"));
    }
    import_inputs(&st, doc.channels, "channels").await
}

/// Validates every item first (naming `{list}[i].field` on error), then creates or updates
/// each channel by name and reloads once.
async fn import_inputs(st: &AppState, items: Vec<ChannelInput>, list: &str) -> Result<Json> {
    let mut specs = Vec::new();
    for (i, c) in items.into_iter().enumerate() {
        let (spec, enabled) = to_spec(c, None).map_err(|e| match e {
            Error::BadRequest { field, message } => Error::BadRequest {
                field: Some(format!(
                    "{list}[{i}].{}",
                    field.unwrap_or_else(|| "channel".to_owned())
                )),
                message: format!("{list}[{i}]: {message}"),
            },
            other => other,
        })?;
        specs.push((spec, enabled));
    }
    let mut created = 0;
    let mut updated = 0;
    let existing: Vec<String> = st
        .gateway
        .store()
        .list_channels()
        .await?
        .into_iter()
        .map(|c| c.name)
        .collect();
    for (spec, enabled) in specs {
        if existing.contains(&spec.name) {
            updated += 1;
        } else {
            created += 1;
        }
        save_channel(st, spec, &enabled).await?;
    }
    reload(st).await?;
    Ok(axum::Json(json!({"created": created, "updated": updated})))
}

/// `POST /admin/api/channels/export.csv`: as [`export_channels`], in CSV.
async fn export_channels_csv(
    State(st): State<AppState>,
    peer: Option<axum::Extension<std::net::SocketAddr>>,
) -> Result<axum::response::Response> {
    let list = st.gateway.store().list_channels().await?;
    audit_export("csv", peer.as_ref().map(|p| &p.0), &list);
    let items: Vec<ChannelInput> = list.iter().map(export_item).collect();
    let text = crate::csv::write(&items)?;
    Ok(crate::csv::download(text, "relaygate-channels.csv"))
}

async fn import_channels_csv(
    State(st): State<AppState>,
    req: axum::extract::Request,
) -> Result<Json> {
    let bytes = axum::body::to_bytes(req.into_body(), crate::body::MAX_BODY)
        .await
        .map_err(|_| {
            Error::field(
                "csv",
                format!(
                    "body is larger than {} bytes or unreadable",
                    crate::body::MAX_BODY
                ),
            )
        })?;
    let text =
        std::str::from_utf8(&bytes).map_err(|_| Error::field("csv", "the CSV is not UTF-8"))?;
    let items = crate::csv::read(text)?;
    import_inputs(&st, items, "rows").await
}

// ---------------------------------------------------------------------------------------------
// Channel checks against the upstream, and URLs switched off by hand.

/// The optional body of `POST /admin/api/channels/{id}/test`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ChannelTestInput {
    /// The model to ask (a client name follows its redirect); default the channel's first.
    #[serde(default)]
    pub model: Option<String>,
    /// The key to use; default the first enabled key.
    #[serde(default)]
    pub key_index: Option<u32>,
}

async fn test_channel(
    State(st): State<AppState>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json> {
    let id = id_param(&id, "id")?;
    let input: ChannelTestInput = if body.iter().all(u8::is_ascii_whitespace) {
        ChannelTestInput::default()
    } else {
        crate::body::parse_json(&body)?
    };
    let c = find_channel(&st, id).await?;
    if let Some(m) = &input.model {
        check_name("model", m)?;
    }
    if let Some(k) = input.key_index
        && !c.keys.iter().any(|key| key.index == k)
    {
        return Err(Error::field(
            "key_index",
            format!("key_index {k}: channel {:?} has no such key", c.name),
        ));
    }
    let t = st
        .gateway
        .test_channel(id, input.model, input.key_index)
        .await
        .map_err(|e| match e {
            relaygate_proxy::Error::Channel { .. } => Error::field("model", e.to_string()),
            other => Error::Gateway(other),
        })?;
    tracing::info!(channel = %c.name, ok = t.ok, status = ?t.status, "admin tested a channel");
    Ok(axum::Json(json!({
        "ok": t.ok, "status": t.status, "latency_ms": t.latency_ms,
        "first_byte_ms": t.first_byte_ms, "answer_text": t.answer_text, "error": t.error,
        "model": t.model, "key_index": t.key_index, "url": t.url,
    })))
}

async fn upstream_models(State(st): State<AppState>, Path(id): Path<String>) -> Result<Json> {
    let id = id_param(&id, "id")?;
    find_channel(&st, id).await?;
    let models = st
        .gateway
        .upstream_models(id)
        .await
        .map_err(|e| Error::Upstream(e.to_string()))?;
    Ok(axum::Json(json!({"models": models})))
}

async fn switch_url(st: &AppState, id: &str, index: &str, disabled: bool) -> Result<Json> {
    let id = id_param(id, "id")?;
    let index: usize = index
        .parse()
        .map_err(|_| Error::field("index", format!("index must be a URL index, got {index:?}")))?;
    let c = find_channel(st, id).await?;
    if index >= c.base_urls.len() {
        return Err(Error::NotFound(format!("URL {index} of channel {id}")));
    }
    st.gateway.disable_url(id, index, disabled).await?;
    // The switch is written through in the background; wait for it, so it is stored (with its
    // reason) by the time the answer arrives.
    st.gateway.store().flush().await?;
    tracing::info!(channel = %c.name, index, disabled, "admin switched a base URL");
    Ok(axum::Json(channel_json(&c, st, false)))
}

async fn enable_url(
    State(st): State<AppState>,
    Path((id, index)): Path<(String, String)>,
) -> Result<Json> {
    switch_url(&st, &id, &index, false).await
}

async fn disable_url(
    State(st): State<AppState>,
    Path((id, index)): Path<(String, String)>,
) -> Result<Json> {
    switch_url(&st, &id, &index, true).await
}

// ---------------------------------------------------------------------------------------------
// Client tokens.

/// The body of a token create or update.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenInput {
    /// Unique name (create only; a token cannot be renamed).
    #[serde(default)]
    pub name: Option<String>,
    /// Accepted (default true).
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Expiry, unix ms (`null` = never).
    #[serde(default)]
    pub expires_at_ms: Option<i64>,
    /// Models it may use (empty = any).
    #[serde(default)]
    pub allowed_models: Option<Vec<String>>,
    /// Channel names it may use (empty = any).
    #[serde(default)]
    pub allowed_channels: Option<Vec<String>>,
    /// Requests in flight at once (0 = unlimited).
    #[serde(default)]
    pub max_concurrency: Option<u32>,
}

fn token_json(t: &ClientToken) -> Value {
    json!({
        "id": t.id, "name": t.name, "hint": t.hint, "enabled": t.enabled,
        "expires_at_ms": t.expires_at_ms, "created_at_ms": t.created_at_ms,
        "allowed_models": t.limits.allowed_models, "allowed_channels": t.limits.allowed_channels,
        "max_concurrency": t.limits.max_concurrency,
    })
}

fn check_list(field: &str, list: &[String]) -> Result<()> {
    if list.len() > MAX_ITEMS {
        return Err(Error::field(field, format!("{field} has too many entries")));
    }
    for (i, v) in list.iter().enumerate() {
        check_name(&format!("{field}[{i}]"), v)?;
    }
    Ok(())
}

async fn list_tokens(State(st): State<AppState>) -> Result<Json> {
    let list = st.gateway.store().list_tokens().await?;
    Ok(axum::Json(
        json!({"tokens": list.iter().map(token_json).collect::<Vec<_>>()}),
    ))
}

async fn create_token(
    State(st): State<AppState>,
    JsonBody(input): JsonBody<TokenInput>,
) -> Result<(http::StatusCode, Json)> {
    let name = input
        .name
        .ok_or_else(|| Error::field("name", "missing field name"))?;
    check_name("name", &name)?;
    let models = input.allowed_models.unwrap_or_default();
    let channels = input.allowed_channels.unwrap_or_default();
    check_list("allowed_models", &models)?;
    check_list("allowed_channels", &channels)?;
    let store = st.gateway.store();
    if store.list_tokens().await?.iter().any(|t| t.name == name) {
        return Err(Error::Conflict(format!("a token named {name:?} exists")));
    }
    let plain = format!("rg-{}", auth::random_hex(24)?);
    let id = store
        .upsert_token(TokenSpec {
            name,
            token_hash: relaygate_proxy::auth::hash_token(&plain),
            hint: relaygate_proxy::auth::mask(&plain),
            enabled: input.enabled.unwrap_or(true),
            expires_at_ms: input.expires_at_ms,
            limits: TokenLimits {
                allowed_models: models,
                allowed_channels: channels,
                max_concurrency: input.max_concurrency.unwrap_or(0),
            },
        })
        .await?;
    reload(&st).await?;
    let t = store
        .list_tokens()
        .await?
        .into_iter()
        .find(|t| t.id == id)
        .ok_or_else(|| Error::NotFound(format!("token {id}")))?;
    let mut v = token_json(&t);
    v["token"] = Value::String(plain);
    Ok((http::StatusCode::CREATED, axum::Json(v)))
}

async fn update_token(
    State(st): State<AppState>,
    Path(id): Path<String>,
    JsonBody(input): JsonBody<TokenInput>,
) -> Result<Json> {
    let id = id_param(&id, "id")?;
    let store = st.gateway.store();
    let old = store
        .list_tokens()
        .await?
        .into_iter()
        .find(|t| t.id == id)
        .ok_or_else(|| Error::NotFound(format!("token {id}")))?;
    if input.name.as_ref().is_some_and(|n| *n != old.name) {
        return Err(Error::field("name", "a token cannot be renamed"));
    }
    let mut limits = old.limits.clone();
    if let Some(m) = input.allowed_models {
        check_list("allowed_models", &m)?;
        limits.allowed_models = m;
    }
    if let Some(c) = input.allowed_channels {
        check_list("allowed_channels", &c)?;
        limits.allowed_channels = c;
    }
    if let Some(n) = input.max_concurrency {
        limits.max_concurrency = n;
    }
    store
        .upsert_token(TokenSpec {
            name: old.name.clone(),
            token_hash: old.token_hash.clone(),
            hint: old.hint.clone(),
            enabled: input.enabled.unwrap_or(old.enabled),
            expires_at_ms: input.expires_at_ms.or(old.expires_at_ms),
            limits,
        })
        .await?;
    reload(&st).await?;
    let t = store
        .list_tokens()
        .await?
        .into_iter()
        .find(|t| t.id == id)
        .ok_or_else(|| Error::NotFound(format!("token {id}")))?;
    Ok(axum::Json(token_json(&t)))
}

async fn delete_token(State(st): State<AppState>, Path(id): Path<String>) -> Result<Json> {
    let id = id_param(&id, "id")?;
    if !st.gateway.store().delete_token(id).await? {
        return Err(Error::NotFound(format!("token {id}")));
    }
    reload(&st).await?;
    Ok(axum::Json(json!({"ok": true})))
}

// ---------------------------------------------------------------------------------------------
// Logs, live requests, cooldowns.

fn log_json(id: Option<i64>, r: &RequestLog) -> Value {
    json!({
        "id": id,
        "request_id": r.request_id, "started_at_ms": r.started_at_ms, "token_id": r.token_id,
        "client_protocol": r.client_protocol, "model": r.model_requested, "model_sent": r.model_sent,
        "channel_id": r.channel_id, "channel_name": r.channel_name, "key_index": r.key_index,
        "upstream_url": r.upstream_url, "status": r.status, "attempts": r.attempts,
        "duration_ms": r.duration_ms, "first_byte_ms": r.first_byte_ms, "stream": r.stream,
        "error": r.error,
        "usage": r.usage.map(|u| json!({"input": u.input, "output": u.output, "cache_read": u.cache_read,
            "cache_write": u.cache_write, "reasoning": u.reasoning, "estimated": u.estimated})),
        "cost_micro_usd": r.cost_micro_usd, "unpriced": r.unpriced,
    })
}

async fn search_logs(State(st): State<AppState>, p: Params) -> Result<Json> {
    let status = match p.str("status") {
        None | Some("any") => StatusFilter::Any,
        Some("ok") => StatusFilter::Ok,
        Some("failed") => StatusFilter::Failed,
        Some(s) => StatusFilter::Exact(s.parse().map_err(|_| {
            Error::field(
                "status",
                format!("status must be ok, failed or a code, got {s:?}"),
            )
        })?),
    };
    let text = p.str("q").map(str::to_owned);
    if text.as_ref().is_some_and(|t| t.len() > 256) {
        return Err(Error::field("q", "q is longer than 256 bytes"));
    }
    let limit = p.i64("limit")?.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(Error::field("limit", "limit must be 1 to 1000"));
    }
    let filter = LogFilter {
        from_ms: p.i64("from")?,
        to_ms: p.i64("to")?,
        channel_id: p.i64("channel_id")?,
        model: p.str("model").map(str::to_owned),
        token_id: p.i64("token_id")?,
        status,
        text,
        before_id: p.i64("cursor")?,
        limit: u32::try_from(limit).unwrap_or(50),
    };
    let page = st.gateway.store().search_logs(filter).await?;
    Ok(axum::Json(json!({
        "rows": page.rows.iter().map(|LoggedRequest { id, row }| log_json(Some(*id), row)).collect::<Vec<_>>(),
        "next_cursor": page.next_cursor,
    })))
}

async fn log_detail(State(st): State<AppState>, Path(request_id): Path<String>) -> Result<Json> {
    let store = st.gateway.store();
    let rows = store
        .query_logs(LogQuery {
            limit: 1,
            request_id: Some(request_id.clone()),
            ..LogQuery::default()
        })
        .await?;
    let row = rows
        .first()
        .ok_or_else(|| Error::NotFound(format!("request {request_id}")))?;
    let attempts = store.attempts(request_id).await?;
    let mut v = log_json(None, row);
    v["attempt_log"] = attempts
        .iter()
        .map(|a| {
            json!({"channel_id": a.channel_id, "channel_name": a.channel_name, "key_index": a.key_index,
                   "upstream_url": a.upstream_url, "status": a.status, "outcome": a.outcome,
                   "scope": a.scope, "cooldown_until_ms": a.cooldown_until_ms,
                   "duration_ms": a.duration_ms, "error": a.error})
        })
        .collect();
    Ok(axum::Json(v))
}

async fn active(State(st): State<AppState>) -> Json {
    axum::Json(active_json(&st.gateway))
}

/// The requests in flight as the API shows them.
fn active_json(gateway: &relaygate_proxy::Gateway) -> Value {
    let now = u64::try_from(now_ms()).unwrap_or(0);
    let list: Vec<Value> = gateway
        .active_requests()
        .into_iter()
        .map(|a| {
            json!({"id": a.id, "started_at_ms": a.started_at_ms, "elapsed_ms": now.saturating_sub(a.started_at_ms),
                   "client_protocol": a.client_protocol, "model": a.model, "channel": a.channel,
                   "stream": a.stream, "bytes": a.bytes, "first_byte_ms": a.first_byte_ms})
        })
        .collect();
    json!({"active": list})
}

/// How often the live stream pushes the requests in flight.
const ACTIVE_PUSH: std::time::Duration = std::time::Duration::from_millis(500);
/// A live stream ends after this long; the browser's `EventSource` reconnects by itself.
const ACTIVE_STREAM_MAX: std::time::Duration = std::time::Duration::from_secs(600);

/// `text/event-stream` of `event: active` frames (the body of `GET /admin/api/active`), pushed
/// every half second while the client listens.
async fn active_stream(State(st): State<AppState>) -> axum::response::Response {
    let body = ActiveStream {
        gateway: st.gateway.clone(),
        tick: tokio::time::interval(ACTIVE_PUSH),
        until: tokio::time::Instant::now() + ACTIVE_STREAM_MAX,
    };
    let mut resp = axum::response::Response::new(axum::body::Body::new(body));
    let h = resp.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/event-stream"),
    );
    h.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-cache"),
    );
    resp
}

struct ActiveStream {
    gateway: relaygate_proxy::Gateway,
    tick: tokio::time::Interval,
    until: tokio::time::Instant,
}

impl http_body::Body for ActiveStream {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, Self::Error>>> {
        if tokio::time::Instant::now() >= self.until || self.gateway.is_shutting_down() {
            return std::task::Poll::Ready(None);
        }
        match self.tick.poll_tick(cx) {
            std::task::Poll::Pending => std::task::Poll::Pending,
            std::task::Poll::Ready(_) => {
                let data = format!("event: active\ndata: {}\n\n", active_json(&self.gateway));
                std::task::Poll::Ready(Some(Ok(http_body::Frame::data(bytes::Bytes::from(data)))))
            }
        }
    }
}

async fn cooldowns(State(st): State<AppState>) -> Result<Json> {
    let reasons: HashMap<String, String> = st
        .gateway
        .store()
        .active_cooldowns(now_ms())
        .await?
        .into_iter()
        .map(|r| (r.target, r.reason))
        .collect();
    let names: HashMap<i64, String> = st
        .gateway
        .store()
        .list_channels()
        .await?
        .into_iter()
        .map(|c| (c.id, c.name))
        .collect();
    let list: Vec<Value> = st
        .gateway
        .cooldowns()
        .into_iter()
        .map(|c| {
            json!({"target": c.target, "scope": c.scope, "channel_id": c.channel_id,
                   "channel_name": names.get(&c.channel_id), "until_ms": c.until_ms,
                   "remaining_ms": c.remaining_ms, "failures": c.failures,
                   "reason": reasons.get(&c.target)})
        })
        .collect();
    Ok(axum::Json(json!({"cooldowns": list})))
}

/// The body of `POST /admin/api/cooldowns/clear`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClearCooldown {
    /// The target (`channel:3`, `key:3:1`, `url:3:0`, `model:3:name`).
    pub target: String,
}

async fn clear_cooldown(
    State(st): State<AppState>,
    JsonBody(body): JsonBody<ClearCooldown>,
) -> Result<Json> {
    if body.target.len() > 512 {
        return Err(Error::field("target", "target is longer than 512 bytes"));
    }
    if !st.gateway.clear_cooldown(&body.target) {
        return Err(Error::NotFound(format!("cooldown {}", body.target)));
    }
    Ok(axum::Json(json!({"ok": true})))
}

// ---------------------------------------------------------------------------------------------
// Statistics.

fn stats_json(r: &StatsRow) -> Value {
    json!({
        "bucket_start_ms": r.bucket_start_ms, "key": r.key, "requests": r.requests, "errors": r.errors,
        "input_tokens": r.input_tokens, "output_tokens": r.output_tokens,
        "cache_read_tokens": r.cache_read_tokens, "cache_write_tokens": r.cache_write_tokens,
        "cost_micro_usd": r.cost_micro_usd, "unpriced": r.unpriced,
        "reported": {
            "requests": r.requests.saturating_sub(r.estimated_requests),
            "input_tokens": r.input_tokens.saturating_sub(r.estimated_input_tokens),
            "output_tokens": r.output_tokens.saturating_sub(r.estimated_output_tokens),
            "cost_micro_usd": r.cost_micro_usd.saturating_sub(r.estimated_cost_micro_usd)},
        "estimated": {
            "requests": r.estimated_requests, "input_tokens": r.estimated_input_tokens,
            "output_tokens": r.estimated_output_tokens, "cost_micro_usd": r.estimated_cost_micro_usd},
        "p50_ms": r.p50_ms, "p95_ms": r.p95_ms,
        "p50_first_byte_ms": r.p50_first_byte_ms, "p95_first_byte_ms": r.p95_first_byte_ms,
    })
}

async fn stats(State(st): State<AppState>, p: Params) -> Result<Json> {
    let now = now_ms();
    let to = p.i64("to")?.unwrap_or(now + 1);
    let from = p.i64("from")?.unwrap_or(to - 24 * 3_600_000);
    if from >= to {
        return Err(Error::field("from", "from must be before to"));
    }
    if to - from > 400 * 86_400_000 {
        return Err(Error::field("from", "the window may span 400 days at most"));
    }
    let bucket = match p.str("bucket") {
        None | Some("total") => Bucket::Total,
        Some("hour") => Bucket::Hour,
        Some("day") => Bucket::Day,
        Some(b) => {
            return Err(Error::field(
                "bucket",
                format!("bucket must be total, hour or day, got {b:?}"),
            ));
        }
    };
    let group_by = match p.str("group_by") {
        None | Some("none") => GroupBy::None,
        Some("channel") => GroupBy::Channel,
        Some("model") => GroupBy::Model,
        Some("token") => GroupBy::Token,
        Some(g) => {
            return Err(Error::field(
                "group_by",
                format!("group_by must be none, channel, model or token, got {g:?}"),
            ));
        }
    };
    let rows = st
        .gateway
        .store()
        .stats(StatsQuery {
            from_ms: from,
            to_ms: to,
            bucket,
            group_by,
        })
        .await?;
    Ok(axum::Json(json!({
        "from": from, "to": to,
        "rows": rows.iter().map(stats_json).collect::<Vec<_>>(),
    })))
}

// ---------------------------------------------------------------------------------------------
// Settings.

/// A setting the dashboard knows: key, default, description, check.
struct Known {
    key: &'static str,
    default: &'static str,
    description: &'static str,
    check: fn(&str) -> std::result::Result<(), String>,
}

fn int_in(v: &str, lo: i64, hi: i64) -> std::result::Result<(), String> {
    match v.trim().parse::<i64>() {
        Ok(n) if (lo..=hi).contains(&n) => Ok(()),
        _ => Err(format!("must be an integer from {lo} to {hi}")),
    }
}

const KNOWN: &[Known] = &[
    Known {
        key: "dashboard.refresh_secs",
        default: "5",
        description: "How often dashboard pages refresh, seconds",
        check: |v| int_in(v, 1, 3600),
    },
    Known {
        key: "dashboard.title",
        default: "relaygate",
        description: "Title shown in the dashboard header",
        check: |v| {
            if v.chars().count() <= 64 {
                Ok(())
            } else {
                Err("must be at most 64 characters".to_owned())
            }
        },
    },
];

async fn list_settings(State(st): State<AppState>) -> Result<Json> {
    let stored: HashMap<String, String> = st
        .gateway
        .store()
        .list_settings()
        .await?
        .into_iter()
        .collect();
    let list: Vec<Value> = KNOWN
        .iter()
        .map(|k| {
            json!({"key": k.key, "value": stored.get(k.key).map_or(k.default, String::as_str),
                   "default": k.default, "description": k.description})
        })
        .collect();
    Ok(axum::Json(json!({"settings": list})))
}

/// The body of `PUT /admin/api/settings/{key}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingValue {
    /// The new value.
    pub value: String,
}

fn known(key: &str) -> Result<&'static Known> {
    KNOWN
        .iter()
        .find(|k| k.key == key)
        .ok_or_else(|| Error::field("key", format!("unknown setting {key:?}")))
}

async fn set_setting(
    State(st): State<AppState>,
    Path(key): Path<String>,
    JsonBody(body): JsonBody<SettingValue>,
) -> Result<Json> {
    let k = known(&key)?;
    (k.check)(&body.value).map_err(|m| Error::field("value", format!("{key} {m}")))?;
    st.gateway
        .store()
        .set_setting(key.clone(), body.value.clone())
        .await?;
    Ok(axum::Json(json!({"key": key, "value": body.value})))
}

async fn reset_setting(State(st): State<AppState>, Path(key): Path<String>) -> Result<Json> {
    let k = known(&key)?;
    st.gateway.store().delete_setting(key.clone()).await?;
    Ok(axum::Json(json!({"key": key, "value": k.default})))
}
