//! Helpers shared by the process-level tests: start the real binary, talk to it with a tiny
//! blocking HTTP/1.1 client, stop it with a signal.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_relaygate");

pub fn temp_dir(name: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "relaygate-bin-{}-{name}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Starts the binary and waits for its "listening on" line; returns the child, its base URL and
/// the rest of the banner.
pub fn start(args: &[&str], envs: &[(&str, &str)]) -> (Child, String, Vec<String>) {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env("RELAYGATE_LOG", "warn")
        .env_remove("RELAYGATE_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // Keep draining after the start line: a closed pipe must not be what stops the server.
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no listening line; got {lines:?}"));
        if let Some(url) = line.split("listening on ").nth(1) {
            let url = url.trim().to_owned();
            // Collect the rest of the banner that is already there.
            std::thread::sleep(Duration::from_millis(200));
            while let Ok(l) = rx.try_recv() {
                lines.push(l);
            }
            return (child, url, lines);
        }
        lines.push(line);
    }
}

/// Sends SIGTERM and waits (up to 15 s) for the exit status.
pub fn sigterm(child: &mut Child) -> std::process::ExitStatus {
    let ok = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(ok.success());
    for _ in 0..300 {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    panic!("relaygate did not exit within 15 s of SIGTERM");
}

/// Kills the process with SIGKILL (no cleanup at all) and reaps it.
pub fn kill9(child: &mut Child) {
    let _ = Command::new("kill")
        .arg("-KILL")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
}

/// One POST over a fresh connection; returns the status and the whole raw response.
pub fn post(url: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    // A tiny blocking HTTP/1.1 client keeps this test free of an async client.
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, out)
}
