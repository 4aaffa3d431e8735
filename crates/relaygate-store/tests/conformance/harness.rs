//! Factories that open one database of a backend, again and again.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use mysql_async::prelude::Queryable;
use relaygate_store::{MysqlStore, SqliteStore, Store};

/// Opens the same database of one backend each time it is asked.
pub trait Harness: Send + Sync {
    /// A new store on the harness's database.
    fn open(&self) -> Arc<dyn Store>;
}

fn unique(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{}_{}_{:x}_{}",
        tag,
        std::process::id(),
        nanos,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A temporary directory for one test.
pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("relaygate-store-{}", unique(tag)));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// SQLite on a real file in a fresh temporary directory.
pub struct SqliteHarness {
    path: PathBuf,
}

impl SqliteHarness {
    pub fn new(case: &str) -> Self {
        SqliteHarness {
            path: temp_dir(case).join("db.sqlite"),
        }
    }
}

impl Harness for SqliteHarness {
    fn open(&self) -> Arc<dyn Store> {
        Arc::new(SqliteStore::open(&self.path).unwrap())
    }
}

impl Drop for SqliteHarness {
    fn drop(&mut self) {
        if let Some(dir) = self.path.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The server URL from `RELAYGATE_TEST_MYSQL_URL`, or `None` after printing a SKIP line (or a
/// panic when `RELAYGATE_REQUIRE_MYSQL=1`).
pub fn mysql_server_url(case: &str) -> Option<String> {
    match std::env::var("RELAYGATE_TEST_MYSQL_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            if std::env::var("RELAYGATE_REQUIRE_MYSQL").as_deref() == Ok("1") {
                panic!("RELAYGATE_REQUIRE_MYSQL=1 but RELAYGATE_TEST_MYSQL_URL is not set");
            }
            eprintln!(
                "SKIP mysql::{case}: RELAYGATE_TEST_MYSQL_URL is not set \
                 (e.g. RELAYGATE_TEST_MYSQL_URL=mysql://root@127.0.0.1:3306/test)"
            );
            None
        }
    }
}

/// `mysql://user@host:port/db?x` → (`mysql://user@host:port`, `?x` or "").
fn split_server(url: &str) -> (String, String) {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let server = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    (server.to_owned(), query)
}

/// A fresh database on the test server, dropped (with its spool directory) when the harness
/// is dropped, even after a failed assertion.
pub struct MysqlHarness {
    server: String,
    query: String,
    pub db: String,
    pub spool: PathBuf,
}

impl MysqlHarness {
    pub async fn new(case: &str) -> Option<Self> {
        let url = mysql_server_url(case)?;
        let (server, query) = split_server(&url);
        let db = unique("relaygate_t").to_lowercase();
        let mut conn = mysql_async::Conn::new(mysql_async::Opts::from_url(&url).unwrap())
            .await
            .unwrap_or_else(|e| panic!("connecting to {url}: {e}"));
        conn.query_drop(format!(
            "CREATE DATABASE `{db}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
        ))
        .await
        .unwrap();
        conn.disconnect().await.unwrap();
        let spool = temp_dir(&format!("spool-{case}"));
        Some(MysqlHarness {
            server,
            query,
            db,
            spool,
        })
    }

    /// The store URL: this harness's database and spool directory.
    pub fn url(&self) -> String {
        let sep = if self.query.is_empty() { "?" } else { "&" };
        format!(
            "{}/{}{}{sep}spool={}",
            self.server,
            self.db,
            self.query,
            self.spool.display()
        )
    }

    /// The same database and spool, but a server where nothing listens.
    pub fn unreachable_url(&self) -> String {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        format!(
            "mysql://root@127.0.0.1:{port}/{}?spool={}",
            self.db,
            self.spool.display()
        )
    }

    /// A plain connection to the test database, for checks behind the store's back.
    pub async fn conn(&self) -> mysql_async::Conn {
        let url = format!("{}/{}{}", self.server, self.db, self.query);
        mysql_async::Conn::new(mysql_async::Opts::from_url(&url).unwrap())
            .await
            .unwrap()
    }
}

impl Harness for MysqlHarness {
    fn open(&self) -> Arc<dyn Store> {
        Arc::new(MysqlStore::open(&self.url()).unwrap())
    }
}

impl Drop for MysqlHarness {
    fn drop(&mut self) {
        let url = format!("{}/{}", self.server, self.query);
        let db = self.db.clone();
        // Drop may run inside the test's runtime: use a thread with a runtime of its own.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let mut conn = mysql_async::Conn::new(mysql_async::Opts::from_url(&url)?).await?;
                conn.query_drop(format!("DROP DATABASE IF EXISTS `{db}`"))
                    .await?;
                conn.disconnect().await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: could not drop test database {}", self.db);
        }
        let _ = std::fs::remove_dir_all(&self.spool);
    }
}
