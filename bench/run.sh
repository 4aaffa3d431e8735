#!/usr/bin/env bash
# Load benchmark for relaygate: the same requests sent DIRECT to a mock upstream, through NGINX
# (a proxy that does nothing: one worker, no buffering, upstream keep-alive) and THROUGH
# relaygate, in one run, on loopback only, with the CPU time each proxy spends per request.
#
#   bench/run.sh                                   builds release binaries, runs, writes docs/BENCHMARKS.md
#   RELAYGATE_BIN_DIR=target/debug bench/run.sh    uses prebuilt binaries from that directory, no build
#
# Environment (all optional):
#   RELAYGATE_BIN_DIR       directory holding relaygate and relaygate-mock; skips `cargo build`
#   BENCH_SECONDS           wrk duration of each point, seconds            (default 5)
#   BENCH_RUNS              repetitions of each point; the median is shown (default 3)
#   BENCH_CONNS             connection counts                              (default "1 16 64")
#   BENCH_WARMUP_SECONDS    untimed wrk warm-up per case and target; 0=off (default 1)
#   BENCH_TTFE_N            time-to-first-event requests per target        (default 50)
#   BENCH_START_TIMEOUT     seconds to wait for each server to listen      (default 30)
#   BENCH_DOC               report path                     (default docs/BENCHMARKS.md)
#   BENCH_KEEP_TMP=1        keep the temp dir (config, logs, raw results)
#   PYTHON                  Python 3 interpreter                           (default python3)
#
# Helpers: bench/post.lua (wrk request + result line), bench/util.py (free ports, waiting,
# probes), bench/ttfe.py (time to first SSE event), bench/report.py (Markdown tables).
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH_DIR/.." && pwd)"

BENCH_SECONDS="${BENCH_SECONDS:-5}"
BENCH_RUNS="${BENCH_RUNS:-3}"
BENCH_CONNS="${BENCH_CONNS:-1 16 64}"
BENCH_WARMUP_SECONDS="${BENCH_WARMUP_SECONDS:-1}"
BENCH_TTFE_N="${BENCH_TTFE_N:-50}"
BENCH_START_TIMEOUT="${BENCH_START_TIMEOUT:-30}"
BENCH_DOC="${BENCH_DOC:-$ROOT/docs/BENCHMARKS.md}"
PYTHON="${PYTHON:-python3}"

TOKEN="rg-bench-token-0001"
MODEL="bench-model"
SLOW_MODEL="bench-slow"
PATH_CC="/v1/chat/completions"
# json: one JSON answer; sse: a 6-event stream; sse40 and sse2000: streams of 43 and 2,003
# events (role chunk, N text deltas, finish, usage) from mocks of their own.
CASES=(json sse sse40 sse2000)
MODEL_40="bench-40"
MODEL_2000="bench-2000"

log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] ERROR: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- checks
is_uint() { [[ "$1" =~ ^[0-9]+$ ]]; }
is_uint "$BENCH_SECONDS" && ((BENCH_SECONDS >= 1 && BENCH_SECONDS <= 3600)) \
  || die "BENCH_SECONDS must be an integer in 1..3600 (got '$BENCH_SECONDS')"
is_uint "$BENCH_RUNS" && ((BENCH_RUNS >= 1 && BENCH_RUNS <= 100)) \
  || die "BENCH_RUNS must be an integer in 1..100 (got '$BENCH_RUNS')"
is_uint "$BENCH_WARMUP_SECONDS" && ((BENCH_WARMUP_SECONDS <= 600)) \
  || die "BENCH_WARMUP_SECONDS must be an integer in 0..600 (got '$BENCH_WARMUP_SECONDS')"
is_uint "$BENCH_TTFE_N" && ((BENCH_TTFE_N >= 1 && BENCH_TTFE_N <= 10000)) \
  || die "BENCH_TTFE_N must be an integer in 1..10000 (got '$BENCH_TTFE_N')"
is_uint "$BENCH_START_TIMEOUT" && ((BENCH_START_TIMEOUT >= 1)) \
  || die "BENCH_START_TIMEOUT must be a positive integer (got '$BENCH_START_TIMEOUT')"
read -r -a CONNS <<<"$BENCH_CONNS"
((${#CONNS[@]} > 0)) || die "BENCH_CONNS is empty"
for c in "${CONNS[@]}"; do
  is_uint "$c" && ((c >= 1 && c <= 10000)) || die "BENCH_CONNS: '$c' is not an integer in 1..10000"
done

command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found (set PYTHON to a Python 3 interpreter)"
command -v timeout >/dev/null 2>&1 || die "timeout (coreutils) not found"

if ! command -v wrk >/dev/null 2>&1; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    log "wrk not found; installing it with apt-get"
    timeout 600 apt-get install -y wrk >/dev/null 2>&1 \
      || { timeout 600 apt-get update >/dev/null 2>&1 && timeout 600 apt-get install -y wrk >/dev/null 2>&1; } \
      || die "could not install wrk with apt-get; install it by hand (apt-get install -y wrk)"
  else
    die "wrk not found; install it (Debian/Ubuntu: apt-get install -y wrk)"
  fi
fi
command -v wrk >/dev/null 2>&1 || die "wrk still not found after installing"
NGINX_BIN="$(command -v nginx || echo /usr/sbin/nginx)"
if [[ ! -x "$NGINX_BIN" ]]; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    log "nginx not found; installing it with apt-get"
    timeout 600 apt-get install -y nginx-light >/dev/null 2>&1 \
      || timeout 600 apt-get install -y nginx >/dev/null 2>&1 \
      || die "could not install nginx with apt-get; install it by hand"
  else
    die "nginx not found; install it (Debian/Ubuntu: apt-get install -y nginx-light)"
  fi
  NGINX_BIN="$(command -v nginx || echo /usr/sbin/nginx)"
fi
# The proxies under test get core 1, the load generator and the mocks core 0, so that a
# proxy's CPU per request is its own work and not a share of a contended core.
PIN_PROXY=()
PIN_LOAD=()
if command -v taskset >/dev/null 2>&1 && (($(nproc) >= 2)); then
  PIN_PROXY=(taskset -c 1)
  PIN_LOAD=(taskset -c 0)
fi
CLK_TCK="$(getconf CLK_TCK)"

# ---------------------------------------------------------------- binaries
if [[ -n "${RELAYGATE_BIN_DIR:-}" ]]; then
  [[ -d "$RELAYGATE_BIN_DIR" ]] || die "RELAYGATE_BIN_DIR=$RELAYGATE_BIN_DIR is not a directory"
  BIN_DIR="$(cd "$RELAYGATE_BIN_DIR" && pwd)"
  case "$(basename "$BIN_DIR")" in
    release) PROFILE="release" ;;
    debug) PROFILE="debug" ;;
    *) PROFILE="unknown" ;;
  esac
  PROFILE_NOTE="$PROFILE (prebuilt binaries from \`$BIN_DIR\`, via RELAYGATE_BIN_DIR)"
  log "using prebuilt binaries from $BIN_DIR (profile: $PROFILE); not building"
else
  command -v cargo >/dev/null 2>&1 || die "cargo not found; install Rust or set RELAYGATE_BIN_DIR to prebuilt binaries"
  log "building release binaries: cargo build --release -p relaygate -p relaygate-testkit"
  (cd "$ROOT" && cargo build --release -p relaygate -p relaygate-testkit) || die "cargo build failed"
  BIN_DIR="${CARGO_TARGET_DIR:-$ROOT/target}/release"
  [[ "$BIN_DIR" = /* ]] || BIN_DIR="$ROOT/$BIN_DIR"
  PROFILE="release"
  PROFILE_NOTE="release (\`cargo build --release -p relaygate -p relaygate-testkit\`, built by this script)"
fi
GATEWAY_BIN="$BIN_DIR/relaygate"
MOCK_BIN="$BIN_DIR/relaygate-mock"
[[ -x "$GATEWAY_BIN" ]] || die "$GATEWAY_BIN not found or not executable"
[[ -x "$MOCK_BIN" ]] || die "$MOCK_BIN not found or not executable"

# ---------------------------------------------------------------- temp dir, cleanup
TMP="$(mktemp -d "${TMPDIR:-/tmp}/relaygate-bench.XXXXXX")"
PIDS=()
NAMES=()

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local i pid
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  # Give them up to 5 s to exit, then SIGKILL whatever is left.
  for _ in $(seq 50); do
    local left=0
    for pid in "${PIDS[@]}"; do
      kill -0 "$pid" 2>/dev/null && left=1
    done
    ((left == 0)) && break
    sleep 0.1
  done
  for pid in "${PIDS[@]}"; do
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if ((rc != 0)); then
    for i in "${!NAMES[@]}"; do
      if [[ -s "$TMP/${NAMES[$i]}.log" ]]; then
        printf '[bench] --- last lines of %s.log ---\n' "${NAMES[$i]}" >&2
        tail -n 20 "$TMP/${NAMES[$i]}.log" | sed 's/\x1b\[[0-9;]*m//g' >&2 || true
      fi
    done
  fi
  if [[ "${BENCH_KEEP_TMP:-0}" == 1 ]]; then
    log "kept temp dir $TMP"
  else
    rm -rf "$TMP"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'log "interrupted; stopping"; exit 130' INT
trap 'log "terminated; stopping"; exit 143' TERM

# start NAME PORT CMD... : runs CMD in the background (log in $TMP/NAME.log) and waits for PORT.
start() {
  local name=$1 port=$2
  shift 2
  "$@" >"$TMP/$name.log" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  NAMES+=("$name")
  "$PYTHON" "$BENCH_DIR/util.py" wait "$port" "$pid" "$BENCH_START_TIMEOUT" \
    || die "$name did not start listening on 127.0.0.1:$port (log: below)"
  log "$name listening on 127.0.0.1:$port (pid $pid)"
}

# ---------------------------------------------------------------- servers
mapfile -t PORTS < <("$PYTHON" "$BENCH_DIR/util.py" ports 8)
((${#PORTS[@]} == 8)) || die "could not find 8 free loopback ports"
MOCK_PORT=${PORTS[0]}
SLOW_PORT=${PORTS[1]}
GW_PORT=${PORTS[2]}
MOCK40_PORT=${PORTS[3]}
MOCK2000_PORT=${PORTS[4]}
NGX_PORT=${PORTS[5]}
NGX40_PORT=${PORTS[6]}
NGX2000_PORT=${PORTS[7]}

cat >"$TMP/relaygate.toml" <<EOF
listen = "127.0.0.1:$GW_PORT"
storage = "sqlite://$TMP/bench.db"

[[channels]]
name = "mock"
protocol = "openai"
base_url = "http://127.0.0.1:$MOCK_PORT"
keys = ["bench-upstream-key"]
models = ["$MODEL"]

[[channels]]
name = "mock-40"
protocol = "openai"
base_url = "http://127.0.0.1:$MOCK40_PORT"
keys = ["bench-upstream-key"]
models = ["$MODEL_40"]

[[channels]]
name = "mock-2000"
protocol = "openai"
base_url = "http://127.0.0.1:$MOCK2000_PORT"
keys = ["bench-upstream-key"]
models = ["$MODEL_2000"]

[[channels]]
name = "mock-slow"
protocol = "openai"
base_url = "http://127.0.0.1:$SLOW_PORT"
keys = ["bench-upstream-key"]
models = ["$SLOW_MODEL"]

[[tokens]]
name = "bench"
token = "$TOKEN"
EOF

# nginx as "a proxy that does nothing": one process, no buffering, keep-alive upstreams.
ngx_server() {
  printf '  upstream u%s { server 127.0.0.1:%s; keepalive 64; }\n' "$1" "$2"
  printf '  server { listen 127.0.0.1:%s; location / { proxy_pass http://u%s; proxy_http_version 1.1;\n' "$1" "$1"
  printf '    proxy_set_header Connection ""; proxy_buffering off; proxy_request_buffering off; } }\n'
}
mkdir -p "$TMP/nginx"
cat >"$TMP/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $TMP/nginx/body;
  proxy_temp_path $TMP/nginx/proxy;
  fastcgi_temp_path $TMP/nginx/fastcgi;
  uwsgi_temp_path $TMP/nginx/uwsgi;
  scgi_temp_path $TMP/nginx/scgi;
  keepalive_requests 1000000;
$(ngx_server "$NGX_PORT" "$MOCK_PORT")
$(ngx_server "$NGX40_PORT" "$MOCK40_PORT")
$(ngx_server "$NGX2000_PORT" "$MOCK2000_PORT")
}
EOF

start mock "$MOCK_PORT" "${PIN_LOAD[@]}" "$MOCK_BIN" --listen "127.0.0.1:$MOCK_PORT" --gap-ms 0
start mock-40 "$MOCK40_PORT" "${PIN_LOAD[@]}" "$MOCK_BIN" --listen "127.0.0.1:$MOCK40_PORT" --gap-ms 0 --deltas 40
start mock-2000 "$MOCK2000_PORT" "${PIN_LOAD[@]}" "$MOCK_BIN" --listen "127.0.0.1:$MOCK2000_PORT" --gap-ms 0 --deltas 2000
start mock-slow "$SLOW_PORT" "${PIN_LOAD[@]}" "$MOCK_BIN" --listen "127.0.0.1:$SLOW_PORT" --gap-ms 5 --deltas 20
start gateway "$GW_PORT" "${PIN_PROXY[@]}" env -u RELAYGATE_LISTEN -u RELAYGATE_STORAGE -u RELAYGATE_CONFIG \
  RELAYGATE_LOG=warn NO_COLOR=1 "$GATEWAY_BIN" serve --config "$TMP/relaygate.toml"
GW_PID=${PIDS[-1]}
start nginx "$NGX_PORT" "${PIN_PROXY[@]}" "$NGINX_BIN" -p "$TMP/nginx" -c "$TMP/nginx.conf"
NGX_PID=${PIDS[-1]}

# One request of each kind to each target before measuring: fail clearly if anything is off.
probe() {
  timeout 30 "$PYTHON" "$BENCH_DIR/util.py" probe "$@" || die "probe failed: util.py probe $*"
}
probe "$MOCK_PORT" "$MODEL" "$TOKEN" json
probe "$MOCK_PORT" "$MODEL" "$TOKEN" stream
probe "$GW_PORT" "$MODEL" "$TOKEN" json
probe "$GW_PORT" "$MODEL" "$TOKEN" stream
probe "$SLOW_PORT" "$SLOW_MODEL" "$TOKEN" stream
probe "$GW_PORT" "$SLOW_MODEL" "$TOKEN" stream
probe "$NGX_PORT" "$MODEL" "$TOKEN" stream
probe "$NGX2000_PORT" "$MODEL_2000" "$TOKEN" stream
probe "$GW_PORT" "$MODEL_2000" "$TOKEN" stream
log "probes ok: JSON and SSE answers direct, through nginx and through the gateway"

# ---------------------------------------------------------------- wrk
body_for() {
  local stream='"stream":true'
  case $1 in
    json) printf '{"model":"%s","messages":[{"role":"user","content":"hi"}]}' "$MODEL" ;;
    sse) printf '{"model":"%s","messages":[{"role":"user","content":"hi"}],%s}' "$MODEL" "$stream" ;;
    sse40) printf '{"model":"%s","messages":[{"role":"user","content":"hi"}],%s}' "$MODEL_40" "$stream" ;;
    sse2000) printf '{"model":"%s","messages":[{"role":"user","content":"hi"}],%s}' "$MODEL_2000" "$stream" ;;
    *) die "unknown case $1" ;;
  esac
}
# port_for TARGET CASE
port_for() {
  local n=0
  case $2 in sse40) n=1 ;; sse2000) n=2 ;; esac
  local direct=("$MOCK_PORT" "$MOCK40_PORT" "$MOCK2000_PORT")
  local nginx=("$NGX_PORT" "$NGX40_PORT" "$NGX2000_PORT")
  case $1 in
    direct) echo "${direct[$n]}" ;;
    nginx) echo "${nginx[$n]}" ;;
    gateway) echo "$GW_PORT" ;;
    *) die "unknown target $1" ;;
  esac
}
# pid_for TARGET: the process whose CPU time is measured (none for direct).
pid_for() {
  case $1 in
    nginx) echo "$NGX_PID" ;;
    gateway) echo "$GW_PID" ;;
    *) echo "" ;;
  esac
}
# cpu_ticks PID: user + system time of every thread of PID, in clock ticks.
cpu_ticks() {
  awk '{print $14 + $15}' "/proc/$1/stat"
}

# wrk_point CASE CONNS TARGET SECONDS OUT : runs wrk once; leaves its output in OUT.
wrk_point() {
  local case=$1 conns=$2 target=$3 secs=$4 out=$5
  local threads=$((conns < 2 ? conns : 2))
  local port
  port=$(port_for "$target" "$case")
  BENCH_BODY="$(body_for "$case")" BENCH_TOKEN="$TOKEN" \
    timeout --kill-after=5 $((secs + 60)) \
    "${PIN_LOAD[@]}" wrk -t "$threads" -c "$conns" -d "${secs}s" --latency --timeout 10s \
    -s "$BENCH_DIR/post.lua" "http://127.0.0.1:$port$PATH_CC" >"$out" 2>&1 \
    || die "wrk failed or timed out ($case, $conns conns, $target):"$'\n'"$(cat "$out")"
  grep -q '^BENCH_RESULT ' "$out" \
    || die "wrk printed no result line ($case, $conns conns, $target):"$'\n'"$(cat "$out")"
}

RESULTS="$TMP/results.tsv"
printf 'run\tcase\tconns\ttarget\trps\tp50_us\tp99_us\trequests\terrors\tcpu_us_per_req\n' >"$RESULTS"

measure() {
  local run=$1 case=$2 conns=$3 target=$4
  local out="$TMP/wrk-$run-$case-$conns-$target.txt"
  local pid before=0
  pid=$(pid_for "$target")
  [[ -n "$pid" ]] && before=$(cpu_ticks "$pid")
  wrk_point "$case" "$conns" "$target" "$BENCH_SECONDS" "$out"
  local -A r=()
  local kv
  for kv in $(grep -m1 '^BENCH_RESULT ' "$out" | cut -d' ' -f2-); do
    r[${kv%%=*}]=${kv#*=}
  done
  local errors=$((r[connect_err] + r[read_err] + r[write_err] + r[status_err] + r[timeout_err]))
  ((r[requests] > 0)) || die "no request completed ($case, $conns conns, $target):"$'\n'"$(cat "$out")"
  local cpu=nan
  if [[ -n "$pid" ]]; then
    cpu=$(awk -v d="$(($(cpu_ticks "$pid") - before))" -v hz="$CLK_TCK" -v n="${r[requests]}" \
      'BEGIN{printf "%.1f", d * 1e6 / hz / n}')
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$run" "$case" "$conns" "$target" \
    "${r[rps]}" "${r[p50_us]}" "${r[p99_us]}" "${r[requests]}" "$errors" "$cpu" >>"$RESULTS"
  log "$(printf 'run %d/%d %-7s c=%-3s %-7s %10s rps  p50 %6.2f ms  p99 %7.2f ms  cpu %s us/req  errors %s' \
    "$run" "$BENCH_RUNS" "$case" "$conns" "$target" "${r[rps]}" \
    "$(awk "BEGIN{print ${r[p50_us]}/1000}")" "$(awk "BEGIN{print ${r[p99_us]}/1000}")" "$cpu" "$errors")"
  if ((errors > 0)); then
    log "  warning: $errors errors (run with BENCH_KEEP_TMP=1 to keep wrk's output: $out)"
  fi
}

TARGETS=(direct nginx gateway)
points=$((${#CASES[@]} * ${#CONNS[@]} * ${#TARGETS[@]}))
est=$((points * BENCH_RUNS * BENCH_SECONDS + ${#CASES[@]} * ${#TARGETS[@]} * BENCH_WARMUP_SECONDS))
log "wrk: ${#CASES[@]} cases x ${#CONNS[@]} connection counts x ${#TARGETS[@]} targets x $BENCH_RUNS runs x ${BENCH_SECONDS}s (about ${est}s)"

if ((BENCH_WARMUP_SECONDS > 0)); then
  for case in "${CASES[@]}"; do
    for target in "${TARGETS[@]}"; do
      wrk_point "$case" 16 "$target" "$BENCH_WARMUP_SECONDS" "$TMP/warmup-$case-$target.txt"
    done
  done
  log "warm-up done"
fi

for run in $(seq "$BENCH_RUNS"); do
  # Alternate which target goes first so slow drift on a shared machine evens out.
  if ((run % 2 == 1)); then order=(direct nginx gateway); else order=(gateway nginx direct); fi
  for case in "${CASES[@]}"; do
    for conns in "${CONNS[@]}"; do
      for target in "${order[@]}"; do
        measure "$run" "$case" "$conns" "$target"
      done
    done
  done
done

# ---------------------------------------------------------------- time to first event
log "time to first event: $BENCH_TTFE_N streams each direct and through the gateway (events 5 ms apart)"
timeout $((60 + BENCH_TTFE_N * 4)) "$PYTHON" "$BENCH_DIR/ttfe.py" \
  --direct-port "$SLOW_PORT" --gateway-port "$GW_PORT" --model "$SLOW_MODEL" --token "$TOKEN" \
  -n "$BENCH_TTFE_N" --out "$TMP/ttfe.json" >&2 \
  || die "time-to-first-event measurement failed or timed out"

# ---------------------------------------------------------------- report
TABLES="$("$PYTHON" "$BENCH_DIR/report.py" "$RESULTS" "$TMP/ttfe.json")" || die "report.py failed"
printf '\n%s\n\n' "$TABLES"

DATE="$(date -u)"
NPROC="$(nproc 2>/dev/null || echo '?')"
CPU_MODEL="$(grep -m1 -E '^(model name|Model|Hardware)[[:space:]]*:' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^[[:space:]]*//' || true)"
CPU_MODEL="${CPU_MODEL:-unknown}"
KERNEL="$(uname -srm)"
MEM="$(awk '/^MemTotal:/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo 2>/dev/null || true)"
WRK_VERSION="$({ wrk --version 2>&1 || true; } | head -n1 | sed 's/ *Copyright.*//')"
PY_VERSION="$("$PYTHON" --version 2>&1 || true)"
RG_VERSION="$("$GATEWAY_BIN" --version 2>/dev/null || echo 'relaygate (unknown version)')"
GIT_REV="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [[ "$GIT_REV" != unknown ]] && [[ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null || true)" ]]; then
  GIT_REV="$GIT_REV (with uncommitted changes)"
fi
CONNS_LIST="$(printf '%s, ' "${CONNS[@]}")"
CONNS_LIST="${CONNS_LIST%, }"

mkdir -p "$(dirname "$BENCH_DOC")"
cat >"$BENCH_DOC.tmp" <<EOF
# relaygate benchmarks

_The load sections are generated by \`bench/run.sh\` (every run rewrites them); the protocol
translation section comes from \`cargo bench -p relaygate-transform\` and is kept as it is._

- **Date:** $DATE
- **Machine:** $NPROC CPUs (\`nproc\`), $CPU_MODEL, ${MEM:-unknown memory}; kernel $KERNEL
- **Binaries:** build profile **$PROFILE_NOTE**; $RG_VERSION, commit $GIT_REV
- **Load generator:** $WRK_VERSION; time to first event with $PY_VERSION (standard library)

## Method

- A mock upstream (\`relaygate-mock\` from \`relaygate-testkit\`) answers \`POST $PATH_CC\` with a
  canned \`chat.completion\` JSON, or with an SSE stream (role chunk, 3 text deltas, finish chunk,
  usage chunk, \`[DONE]\`) when the body has \`"stream": true\`, with no pause between events
  (\`--gap-ms 0\`). Two more mocks answer streams of 40 and 2,000 text deltas (43 and 2,003 events):
  the cases *SSE 43 events* and *SSE 2,003 events*.
- **nginx** ($("$NGINX_BIN" -v 2>&1 | sed 's/^nginx version: //')) is the reference for a proxy that does nothing: one process
  (\`master_process off\`, one worker), \`proxy_buffering off\`, \`proxy_request_buffering off\`,
  HTTP/1.1 keep-alive to each mock, no access log.
- The proxies (nginx, relaygate) run on core 1, wrk and the mocks on core 0 (\`taskset\`, when the
  machine has 2 cores or more). **CPU µs per request** is the proxy process's user + system time
  (\`/proc/PID/stat\`, every thread) over the point, divided by the requests wrk completed.
- relaygate runs with an \`openai\` channel pointing at that mock, a client token, a SQLite store in
  a temp dir, and \`RELAYGATE_LOG=warn\`.
- **Direct** is wrk → mock; **nginx** is wrk → nginx → the same mock; **gateway** is wrk → relaygate →
  the same mock. All three are measured in the same run, one after the other for each point,
  reversing the order every other run.
- Each point: \`wrk -t min(c,2) -c c -d ${BENCH_SECONDS}s --latency --timeout 10s -s bench/post.lua\`, for
  c = $CONNS_LIST connections, with a Lua script that sets method POST, the body
  \`{"model":"$MODEL","messages":[{"role":"user","content":"hi"}]}\` (plus \`"stream":true\` for SSE)
  and the headers \`authorization: Bearer <token>\` and \`content-type: application/json\`.
  Keep-alive connections; an SSE request counts as done when its whole stream has arrived.
- Each point was run **$BENCH_RUNS** time(s) after an untimed ${BENCH_WARMUP_SECONDS}s warm-up per case and
  target; the tables show the **median** over runs of each metric (requests/s, p50, p99) separately.
- Ratios are gateway ÷ nginx: below 1 for requests/s, or above 1 for CPU per request or p50, is
  what relaygate costs beyond a proxy that does nothing.
- **Time to first event:** a second mock with \`--gap-ms 5 --deltas 20\` (events 5 ms apart) behind a
  second channel (model \`$SLOW_MODEL\`). \`bench/ttfe.py\` sends $BENCH_TTFE_N streamed requests each direct
  and through the gateway, sequentially and alternating, each on a new connection (TCP connect not
  timed), after 3 untimed warm-ups each, and times from sending the request to receiving the first
  complete \`data:\` line (first event) and the first line carrying answer text (first content).
  Median and p90 (nearest rank) in ms; the last row is gateway − direct.
- relaygate holds a 2xx stream's events until its first real content, so that an upstream that
  fails before content (an error event, an empty stream) is still failed over invisibly: the
  role chunk that precedes the first text is released together with that text. So *first event*
  through the gateway waits for the first content, while *first content* is what the gateway
  adds to a client's time to first token.

## Results

$TABLES

## Caveats

The machine is shared and noisy (other jobs may run on it during the benchmark), and wrk, the
mocks and the proxies share $NPROC CPUs (pinned as above), so absolute numbers vary between runs
and machines: the gateway/nginx **ratios** and the CPU per request matter more than the absolute
requests/s and latencies. CPU time is read in clock ticks (1/$CLK_TCK s), so points with few
requests are coarse. Only loopback (127.0.0.1) traffic is involved.

The gateway does real work per request that the mock does not: token hashing and lookup,
routing and limits, a held first frame for soft-error detection, usage extraction, and a log row
(with its attempts) written to SQLite by a writer thread that shares the same 2 CPUs with wrk,
the mock and the gateway's own workers. The *first content* column is what a client waits for
its first token: the gateway adds under a millisecond to it.
EOF
# Keep the protocol translation section (written by `cargo bench -p relaygate-transform`).
if [[ -f "$BENCH_DOC" ]] && grep -q '^## Protocol translation' "$BENCH_DOC"; then
  { echo; sed -n '/^## Protocol translation/,$p' "$BENCH_DOC"; } >>"$BENCH_DOC.tmp"
fi
mv "$BENCH_DOC.tmp" "$BENCH_DOC"
log "wrote $BENCH_DOC"
