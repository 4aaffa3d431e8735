//! A standalone mock upstream for benchmarks and SDK tests.
//!
//! `relaygate-mock [--listen ADDR] [--gap-ms N] [--deltas N] [--text TEXT]`
//! Serves the four protocols' canned answers; `GET /_mock/requests` lists what it saw
//! (method, path, query, credential).

use std::time::Duration;

use relaygate_testkit::{CannedOptions, MockUpstream};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut listen = "127.0.0.1:9090".to_owned();
    let mut gap_ms = 0u64;
    let mut options = CannedOptions::default();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| anyhow::anyhow!("{a} needs a value"))
        };
        match a.as_str() {
            "--listen" => listen = value()?,
            "--gap-ms" => gap_ms = value()?.parse()?,
            "--deltas" => options.deltas = value()?.parse()?,
            "--text" => options.text = value()?,
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    let mock = MockUpstream::start_on(listen.parse()?).await?;
    mock.set_event_gap(Duration::from_millis(gap_ms));
    mock.set_canned(options);
    #[allow(clippy::print_stdout)]
    {
        println!("relaygate-mock listening on {}", mock.url());
    }
    tokio::signal::ctrl_c().await?;
    Ok(())
}
