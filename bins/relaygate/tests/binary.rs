//! The real binary: configuration handling, serving, SIGTERM flush, and the official SDKs.
// Children are returned to the caller, which always waits for them (`sigterm`).
#![allow(
    clippy::zombie_processes,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use relaygate_store::{LogQuery, LogStore, SqliteStore};
use relaygate_testkit::MockUpstream;

mod common;
use common::{BIN, post, sigterm, start, temp_dir};

const TOKEN: &str = "rg-binary-test-token";

fn config(dir: &Path, mock: &str) -> PathBuf {
    let text = format!(
        r#"
listen = "127.0.0.1:0"
storage = "sqlite://{db}"
[[channels]]
name = "anth"
protocol = "anthropic"
base_url = "{mock}"
keys = ["up-anthropic-1"]
models = ["claude-mock"]
[[channels]]
name = "oai"
protocol = "openai"
base_url = "{mock}/v1"
keys = ["up-openai-1"]
models = ["gpt-mock"]
[[channels]]
name = "resp"
protocol = "responses"
base_url = "{mock}"
keys = ["up-responses-1"]
models = ["codex-mock"]
[[channels]]
name = "gem"
protocol = "gemini"
base_url = "{mock}"
keys = ["up-gemini-1"]
models = ["gemini-mock"]
[[tokens]]
name = "test"
token = "{TOKEN}"
"#,
        db = dir.join("relaygate.db").display()
    );
    let path = dir.join("relaygate.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Starts the binary and waits for its "listening on" line; returns the child and base URL.

#[tokio::test(flavor = "multi_thread")]
async fn serves_from_a_config_file_and_flushes_logs_on_sigterm() {
    let mock = MockUpstream::start().await.unwrap();
    let dir = temp_dir("serve");
    let cfg = config(&dir, &mock.url());
    let (mut child, url, _) = start(&["serve", "--config", cfg.to_str().unwrap()], &[]);
    let body = r#"{"model":"claude-mock","max_tokens":8,"stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    let u = url.clone();
    let (status, text) = tokio::task::spawn_blocking(move || {
        post(&u, "/v1/messages", &[("x-api-key", TOKEN)], body)
    })
    .await
    .unwrap();
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("event: message_stop"));
    let u = url.clone();
    let (status, _) = tokio::task::spawn_blocking(move || {
        post(&u, "/v1/messages", &[("x-api-key", "nope-nope")], body)
    })
    .await
    .unwrap();
    assert_eq!(status, 401);
    assert!(sigterm(&mut child).success());
    assert_eq!(mock.requests()[0].key.as_deref(), Some("up-anthropic-1"));
    let store = SqliteStore::open(dir.join("relaygate.db")).unwrap();
    let rows = store.query_logs(LogQuery::default()).await.unwrap();
    assert_eq!(rows.len(), 2, "both requests are logged before exit");
    assert!(
        rows.iter()
            .any(|r| r.status == 200 && r.channel_name.as_deref() == Some("anth"))
    );
    assert!(rows.iter().any(|r| r.status == 401));
}

#[test]
fn unknown_config_keys_name_the_key_and_line() {
    let dir = temp_dir("badcfg");
    let path = dir.join("bad.toml");
    std::fs::write(
        &path,
        "listen = \"127.0.0.1:0\"\n\n[timeouts]\nfirst_byte = 3\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--config", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("first_byte") && err.contains("line 4"),
        "{err}"
    );
}

#[test]
fn a_database_password_never_appears_in_errors() {
    let dir = temp_dir("dbpw");
    let path = dir.join("db.toml");
    // Nothing listens on port 1: opening fails, and the error names the URL.
    std::fs::write(
        &path,
        "listen = \"127.0.0.1:0\"\nstorage = \"mysql://relay:S3cretPassw0rd@127.0.0.1:1/relaygate\"\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--config", path.to_str().unwrap()])
        .env("RELAYGATE_LOG", "debug")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains("S3cretPassw0rd"), "{all}");
    assert!(all.contains("relay:***@127.0.0.1:1"), "{all}");
}

#[test]
fn starts_without_a_config_and_explains_the_setup() {
    let dir = temp_dir("noconfig");
    let db = format!("sqlite://{}", dir.join("x.db").display());
    let (mut child, url, banner) = start(
        &["serve", "--listen", "127.0.0.1:0"],
        &[("RELAYGATE_STORAGE", &db)],
    );
    assert!(url.starts_with("http://127.0.0.1:"));
    let banner = banner.join("\n");
    assert!(
        banner.contains("[[channels]]") && banner.contains("[[tokens]]"),
        "{banner}"
    );
    assert!(banner.contains("docs/configuration.md"));
    assert!(sigterm(&mut child).success());
    assert!(dir.join("x.db").exists());
}

fn sdks_available() -> bool {
    Command::new("python3")
        .args(["-c", "import anthropic, openai, google.genai"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether the SDK tests can run; panics when they must (`RELAYGATE_REQUIRE_SDKS=1`).
fn sdks_or_skip(test: &str) -> bool {
    if sdks_available() {
        return true;
    }
    if std::env::var("RELAYGATE_REQUIRE_SDKS").as_deref() == Ok("1") {
        panic!(
            "RELAYGATE_REQUIRE_SDKS=1 but the Python SDKs are missing: pip install -r tests/sdk/requirements.txt"
        );
    }
    eprintln!("SKIP {test}: pip install -r tests/sdk/requirements.txt to run it");
    false
}

/// Runs `tests/sdk/drive_sdks.py` against the gateway at `url`; returns success and output.
async fn drive_sdks(url: String, mock_url: String, extra: Vec<String>) -> (bool, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/sdk/drive_sdks.py");
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(script)
            .args([
                "--base-url",
                &url,
                "--token",
                TOKEN,
                "--mock-url",
                &mock_url,
            ])
            .args(extra)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let text = format!("{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    (out.status.success() && stdout.contains(" 0 failed"), text)
}

#[tokio::test(flavor = "multi_thread")]
async fn official_python_sdks_get_their_answers_through_the_gateway() {
    if !sdks_or_skip("official_python_sdks") {
        return;
    }
    let mock = MockUpstream::start().await.unwrap();
    let dir = temp_dir("sdk");
    let cfg = config(&dir, &mock.url());
    let (mut child, url, _) = start(&["serve", "--config", cfg.to_str().unwrap()], &[]);
    let (ok, text) = drive_sdks(url, mock.url(), Vec::new()).await;
    assert!(sigterm(&mut child).success());
    assert!(ok, "SDK checks failed:\n{text}");
}

/// One channel of `protocol` (config spelling) with key `up-cross-1` serving all four models.
fn cross_config(dir: &Path, mock: &str, protocol: &str) -> PathBuf {
    let base_url = if protocol == "openai" {
        format!("{mock}/v1")
    } else {
        mock.to_owned()
    };
    let text = format!(
        r#"
listen = "127.0.0.1:0"
storage = "sqlite://{db}"
[[channels]]
name = "cross-{protocol}"
protocol = "{protocol}"
base_url = "{base_url}"
keys = ["up-cross-1"]
models = ["claude-mock", "gpt-mock", "codex-mock", "gemini-mock"]
[[tokens]]
name = "test"
token = "{TOKEN}"
"#,
        db = dir.join("relaygate.db").display()
    );
    let path = dir.join("relaygate.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The config spelling of the protocol an upstream path belongs to.
fn protocol_of_path(path: &str) -> &'static str {
    if path.starts_with("/v1/messages") {
        "anthropic"
    } else if path.starts_with("/v1/chat/completions") {
        "openai"
    } else if path.starts_with("/v1/responses") {
        "responses"
    } else if path.contains("/models/") && path.contains("enerateContent") {
        // /v1beta/models/{m}:generateContent, or /v1/models/... passed through unchanged.
        "gemini"
    } else {
        "unknown"
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn official_python_sdks_work_across_protocols() {
    if !sdks_or_skip("official_python_sdks_work_across_protocols") {
        return;
    }
    let mut failures = Vec::new();
    for protocol in ["anthropic", "openai", "responses", "gemini"] {
        let mock = MockUpstream::start().await.unwrap();
        let dir = temp_dir(&format!("sdk-cross-{protocol}"));
        let cfg = cross_config(&dir, &mock.url(), protocol);
        let (mut child, url, _) = start(&["serve", "--config", cfg.to_str().unwrap()], &[]);
        let extra = vec!["--expect-keys".to_owned(), "up-cross-1".to_owned()];
        let (ok, text) = drive_sdks(url, mock.url(), extra).await;
        assert!(sigterm(&mut child).success());
        // Every request really went to the single channel's protocol.
        let wrong: Vec<String> = mock
            .requests()
            .iter()
            .filter(|r| protocol_of_path(&r.path) != protocol)
            .map(|r| r.path.clone())
            .collect();
        let summary = text
            .lines()
            .find(|l| l.ends_with(" failed"))
            .unwrap_or("no summary line");
        eprintln!("SDKs against a {protocol} upstream: {summary}");
        if !ok || !wrong.is_empty() {
            failures.push(format!(
                "upstream {protocol}: paths of another protocol {wrong:?}\n{text}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "SDK checks failed across protocols:\n{}",
        failures.join("\n")
    );
}

#[test]
fn prices_import_reads_both_formats_and_refuses_garbage() {
    let dir = temp_dir("prices");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/prices");
    for (file, model, input) in [
        ("litellm-sample.json", "relay-gpt-7", 1_250_000),
        ("models-dev-sample.json", "relay-sonnet-9", 3_000_000),
    ] {
        let out_path = dir.join(format!("{file}.toml"));
        let out = Command::new(BIN)
            .args(["prices", "import"])
            .arg(fixtures.join(file))
            .arg("--out")
            .arg(&out_path)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{err}");
        assert!(err.contains("imported "), "{err}");
        let text = std::fs::read_to_string(&out_path).unwrap();
        let table = relaygate_tokens::PriceTable::from_toml(&text).unwrap();
        assert_eq!(table.lookup(model).unwrap().base.input, input, "{file}");
        assert!(text.contains("source = "), "{text}");
    }
    // Stdout when no --out; a provider filter applies.
    let out = Command::new(BIN)
        .args(["prices", "import", "--providers", "google"])
        .arg(fixtures.join("models-dev-sample.json"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let table =
        relaygate_tokens::PriceTable::from_toml(&String::from_utf8_lossy(&out.stdout)).unwrap();
    assert_eq!(table.len(), 1);
    assert!(table.is_priced("relay-gemini-4-flash"));
    // Garbage, a wrong format name and a file that prices nothing are clear errors.
    let junk = dir.join("junk.json");
    std::fs::write(&junk, "{\"not\": \"prices\"").unwrap();
    for args in [
        vec!["prices", "import", junk.to_str().unwrap()],
        vec![
            "prices",
            "import",
            "--format",
            "csv",
            junk.to_str().unwrap(),
        ],
    ] {
        let out = Command::new(BIN).args(&args).output().unwrap();
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("Error"), "{err}");
    }
    let out = Command::new(BIN)
        .args(["prices", "import", "--providers", "nobody"])
        .arg(fixtures.join("litellm-sample.json"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("priced no model"));
}
