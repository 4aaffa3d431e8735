# relaygate tasks. `just` is optional: every recipe is one plain command you can run by hand.
# Install it with `pip install rust-just` or `cargo install just`.

# Run the gateway (embedded SQLite under ./data/).
run *ARGS:
    cargo run --release -p relaygate -- serve {{ARGS}}

# The test suite (what CI runs, without the extra checks).
test:
    cargo test --workspace

# Format, lint and test exactly as CI does.
ci:
    bash .ci/run

# Lints with warnings denied.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# Load benchmark: mock upstream vs relaygate, writes docs/BENCHMARKS.md.
bench:
    bash bench/run.sh

# Drive the official Python SDKs through a running gateway (see tests/sdk/).
sdk-deps:
    python3 -m pip install -r tests/sdk/requirements.txt
