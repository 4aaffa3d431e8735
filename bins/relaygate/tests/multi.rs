//! Several real relaygate processes: durability under `kill -9`, and two instances sharing one
//! MariaDB database (cooldowns, rate limits and concurrency are shared, not multiplied).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr,
    // Children are returned to the caller, which always reaps them.
    clippy::zombie_processes
)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use relaygate_store::{LogQuery, LogStore, SqliteStore};
use relaygate_testkit::{Behavior, MockUpstream};

mod common;
use common::{kill9, sigterm, temp_dir};

fn start(config: &Path) -> (Child, String) {
    let (child, url, _) = common::start(&["serve", "--config", config.to_str().unwrap()], &[]);
    (child, url)
}

fn post(url: &str, body: &str) -> u16 {
    let auth = format!("Bearer {TOKEN}");
    common::post(
        url,
        "/v1/chat/completions",
        &[("authorization", &auth)],
        body,
    )
    .0
}

const TOKEN: &str = "rg-multi-test-token";

fn config(dir: &Path, storage: &str, mock: &str, channel_extra: &str) -> PathBuf {
    let text = format!(
        r#"
listen = "127.0.0.1:0"
storage = "{storage}"
[[channels]]
name = "shared"
protocol = "openai"
base_url = "{mock}"
keys = ["bad-key", "good-key"]
models = ["gpt-x"]
{channel_extra}
[[tokens]]
name = "t"
token = "{TOKEN}"
"#
    );
    let path = dir.join(format!(
        "relaygate-{}.toml",
        storage.len() + channel_extra.len()
    ));
    std::fs::write(&path, text).unwrap();
    path
}

const BODY: &str = r#"{"model":"gpt-x","messages":[{"role":"user","content":"hi"}]}"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_kill_9_loses_no_row_older_than_a_second() {
    let mock = MockUpstream::start().await.unwrap();
    let dir = temp_dir("kill9");
    let db = dir.join("relaygate.db");
    let cfg = config(&dir, &format!("sqlite://{}", db.display()), &mock.url(), "");
    let (mut child, url) = start(&cfg);
    let n = 40;
    let u = url.clone();
    let statuses =
        tokio::task::spawn_blocking(move || (0..n).map(|_| post(&u, BODY)).collect::<Vec<_>>())
            .await
            .unwrap();
    assert!(statuses.iter().all(|&s| s == 200), "{statuses:?}");
    // Rows are durable within a second of their response; then the process dies hard.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    kill9(&mut child);
    let store = SqliteStore::open(&db).unwrap();
    let rows = store
        .query_logs(LogQuery {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        rows.len(),
        n,
        "every row older than a second survived kill -9"
    );
}

/// `mysql://user@host:port/db` → (host, port, user).
fn mysql_parts(url: &str) -> (String, String, String) {
    let rest = url.trim_start_matches("mysql://");
    let (auth, host) = rest.split_once('@').unwrap_or(("root", rest));
    let user = auth.split(':').next().unwrap_or("root").to_owned();
    let hostport = host.split('/').next().unwrap_or("127.0.0.1:3306");
    let (h, p) = hostport.split_once(':').unwrap_or((hostport, "3306"));
    (h.to_owned(), p.to_owned(), user)
}

fn mysql(url: &str, sql: &str) -> bool {
    let (h, p, u) = mysql_parts(url);
    Command::new("mysql")
        .args(["--protocol=tcp", "-h", &h, "-P", &p, "-u", &u, "-e", sql])
        .status()
        .is_ok_and(|s| s.success())
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_share_cooldowns_rate_limits_and_concurrency() {
    let Ok(base) = std::env::var("RELAYGATE_TEST_MYSQL_URL") else {
        if std::env::var("RELAYGATE_REQUIRE_MYSQL").as_deref() == Ok("1") {
            panic!("RELAYGATE_REQUIRE_MYSQL=1 but RELAYGATE_TEST_MYSQL_URL is unset");
        }
        eprintln!(
            "SKIP two_instances_share_cooldowns_rate_limits_and_concurrency: set RELAYGATE_TEST_MYSQL_URL"
        );
        return;
    };
    let db = format!("relaygate_multi_{}", std::process::id());
    assert!(
        mysql(
            &base,
            &format!("DROP DATABASE IF EXISTS {db}; CREATE DATABASE {db}")
        ),
        "mysql client needed"
    );
    let (h, p, u) = mysql_parts(&base);
    let url = format!("mysql://{u}@{h}:{p}/{db}");
    let mock = MockUpstream::start().await.unwrap();
    mock.on_key("bad-key", Behavior::status(401, r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}"#));
    let dir = temp_dir("two");
    let cfg = config(
        &dir,
        &url,
        &mock.url(),
        "rpm_limit = 4\nmax_concurrency = 1",
    );
    let (mut a, url_a) = start(&cfg);
    let (mut b, url_b) = start(&cfg);

    // A finds the dead key; within a second B skips it too.
    let ua = url_a.clone();
    assert_eq!(
        tokio::task::spawn_blocking(move || post(&ua, BODY))
            .await
            .unwrap(),
        200
    );
    let keys: Vec<_> = mock
        .requests()
        .iter()
        .map(|r| r.key.clone().unwrap())
        .collect();
    assert_eq!(keys, ["bad-key", "good-key"]);
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    let ub = url_b.clone();
    assert_eq!(
        tokio::task::spawn_blocking(move || post(&ub, BODY))
            .await
            .unwrap(),
        200
    );
    assert_eq!(
        mock.requests().last().unwrap().key.as_deref(),
        Some("good-key")
    );
    assert_eq!(
        mock.requests().len(),
        3,
        "B never tried the key A found dead"
    );

    // RPM 4 counts upstream calls over both instances: A's request made two (the dead key,
    // then the good one) and B's one, so exactly one more call fits; the rest are refused.
    let (ua, ub) = (url_a.clone(), url_b.clone());
    let statuses = tokio::task::spawn_blocking(move || {
        (0..6)
            .map(|i| post(if i % 2 == 0 { &ua } else { &ub }, BODY))
            .collect::<Vec<u16>>()
    })
    .await
    .unwrap();
    assert_eq!(
        statuses.iter().filter(|&&s| s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().filter(|&&s| s != 200).all(|&s| s == 429),
        "{statuses:?}"
    );
    assert_eq!(
        mock.requests().len(),
        4,
        "N instances make no more upstream calls than the limit"
    );

    sigterm(&mut a);
    sigterm(&mut b);
    mysql(&base, &format!("DROP DATABASE IF EXISTS {db}"));
}
