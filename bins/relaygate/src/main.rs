//! The relaygate binary: reads the configuration, opens the store, upserts configured channels
//! and tokens, and serves until SIGINT/SIGTERM.

mod config;
mod prices;

/// Prints to stdout, ignoring a closed pipe: a gateway must not die because whoever started
/// it stopped reading its banner.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use relaygate_proxy::{Gateway, serve};
use tracing_subscriber::EnvFilter;

#[derive(Parser, Debug)]
#[command(
    name = "relaygate",
    version,
    about = "An AI API gateway for Anthropic, OpenAI, Responses and Gemini clients"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the gateway (the default).
    Serve(ServeArgs),
    /// Print a new random gateway token and the line to put in the configuration.
    GenToken,
    /// Price tables: import a published price database.
    #[command(subcommand)]
    Prices(prices::PricesCommand),
}

#[derive(clap::Args, Debug, Default)]
struct ServeArgs {
    /// Configuration file (TOML).
    #[arg(long, env = "RELAYGATE_CONFIG")]
    config: Option<PathBuf>,
    /// Listen address; overrides the file.
    #[arg(long, env = "RELAYGATE_LISTEN")]
    listen: Option<String>,
    /// Storage URL (sqlite://PATH); overrides the file.
    #[arg(long, env = "RELAYGATE_STORAGE")]
    storage: Option<String>,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("RELAYGATE_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Some(Command::GenToken) => gen_token(),
        Some(Command::Prices(cmd)) => prices::run(cmd),
        Some(Command::Serve(args)) => run(args),
        None => run(ServeArgs::parse_from_env()),
    }
}

impl ServeArgs {
    fn parse_from_env() -> Self {
        ServeArgs {
            config: std::env::var_os("RELAYGATE_CONFIG").map(PathBuf::from),
            listen: std::env::var("RELAYGATE_LISTEN").ok(),
            storage: std::env::var("RELAYGATE_STORAGE").ok(),
        }
    }
}

#[allow(clippy::print_stdout)]
fn gen_token() -> anyhow::Result<()> {
    let mut bytes = [0u8; 24];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| anyhow::anyhow!("no system randomness"))?;
    let token: String = std::iter::once("rg-".to_owned())
        .chain(bytes.iter().map(|b| format!("{b:02x}")))
        .collect();
    say!("{token}");
    say!();
    say!("# add to relaygate.toml (or store only the hash with token_sha256):");
    say!(
        "[[tokens]]\nname = \"my-token\"\ntoken_sha256 = \"{}\"",
        relaygate_proxy::auth::hash_token(&token)
    );
    Ok(())
}

fn run(args: ServeArgs) -> anyhow::Result<()> {
    let file = config::load(args.config.as_deref())?;
    let cfg = file.resolve(args.listen, args.storage)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(serve_main(cfg, args.config))
}

#[allow(clippy::print_stdout)]
async fn serve_main(cfg: config::Config, config_path: Option<PathBuf>) -> anyhow::Result<()> {
    let shown_storage = relaygate_store::redact_url(&cfg.storage);
    let opened = relaygate_store::open(&cfg.storage)
        .with_context(|| format!("opening storage {shown_storage}"))?;
    // Request-path store calls (limits, leases, budgets) get a deadline and a circuit breaker,
    // so a slow or absent database costs a request at most the deadline.
    let store: std::sync::Arc<dyn relaygate_store::Store> =
        std::sync::Arc::new(relaygate_store::Guarded::with_config(
            opened,
            relaygate_store::GuardConfig {
                deadline: cfg.storage_policy.request_deadline,
                ..relaygate_store::GuardConfig::default()
            },
        ));
    for spec in &cfg.channels {
        store
            .upsert_channel(spec.clone())
            .await
            .with_context(|| format!("channel {:?}", spec.name))?;
    }
    for spec in &cfg.tokens {
        store
            .upsert_token(spec.clone())
            .await
            .with_context(|| format!("token {:?}", spec.name))?;
    }
    let gateway = Gateway::new(cfg.proxy.clone(), std::sync::Arc::clone(&store))
        .await
        .with_context(|| format!("loading the routing table from storage {shown_storage}"))?;
    tokio::task::spawn_blocking(relaygate_proxy::preload_tokenizer);
    let generated_password = if cfg.admin_enabled {
        let setup = relaygate_admin::ensure_password(&*store, cfg.admin_password.as_deref())
            .await
            .context("admin password")?;
        gateway.set_side_handler(relaygate_admin::side_handler(
            gateway.clone(),
            cfg.admin.clone(),
        ));
        match setup {
            relaygate_admin::PasswordSetup::Generated(pw) => Some(pw),
            _ => None,
        }
    } else {
        gateway.set_side_handler(relaygate_admin::side_handler(
            gateway.clone(),
            relaygate_admin::AdminConfig {
                enabled: false,
                ..cfg.admin.clone()
            },
        ));
        None
    };
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("binding {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    let table = gateway.table();
    say!(
        "relaygate {} listening on http://{addr}",
        env!("CARGO_PKG_VERSION")
    );
    say!("  storage: {shown_storage}");
    match &config_path {
        Some(p) => say!("  config:  {}", p.display()),
        None => say!("  config:  none (pass --config relaygate.toml or set RELAYGATE_CONFIG)"),
    }
    say!(
        "  channels: {}, client tokens: {}",
        table.channel_count(),
        if table.has_tokens() { "yes" } else { "none" }
    );
    if cfg.admin_enabled {
        say!("  dashboard: http://{addr}/   (admin API: /admin/api, metrics: /metrics)");
    }
    if let Some(pw) = generated_password {
        say!();
        say!("  Generated admin password (shown only this once; its argon2 hash is stored):");
        say!("    {pw}");
        say!("  Set [admin] password or RELAYGATE_ADMIN_PASSWORD to choose your own.");
    }
    if table.channel_count() == 0 || !table.has_tokens() {
        say!();
        say!("To route requests, add a channel and a client token to a config file, e.g.:");
        say!(
            "  [[channels]]\n  name = \"anthropic\"\n  protocol = \"anthropic\"\n  base_url = \"https://api.anthropic.com\"\n  keys = [\"${{ANTHROPIC_API_KEY}}\"]\n  models = [\"claude-sonnet-4-5\"]\n"
        );
        say!("  [[tokens]]\n  name = \"me\"\n  token = \"<run: relaygate gen-token>\"\n");
        say!(
            "then run: relaygate serve --config relaygate.toml   (all settings: docs/configuration.md)"
        );
    }
    serve(listener, gateway, shutdown_signal()).await?;
    store.close().await?;
    tracing::info!("stopped; request logs flushed");
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "cannot listen for SIGTERM");
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("shutdown signal received");
}
