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
BENCH=soak; source "$(dirname "$0")/lib.sh"

knobs SOAK_SECONDS=1800 USERS=6 SMTP_CLIENTS=4 EST_LOG=info KEEP=0
# the other knobs (SAMPLE_SECONDS ... PROGRESS) soak.py reads from the environment itself
WORK="$(mktemp -d /tmp/estafeta-soak.XXXXXX)"
IP=127.0.0.40
SMTP=10025; SUBMISSION=10587; SUBMISSIONS=10465; IMAP=10143; IMAPS=10993; POP3=10110; POP3S=10995
AT_EXIT='[ "$KEEP" = 1 ] || rm -rf "$WORK/data"'
est_binary

# ---------------------------------------------------------------- room
# About 1.2 MB/s of ordinary mail at the defaults (4 senders, 0.5 s pauses, 150 KiB mean,
# 1.5 recipients), plus the hostile messages; ask for twice that.
need_kb=$(( SOAK_SECONDS * 2400 * SMTP_CLIENTS / 4 + 2000000 ))
room "$WORK" "$need_kb" || die "$((FREE_KB / 1024)) MiB free under $WORK, want $((need_kb / 1024)) MiB for ${SOAK_SECONDS}s of mail"
more_files

# ---------------------------------------------------------------- the server
est_toml estafeta.soak "$WORK/data" info <<TOML
[auth]
allow_plaintext_on_loopback = true
[smtp]
trusted_networks = []
$(listener $IP $SMTP smtp starttls)
$(listener $IP $SUBMISSION submission starttls)
$(listener $IP $SUBMISSIONS submission implicit)
$(listener $IP $IMAP imap starttls)
$(listener $IP $IMAPS imap implicit)
$(listener $IP $POP3 pop3 starttls)
$(listener $IP $POP3S pop3 implicit)
TOML
est_users soak.test secret $(seq -f 'soak%.0f' 0 $((USERS - 1)))
est_start "$EST_LOG"

echo "soak: estafeta pid $EST_PID on $IP (smtp $SMTP, submission $SUBMISSION/$SUBMISSIONS, imap $IMAP/$IMAPS, pop3 $POP3/$POP3S) for ${SOAK_SECONDS}s; files in $WORK" >&2
rc=0
python3 "$ROOT/bench/soak.py" --ip "$IP" --pid "$EST_PID" --out "$WORK" \
    --smtp $SMTP --submission $SUBMISSION --submissions $SUBMISSIONS \
    --imap $IMAP --imaps $IMAPS --pop3 $POP3 --pop3s $POP3S \
    --seconds "$SOAK_SECONDS" --users "$USERS" --smtp-clients "$SMTP_CLIENTS" || rc=$?

# ---------------------------------------------------------------- the server's side
panics=$(log_count panicked)
{
    echo "data: $(du -sh "$WORK/data" | cut -f1) in $WORK/data; log $(wc -l < "$WORK/est.log") lines"
    echo "server log: $panics panics, $(log_count ' ERROR ') ERROR lines, $(log_count ' WARN ') WARN lines"
    [ "$panics" -eq 0 ] || grep -m5 "panicked" "$WORK/est.log"
    # the kinds of ERROR and WARN lines: the message text, without time and fields
    # (head may close the pipe early: that is no failure)
    log_kinds 20 's/^[^ ]+ +//; s/[a-z0-9_]+\{[^}]*\}: //; s/ [a-z_]+=.*$//'
} | tee -a "$WORK/summary.txt"
[ "$panics" -eq 0 ] || rc=1   # here: the block above runs in a subshell of the pipe

if est_alive; then
    t0=$(now)
    est_stop
    echo "server stopped by SIGTERM in $(elapsed "$t0" "$(now)" 1) s, exit code $EST_CODE" | tee -a "$WORK/summary.txt"
else
    echo "server process gone before the end" | tee -a "$WORK/summary.txt"
    EST_PID=""; rc=1
fi
[ "$KEEP" = 1 ] || echo "(data directory removed; KEEP=1 keeps it)"
exit "$rc"
