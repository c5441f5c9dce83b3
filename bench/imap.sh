#!/usr/bin/env bash
# IMAP read benchmark: estafeta and Dovecot side by side, in one run, on the same
# 10,000 messages (generated: plain and multipart, 1-40 KiB, encoded words, several
# recipients). Prints, per server, the median of 3 warm runs of
#   SELECT INBOX
#   FETCH 1:* (FLAGS RFC822.SIZE ENVELOPE)
#   FETCH 1:* BODY.PEEK[]
# timed by a raw socket client (no client-side parsing) on loopback; stops by itself.
#   bench/imap.sh        (MESSAGES=… to change the count; EST_BIN=… to use that binary;
#                         PERF_OUT=file records estafeta with `perf record -g` while it is timed)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

knobs MESSAGES=10000 PERF_OUT=
WORK="$(mktemp -d /tmp/estafeta-imap-bench.XXXXXX)"
chmod 755 "$WORK"
EST_IP=127.0.0.31; EST_SMTP=10031; EST_IMAP=10143
DOV_IP=127.0.0.32; DOV_IMAP=10144

need_dovecot_imap
est_binary

# ---- estafeta: delivered over SMTP, read over IMAP (plaintext on loopback)
est_toml estafeta.bench "$WORK/est" warn <<TOML
[auth]
allow_plaintext_on_loopback = true
[smtp]
# a load generator is one client sending far more than a person would
unauthenticated_commands_per_minute = 0
trusted_networks = []
[trust]
# the messages claim example.org, whose records nobody here can look up: the checks
# would wait on DNS for each (this benchmark is about reading mail back)
checks = false
$(listener $EST_IP $EST_SMTP smtp)
$(listener $EST_IP $EST_IMAP imap)
TOML
est_users bench.test secret u
est_start info

# ---- the messages: each sent to estafeta over SMTP and put in Dovecot's Maildir, which
# Dovecot serves
shared_mailbox "$MESSAGES" "$EST_IP" "$EST_SMTP" "$DOV_IP" "$DOV_IMAP"

PERF_PID=""
if [ -n "$PERF_OUT" ]; then
    perf record -q -F 1999 -g -p "$EST_PID" -o "$PERF_OUT" >/dev/null 2>&1 & PERF_PID=$!
fi
PYTHONPATH="$ROOT/bench" python3 - "$EST_IP" "$EST_IMAP" "$DOV_IP" "$DOV_IMAP" "$MESSAGES" <<'PY'
import statistics, sys, time
from benchlib import raw_imap, raw_imap_session

def session(ip, port):
    return raw_imap_session(ip, port, timeout=120)

run = raw_imap

COMMANDS = {"SELECT": "SELECT INBOX", "FETCH envelope": "FETCH 1:* (FLAGS RFC822.SIZE ENVELOPE)",
            "FETCH bodies": "FETCH 1:* BODY.PEEK[]"}

def measure(ip, port, n):
    s = session(ip, port)
    run(s, "l", "LOGIN u@bench.test secret")
    for j, cmd in enumerate(COMMANDS.values()):   # warm-up (Dovecot builds its index)
        got = run(s, f"w{j}", cmd)
        assert j or f"* {n} EXISTS".encode() in got, got[:300]
    times = {key: [] for key in COMMANDS}
    for i in range(3):
        for key, cmd in COMMANDS.items():
            t = time.perf_counter()
            run(s, f"t{i}", cmd)
            times[key].append(time.perf_counter() - t)
    s.close()
    return {k: statistics.median(v) for k, v in times.items()}

est_ip, est_port, dov_ip, dov_port, n = sys.argv[1:6]
est = measure(est_ip, est_port, int(n))
dov = measure(dov_ip, dov_port, int(n))
print(f"{'command (' + n + ' messages, median of 3 warm runs)':52} {'estafeta s':>11} {'dovecot s':>10} {'estafeta/dovecot':>17}")
for k in est:
    print(f"{k:52} {est[k]:11.3f} {dov[k]:10.3f} {est[k] / dov[k]:16.2f}x")
PY
if [ -n "$PERF_PID" ]; then kill -INT "$PERF_PID"; wait "$PERF_PID" || true; say "perf data in $PERF_OUT"; fi
echo "machine: $(nproc) cores; corpus $(du -sh "$WORK/dovecot-home/u@bench.test/Maildir/cur" | cut -f1)"
