// relaygate dashboard: a single page, no build step, no third-party code.
"use strict";

const LANG = (navigator.language || "en").toLowerCase().startsWith("zh") && window.RG_STRINGS["zh"] ? "zh" : "en";
const S = window.RG_STRINGS[LANG];
function t(key, vars) {
  let s = S[key] !== undefined ? S[key] : key;
  for (const k in vars || {}) s = s.replace("{" + k + "}", vars[k]);
  return s;
}

// ---- DOM helpers (text is always set as text, never as HTML) ----
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "value") el.value = v;
    else if (k === "checked") el.checked = !!v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat()) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}
const SVGNS = "http://www.w3.org/2000/svg";
function s(tag, attrs, ...kids) {
  const el = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  for (const kid of kids.flat()) if (kid != null) el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  return el;
}
const $ = (id) => document.getElementById(id);
function toast(msg) {
  const el = $("toast"); el.textContent = msg; el.hidden = false;
  clearTimeout(toast.timer); toast.timer = setTimeout(() => { el.hidden = true; }, 3500);
}

// ---- formatting ----
const fmtN = (n) => (n == null ? "–" : Number(n).toLocaleString());
const fmtMs = (n) => (n == null ? "–" : n < 1000 ? n + " ms" : (n / 1000).toFixed(n < 10000 ? 2 : 1) + " s");
const fmtUsd = (micro) => "$" + ((micro || 0) / 1e6).toFixed((micro || 0) < 1e6 ? 4 : 2);
const fmtTime = (ms) => new Date(ms).toLocaleString();
const fmtPct = (a, b) => (b ? ((100 * a) / b).toFixed(1) + "%" : "–");
function statusPill(st, err) {
  const cls = st >= 400 || err ? "bad" : "ok";
  return h("span", { class: "pill " + cls }, st);
}

// ---- API ----
function csrf() {
  const m = document.cookie.match(/(?:^|; )relaygate_csrf=([0-9a-f]+)/);
  return m ? m[1] : "";
}
class ApiError extends Error {
  constructor(status, body) { super((body && body.error && body.error.message) || "HTTP " + status); this.status = status; this.body = body; }
}
async function api(method, path, body) {
  const headers = {};
  if (body !== undefined) headers["content-type"] = "application/json";
  if (method !== "GET") headers["x-relaygate-csrf"] = csrf();
  const r = await fetch("/admin/api" + path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  try { data = await r.json(); } catch (_) { /* empty body */ }
  if (r.status === 401 && path !== "/login") { showLogin(); throw new ApiError(401, data); }
  if (!r.ok) throw new ApiError(r.status, data);
  return data;
}

// A request with a non-JSON body (CSV import); the answer is JSON as usual.
async function apiText(method, path, text, contentType) {
  const r = await fetch("/admin/api" + path, {
    method, credentials: "same-origin",
    headers: { "content-type": contentType, "x-relaygate-csrf": csrf() }, body: text,
  });
  let data = null;
  try { data = await r.json(); } catch (_) { /* empty body */ }
  if (r.status === 401) { showLogin(); throw new ApiError(401, data); }
  if (!r.ok) throw new ApiError(r.status, data);
  return data;
}

// An export carries keys, so it is a POST with the CSRF header; the answer is saved as a file.
async function download(path, filename) {
  const r = await fetch("/admin/api" + path, {
    method: "POST", credentials: "same-origin", headers: { "x-relaygate-csrf": csrf() },
  });
  if (r.status === 401) { showLogin(); return; }
  if (!r.ok) throw new ApiError(r.status, null);
  const url = URL.createObjectURL(await r.blob());
  const a = h("a", { href: url, download: filename });
  document.body.appendChild(a);
  a.click();
  a.remove();
  URL.revokeObjectURL(url);
}

// ---- layout and routing ----
const PAGES = [
  ["overview", "navOverview", pageOverview],
  ["channels", "navChannels", pageChannels],
  ["live", "navLive", pageLive],
  ["tokens", "navTokens", pageTokens],
  ["stats", "navStats", pageStats],
  ["prices", "navPrices", pagePrices],
  ["settings", "navSettings", pageSettings],
];
let refreshTimer = null;
let liveSource = null;
/** Stops the live push of requests in flight (when leaving the live page). */
function closeLive() {
  if (liveSource) { liveSource.close(); liveSource = null; }
}
let refreshSecs = 5;

function setPage(...kids) { const m = $("main"); m.replaceChildren(...kids); }

function showLogin() {
  clearInterval(refreshTimer); closeLive();
  $("top").hidden = true;
  const pw = h("input", { type: "password", id: "password", autocomplete: "current-password" });
  const err = h("div", { class: "err", id: "login-error" });
  const form = h("form", { class: "card login", onsubmit: async (e) => {
    e.preventDefault(); err.textContent = "";
    try {
      await api("POST", "/login", { password: pw.value });
      await applySettings();
      route();
    } catch (x) {
      err.textContent = x.status === 401 ? t("wrongPassword") : x.message;
    }
  } },
    h("h1", {}, t("appName")),
    h("label", { for: "password" }, t("password")), pw,
    h("p", { class: "muted" }, t("loginHelp")),
    h("button", { type: "submit", id: "login-button" }, t("login")), err);
  setPage(form);
  pw.focus();
}

async function route() {
  clearInterval(refreshTimer); closeLive();
  const name = (location.hash.replace(/^#\/?/, "") || "overview").split("?")[0];
  const page = PAGES.find((p) => p[0] === name) || PAGES[0];
  try { await api("GET", "/session"); } catch (_) { return; }
  $("top").hidden = false;
  $("nav").replaceChildren(...PAGES.map(([id, label]) =>
    h("a", { href: "#/" + id, class: id === page[0] ? "on" : "", id: "nav-" + id }, t(label))));
  $("logout").textContent = t("logout");
  try {
    await page[2]();
  } catch (x) {
    if (x.status !== 401) setPage(h("p", { class: "err" }, x.message));
  }
}

function every(fn) {
  clearInterval(refreshTimer); closeLive();
  refreshTimer = setInterval(() => { if (!document.hidden) fn().catch(() => {}); }, refreshSecs * 1000);
}

// ---- charts (inline SVG) ----
function barChart(points) {
  // points: [{label, value, errors}]
  const W = window.innerWidth < 700 ? 420 : 1000, H = 220, P = 30;
  const max = Math.max(4, Math.ceil(Math.max(...points.map((p) => p.value), 0) / 4) * 4);
  const bw = (W - P * 2) / Math.max(points.length, 1);
  const svg = s("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": t("requestsPerHour") });
  for (let i = 0; i <= 4; i++) {
    const y = H - P - ((H - P * 2) * i) / 4;
    svg.append(s("line", { class: "grid", x1: P, x2: W - P, y1: y, y2: y }));
    svg.append(s("text", { x: 2, y: y + 4 }, Math.round((max * i) / 4)));
  }
  points.forEach((p, i) => {
    const x = P + i * bw + 1, hh = ((H - P * 2) * p.value) / max, he = ((H - P * 2) * (p.errors || 0)) / max;
    svg.append(s("rect", { class: "req", x, y: H - P - hh, width: Math.max(bw - 2, 1), height: hh },
      s("title", {}, `${p.label}: ${p.value} (${p.errors || 0} ${t("errorsLegend")})`)));
    if (he > 0) svg.append(s("rect", { class: "errb", x, y: H - P - he, width: Math.max(bw - 2, 1), height: he }));
    if (i % Math.ceil(points.length / 8) === 0) svg.append(s("text", { x, y: H - 8 }, p.label));
  });
  return svg;
}

function hourly(rows, from, to) {
  const by = new Map(rows.map((r) => [r.bucket_start_ms, r]));
  const out = [];
  for (let b = Math.floor(from / 3600000) * 3600000; b < to; b += 3600000) {
    const r = by.get(b) || {};
    out.push({ label: new Date(b).getHours().toString().padStart(2, "0") + ":00", value: r.requests || 0, errors: r.errors || 0 });
  }
  return out;
}

function topList(title, rows) {
  const max = Math.max(1, ...rows.map((r) => r.requests));
  return h("div", { class: "card" }, h("h2", {}, title),
    rows.length ? h("table", {}, h("tbody", {}, rows.slice(0, 6).map((r) =>
      h("tr", {}, h("td", {}, r.key || "–"), h("td", {}, fmtN(r.requests)),
        h("td", { class: "muted" }, fmtPct(r.requests - r.errors, r.requests)),
        h("td", {}, (() => { const d = h("div", { class: "hbar" }); d.style.width = (100 * r.requests / max) + "%"; return d; })()))))) :
      h("p", { class: "muted" }, t("noData")));
}

// ---- overview ----
async function pageOverview() {
  const load = async () => {
    const to = Date.now() + 1, from = to - 24 * 3600000;
    const q = `from=${from}&to=${to}`;
    const [ov, total, hours, chans, models] = await Promise.all([
      api("GET", "/overview"),
      api("GET", `/stats?${q}`),
      api("GET", `/stats?${q}&bucket=hour`),
      api("GET", `/stats?${q}&group_by=channel`),
      api("GET", `/stats?${q}&group_by=model`),
    ]);
    const tt = total.rows[0] || { requests: 0, errors: 0, input_tokens: 0, output_tokens: 0, cost_micro_usd: 0, unpriced: 0 };
    setPage(
      h("h1", {}, t("navOverview"), " ", h("span", { class: "muted" }, "· " + t("last24h"))),
      h("div", { class: "cards", id: "overview-cards" },
        h("div", { class: "card" }, h("div", { class: "s" }, t("requests")), h("div", { class: "v", id: "stat-requests" }, fmtN(tt.requests))),
        h("div", { class: "card" }, h("div", { class: "s" }, t("successRate")), h("div", { class: "v" }, fmtPct(tt.requests - tt.errors, tt.requests))),
        h("div", { class: "card" }, h("div", { class: "s" }, t("tokens")), h("div", { class: "v" }, fmtN(tt.input_tokens + tt.output_tokens)),
          h("div", { class: "s" }, `${fmtN(tt.input_tokens)} in · ${fmtN(tt.output_tokens)} out`)),
        h("div", { class: "card" }, h("div", { class: "s" }, t("cost")), h("div", { class: "v" }, fmtUsd(tt.cost_micro_usd)),
          h("div", { class: "s" }, t("unpriced", { n: fmtN(tt.unpriced) }))),
        h("div", { class: "card" }, h("div", { class: "s" }, t("inFlight")), h("div", { class: "v" }, fmtN(ov.in_flight))),
        h("div", { class: "card" }, h("div", { class: "s" }, t("cooling")), h("div", { class: "v" }, fmtN(ov.cooling)),
          h("div", { class: "s" }, `${ov.channels_routable}/${ov.channels} ${t("navChannels").toLowerCase()}`))),
      h("h2", {}, t("requestsPerHour")),
      h("div", { class: "card" }, barChart(hourly(hours.rows, from, to))),
      h("div", { class: "grid2" }, topList(t("topChannels"), chans.rows), topList(t("topModels"), models.rows)),
    );
  };
  await load();
  every(load);
}

// ---- channels ----
function channelHealth(c) {
  if (!c.enabled) return h("span", { class: "pill" }, t("disabled"));
  const off = new Set((c.disabled_urls || []).map((i) => `url:${c.id}:${i}`));
  const cooling = c.status.cooldowns.filter((x) => !off.has(x.target));
  if (cooling.length) {
    const r = Math.max(...cooling.map((x) => x.remaining_ms));
    return h("span", { class: "pill warn" }, `${t("cooling")} ${fmtMs(r)}`);
  }
  const rate = c.status.requests ? (c.status.requests - c.status.errors) / c.status.requests : 1;
  return h("span", { class: "pill " + (rate >= 0.9 ? "ok" : "bad") }, c.status.requests ? fmtPct(c.status.requests - c.status.errors, c.status.requests) : t("ok"));
}

function channelEditor(c, onDone) {
  const f = {
    name: h("input", { id: "ch-name", value: c ? c.name : "" }),
    protocol: h("select", { id: "ch-protocol" }, ["anthropic", "openai", "responses", "gemini"].map((p) =>
      h("option", { value: p, selected: c && c.protocol === p ? "selected" : null }, p))),
    base_urls: h("textarea", { id: "ch-urls" }),
    keys: h("textarea", { id: "ch-keys", placeholder: c ? "" : "sk-..." }),
    models: h("textarea", { id: "ch-models" }),
    priority: h("input", { id: "ch-priority", type: "number", value: c ? c.priority : 0 }),
    weight: h("input", { id: "ch-weight", type: "number", min: 1, value: c ? c.weight : 1 }),
    key_strategy: h("select", { id: "ch-strategy" }, ["sequential", "round_robin"].map((p) =>
      h("option", { value: p, selected: c && c.key_strategy === p ? "selected" : null }, p))),
    rpm_limit: h("input", { id: "ch-rpm", type: "number", min: 0, value: c ? c.rpm_limit : 0 }),
    max_concurrency: h("input", { id: "ch-conc", type: "number", min: 0, value: c ? c.max_concurrency : 0 }),
    available_hours: h("input", { id: "ch-hours", value: c && c.available_hours ? c.available_hours : "", placeholder: "08:00-22:00" }),
    enabled: h("input", { id: "ch-enabled", type: "checkbox", checked: c ? c.enabled : true }),
  };
  f.base_urls.value = c ? c.base_urls.join("\n") : "";
  f.models.value = c ? c.models.map((m) => (m.upstream ? `${m.name}=${m.upstream}` : m.name)).join("\n") : "";
  // Existing keys are shown masked and kept by index; new lines are new keys.
  const keyRows = c ? c.keys.map((k) => ({ keep: k.index, masked: k.masked, enabled: k.enabled, removed: false })) : [];
  const keyList = h("div", {}, keyRows.map((k) => {
    const en = h("input", { type: "checkbox", checked: k.enabled, onchange: () => { k.enabled = en.checked; } });
    const rm = h("input", { type: "checkbox", onchange: () => { k.removed = rm.checked; } });
    return h("div", { class: "actions mono" }, `#${k.keep} ${k.masked}`,
      h("label", { class: "inline" }, en, t("enabled")), h("label", { class: "inline" }, rm, t("delete")));
  }));
  const err = h("div", { class: "err", id: "ch-error" });
  const lines = (v) => v.split("\n").map((x) => x.trim()).filter(Boolean);
  // Adds the models the upstream lists to the editor's list (existing lines, redirects
  // included, are kept). Uses the saved channel's first URL and key.
  const fetchModels = c ? h("button", { type: "button", class: "small sec", id: "ch-fetch-models", onclick: async () => {
    err.textContent = "";
    try {
      const { models } = await api("GET", `/channels/${c.id}/upstream-models`);
      const have = lines(f.models.value);
      const names = new Set(have.map((m) => m.split("=")[0].trim()));
      const added = models.filter((m) => !names.has(m));
      f.models.value = have.concat(added).join("\n");
      toast(t("modelsFetched", { n: models.length, a: added.length }));
    } catch (x) { err.textContent = x.message; }
  } }, t("fetchModels")) : null;
  const save = async (e) => {
    e.preventDefault(); err.textContent = "";
    const keys = keyRows.filter((k) => !k.removed).map((k) => ({ keep: k.keep, enabled: k.enabled }))
      .concat(lines(f.keys.value));
    const body = {
      name: f.name.value.trim(), protocol: f.protocol.value, base_urls: lines(f.base_urls.value),
      keys, models: lines(f.models.value).map((m) => {
        const [name, up] = m.split("=").map((x) => x.trim());
        return up ? { name, upstream: up } : name;
      }),
      priority: Number(f.priority.value || 0), weight: Number(f.weight.value || 1),
      enabled: f.enabled.checked, key_strategy: f.key_strategy.value,
      rpm_limit: Number(f.rpm_limit.value || 0), max_concurrency: Number(f.max_concurrency.value || 0),
      available_hours: f.available_hours.value.trim() || undefined,
    };
    try {
      if (c) await api("PUT", `/channels/${c.id}`, body); else await api("POST", "/channels", body);
      modal.remove(); toast(t("saved")); onDone();
    } catch (x) {
      err.textContent = x.message;
      const field = x.body && x.body.error && x.body.error.field;
      if (field) { const key = field.split(/[\[.]/)[0]; if (f[key]) f[key].focus(); }
    }
  };
  const modal = h("div", { class: "modal" }, h("form", { class: "card", onsubmit: save },
    h("h1", {}, c ? t("editChannel") : t("addChannel")),
    h("div", { class: "form" },
      h("div", {}, h("label", { for: "ch-name" }, t("name")), f.name),
      h("div", {}, h("label", { for: "ch-protocol" }, t("protocol")), f.protocol),
      h("div", { class: "full" }, h("label", { for: "ch-urls" }, t("baseUrls")), f.base_urls),
      h("div", { class: "full" }, h("label", { for: "ch-keys" }, t("keys")), keyList, f.keys, h("div", { class: "muted" }, t("keysHelp"))),
      h("div", { class: "full" }, h("label", { for: "ch-models" }, t("models")), f.models, fetchModels),
      h("div", {}, h("label", { for: "ch-priority" }, t("priority")), f.priority),
      h("div", {}, h("label", { for: "ch-weight" }, t("weight")), f.weight),
      h("div", {}, h("label", { for: "ch-strategy" }, t("keyStrategy")), f.key_strategy),
      h("div", {}, h("label", { for: "ch-hours" }, t("availableHours")), f.available_hours),
      h("div", {}, h("label", { for: "ch-rpm" }, t("rpmLimit")), f.rpm_limit),
      h("div", {}, h("label", { for: "ch-conc" }, t("maxConcurrency")), f.max_concurrency),
      h("div", { class: "full" }, h("label", { class: "inline" }, f.enabled, t("enabled")))),
    err,
    h("div", { class: "actions" }, h("button", { type: "submit", id: "ch-save" }, t("save")),
      h("button", { type: "button", class: "sec", onclick: () => modal.remove() }, t("cancel")))));
  document.body.append(modal);
  f.name.focus();
}

// Sends one small real request to the channel and shows what came back.
function channelTest(c) {
  const model = h("select", { id: "test-model" }, c.models.map((m) => h("option", { value: m.name }, m.upstream ? `${m.name} → ${m.upstream}` : m.name)));
  const key = h("select", { id: "test-key" }, c.keys.map((k) => h("option", { value: k.index, selected: k.enabled && c.keys.find((x) => x.enabled) === k ? "selected" : null }, `#${k.index} ${k.masked}${k.enabled ? "" : " (" + t("disabled").toLowerCase() + ")"}`)));
  const out = h("div", { id: "test-result" });
  const run = async (e) => {
    if (e) e.preventDefault();
    out.replaceChildren(h("p", { class: "muted" }, t("testing")));
    try {
      const r = await api("POST", `/channels/${c.id}/test`, { model: model.value, key_index: Number(key.value) });
      out.replaceChildren(...[
        h("p", {}, h("span", { class: "pill " + (r.ok ? "ok" : "bad"), id: "test-verdict" }, r.ok ? t("testOk") : t("testFailed")), " ",
          r.status != null ? `HTTP ${r.status}` : "", " · ", `${t("latency")} ${fmtMs(r.latency_ms)}`, " · ", `${t("firstByte")} ${fmtMs(r.first_byte_ms)}`),
        h("div", { class: "muted mono" }, `${r.model} · ${t("key")} #${r.key_index} · ${r.url}`),
        r.answer_text != null ? h("div", {}, h("label", {}, t("answer")), h("pre", { class: "mono", id: "test-answer" }, r.answer_text || "–")) : null,
        r.error ? h("div", { class: "err" }, r.error) : null].filter(Boolean));
    } catch (x) { out.replaceChildren(h("div", { class: "err" }, x.message)); }
  };
  const modal = h("div", { class: "modal" }, h("form", { class: "card", onsubmit: run },
    h("h1", {}, t("testChannel", { name: c.name })),
    h("div", { class: "form" },
      h("div", {}, h("label", { for: "test-model" }, t("model")), model),
      h("div", {}, h("label", { for: "test-key" }, t("key")), key)),
    out,
    h("div", { class: "actions" }, h("button", { type: "submit", id: "test-run" }, t("test")),
      h("button", { type: "button", class: "sec", onclick: () => modal.remove() }, t("close")))));
  document.body.append(modal);
  run();
}

async function pageChannels() {
  const load = async () => {
    const { channels } = await api("GET", "/channels");
    const { cooldowns } = await api("GET", "/cooldowns");
    const importInput = h("input", { type: "file", accept: "application/json", hidden: true, onchange: async () => {
      const file = importInput.files[0]; if (!file) return;
      try { const r = await api("POST", "/channels/import", JSON.parse(await file.text())); toast(t("imported", { c: r.created, u: r.updated })); load(); }
      catch (x) { toast(x.message); }
    } });
    const importCsv = h("input", { type: "file", id: "import-csv-file", accept: ".csv,text/csv", hidden: true, onchange: async () => {
      const file = importCsv.files[0]; if (!file) return;
      try { const r = await apiText("POST", "/channels/import.csv", await file.text(), "text/csv"); toast(t("imported", { c: r.created, u: r.updated })); load(); }
      catch (x) { toast(x.message); }
    } });
    const urlRow = (c, u, i) => {
      const off = (c.disabled_urls || []).includes(i);
      return h("div", { class: "mono " + (off ? "muted" : ""), "data-url-index": i }, u, off ? ` (${t("urlOff")})` : "",
        h("button", { class: "link small", onclick: async () => { await api("POST", `/channels/${c.id}/urls/${i}/${off ? "enable" : "disable"}`); load(); } },
          off ? t("enable") : t("disable")));
    };
    setPage(
      h("h1", {}, t("navChannels")),
      h("div", { class: "bar" },
        h("button", { id: "add-channel", onclick: () => channelEditor(null, load) }, t("addChannel")),
        h("button", { class: "sec", id: "export-json", onclick: () => download("/channels/export", "relaygate-channels.json") }, t("export")),
        h("button", { class: "sec", onclick: () => importInput.click() }, t("import")), importInput,
        h("button", { class: "sec", id: "export-csv", onclick: () => download("/channels/export.csv", "relaygate-channels.csv") }, t("exportCsv")),
        h("button", { class: "sec", id: "import-csv", onclick: () => importCsv.click() }, t("importCsv")), importCsv),
      channels.length === 0 ? h("p", { class: "muted" }, t("channelsEmpty")) :
      h("div", { class: "wrap" }, h("table", { id: "channels-table" },
        h("thead", {}, h("tr", {}, [t("name"), t("protocol"), t("health"), t("inFlight"), t("requests"), t("keys"), t("modelsShort"), t("priority") + " / " + t("weight"), ""].map((x) => h("th", {}, x)))),
        h("tbody", {}, channels.map((c) => h("tr", { "data-name": c.name },
          h("td", {}, h("strong", {}, c.name), h("div", { class: "small" }, c.base_urls.map((u, i) => urlRow(c, u, i)))),
          h("td", {}, c.protocol), h("td", {}, channelHealth(c)), h("td", {}, c.status.in_flight),
          h("td", {}, fmtN(c.status.requests)),
          h("td", {}, c.keys.map((k) => h("div", { class: "mono " + (k.enabled ? "" : "muted") }, `#${k.index} ${k.masked}`,
            h("button", { class: "link small", onclick: async () => { await api("POST", `/channels/${c.id}/keys/${k.index}/${k.enabled ? "disable" : "enable"}`); load(); } },
              k.enabled ? t("disable") : t("enable"))))),
          h("td", {}, c.models.map((m) => h("div", { class: "mono" }, m.upstream ? `${m.name} → ${m.upstream}` : m.name))),
          h("td", {}, `${c.priority} / ${c.weight}`),
          h("td", {}, h("div", { class: "actions" },
            h("button", { class: "small", "data-test": c.name, onclick: () => channelTest(c) }, t("test")),
            h("button", { class: "small sec", onclick: () => channelEditor(c, load) }, t("edit")),
            h("button", { class: "small sec", onclick: async () => { await api("POST", `/channels/${c.id}/${c.enabled ? "disable" : "enable"}`); load(); } }, c.enabled ? t("disable") : t("enable")),
            h("button", { class: "small sec", onclick: async () => {
              const r = await api("POST", `/channels/${c.id}/keys/reveal`);
              alert(r.keys.map((k) => `#${k.index} ${k.secret}`).join("\n"));
            } }, t("reveal")),
            h("button", { class: "small danger", onclick: async () => { if (confirm(t("confirmDelete", { name: c.name }))) { await api("DELETE", `/channels/${c.id}`); load(); } } }, t("delete"))))))))),
      h("h2", {}, t("cooldowns")),
      cooldowns.length === 0 ? h("p", { class: "muted" }, t("noData")) :
      h("div", { class: "wrap" }, h("table", {}, h("thead", {}, h("tr", {}, [t("channel"), t("scope"), t("reason"), t("remaining"), ""].map((x) => h("th", {}, x)))),
        h("tbody", {}, cooldowns.map((c) => h("tr", {}, h("td", {}, c.channel_name || c.channel_id), h("td", { class: "mono" }, c.target),
          h("td", {}, c.reason || "–"), h("td", {}, c.reason === "manual_disable" ? t("untilEnabled") : fmtMs(c.remaining_ms)),
          h("td", {}, h("button", { class: "small sec", onclick: async () => { await api("POST", "/cooldowns/clear", { target: c.target }); load(); } }, t("clear")))))))),
    );
  };
  await load();
  every(async () => { if (!document.querySelector(".modal")) await load(); });
}

// ---- live requests and logs ----
async function showTrail(id) {
  const d = await api("GET", "/logs/" + encodeURIComponent(id));
  const modal = h("div", { class: "modal", onclick: (e) => { if (e.target === modal) modal.remove(); } }, h("div", { class: "card", id: "trail" },
    h("h1", {}, t("attemptTrail", { id })),
    h("p", {}, `${d.model} · ${d.client_protocol} · `, statusPill(d.status, d.error), ` · ${fmtMs(d.duration_ms)}`,
      d.usage ? ` · ${d.usage.input} in / ${d.usage.output} out` : "", d.cost_micro_usd != null ? ` · ${fmtUsd(d.cost_micro_usd)}` : ""),
    d.error ? h("p", { class: "err" }, d.error) : null,
    h("div", { class: "wrap" }, h("table", {}, h("thead", {}, h("tr", {}, ["#", t("channel"), t("key"), t("status"), t("outcome"), t("scope"), t("duration"), t("error")].map((x) => h("th", {}, x)))),
      h("tbody", {}, d.attempt_log.map((a, i) => h("tr", {}, h("td", {}, i + 1), h("td", {}, a.channel_name || a.channel_id || "–"),
        h("td", {}, a.key_index == null ? "–" : "#" + a.key_index), h("td", {}, a.status || "–"),
        h("td", { class: a.outcome === "ok" ? "ok" : "bad" }, a.outcome), h("td", {}, a.scope || "–"),
        h("td", {}, fmtMs(a.duration_ms)), h("td", { class: "mono" }, a.error || "")))))),
    h("button", { class: "sec", onclick: () => modal.remove() }, t("cancel"))));
  document.body.append(modal);
}

async function pageLive() {
  const state = { status: "any", q: "", rows: [], cursor: null };
  const statusSel = h("select", { id: "log-status" }, [["any", t("anyStatus")], ["ok", t("onlyOk")], ["failed", t("onlyFailed")]].map(([v, l]) => h("option", { value: v }, l)));
  const qIn = h("input", { id: "log-q", placeholder: t("search") });
  const activeBox = h("div", { id: "active" });
  const logBox = h("div", { id: "logs" });
  const logQuery = (cursor) => `/logs?limit=50&status=${state.status}` + (state.q ? "&q=" + encodeURIComponent(state.q) : "") + (cursor ? "&cursor=" + cursor : "");
  const renderLogs = () => logBox.replaceChildren(...[
    h("div", { class: "wrap" }, h("table", { id: "logs-table" },
      h("thead", {}, h("tr", {}, [t("time"), t("model"), t("channel"), t("status"), t("duration"), t("firstByte"), t("tokens"), t("cost"), t("attempts")].map((x) => h("th", {}, x)))),
      h("tbody", {}, state.rows.map((r) => h("tr", { class: "click", "data-request-id": r.request_id, onclick: () => showTrail(r.request_id) },
        h("td", {}, fmtTime(r.started_at_ms)), h("td", { class: "mono" }, r.model), h("td", {}, r.channel_name || "–"),
        h("td", {}, statusPill(r.status, r.error)), h("td", {}, fmtMs(r.duration_ms)), h("td", {}, fmtMs(r.first_byte_ms)),
        h("td", {}, r.usage ? `${fmtN(r.usage.input)} / ${fmtN(r.usage.output)}` : "–"),
        h("td", {}, r.unpriced ? "?" : r.cost_micro_usd == null ? "–" : fmtUsd(r.cost_micro_usd)), h("td", {}, r.attempts)))))),
    state.cursor ? h("button", { class: "sec", onclick: async () => {
      const p = await api("GET", logQuery(state.cursor)); state.rows = state.rows.concat(p.rows); state.cursor = p.next_cursor; renderLogs();
    } }, t("more")) : null].filter(Boolean));
  const loadLogs = async () => { const p = await api("GET", logQuery(null)); state.rows = p.rows; state.cursor = p.next_cursor; renderLogs(); };
  const showActive = (active) => {
    activeBox.replaceChildren(active.length === 0 ? h("p", { class: "muted" }, t("noActive")) :
      h("div", { class: "wrap" }, h("table", {}, h("thead", {}, h("tr", {}, [t("model"), t("channel"), t("elapsed"), t("firstByte"), t("bytes")].map((x) => h("th", {}, x)))),
        h("tbody", {}, active.map((a) => h("tr", {}, h("td", { class: "mono" }, a.model), h("td", {}, a.channel || "…"),
          h("td", {}, fmtMs(a.elapsed_ms)), h("td", {}, fmtMs(a.first_byte_ms)), h("td", {}, fmtN(a.bytes))))))));
  };
  const loadActive = async () => { const { active } = await api("GET", "/active"); showActive(active); };
  setPage(h("h1", {}, t("navLive")), h("h2", {}, t("active")), activeBox, h("h2", {}, t("logs")),
    h("form", { class: "bar", onsubmit: (e) => { e.preventDefault(); state.status = statusSel.value; state.q = qIn.value.trim(); loadLogs(); } },
      statusSel, qIn, h("button", { type: "submit" }, t("filter"))), logBox);
  await Promise.all([loadActive(), loadLogs()]);
  clearInterval(refreshTimer); closeLive();
  // Requests in flight are pushed by the server (SSE); polling only if the push is unavailable.
  closeLive();
  let pushed = false;
  if (window.EventSource) {
    liveSource = new EventSource("/admin/api/active/stream");
    liveSource.addEventListener("active", (e) => { pushed = true; try { showActive(JSON.parse(e.data).active); } catch (_) { /* ignore a bad frame */ } });
  }
  let tick = 0;
  refreshTimer = setInterval(() => {
    if (document.hidden || document.querySelector(".modal")) return;
    if (!pushed) loadActive().catch(() => {});
    if (++tick % Math.max(1, Math.round(refreshSecs)) === 0) loadLogs().catch(() => {});
  }, 1000);
}

// ---- tokens ----
async function pageTokens() {
  const load = async () => {
    const { tokens } = await api("GET", "/tokens");
    const name = h("input", { id: "tok-name", placeholder: t("name") });
    const models = h("input", { id: "tok-models", placeholder: t("allowedModels") });
    const chans = h("input", { id: "tok-channels", placeholder: t("allowedChannels") });
    const out = h("div", { id: "tok-created" });
    const list = (v) => v.split(",").map((x) => x.trim()).filter(Boolean);
    setPage(h("h1", {}, t("navTokens")),
      h("form", { class: "bar", onsubmit: async (e) => {
        e.preventDefault();
        try {
          const r = await api("POST", "/tokens", { name: name.value.trim(), allowed_models: list(models.value), allowed_channels: list(chans.value) });
          await load();
          $("tok-created").replaceChildren(h("div", { class: "card" }, t("tokenCreated"), " ", h("code", { id: "tok-plain" }, r.token)));
        } catch (x) { toast(x.message); }
      } }, name, models, chans, h("button", { type: "submit", id: "tok-create" }, t("newToken"))),
      out,
      h("div", { class: "wrap" }, h("table", { id: "tokens-table" },
        h("thead", {}, h("tr", {}, [t("name"), t("hint"), t("enabled"), t("allowedModels").split(" (")[0], t("allowedChannels").split(" (")[0], t("maxConcurrency").split(" (")[0], t("expires"), ""].map((x) => h("th", {}, x)))),
        h("tbody", {}, tokens.map((k) => h("tr", {}, h("td", {}, k.name), h("td", { class: "mono" }, k.hint),
          h("td", {}, k.enabled ? h("span", { class: "ok" }, "✓") : "–"), h("td", {}, k.allowed_models.join(", ") || "*"),
          h("td", {}, k.allowed_channels.join(", ") || "*"), h("td", {}, k.max_concurrency || "∞"),
          h("td", {}, k.expires_at_ms ? fmtTime(k.expires_at_ms) : t("never")),
          h("td", {}, h("div", { class: "actions" },
            h("button", { class: "small sec", onclick: async () => { await api("PUT", `/tokens/${k.id}`, { enabled: !k.enabled }); load(); } }, k.enabled ? t("disable") : t("enable")),
            h("button", { class: "small danger", onclick: async () => { if (confirm(t("confirmDelete", { name: k.name }))) { await api("DELETE", `/tokens/${k.id}`); load(); } } }, t("delete"))))))))));
  };
  await load();
}

// ---- stats ----
async function pageStats() {
  const group = h("select", { id: "stats-group" }, ["channel", "model", "token", "none"].map((g) => h("option", { value: g }, g)));
  const bucket = h("select", { id: "stats-bucket" }, ["total", "hour", "day"].map((g) => h("option", { value: g }, t(g))));
  const days = h("select", { id: "stats-days" }, [1, 7, 30].map((d) => h("option", { value: d }, d + " d")));
  const box = h("div", {});
  const csv = h("a", { id: "usage-csv", class: "button sec", download: "relaygate-usage.csv" }, t("usageCsv"));
  const load = async () => {
    const to = Date.now() + 1, from = to - Number(days.value) * 86400000;
    const r = await api("GET", `/stats?from=${from}&to=${to}&group_by=${group.value}&bucket=${bucket.value}`);
    csv.href = `/admin/api/usage.csv?from=${from}&to=${to}`;
    box.replaceChildren(h("div", { class: "wrap" }, h("table", { id: "stats-table" },
      h("thead", {}, h("tr", {}, [bucket.value === "total" ? "" : t("time"), t("groupBy") + ": " + group.value, t("requests"), t("errors"), t("inputTokens"), t("outputTokens"), t("cost"), t("costReported"), t("costEstimated"), t("p50"), t("p95"), t("firstByte") + " p50", t("firstByte") + " p95"].map((x) => h("th", {}, x)))),
      h("tbody", {}, r.rows.map((x) => h("tr", {}, h("td", {}, bucket.value === "total" ? "" : fmtTime(x.bucket_start_ms)), h("td", { class: "mono" }, x.key || "–"),
        h("td", {}, fmtN(x.requests)), h("td", { class: x.errors ? "bad" : "" }, fmtN(x.errors)), h("td", {}, fmtN(x.input_tokens)), h("td", {}, fmtN(x.output_tokens)),
        h("td", {}, fmtUsd(x.cost_micro_usd) + (x.unpriced ? ` (+${x.unpriced}?)` : "")),
        h("td", {}, fmtUsd(x.reported.cost_micro_usd)),
        h("td", { title: t("estimatedHelp") }, fmtUsd(x.estimated.cost_micro_usd) + (x.estimated.requests ? ` (${fmtN(x.estimated.requests)})` : "")),
        h("td", {}, fmtMs(x.p50_ms)), h("td", {}, fmtMs(x.p95_ms)),
        h("td", {}, fmtMs(x.p50_first_byte_ms)), h("td", {}, fmtMs(x.p95_first_byte_ms))))))));
  };
  setPage(h("h1", {}, t("navStats")),
    h("form", { class: "bar", onsubmit: (e) => { e.preventDefault(); load(); } },
      h("label", {}, t("groupBy"), group), h("label", {}, t("bucket"), bucket), h("label", {}, t("from"), days),
      h("button", { type: "submit" }, t("apply")), csv), box);
  await load();
}

// ---- prices ----
async function pagePrices() {
  const p = await api("GET", "/prices");
  const table = h("textarea", { id: "prices-table", class: "mono", rows: "12", spellcheck: "false", placeholder: t("pricesPlaceholder") });
  table.value = p.stored || "";
  const filter = h("input", { id: "prices-filter", placeholder: t("filter") });
  const body = h("tbody", {});
  const money = (v) => (v == null ? "–" : "$" + v);
  const fill = () => {
    const q = filter.value.trim().toLowerCase();
    body.replaceChildren(...p.models.filter((m) => !q || m.model.includes(q)).slice(0, 200).map((m) =>
      h("tr", {}, h("td", { class: "mono" }, m.model, m.stored ? h("span", { class: "pill ok" }, t("pricesStored")) : ""),
        h("td", {}, money(m.input)), h("td", {}, money(m.output)), h("td", {}, money(m.cache_read)),
        h("td", {}, money(m.cache_write_5m)), h("td", {}, m.tiers.join(", ")),
        h("td", {}, m.long_context ? "> " + fmtN(m.long_context.above_input_tokens) : ""),
        h("td", {}, m.context_window ? fmtN(m.context_window) : ""))));
  };
  filter.oninput = fill;
  fill();
  const unpriced = p.unpriced.length
    ? h("table", { id: "unpriced-models" }, h("thead", {}, h("tr", {}, [t("model"), t("requests"), ""].map((x) => h("th", {}, x)))),
      h("tbody", {}, p.unpriced.map((u) => h("tr", {}, h("td", { class: "mono" }, u.model), h("td", {}, fmtN(u.requests)),
        h("td", {}, u.priced_now ? t("pricesPricedNow") : "")))))
    : h("p", { class: "muted", id: "unpriced-models" }, t("pricesNoUnpriced"));
  setPage(h("h1", {}, t("navPrices")),
    h("p", { class: "muted" }, t("pricesBuiltin").replace("{s}", p.builtin_source)),
    h("h2", {}, t("pricesUnpriced")), h("div", { class: "wrap" }, unpriced),
    h("h2", {}, t("pricesTable")), h("p", { class: "muted" }, t("pricesHelp")),
    h("div", { class: "card" }, table, h("div", { class: "actions" },
      h("button", { id: "prices-save", onclick: async () => {
        try { const r = await api("PUT", "/prices", { table: table.value }); toast(t("pricesSaved").replace("{n}", r.stored_models)); pagePrices(); }
        catch (x) { toast(x.message); }
      } }, t("save")))),
    h("h2", {}, t("pricesInForce").replace("{n}", p.models.length)), filter,
    h("div", { class: "wrap" }, h("table", { id: "prices-list" },
      h("thead", {}, h("tr", {}, [t("model"), t("pricesInput"), t("pricesOutput"), t("pricesCacheRead"), t("pricesCacheWrite"), t("pricesTiers"), t("pricesLong"), t("pricesContext")].map((x) => h("th", {}, x)))),
      body)));
}

// ---- settings ----
async function pageSettings() {
  const { settings } = await api("GET", "/settings");
  const cur = h("input", { type: "password", id: "pw-current", autocomplete: "current-password" });
  const nw = h("input", { type: "password", id: "pw-new", autocomplete: "new-password" });
  setPage(h("h1", {}, t("navSettings")),
    h("div", { class: "wrap" }, h("table", {}, h("thead", {}, h("tr", {}, [t("key"), t("value"), ""].map((x) => h("th", {}, x)))),
      h("tbody", {}, settings.map((st) => {
        const inp = h("input", { value: st.value });
        return h("tr", {}, h("td", {}, h("div", { class: "mono" }, st.key), h("div", { class: "muted" }, st.description)), h("td", {}, inp),
          h("td", {}, h("div", { class: "actions" },
            h("button", { class: "small", onclick: async () => { try { await api("PUT", "/settings/" + st.key, { value: inp.value }); toast(t("saved")); applySettings(); } catch (x) { toast(x.message); } } }, t("save")),
            h("button", { class: "small sec", onclick: async () => { await api("DELETE", "/settings/" + st.key); pageSettings(); applySettings(); } }, t("reset")))));
      })))),
    h("h2", {}, t("changePassword")),
    h("form", { class: "card form", onsubmit: async (e) => {
      e.preventDefault();
      try { await api("POST", "/password", { current: cur.value, new: nw.value }); toast(t("passwordChanged")); showLogin(); }
      catch (x) { toast(x.message); }
    } }, h("div", {}, h("label", {}, t("currentPassword")), cur), h("div", {}, h("label", {}, t("newPassword")), nw),
      h("div", { class: "full" }, h("button", { type: "submit" }, t("save")))));
}

async function applySettings() {
  try {
    const { settings } = await api("GET", "/settings");
    for (const st of settings) {
      if (st.key === "dashboard.refresh_secs") refreshSecs = Math.max(1, Number(st.value) || 5);
      if (st.key === "dashboard.title") { $("title").textContent = st.value; document.title = st.value; }
    }
  } catch (_) { /* not logged in yet */ }
}

window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", () => {
  $("logout").addEventListener("click", async () => { try { await api("POST", "/logout"); } catch (_) { /* ignore */ } showLogin(); });
  fetch("/admin/api/session", { credentials: "same-origin" }).then((r) => {
    if (r.ok) { applySettings(); route(); } else showLogin();
  });
});
