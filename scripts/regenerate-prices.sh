#!/usr/bin/env bash
# Regenerates the built-in price table (crates/relaygate-tokens/prices/default.toml) from a
# snapshot of LiteLLM's model_prices_and_context_window.json, through `relaygate prices import`.
#
#   scripts/regenerate-prices.sh                 # the LiteLLM release pinned below, from PyPI
#   scripts/regenerate-prices.sh FILE.json DATE  # a file you fetched yourself, and its date
#
# The PyPI wheel of LiteLLM carries the same file (as model_prices_and_context_window_backup.json),
# so the snapshot is pinned by version and reachable from any machine that can install Python
# packages. Review the diff before committing: prices change, and the tests that hand-compute
# costs say which figures moved. Models the snapshot no longer lists stay priced through
# prices/retired.toml, which this script does not touch.
set -euo pipefail
cd "$(dirname "$0")/.."

LITELLM_VERSION=1.110.2
SNAPSHOT_DATE=2026-12-04
# The vendors relaygate's channels speak to, first-party first: when two providers price a
# model of the same name, the earlier one wins.
PROVIDERS=openai,anthropic,gemini,vertex_ai-language-models,xai,deepseek,mistral,moonshot,zai,dashscope,minimax

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ $# -ge 1 ]; then
  file=$1
  SNAPSHOT_DATE=${2:-$(date -u +%F)}
  what="$(basename "$file")"
else
  python3 -m pip download --quiet --disable-pip-version-check --no-deps \
    "litellm==$LITELLM_VERSION" -d "$work"
  python3 - "$work" <<'PY'
import glob, sys, zipfile
wheel = glob.glob(sys.argv[1] + "/litellm-*.whl")[0]
with zipfile.ZipFile(wheel) as z:
    data = z.read("litellm/model_prices_and_context_window_backup.json")
open(sys.argv[1] + "/prices.json", "wb").write(data)
PY
  file=$work/prices.json
  what="LiteLLM $LITELLM_VERSION model_prices_and_context_window.json"
fi

cargo run --quiet -p relaygate -- prices import "$file" \
  --format litellm \
  --providers "$PROVIDERS" \
  --source "$what, snapshot of $SNAPSHOT_DATE" \
  --out crates/relaygate-tokens/prices/default.toml
echo "wrote crates/relaygate-tokens/prices/default.toml from $what ($SNAPSHOT_DATE)"
