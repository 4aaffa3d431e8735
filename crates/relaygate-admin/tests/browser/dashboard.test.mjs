// Drives the dashboard in headless Debian Chromium: log in, add a channel and a token through
// the UI, send a request through the gateway, and see it in live logs (with its attempt
// trail) and stats. Screenshots of every page go to $RELAYGATE_SCREENSHOT_DIR.
//
// Environment:
//   RELAYGATE_BIN        the relaygate binary (required)
//   RELAYGATE_MOCK_BIN   the relaygate-mock binary (required)
//   CHROMIUM             the browser (default /usr/bin/chromium)
//   RELAYGATE_SCREENSHOT_DIR  where screenshots go (default ./screenshots)
//   RELAYGATE_DOCS_IMG   if set, overview and channels screenshots are copied there too
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, writeFileSync, copyFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const BIN = process.env.RELAYGATE_BIN;
const MOCK = process.env.RELAYGATE_MOCK_BIN;
const BROWSER = process.env.CHROMIUM || "/usr/bin/chromium";
const SHOTS = process.env.RELAYGATE_SCREENSHOT_DIR || "screenshots";
const PASSWORD = "browser-test-password";
const deadline = setTimeout(() => { console.error("browser test timed out"); process.exit(2); }, 120_000);

if (!BIN || !MOCK) { console.error("RELAYGATE_BIN and RELAYGATE_MOCK_BIN are required"); process.exit(2); }

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => resolve(p)); });
    s.on("error", reject);
  });
}

function start(cmd, args, env, ready) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    const timer = setTimeout(() => reject(new Error(`${cmd} did not start: ${out}`)), 30_000);
    const onData = (d) => { out += d; if (out.includes(ready)) { clearTimeout(timer); resolve(child); } };
    child.stdout.on("data", onData);
    child.stderr.on("data", (d) => { out += d; });
    child.on("exit", (code) => { clearTimeout(timer); reject(new Error(`${cmd} exited ${code}: ${out}`)); });
  });
}

const children = [];
const work = mkdtempSync(join(tmpdir(), "relaygate-browser-"));
let browser;
let failed = false;
try {
  const mockPort = await freePort();
  const gwPort = await freePort();
  children.push(await start(MOCK, ["--listen", `127.0.0.1:${mockPort}`, "--gap-ms", "20"], {}, "listening"));
  const config = join(work, "relaygate.toml");
  writeFileSync(config, `listen = "127.0.0.1:${gwPort}"\nstorage = "sqlite://${join(work, "db.sqlite")}"\n[admin]\npassword = "${PASSWORD}"\n`);
  children.push(await start(BIN, ["serve", "--config", config], { RELAYGATE_LOG: "warn" }, "listening on"));
  const base = `http://127.0.0.1:${gwPort}`;

  // A fresh profile directory each run (playwright passes it as --user-data-dir).
  browser = await chromium.launchPersistentContext(join(work, "chromium-profile"), {
    executablePath: BROWSER,
    headless: true,
    viewport: { width: 1280, height: 820 },
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  const page = browser.pages()[0] || await browser.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  // Expected refusals (401 before login, 400 for the bad URL) show as failed loads; anything
  // else logged as an error is a bug.
  page.on("console", (m) => { if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) errors.push(m.text()); });
  mkdirSync(SHOTS, { recursive: true });
  const shot = async (name) => { await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true }); };

  // Log in (a wrong password first).
  await page.goto(base + "/");
  await page.fill("#password", "wrong-password");
  await page.click("#login-button");
  await page.waitForSelector("#login-error:not(:empty)");
  await shot("login");
  await page.fill("#password", PASSWORD);
  await page.click("#login-button");
  await page.waitForSelector("#overview-cards");

  // Add a channel through the editor.
  await page.click("#nav-channels");
  await page.waitForSelector("#add-channel");
  await page.click("#add-channel");
  await page.fill("#ch-name", "mock-anthropic");
  await page.selectOption("#ch-protocol", "anthropic");
  await page.fill("#ch-urls", `http://127.0.0.1:${mockPort}`);
  await page.fill("#ch-keys", "sk-mock-browser-0001\nsk-mock-browser-0002");
  await page.fill("#ch-models", "claude-test\nclaude-alias=claude-test");
  await page.fill("#ch-priority", "5");
  await page.click("#ch-save");
  await page.waitForSelector('tr[data-name="mock-anthropic"]');

  // A bad URL is refused with a message naming the field.
  await page.click("#add-channel");
  await page.fill("#ch-name", "broken");
  await page.fill("#ch-urls", "not-a-url");
  await page.fill("#ch-keys", "k");
  await page.fill("#ch-models", "m");
  await page.click("#ch-save");
  await page.waitForSelector("#ch-error:not(:empty)");
  const msg = await page.textContent("#ch-error");
  if (!msg.includes("base_urls[0]")) throw new Error("editor error does not name the field: " + msg);
  await page.click(".modal button.sec");

  // Test the channel: a small real request, its answer shown.
  await page.click('button[data-test="mock-anthropic"]');
  await page.waitForSelector("#test-verdict");
  const verdict = await page.textContent("#test-result");
  if (!verdict.includes("HTTP 200") || !verdict.includes("Hello from the mock upstream") || verdict.includes("null")) throw new Error("channel test: " + verdict);
  await shot("channel-test");
  await page.click(".modal button.sec");

  // Fetch the upstream's model list into the editor (without saving).
  await page.click('tr[data-name="mock-anthropic"] button:has-text("Edit")');
  await page.click("#ch-fetch-models");
  await page.waitForFunction(() => document.querySelector("#ch-models").value.includes("mock-claude-1"));
  const models = await page.inputValue("#ch-models");
  if (!models.includes("claude-alias=claude-test")) throw new Error("fetch models dropped a redirect: " + models);
  await page.click(".modal form > .actions button.sec");

  // Switch the channel's URL off and on again.
  const urlButton = 'tr[data-name="mock-anthropic"] [data-url-index="0"] button';
  await page.click(urlButton);
  await page.waitForSelector('tr[data-name="mock-anthropic"] [data-url-index="0"].muted');
  await page.click(urlButton);
  await page.waitForSelector('tr[data-name="mock-anthropic"] [data-url-index="0"]:not(.muted)');

  // CSV export, then the same file imported back updates the channel in place.
  const csv = await page.evaluate(async () => {
    const c = document.cookie.match(/(?:^|; )relaygate_csrf=([0-9a-f]+)/)[1];
    const get = await fetch("/admin/api/channels/export.csv");
    if (get.ok) throw new Error("GET export.csv must not return keys");
    const noCsrf = await fetch("/admin/api/channels/export.csv", { method: "POST" });
    if (noCsrf.status !== 403) throw new Error("export without CSRF: " + noCsrf.status);
    return (await fetch("/admin/api/channels/export.csv", { method: "POST", headers: { "x-relaygate-csrf": c } })).text();
  });
  if (!csv.startsWith("name,protocol,") || !csv.includes("sk-mock-browser-0002")) throw new Error("CSV export: " + csv);
  await page.setInputFiles("#import-csv-file", { name: "channels.csv", mimeType: "text/csv", buffer: Buffer.from(csv) });
  await page.waitForFunction(() => document.querySelector("#toast")?.textContent.includes("0 created, 1 updated"));

  // Create a client token; its plaintext is shown once.
  await page.click("#nav-tokens");
  await page.fill("#tok-name", "browser");
  await page.click("#tok-create");
  await page.waitForSelector("#tok-plain");
  const token = (await page.textContent("#tok-plain")).trim();
  await shot("tokens");

  // A request through the gateway, streaming so it shows in flight for a moment.
  const proxied = await fetch(base + "/v1/messages", {
    method: "POST",
    headers: { "content-type": "application/json", "x-api-key": token, "anthropic-version": "2023-06-01" },
    body: JSON.stringify({ model: "claude-test", max_tokens: 16, stream: true, messages: [{ role: "user", content: "hello" }] }),
  });
  if (proxied.status !== 200) throw new Error("proxied request: " + proxied.status + " " + (await proxied.text()));
  const requestId = proxied.headers.get("x-relaygate-request-id");
  await proxied.text();

  // Live requests and logs: the row appears (logs are flushed within 500 ms), with its trail.
  await page.click("#nav-live");
  const row = `tr[data-request-id="${requestId}"]`;
  for (let i = 0; i < 30 && !(await page.$(row)); i++) {
    await page.waitForTimeout(500);
    await page.click('form.bar button[type="submit"]').catch(() => {});
  }
  await page.waitForSelector(row, { timeout: 10_000 });
  await shot("live");
  await page.click(row);
  await page.waitForSelector("#trail");
  const trail = await page.textContent("#trail");
  if (!trail.includes("mock-anthropic") || !trail.includes("ok")) throw new Error("attempt trail: " + trail);
  await shot("trail");
  await page.click("#trail button.sec");

  // Stats and overview show the request.
  await page.click("#nav-stats");
  await page.waitForSelector("#stats-table");
  const stats = await page.textContent("#stats-table");
  if (!stats.includes("mock-anthropic")) throw new Error("stats: " + stats);
  // The usage export is a download the session may open.
  const csvHref = await page.getAttribute("#usage-csv", "href");
  const usageCsv = await page.evaluate(async (u) => (await fetch(u)).text(), csvHref);
  if (!usageCsv.startsWith("date,token_id,token,")) throw new Error("usage csv: " + usageCsv);
  await shot("stats");
  // Prices: the table in force, and an operator's table saved live.
  await page.click("#nav-prices");
  await page.waitForSelector("#prices-list");
  await page.fill("#prices-filter", "gpt-5");
  const listed = await page.textContent("#prices-list");
  if (!listed.includes("gpt-5") || listed.includes("claude-haiku")) throw new Error("prices: " + listed);
  await page.fill("#prices-table", '[models."browser-model"]\ninput = 1.5\noutput = 6\n');
  await page.click("#prices-save");
  // Saving renders the page again from the server: the filter is empty once more.
  await page.waitForFunction(() => document.querySelector("#prices-table")?.value.includes("browser-model")
    && document.querySelector("#prices-filter")?.value === "");
  await page.fill("#prices-filter", "browser-model");
  const mine = await page.textContent("#prices-list");
  if (!mine.includes("$1.5") || !mine.includes("$6")) throw new Error("saved price: " + mine);
  await shot("prices");
  await page.click("#nav-settings");
  await page.waitForSelector("#pw-current");
  await shot("settings");
  await page.click("#nav-overview");
  await page.waitForSelector("#overview-cards");
  await page.waitForFunction(() => document.querySelector("#stat-requests")?.textContent !== "0");
  await shot("overview");
  await page.click("#nav-channels");
  await page.waitForSelector('tr[data-name="mock-anthropic"]');
  await shot("channels");
  // A phone-sized screen in dark mode.
  await page.setViewportSize({ width: 390, height: 800 });
  await page.emulateMedia({ colorScheme: "dark" });
  await page.click("#nav-overview");
  await page.waitForSelector("#overview-cards");
  await shot("overview-phone-dark");

  if (errors.length) throw new Error("browser errors: " + errors.join("\n"));
  if (process.env.RELAYGATE_DOCS_IMG) {
    mkdirSync(process.env.RELAYGATE_DOCS_IMG, { recursive: true });
    for (const n of ["overview", "channels", "live", "overview-phone-dark"]) {
      copyFileSync(join(SHOTS, `${n}.png`), join(process.env.RELAYGATE_DOCS_IMG, `dashboard-${n}.png`));
    }
  }
  console.log("1 passed, 0 failed");
} catch (e) {
  failed = true;
  console.error("browser test failed:", e);
} finally {
  if (browser) await browser.close().catch(() => {});
  for (const c of children) c.kill("SIGTERM");
  rmSync(work, { recursive: true, force: true });
  clearTimeout(deadline);
}
process.exit(failed ? 1 : 0);
