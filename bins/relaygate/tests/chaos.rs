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
