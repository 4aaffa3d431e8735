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

/// One request over a fresh connection that may fail (the server is being killed): the
/// gateway's request id of a 200, or `None`.
fn try_post(url: &str) -> Option<String> {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let req = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\nauthorization: Bearer {TOKEN}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{BODY}",
        BODY.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    if !out.starts_with("HTTP/1.1 200") {
        return None;
    }
    out.lines()
        .find_map(|l| l.strip_prefix("x-relaygate-request-id: "))
        .map(|id| id.trim().to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kill_9_under_load_loses_no_row_older_than_a_second() {
    let mock = MockUpstream::start().await.unwrap();
    let dir = temp_dir("kill9");
    let db = dir.join("relaygate.db");
    let cfg = config(&dir, &format!("sqlite://{}", db.display()), &mock.url(), "");
    let (mut child, url) = start(&cfg);
    // Four clients send requests back to back, noting when each answer arrived.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (u, stop) = (url.clone(), stop.clone());
        clients.push(std::thread::spawn(move || {
            let mut done = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if let Some(id) = try_post(&u) {
                    done.push((std::time::Instant::now(), id));
                }
            }
            done
        }));
    }
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    // Killed hard in the middle of the load.
    let killed_at = std::time::Instant::now();
    kill9(&mut child);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut answered = Vec::new();
    for c in clients {
        answered.extend(c.join().unwrap());
    }
    let old: Vec<&String> = answered
        .iter()
        .filter(|(at, _)| killed_at.duration_since(*at) > Duration::from_secs(1))
        .map(|(_, id)| id)
        .collect();
    assert!(
        old.len() >= 20,
        "too little load: {} old answers",
        old.len()
    );
    let store = SqliteStore::open(&db).unwrap();
    let rows = store
        .query_logs(LogQuery {
            limit: 100_000,
            ..Default::default()
        })
        .await
        .unwrap();
    let logged: std::collections::HashSet<&str> =
        rows.iter().map(|r| r.request_id.as_str()).collect();
    let lost: Vec<&&String> = old
        .iter()
        .filter(|id| !logged.contains(id.as_str()))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} answers older than a second have no row after kill -9: {:?}",
        lost.len(),
        old.len(),
        &lost[..lost.len().min(5)]
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
    let Some((base, url, db)) = fresh_mysql_db("multi") else {
        return;
    };
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

/// Skips (or fails under `.ci/run`) without MariaDB; else a fresh database's URL and the
/// admin URL to drop it with.
fn fresh_mysql_db(name: &str) -> Option<(String, String, String)> {
    let Ok(base) = std::env::var("RELAYGATE_TEST_MYSQL_URL") else {
        if std::env::var("RELAYGATE_REQUIRE_MYSQL").as_deref() == Ok("1") {
            panic!("RELAYGATE_REQUIRE_MYSQL=1 but RELAYGATE_TEST_MYSQL_URL is unset");
        }
        eprintln!("SKIP {name}: set RELAYGATE_TEST_MYSQL_URL");
        return None;
    };
    let db = format!("relaygate_{name}_{}", std::process::id());
    assert!(
        mysql(
            &base,
            &format!("DROP DATABASE IF EXISTS {db}; CREATE DATABASE {db}")
        ),
        "mysql client needed"
    );
    let (h, p, u) = mysql_parts(&base);
    Some((base, format!("mysql://{u}@{h}:{p}/{db}"), db))
}

/// The first column of the first row of `sql`, as text.
fn mysql_value(url: &str, db: &str, sql: &str) -> String {
    let (h, p, u) = mysql_parts(url);
    let out = Command::new("mysql")
        .args([
            "--protocol=tcp",
            "-h",
            &h,
            "-P",
            &p,
            "-u",
            &u,
            "-N",
            "-B",
            db,
            "-e",
            sql,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_on_one_mysql_keep_a_budget() {
    let Some((base, url, db)) = fresh_mysql_db("budget") else {
        return;
    };
    let mock = MockUpstream::start().await.unwrap();
    // Slow answers, so that the 50 requests are in flight together.
    mock.on_any(Behavior::Delay(
        Duration::from_millis(500),
        Box::new(Behavior::Ok),
    ));
    let dir = temp_dir("budget");
    // gpt-x at $1 in, $2 out: an answer (12 in, 7 out) costs 26 µ$; a reservation (the
    // counted input plus max_tokens 32 at $2) is larger, so the budget can only be
    // undershot, never passed.
    let prices = dir.join("prices.toml");
    std::fs::write(&prices, "[models.\"gpt-x\"]\ninput = 1\noutput = 2\n").unwrap();
    const LIMIT_MICRO: i64 = 300;
    let cfg = dir.join("relaygate.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
listen = "127.0.0.1:0"
storage = "{url}"
prices_file = "{prices}"
[[channels]]
name = "priced"
protocol = "openai"
base_url = "{mock}"
keys = ["good-key"]
models = ["gpt-x"]
[[tokens]]
name = "t"
token = "{TOKEN}"
daily_cost_limit_usd = 0.0003
"#,
            prices = prices.display(),
            mock = mock.url()
        ),
    )
    .unwrap();
    let (mut a, url_a) = start(&cfg);
    let (mut b, url_b) = start(&cfg);
    const ASK: &str =
        r#"{"model":"gpt-x","max_tokens":32,"messages":[{"role":"user","content":"hi"}]}"#;
    let mut tasks = Vec::new();
    for i in 0..50 {
        let u = if i % 2 == 0 {
            url_a.clone()
        } else {
            url_b.clone()
        };
        tasks.push(tokio::task::spawn_blocking(move || post(&u, ASK)));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    let ok = statuses.iter().filter(|&&s| s == 200).count();
    assert!(ok >= 1, "{statuses:?}");
    assert!(
        statuses.iter().all(|&s| s == 200 || s == 429),
        "{statuses:?}"
    );
    sigterm(&mut a);
    sigterm(&mut b);
    // Every answered request is billed, and together they stay within the budget.
    let rows = mysql_value(
        &base,
        &db,
        "SELECT COUNT(*), COALESCE(SUM(cost_micro_usd), 0) FROM request_logs WHERE status = 200",
    );
    let (count, spent) = rows.split_once('\t').unwrap();
    assert_eq!(count.parse::<usize>().unwrap(), ok, "{rows}");
    let spent: i64 = spent.parse().unwrap();
    assert_eq!(spent, 26 * ok as i64, "{rows}");
    assert!(spent <= LIMIT_MICRO, "spent {spent} µ$ of {LIMIT_MICRO}");
    assert!(
        ok < 50,
        "without reservations all 50 would pass: {statuses:?}"
    );
    // Requests on both instances were answered or refused by the one shared budget.
    assert_eq!(mock.requests().len(), ok);
    mysql(&base, &format!("DROP DATABASE IF EXISTS {db}"));
}
