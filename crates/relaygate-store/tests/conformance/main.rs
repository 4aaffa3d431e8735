//! One behavioural suite for every storage backend.
//!
//! Each case in `suite.rs` is written once against a [`harness::Harness`] (a factory that opens
//! the same database again and again, so close/reopen can be tested) and runs:
//! - always against SQLite on a real temporary file (`sqlite::CASE`);
//! - against MySQL / MariaDB when `RELAYGATE_TEST_MYSQL_URL` is set (`mysql::CASE`), each case in
//!   a fresh database `relaygate_t_*` that is dropped afterwards. Unset, those tests print a SKIP
//!   line, or fail when `RELAYGATE_REQUIRE_MYSQL=1`.
//!
//! `mysql_only.rs` holds what only the MySQL backend has (the spool, the migration lock).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// The MySQL cases print a SKIP line when no server is configured.
#![allow(clippy::print_stderr)]

mod admin_suite;
mod harness;
mod mysql_only;
mod shared;
mod suite;

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let h = crate::harness::SqliteHarness::new(stringify!($case));
                    crate::suite::$case(&h).await;
                }
            )*
        }
        mod mysql {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(h) = crate::harness::MysqlHarness::new(stringify!($case)).await else {
                        return;
                    };
                    crate::suite::$case(&h).await;
                }
            )*
        }
    };
}

conformance!(
    channels_upsert_by_name_and_keep_order,
    invalid_channels_are_refused,
    channel_names_are_exact_and_unicode_safe,
    deleting_a_channel_keeps_its_logs,
    tokens_upsert,
    a_token_hash_belongs_to_one_name,
    limits_and_restrictions_round_trip,
    logs_are_batched_idempotent_and_survive_reopen,
    every_log_field_round_trips,
    queued_rows_are_written_without_an_explicit_flush,
    flush_waits_for_durability,
    rows_survive_close_and_reopen,
    replayed_rows_are_written_once,
    cooldowns_persist_and_attempts_are_kept_per_request,
    closed_store_refuses_work,
);
