#!/usr/bin/env bash
# Soak test (a script to run by hand, not CI): estafeta (release build, SQLite, its own
# temporary data directory) on 127.0.0.40 with smtp, submission, imap and pop3 listeners,
# plain and implicit TLS, under a mixed load from bench/soak.py for SOAK_SECONDS:
# ordinary SMTP senders (1 KiB-1 MiB, every 250 recorded with its queue id), IMAP and
# POP3 readers, and hostile sessions all along (deep MIME nesting, nested reports,
# smuggling, dribbling clients, bad commands, LIST patterns, 4 GiB literals, stalled TLS
# handshakes, disconnects mid-DATA). VmRSS, threads and open fds are sampled every
# SAMPLE_SECONDS into a CSV. At the end every acknowledged message must be in the
# mailboxes and every port must answer; the summary says whether RSS stayed flat.
#   bash bench/soak.sh                       30 minutes (SOAK_SECONDS=1800)
#   SOAK_SECONDS=120 bash bench/soak.sh      a short check of the script
#   EST_BIN=/path/to/estafeta bash bench/soak.sh   use that binary, do not build
# Other knobs: USERS, SMTP_CLIENTS, IMAP_CLIENTS, POP3_CLIENTS, HOSTILE_WORKERS,
# SLOW_WORKERS, SMTP_PAUSE (mean seconds between one sender's messages), RSS_TOLERANCE
# (percent), EST_LOG (server log filter, default info), KEEP=1 (keep the data directory),
# PROGRESS=0 (no line every sample). Exit 1 if an acknowledged message is missing, a
# forbidden one (smuggled, aborted, refused) is stored, a body is corrupt, the server
# died or a port does not answer, or the server log has a panic.
# Loopback only; bounded in time; stops by itself. Needs python3 (standard library).
set -euo pipefail

SOAK_SECONDS="${SOAK_SECONDS:-1800}"
SAMPLE_SECONDS="${SAMPLE_SECONDS:-10}"
USERS="${USERS:-6}"
SMTP_CLIENTS="${SMTP_CLIENTS:-4}"
IMAP_CLIENTS="${IMAP_CLIENTS:-4}"
POP3_CLIENTS="${POP3_CLIENTS:-2}"
HOSTILE_WORKERS="${HOSTILE_WORKERS:-2}"
SLOW_WORKERS="${SLOW_WORKERS:-3}"
SMTP_PAUSE="${SMTP_PAUSE:-0.5}"
RSS_TOLERANCE="${RSS_TOLERANCE:-20}"
EST_LOG="${EST_LOG:-info}"
KEEP="${KEEP:-0}"
PROGRESS="${PROGRESS:-1}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
WORK="$(mktemp -d /tmp/estafeta-soak.XXXXXX)"
IP=127.0.0.40
SMTP=10025; SUBMISSION=10587; SUBMISSIONS=10465; IMAP=10143; IMAPS=10993; POP3=10110; POP3S=10995
EST_PID=""

cleanup() {
    if [ -n "$EST_PID" ]; then kill "$EST_PID" 2>/dev/null || true; wait "$EST_PID" 2>/dev/null || true; fi
    if [ "$KEEP" != 1 ]; then rm -rf "$WORK/data"; fi
}
trap cleanup EXIT

# ---------------------------------------------------------------- the binary
if [ -n "${EST_BIN:-}" ]; then
    EST="$EST_BIN"
else
    (cd "$ROOT" && cargo build --release -q -p estafeta)
    EST="$TARGET/release/estafeta"
fi
[ -x "$EST" ] || { echo "soak: no estafeta binary at $EST" >&2; exit 1; }

# ---------------------------------------------------------------- room
# About 1.2 MB/s of ordinary mail at the defaults (4 senders, 0.5 s pauses, 150 KiB mean,
# 1.5 recipients), plus the hostile messages; ask for twice that.
need_kb=$(( SOAK_SECONDS * 2400 * SMTP_CLIENTS / 4 + 2000000 ))
free_kb=$(df -Pk "$WORK" | awk 'NR == 2 {print $4}')
if [ "$free_kb" -lt "$need_kb" ]; then
    echo "soak: $((free_kb / 1024)) MiB free under $WORK, want $((need_kb / 1024)) MiB for ${SOAK_SECONDS}s of mail" >&2
    exit 1
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# ---------------------------------------------------------------- the server
mkdir -p "$WORK/data"
cat > "$WORK/est.toml" <<TOML
hostname = "estafeta.soak"
data_dir = "$WORK/data"
[log]
level = "info"
[auth]
allow_plaintext_on_loopback = true
[smtp]
trusted_networks = []
[[listener]]
address = "$IP"
port = $SMTP
protocol = "smtp"
tls = "starttls"
[[listener]]
address = "$IP"
port = $SUBMISSION
protocol = "submission"
tls = "starttls"
[[listener]]
address = "$IP"
port = $SUBMISSIONS
protocol = "submission"
tls = "implicit"
[[listener]]
address = "$IP"
port = $IMAP
protocol = "imap"
tls = "starttls"
[[listener]]
address = "$IP"
port = $IMAPS
protocol = "imap"
tls = "implicit"
[[listener]]
address = "$IP"
port = $POP3
protocol = "pop3"
tls = "starttls"
[[listener]]
address = "$IP"
port = $POP3S
protocol = "pop3"
tls = "implicit"
TOML
"$EST" -c "$WORK/est.toml" domain add soak.test >/dev/null
for i in $(seq 0 $((USERS - 1))); do
    echo secret | "$EST" -c "$WORK/est.toml" user add "soak$i@soak.test" --password-stdin >/dev/null
done
ESTAFETA_LOG="$EST_LOG" "$EST" -c "$WORK/est.toml" serve 2>"$WORK/est.log" &
EST_PID=$!
for _ in $(seq 1 600); do grep -q "estafeta ready" "$WORK/est.log" && break; sleep 0.1; done
grep -q "estafeta ready" "$WORK/est.log" || { echo "soak: estafeta did not start" >&2; cat "$WORK/est.log" >&2; exit 1; }

echo "soak: estafeta pid $EST_PID on $IP (smtp $SMTP, submission $SUBMISSION/$SUBMISSIONS, imap $IMAP/$IMAPS, pop3 $POP3/$POP3S) for ${SOAK_SECONDS}s; files in $WORK" >&2
progress=""; [ "$PROGRESS" = 1 ] && progress="--progress"
rc=0
python3 "$ROOT/bench/soak.py" --ip "$IP" --pid "$EST_PID" --out "$WORK" \
    --smtp $SMTP --submission $SUBMISSION --submissions $SUBMISSIONS \
    --imap $IMAP --imaps $IMAPS --pop3 $POP3 --pop3s $POP3S \
    --seconds "$SOAK_SECONDS" --sample-every "$SAMPLE_SECONDS" --users "$USERS" \
    --smtp-clients "$SMTP_CLIENTS" --imap-clients "$IMAP_CLIENTS" --pop3-clients "$POP3_CLIENTS" \
    --hostile-workers "$HOSTILE_WORKERS" --slow-workers "$SLOW_WORKERS" \
    --smtp-pause "$SMTP_PAUSE" --rss-tolerance "$RSS_TOLERANCE" $progress || rc=$?

# ---------------------------------------------------------------- the server's side
{
    echo "data: $(du -sh "$WORK/data" | cut -f1) in $WORK/data; log $(wc -l < "$WORK/est.log") lines"
    panics=$(grep -c "panicked" "$WORK/est.log" || true)
    echo "server log: $panics panics, $(grep -c ' ERROR ' "$WORK/est.log" || true) ERROR lines, $(grep -c ' WARN ' "$WORK/est.log" || true) WARN lines"
    if [ "$panics" -gt 0 ]; then grep -m5 "panicked" "$WORK/est.log"; rc=1; fi
    # the kinds of ERROR and WARN lines: the message text, without time and fields
    # (head may close the pipe early: that is no failure)
    grep -E ' (ERROR|WARN) ' "$WORK/est.log" \
        | sed -E 's/^[^ ]+ +//; s/[a-z0-9_]+\{[^}]*\}: //; s/ [a-z_]+=.*$//' \
        | sort | uniq -c | sort -rn | head -20 || true
} | tee -a "$WORK/summary.txt"

if [ -d "/proc/$EST_PID" ]; then
    t0=$(date +%s.%N)
    kill -TERM "$EST_PID"
    code=0; wait "$EST_PID" || code=$?
    EST_PID=""
    echo "server stopped by SIGTERM in $(python3 -c "import time; print(f'{time.time() - $t0:.1f}')") s, exit code $code" | tee -a "$WORK/summary.txt"
else
    echo "server process gone before the end" | tee -a "$WORK/summary.txt"
    EST_PID=""; rc=1
fi
[ "$KEEP" = 1 ] || echo "(data directory removed; KEEP=1 keeps it)"
exit "$rc"
