//! Chaos at process level: the real binary under hostile load (an unauthenticated flood) and
//! with its database taken away under load.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr,
    clippy::zombie_processes
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use relaygate_testkit::MockUpstream;

mod common;
use common::{sigterm, temp_dir};

const TOKEN: &str = "rg-chaos-test-token";

fn config(dir: &Path, storage: &str, mock: &str, extra: &str) -> std::path::PathBuf {
    let text = format!(
        r#"
listen = "127.0.0.1:0"
storage = "{storage}"
{extra}
[[channels]]
name = "c"
protocol = "openai"
base_url = "{mock}"
keys = ["sk-chaos-key-0000001"]
models = ["gpt-x"]
rpm_limit = 1000000
[[tokens]]
name = "t"
token = "{TOKEN}"
max_concurrency = 1000
"#
    );
    let path = dir.join("relaygate.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A keep-alive HTTP/1.1 connection: one request, one whole response at a time.
struct Conn {
    reader: BufReader<TcpStream>,
    addr: String,
}

impl Conn {
    fn open(url: &str) -> Conn {
        let addr = url.trim_start_matches("http://").to_owned();
        let s = TcpStream::connect(&addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Conn {
            reader: BufReader::new(s),
            addr,
        }
    }

    /// Sends a request and returns (status, body).
    fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String) {
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
            self.addr,
            body.len()
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        req.push_str(body);
        self.reader.get_mut().write_all(req.as_bytes()).unwrap();
        let mut status_line = String::new();
        self.reader.read_line(&mut status_line).unwrap();
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let mut length = None;
        let mut chunked = false;
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let lower = line.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                length = v.trim().parse::<usize>().ok();
            }
            if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
                chunked = true;
            }
        }
        let mut out = Vec::new();
        if chunked {
            loop {
                let mut size = String::new();
                self.reader.read_line(&mut size).unwrap();
                let n = usize::from_str_radix(size.trim(), 16).unwrap();
                let mut chunk = vec![0u8; n + 2];
                self.reader.read_exact(&mut chunk).unwrap();
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&chunk[..n]);
            }
        } else {
            let mut b = vec![0u8; length.unwrap_or(0)];
            self.reader.read_exact(&mut b).unwrap();
            out = b;
        }
        (status, String::from_utf8_lossy(&out).into_owned())
    }
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn metric_lines(url: &str) -> usize {
    let (status, body) = Conn::open(url).send("GET", "/metrics", &[], "");
    assert_eq!(status, 200);
    body.lines().filter(|l| !l.starts_with('#')).count()
}

/// Sends `n` refused requests (wrong or missing tokens, every one with a new model name) over
/// `threads` keep-alive connections.
fn flood(url: &str, n: usize, threads: usize, offset: usize) {
    let workers: Vec<_> = (0..threads)
        .map(|w| {
            let url = url.to_owned();
            std::thread::spawn(move || {
                let mut conn = Conn::open(&url);
                for i in (w..n).step_by(threads) {
                    let model = format!("invented-{}-{w}", offset + i);
                    let body = format!(
                        r#"{{"model":"{model}","messages":[{{"role":"user","content":"x"}}]}}"#
                    );
                    let wrong = format!("Bearer wrong-{i}");
                    let headers: Vec<(&str, &str)> = if i % 2 == 0 {
                        vec![("authorization", &wrong)]
                    } else {
                        vec![]
                    };
                    let (status, _) = conn.send("POST", "/v1/chat/completions", &headers, &body);
                    assert_eq!(status, 401);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unauthenticated_flood_of_100k_leaves_rss_and_metrics_flat() {
    let mock = MockUpstream::start().await.unwrap();
    let dir = temp_dir("flood");
    let db = dir.join("relaygate.db");
    let cfg = config(&dir, &format!("sqlite://{}", db.display()), &mock.url(), "");
    let (mut child, url, _) = common::start(&["serve", "--config", cfg.to_str().unwrap()], &[]);
    let pid = child.id();
    // Warm up (allocator pools, the log writer's first batches, the per-minute row caps).
    let u = url.clone();
    tokio::task::spawn_blocking(move || flood(&u, 10_000, 4, 0))
        .await
        .unwrap();
    let rss_before = rss_kib(pid);
    let metrics_before = metric_lines(&url);
    let u = url.clone();
    tokio::task::spawn_blocking(move || flood(&u, 100_000, 4, 10_000))
        .await
        .unwrap();
    let rss_after = rss_kib(pid);
    let metrics_after = metric_lines(&url);
    assert_eq!(
        metrics_after, metrics_before,
        "/metrics grew with the flood"
    );
    assert!(
        rss_after < rss_before + 16 * 1024,
        "RSS grew from {rss_before} KiB to {rss_after} KiB over 100k refused requests"
    );
    sigterm(&mut child);
    let store = relaygate_store::SqliteStore::open(&db).unwrap();
    let rows = relaygate_store::LogStore::query_logs(
        &store,
        relaygate_store::LogQuery {
            limit: 100_000,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    // At most the per-IP cap per minute (the test may straddle a minute boundary or two).
    assert!(rows.len() <= 3 * 60, "{} refused rows written", rows.len());
}

/// A private MariaDB server of this test, on its own port and data directory, so it can be
/// stopped and started without touching the machine's shared one.
struct PrivateMariaDb {
    dir: std::path::PathBuf,
    port: u16,
    child: Option<std::process::Child>,
}

impl PrivateMariaDb {
    /// `None` (with a message) when MariaDB's server binaries are not installed.
    fn create(dir: &Path) -> Option<PrivateMariaDb> {
        let installed = std::process::Command::new("mariadb-install-db")
            .args([
                "--no-defaults",
                &format!("--datadir={}", dir.join("data").display()),
                "--user=root",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !installed || !Path::new("/usr/sbin/mariadbd").exists() {
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut db = PrivateMariaDb {
            dir: dir.to_owned(),
            port,
            child: None,
        };
        db.start();
        Some(db)
    }

    fn start(&mut self) {
        let child = std::process::Command::new("/usr/sbin/mariadbd")
            .args([
                "--no-defaults".to_owned(),
                format!("--datadir={}", self.dir.join("data").display()),
                format!("--port={}", self.port),
                "--bind-address=127.0.0.1".to_owned(),
                format!("--socket={}", self.dir.join("sock").display()),
                format!("--pid-file={}", self.dir.join("pid").display()),
                format!("--log-error={}", self.dir.join("err.log").display()),
                "--user=root".to_owned(),
                "--skip-grant-tables".to_owned(),
            ])
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !self.sql("SELECT 1") {
            assert!(
                std::time::Instant::now() < deadline,
                "private mariadbd did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Freezes the server (SIGSTOP): connections still open at the TCP level but nothing
    /// answers, the hardest kind of outage for a client (no error, only silence).
    fn freeze(&self) {
        self.signal("-STOP");
    }

    /// Lets a frozen server go on (SIGCONT).
    fn thaw(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, sig: &str) {
        if let Some(c) = &self.child {
            let _ = std::process::Command::new("kill")
                .arg(sig)
                .arg(c.id().to_string())
                .status();
        }
    }

    fn stop(&mut self) {
        self.thaw();
        if let Some(mut c) = self.child.take() {
            let _ = std::process::Command::new("kill")
                .arg("-KILL")
                .arg(c.id().to_string())
                .status();
            let _ = c.wait();
        }
    }

    fn sql(&self, sql: &str) -> bool {
        self.query(sql).is_some()
    }

    fn query(&self, sql: &str) -> Option<String> {
        let out = std::process::Command::new("mysql")
            .args([
                "--protocol=tcp",
                "-h127.0.0.1",
                &format!("-P{}", self.port),
                "-uroot",
                "-N",
                "-B",
                "-e",
                sql,
            ])
            .stderr(std::process::Stdio::null())
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl Drop for PrivateMariaDb {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One request over a fresh connection: (status, gateway request id, latency).
fn timed_post(url: &str) -> (u16, Option<String>, Duration) {
    let started = std::time::Instant::now();
    let addr = url.trim_start_matches("http://");
    let body = r#"{"model":"gpt-x","messages":[{"role":"user","content":"hi"}]}"#;
    let result = (|| {
        let mut s = TcpStream::connect(addr).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        let req = format!(
            "POST /v1/chat/completions HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\nauthorization: Bearer {TOKEN}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        Some(out)
    })();
    let latency = started.elapsed();
    let Some(out) = result else {
        return (0, None, latency);
    };
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let id = out
        .lines()
        .find_map(|l| l.strip_prefix("x-relaygate-request-id: "))
        .map(|id| id.trim().to_owned());
    (status, id, latency)
}

#[tokio::test(flavor = "multi_thread")]
async fn mariadb_stopped_for_30s_under_load_loses_and_duplicates_no_row() {
    let dir = temp_dir("outage");
    let Some(mut db) = PrivateMariaDb::create(&dir) else {
        if std::env::var("RELAYGATE_REQUIRE_MYSQL").as_deref() == Ok("1") {
            panic!("RELAYGATE_REQUIRE_MYSQL=1 but mariadb-install-db / mariadbd are missing");
        }
        eprintln!(
            "SKIP mariadb_stopped_for_30s_under_load_loses_and_duplicates_no_row: needs mariadb-install-db and /usr/sbin/mariadbd"
        );
        return;
    };
    assert!(db.sql("CREATE DATABASE relaygate"));
    let mock = MockUpstream::start().await.unwrap();
    let storage = format!(
        "[storage]\nurl = \"mysql://root@127.0.0.1:{}/relaygate?spool={}\"\nrequest_deadline_ms = 250\nwhen_unavailable = \"local\"\n",
        db.port,
        dir.join("spool").display()
    );
    // The table form of `storage` replaces the top-level key.
    let cfg = config(&dir, "unused", &mock.url(), "");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("storage = \"unused\"\n", "")
        + &storage;
    std::fs::write(&cfg, text).unwrap();
    let (mut child, url, _) = common::start(&["serve", "--config", cfg.to_str().unwrap()], &[]);

    // Phases: 0 before the outage, 1 during, 2 after.
    let phase = std::sync::Arc::new(std::sync::atomic::AtomicU8::new(0));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (u, phase, stop) = (url.clone(), phase.clone(), stop.clone());
        clients.push(std::thread::spawn(move || {
            let mut seen = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let p = phase.load(std::sync::atomic::Ordering::Relaxed);
                let (status, id, latency) = timed_post(&u);
                seen.push((p, status, id, latency));
                std::thread::sleep(Duration::from_millis(20));
            }
            seen
        }));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    // 15 s frozen (silence), then 15 s down (connections refused), then back.
    db.freeze();
    phase.store(1, std::sync::atomic::Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(15)).await;
    db.stop();
    tokio::time::sleep(Duration::from_secs(15)).await;
    phase.store(2, std::sync::atomic::Ordering::Relaxed);
    db.start();
    tokio::time::sleep(Duration::from_secs(5)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut seen = Vec::new();
    for c in clients {
        seen.extend(c.join().unwrap());
    }
    let answered: Vec<&String> = seen
        .iter()
        .filter(|s| s.1 == 200)
        .filter_map(|s| s.2.as_ref())
        .collect();
    // Every answer's row reaches the database once it is back (the spool is replayed).
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let n: usize = db
            .query("SELECT COUNT(DISTINCT request_id) FROM relaygate.request_logs")
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0);
        if n >= answered.len() || std::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    sigterm(&mut child);
    let ids = db
        .query("SELECT request_id FROM relaygate.request_logs")
        .unwrap();
    let mut counts: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for id in ids.lines() {
        *counts.entry(id.trim()).or_default() += 1;
    }
    let lost: Vec<&&String> = answered
        .iter()
        .filter(|id| !counts.contains_key(id.as_str()))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} answered requests have no row",
        lost.len(),
        answered.len()
    );
    let duplicated: Vec<(&&str, &usize)> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(duplicated.is_empty(), "duplicated rows: {duplicated:?}");
    let mut outage: Vec<Duration> = seen.iter().filter(|s| s.0 == 1).map(|s| s.3).collect();
    outage.sort();
    assert!(outage.len() >= 40, "too little load during the outage");
    let p99 = outage[(outage.len() * 99 / 100).min(outage.len() - 1)];
    let statuses: std::collections::BTreeMap<(u8, u16), usize> =
        seen.iter().fold(Default::default(), |mut m, s| {
            *m.entry((s.0, s.1)).or_default() += 1;
            m
        });
    eprintln!(
        "outage: {} requests, p50 {:?}, p99 {p99:?}, max {:?}; by (phase, status): {statuses:?}",
        outage.len(),
        outage[outage.len() / 2],
        outage[outage.len() - 1]
    );
    assert!(
        p99 < Duration::from_secs(1),
        "p99 during the outage: {p99:?}"
    );
    let served = seen.iter().filter(|s| s.0 == 1 && s.1 == 200).count();
    assert!(
        served * 10 >= outage.len() * 9,
        "limits counted locally keep serving: {served} of {} answered 200",
        outage.len()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn slowloris_and_a_thousand_random_cancels_against_the_binary() {
    let mock = MockUpstream::start().await.unwrap();
    // 80 ms to the answer's head: cancels from 40 ms on fall before and after the first byte.
    mock.on_any(relaygate_testkit::Behavior::Delay(
        Duration::from_millis(80),
        Box::new(relaygate_testkit::Behavior::Ok),
    ));
    mock.set_event_gap(Duration::from_millis(2));
    let dir = temp_dir("slowloris");
    let db = dir.join("relaygate.db");
    let cfg = config(
        &dir,
        &format!("sqlite://{}", db.display()),
        &mock.url(),
        "[timeouts]\nclient_header_secs = 3\n",
    );
    let (mut child, url, _) = common::start(&["serve", "--config", cfg.to_str().unwrap()], &[]);
    let addr = url.trim_start_matches("http://").to_owned();

    // 1,000 connections that send part of a head and then nothing.
    let mut slow = Vec::new();
    for _ in 0..1000 {
        let mut s = TcpStream::connect(&addr).unwrap();
        s.write_all(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\nx-slow: ")
            .unwrap();
        slow.push(s);
    }
    let body = r#"{"model":"gpt-x","messages":[{"role":"user","content":"hi"}]}"#;
    let auth = format!("Bearer {TOKEN}");
    let mut conn = Conn::open(&url);
    assert_eq!(
        conn.send(
            "POST",
            "/v1/chat/completions",
            &[("authorization", &auth)],
            body
        )
        .0,
        200
    );
    let mut times = Vec::new();
    for _ in 0..5 {
        let started = std::time::Instant::now();
        let (status, _) = conn.send(
            "POST",
            "/v1/chat/completions",
            &[("authorization", &auth)],
            body,
        );
        assert_eq!(status, 200);
        times.push(started.elapsed());
    }
    times.sort();
    // The upstream itself takes 80 ms; the gateway may add little beside it.
    assert!(
        times[2] < Duration::from_millis(180),
        "median {:?} with 1,000 slow clients",
        times[2]
    );
    // The slow heads are closed once client_header_secs is over.
    for s in slow.iter_mut().take(10) {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = Vec::new();
        assert!(
            s.read_to_end(&mut buf).is_ok(),
            "a slow head was not closed"
        );
    }
    drop(slow);

    // 1,000 requests sent whole, each dropped by its client at a different moment.
    const N: usize = 1000;
    let workers: Vec<_> = (0..25)
        .map(|w| {
            let (addr, auth) = (addr.clone(), auth.clone());
            std::thread::spawn(move || {
                for i in (w..N).step_by(25) {
                    let stream = i % 3 != 0;
                    let body = format!(
                        r#"{{"model":"gpt-x","stream":{stream},"messages":[{{"role":"user","content":"hi"}}]}}"#
                    );
                    let mut s = TcpStream::connect(&addr).unwrap();
                    let req = format!(
                        "POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nauthorization: {auth}\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    s.write_all(req.as_bytes()).unwrap();
                    let cancel_after = Duration::from_micros(40_000 + (i as u64 * 7919) % 180_000);
                    s.set_read_timeout(Some(cancel_after)).unwrap();
                    let started = std::time::Instant::now();
                    let mut buf = [0u8; 4096];
                    while started.elapsed() < cancel_after {
                        match s.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(_) => {}
                        }
                    }
                    // Dropped here: the gateway sees the connection close.
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    // Let the gateway notice the last closes, then stop it (SIGTERM flushes every row).
    tokio::time::sleep(Duration::from_millis(500)).await;
    sigterm(&mut child);
    let store = relaygate_store::SqliteStore::open(&db).unwrap();
    let rows = relaygate_store::LogStore::query_logs(
        &store,
        relaygate_store::LogQuery {
            limit: 100_000,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    // 6 normal requests above, then the 1,000 cancelled ones: one row each.
    assert_eq!(rows.len(), 6 + N, "one row per request");
    let cancelled = rows.iter().filter(|r| r.status == 499).count();
    assert!(cancelled > 0 && cancelled <= N);
    assert!(rows.iter().all(|r| r.status == 200 || r.status == 499));
}
