//! SQLite-only behaviour against a real database file; the behaviour every backend shares is
//! in `tests/conformance/`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use relaygate_protocol::Protocol;
use relaygate_store::{ChannelLimits, ChannelSpec, ChannelStore, ModelEntry, SqliteStore};

fn temp_db(name: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "relaygate-store-{}-{}-{}",
        std::process::id(),
        name,
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir.join("db.sqlite")
}

fn spec(name: &str) -> ChannelSpec {
    ChannelSpec {
        name: name.to_owned(),
        protocol: Protocol::Anthropic,
        base_urls: vec!["https://api.example.com".to_owned()],
        keys: vec!["sk-one-aaaaaaaa".to_owned(), "sk-two-bbbbbbbb".to_owned()],
        models: vec![
            ModelEntry {
                name: "claude-a".to_owned(),
                upstream: None,
            },
            ModelEntry {
                name: "alias".to_owned(),
                upstream: Some("claude-b".to_owned()),
            },
        ],
        priority: 5,
        weight: 2,
        enabled: true,
        limits: ChannelLimits::default(),
    }
}

#[tokio::test]
async fn two_opens_of_one_file_migrate_once() {
    let path = temp_db("twice");
    let a = SqliteStore::open(&path).unwrap();
    let b = SqliteStore::open(&path).unwrap();
    a.upsert_channel(spec("shared")).await.unwrap();
    assert_eq!(b.list_channels().await.unwrap().len(), 1);
}

#[test]
fn open_by_url() {
    let path = temp_db("url");
    let url = format!("sqlite://{}", path.display());
    assert!(relaygate_store::open(&url).is_ok());
    assert!(relaygate_store::open("postgres://x").is_err());
    assert!(relaygate_store::open("sqlite://").is_err());
}
