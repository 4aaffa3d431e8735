//! Runs the dashboard's browser test (`tests/browser/dashboard.test.mjs`): the real binary and
//! mock upstream, driven in headless Debian Chromium by playwright-core.
//!
//! Needs `node`, `/usr/bin/chromium` (or `$CHROMIUM`), `npm install` done in `tests/browser/`,
//! and the binaries built (`cargo build -p relaygate -p relaygate-testkit --bins`; or set
//! `RELAYGATE_BIN` / `RELAYGATE_MOCK_BIN`). Without them the test prints SKIP, unless
//! `RELAYGATE_REQUIRE_BROWSER=1`, where it fails. Screenshots go to
//! `target/admin-screenshots/` (or `$RELAYGATE_SCREENSHOT_DIR`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn target_dir() -> Option<PathBuf> {
    // .../target/debug/deps/browser-HASH -> .../target/debug
    std::env::current_exe()
        .ok()?
        .parent()?
        .parent()
        .map(Path::to_path_buf)
}

fn missing(what: &str) {
    if std::env::var("RELAYGATE_REQUIRE_BROWSER").as_deref() == Ok("1") {
        panic!("RELAYGATE_REQUIRE_BROWSER=1 but {what}");
    }
    eprintln!("SKIP dashboard browser test: {what}");
}

#[test]
fn dashboard_in_headless_chromium() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    if Command::new("node").arg("--version").output().is_err() {
        return missing("node is not installed");
    }
    if !Path::new(&chromium).exists() {
        return missing("chromium is not installed (apt-get install chromium)");
    }
    if !dir.join("node_modules/playwright-core").exists() {
        return missing(
            "playwright-core is not installed (npm ci in crates/relaygate-admin/tests/browser)",
        );
    }
    let Some(target) = target_dir() else {
        return missing("cannot find the target directory");
    };
    let bin = std::env::var("RELAYGATE_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| target.join("relaygate"));
    let mock = std::env::var("RELAYGATE_MOCK_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| target.join("relaygate-mock"));
    for b in [&bin, &mock] {
        if !b.exists() {
            return missing(&format!(
                "{} is not built (cargo build -p relaygate -p relaygate-testkit --bins)",
                b.display()
            ));
        }
    }
    let shots = std::env::var("RELAYGATE_SCREENSHOT_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| target.parent().unwrap_or(&target).join("admin-screenshots"));
    let out = Command::new("node")
        .arg("dashboard.test.mjs")
        .current_dir(&dir)
        .env("RELAYGATE_BIN", &bin)
        .env("RELAYGATE_MOCK_BIN", &mock)
        .env("CHROMIUM", &chromium)
        .env("RELAYGATE_SCREENSHOT_DIR", &shots)
        .output()
        .expect("running node");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "browser test failed:\n{text}");
    eprintln!("browser test passed; screenshots in {}", shots.display());
}
