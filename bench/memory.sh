#!/usr/bin/env bash
# Peak memory under large concurrent messages: SESSIONS concurrent SMTP sessions, each
# sending one message of SIZE_MB megabytes (10^6 octets) to one local user, against
# estafeta (release build, SQLite, its own temporary data directory) on 127.0.0.35.
# The client (bench/memory.py, asyncio) streams every message from one shared 64 KiB
# block of lines, so it holds no message in memory; all sessions first reach DATA's 354,
# then all stream at once. The server's VmRSS is sampled every 0.5 s; the script prints
# the peak, VmHWM at the end, the total time and how many messages got 250, and checks
# the count in the mailbox.
#   bash bench/memory.sh                         1000 sessions x 25 MB (25 GB stored!)
#   SESSIONS=50 SIZE_MB=5 bash bench/memory.sh   a short check
#   EST_BIN=/path/to/estafeta bash bench/memory.sh   use that binary, do not build
# The store keeps every body: the script stops at once unless the data directory's
# file system has SPACE_PERCENT (default 200) % of SESSIONS x SIZE_MB free
# (DATA_PARENT=/some/dir to put it elsewhere; SPACE_PERCENT=120 is enough for the
# bodies and SQLite's write-ahead log, with less margin). Loopback only; bounded; stops by itself.
set -euo pipefail

SESSIONS="${SESSIONS:-1000}"
SIZE_MB="${SIZE_MB:-25}"
EST_LOG="${EST_LOG:-info}"
DATA_PARENT="${DATA_PARENT:-/tmp}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
IP=127.0.0.35; PORT=10035; SRC=127.0.0.36
SIZE=$((SIZE_MB * 1000000))
EST_PID=""

# ---------------------------------------------------------------- room first
SPACE_PERCENT="${SPACE_PERCENT:-200}"
need_kb=$((SPACE_PERCENT * SESSIONS * (SIZE / 1024) / 100))
free_kb=$(df -Pk "$DATA_PARENT" | awk 'NR == 2 {print $4}')
if [ "$free_kb" -lt "$need_kb" ]; then
    echo "memory: $SESSIONS x $SIZE_MB MB needs $SPACE_PERCENT % of the data free under $DATA_PARENT:" \
         "$((need_kb / 1024 / 1024)) GiB, but only $((free_kb / 1024 / 1024)) GiB are free; not running." \
         "Lower SESSIONS or SIZE_MB, or set DATA_PARENT to a larger file system." >&2
    exit 1
fi

WORK="$(mktemp -d "$DATA_PARENT/estafeta-memory.XXXXXX")"
cleanup() {
    if [ -n "$EST_PID" ]; then kill "$EST_PID" 2>/dev/null || true; wait "$EST_PID" 2>/dev/null || true; fi
    rm -rf "$WORK/data"
}
trap cleanup EXIT
# the server and the client each hold one socket per session
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" -lt $((SESSIONS + 200)) ]; then
    echo "memory: open-file limit $(ulimit -n) is too low for $SESSIONS sessions" >&2; exit 1
fi

if [ -n "${EST_BIN:-}" ]; then
    EST="$EST_BIN"
else
    (cd "$ROOT" && cargo build --release -q -p estafeta)
    EST="$TARGET/release/estafeta"
fi
[ -x "$EST" ] || { echo "memory: no estafeta binary at $EST" >&2; exit 1; }

mkdir -p "$WORK/data"
# room for the message with the headers the server adds; every session admitted at once;
# a whole message may take as long as the run (all sessions share the two cores)
cat > "$WORK/est.toml" <<TOML
hostname = "estafeta.bench"
data_dir = "$WORK/data"
[log]
level = "info"
[smtp]
trusted_networks = []
max_message_size = $((SIZE + 2000000))
max_connections = $((SESSIONS + 100))
max_connections_per_ip = $((SESSIONS + 100))
data_timeout = 7200
idle_timeout = 1800
[[listener]]
address = "$IP"
port = $PORT
protocol = "smtp"
tls = "none"
TOML
"$EST" -c "$WORK/est.toml" domain add bench.test >/dev/null
echo secret | "$EST" -c "$WORK/est.toml" user add u@bench.test --password-stdin >/dev/null
ESTAFETA_LOG="$EST_LOG" "$EST" -c "$WORK/est.toml" serve 2>"$WORK/est.log" &
EST_PID=$!
for _ in $(seq 1 600); do grep -q "estafeta ready" "$WORK/est.log" && break; sleep 0.1; done
grep -q "estafeta ready" "$WORK/est.log" || { echo "memory: estafeta did not start" >&2; cat "$WORK/est.log" >&2; exit 1; }

echo "memory: $SESSIONS sessions x $SIZE_MB MB to u@bench.test on $IP:$PORT (pid $EST_PID); files in $WORK" >&2
rc=0
python3 "$ROOT/bench/memory.py" --ip "$IP" --port "$PORT" --src "$SRC" --pid "$EST_PID" \
    --sessions "$SESSIONS" --size "$SIZE" --rcpt u@bench.test --csv "$WORK/rss.csv" || rc=$?

if [ ! -d "/proc/$EST_PID" ] || grep -q '^State:.*Z' "/proc/$EST_PID/status" 2>/dev/null; then
    echo "the server died during the run; log tail:"; tail -20 "$WORK/est.log"; EST_PID=""; exit 1
fi
stored=$(python3 - "$WORK/data/estafeta.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True, timeout=60)
print(db.execute("SELECT COUNT(*) FROM mailbox_messages").fetchone()[0])
PY
)
echo "messages in the mailbox: $stored; data directory $(du -sh "$WORK/data" | cut -f1)"
echo "server log: $(grep -c panicked "$WORK/est.log" || true) panics, $(grep -c ' ERROR ' "$WORK/est.log" || true) ERROR, $(grep -c ' WARN ' "$WORK/est.log" || true) WARN lines"
grep -E ' (ERROR|WARN) ' "$WORK/est.log" | sed -E 's/^[^ ]+ +//; s/ [a-z_]+=.*$//' | sort | uniq -c | sort -rn | head -10
echo "RSS samples: $WORK/rss.csv; machine: $(nproc) cores, $(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo) MiB"
exit "$rc"
