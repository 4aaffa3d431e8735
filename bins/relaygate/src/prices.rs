//! `relaygate prices import FILE`: a LiteLLM or models.dev price database as a relaygate price
//! table (TOML on stdout or in `--out`), ready for `pricing.file`, `PUT /admin/api/prices` or
//! the built-in table (`scripts/regenerate-prices.sh`).

use std::path::PathBuf;

use std::io::Write as _;

use anyhow::Context;
use relaygate_tokens::{ImportOptions, PriceFormat, import_prices};

/// `relaygate prices …`
#[derive(clap::Subcommand, Debug)]
pub enum PricesCommand {
    /// Read LiteLLM's model_prices_and_context_window.json or models.dev's api.json and write
    /// the token prices of its text models as a relaygate price table.
    Import(ImportArgs),
}

/// `relaygate prices import`
#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// The price database (JSON).
    file: PathBuf,
    /// `litellm` or `models.dev`; detected from the file when not given.
    #[arg(long)]
    format: Option<String>,
    /// Providers to keep, comma-separated, preferred first when two price the same model name
    /// (LiteLLM's `litellm_provider`, models.dev's provider ids). Every provider when not given.
    #[arg(long, value_delimiter = ',')]
    providers: Vec<String>,
    /// The `source` written in the table (what it was made from, and when).
    #[arg(long)]
    source: Option<String>,
    /// Write the table here instead of stdout.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Files larger than this are not price databases (LiteLLM's whole file is about 3.5 MiB).
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

pub fn run(cmd: PricesCommand) -> anyhow::Result<()> {
    match cmd {
        PricesCommand::Import(args) => import(args),
    }
}

fn import(args: ImportArgs) -> anyhow::Result<()> {
    let format = match &args.format {
        None => None,
        Some(f) => Some(PriceFormat::from_name(f).with_context(|| {
            format!("unknown format {f:?}: expected `litellm` or `models.dev`")
        })?),
    };
    let len = std::fs::metadata(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?
        .len();
    anyhow::ensure!(
        len <= MAX_FILE_BYTES,
        "{} is {len} bytes: larger than any price database",
        args.file.display()
    );
    let bytes =
        std::fs::read(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let options = ImportOptions {
        format,
        providers: args.providers.clone(),
    };
    let got = import_prices(&bytes, &options)
        .with_context(|| format!("importing {}", args.file.display()))?;
    anyhow::ensure!(
        !got.table.is_empty(),
        "{} priced no model (providers: {})",
        args.file.display(),
        if args.providers.is_empty() {
            "all".to_owned()
        } else {
            args.providers.join(",")
        }
    );
    let name = args
        .file
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let source = args
        .source
        .clone()
        .unwrap_or_else(|| format!("{} ({})", name, got.format.as_str()));
    let header = format!(
        "relaygate price table imported from {name} ({} format) by `relaygate prices import`.\n\
         Prices in US dollars per million tokens; see docs/tokens.md for the format.\n\
         {} models{}.",
        got.format.as_str(),
        got.table.len(),
        if args.providers.is_empty() {
            String::new()
        } else {
            format!(" of {}", args.providers.join(", "))
        },
    );
    let text = got.table.to_toml(&header, &source);
    // What is written must read back as the same table.
    let back = relaygate_tokens::PriceTable::from_toml(&text)
        .context("the written table does not read back")?;
    if let Some((name, _)) = got
        .table
        .models()
        .find(|(name, p)| back.lookup(name) != Some(*p))
    {
        anyhow::bail!("the written table does not read back the same price for {name:?}");
    }
    match &args.out {
        Some(path) => {
            std::fs::write(path, &text).with_context(|| format!("writing {}", path.display()))?
        }
        None => {
            std::io::stdout()
                .write_all(text.as_bytes())
                .context("writing stdout")?;
        }
    }
    // The summary goes to stderr so stdout holds the table alone.
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "imported {} models from {} ({}); {} entries of other providers or non-text models left out",
        got.table.len(),
        args.file.display(),
        got.format.as_str(),
        got.not_selected
    );
    for s in &got.skipped {
        let _ = writeln!(err, "skipped {s}");
    }
    Ok(())
}
