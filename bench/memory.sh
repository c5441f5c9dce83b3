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
BENCH=memory; source "$(dirname "$0")/lib.sh"

knobs SESSIONS=1000 SIZE_MB=25 EST_LOG=info DATA_PARENT=/tmp SPACE_PERCENT=200
IP=127.0.0.35; PORT=10035; SRC=127.0.0.36
SIZE=$((SIZE_MB * 1000000))

# ---------------------------------------------------------------- room first
need_kb=$((SPACE_PERCENT * SESSIONS * (SIZE / 1024) / 100))
room "$DATA_PARENT" "$need_kb" || die "$SESSIONS x $SIZE_MB MB needs $SPACE_PERCENT % of the data free under" \
    "$DATA_PARENT: $((need_kb / 1024 / 1024)) GiB, but only $((FREE_KB / 1024 / 1024)) GiB are free; not running." \
    "Lower SESSIONS or SIZE_MB, or set DATA_PARENT to a larger file system."

WORK="$(mktemp -d "$DATA_PARENT/estafeta-memory.XXXXXX")"
AT_EXIT='rm -rf "$WORK/data"'
# the server and the client each hold one socket per session
more_files
[ "$(ulimit -n)" -ge $((SESSIONS + 200)) ] || die "open-file limit $(ulimit -n) is too low for $SESSIONS sessions"

est_binary

# room for the message with the headers the server adds; every session admitted at once;
# a whole message may take as long as the run (all sessions share the two cores)
est_toml estafeta.bench "$WORK/data" info <<TOML
[smtp]
trusted_networks = []
max_message_size = $((SIZE + 2000000))
max_connections = $((SESSIONS + 100))
max_connections_per_ip = $((SESSIONS + 100))
data_timeout = 7200
idle_timeout = 1800
$(listener $IP $PORT smtp)
TOML
est_users bench.test secret u
est_start "$EST_LOG"

echo "memory: $SESSIONS sessions x $SIZE_MB MB to u@bench.test on $IP:$PORT (pid $EST_PID); files in $WORK" >&2
rc=0
python3 "$ROOT/bench/memory.py" --ip "$IP" --port "$PORT" --src "$SRC" --pid "$EST_PID" \
    --sessions "$SESSIONS" --size "$SIZE" --rcpt u@bench.test --csv "$WORK/rss.csv" || rc=$?

est_alive || { echo "the server died during the run; log tail:"; tail -20 "$WORK/est.log"; EST_PID=""; exit 1; }
stored=$(db_count "$WORK/data/estafeta.db" mailbox_messages)
echo "messages in the mailbox: $stored; data directory $(du -sh "$WORK/data" | cut -f1)"
echo "server log: $(log_count panicked) panics, $(log_count ' ERROR ') ERROR, $(log_count ' WARN ') WARN lines"
log_kinds 10 's/^[^ ]+ +//; s/ [a-z_]+=.*$//'
echo "RSS samples: $WORK/rss.csv; machine: $(nproc) cores, $(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo) MiB"
exit "$rc"
