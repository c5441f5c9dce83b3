#!/usr/bin/env bash
# Full-text SEARCH benchmark: SEARCH BODY and SEARCH TEXT for a rare and a common word
# over one INBOX of 100,000 messages (generated like bench/imap.sh's: plain and
# multipart with a base64 attachment, 1-7 KiB of text), on
#   estafeta with its search index (imap.search_index = true, the default),
#   estafeta scanning every message (imap.search_index = false: the search before the
#   index existed), on the same data directory, and
#   Dovecot (no fts plugin, so it scans: it parses every message on each SEARCH).
# Prints how long loading took (SMTP, 8 connections, while the indexer works in the
# background), how long until every body was indexed, the index's size, and per search
# the median of 3 warm runs (raw socket client on loopback); stops by itself.
#   bench/fts.sh         (MESSAGES=… to change the count; DOVECOT=0 to leave Dovecot out;
#                         EST_BIN=… to use that binary)
set -euo pipefail
BENCH=fts
source "$(dirname "$0")/lib.sh"

knobs MESSAGES=100000 DOVECOT=1
WORK="$(mktemp -d /tmp/estafeta-fts-bench.XXXXXX)"
chmod 755 "$WORK"
EST_IP=127.0.0.33; EST_SMTP=10033; EST_IMAP=10145
DOV_IP=127.0.0.34; DOV_IMAP=10146

if [ "$DOVECOT" = 1 ]; then
    need_dovecot_imap
fi
est_binary

config() { # SEARCH-INDEX: $WORK/est.toml
    est_toml estafeta.bench "$WORK/est" warn <<TOML
[auth]
allow_plaintext_on_loopback = true
[smtp]
unauthenticated_commands_per_minute = 0
trusted_networks = []
[imap]
search_index = $1
[trust]
checks = false
$(listener $EST_IP $EST_SMTP smtp)
$(listener $EST_IP $EST_IMAP imap)
TOML
}
config true
est_users bench.test secret u
est_start info
DB="$WORK/est/estafeta.db"

# ---- the messages: sent to estafeta over SMTP (8 connections) and put in a Maildir
say "generating and sending $MESSAGES messages"
MAILDIR="$WORK/dovecot-home/u@bench.test/Maildir"
mkdir -p "$MAILDIR/cur" "$MAILDIR/new" "$MAILDIR/tmp" "$WORK/dovecot-run" "$WORK/dovecot-state"
T0=$(now)
python3 - "$MAILDIR/cur" "$MESSAGES" "$EST_IP" "$EST_SMTP" <<'PY'
import os, random, smtplib, sys, email.utils, threading
out, n, ip, port = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
names = ["Ana Pérez", "Bob Stone", "=?utf-8?q?Jos=C3=A9_Mart=C3=ADnez?=", "Chen Wei", "\"Doe, Jane\""]
words = "invoice meeting report holiday budget release draft photo contract review".split()

def make(i, rnd):
    frm = f"{rnd.choice(names)} <sender{i % 97}@example.org>"
    tos = ", ".join(f"user{j}@bench.test" for j in range(rnd.randint(1, 4)))
    subject = " ".join(rnd.choice(words) for _ in range(rnd.randint(2, 7)))
    date = email.utils.formatdate(1_700_000_000 + i * 60)
    lines = [" ".join(rnd.choice(words) for _ in range(12)) for _ in range(rnd.randint(2, 80))]
    if i % (n // 10) == n // 20:   # the rare word: in 10 messages
        lines.insert(len(lines) // 2, "the xylophone arrives on tuesday")
    body = "\r\n".join(lines)
    head = f"From: {frm}\r\nTo: {tos}\r\nSubject: {subject}\r\nDate: {date}\r\nMessage-ID: <m{i}@example.org>\r\nMIME-Version: 1.0\r\n"
    if i % 5 == 0:
        att = "\r\n".join(["QUJD" * 19] * 16)
        msg = (head + "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
               + body + "\r\n--b\r\nContent-Type: application/pdf; name=\"a.pdf\"\r\nContent-Transfer-Encoding: base64\r\n"
               + "Content-Disposition: attachment; filename=\"a.pdf\"\r\n\r\n" + att + "\r\n--b--\r\n")
    else:
        msg = head + "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body + "\r\n"
    return msg.encode()

def worker(k, step):
    rnd = random.Random(42 + k)
    with smtplib.SMTP(ip, port) as s:
        for i in range(k, n, step):
            msg = make(i, rnd)
            with open(os.path.join(out, f"{1700000000 + i}.M{i}P1.bench,S={len(msg)}:2,"), "wb") as f:
                f.write(msg)
            s.sendmail("sender@example.org", ["u@bench.test"], msg)

threads = [threading.Thread(target=worker, args=(k, 8)) for k in range(8)]
for t in threads: t.start()
for t in threads: t.join()
PY
T1=$(now)
say "sent in $(elapsed "$T0" "$T1") s ($(rate "$MESSAGES" "$T0" "$T1") messages/s)"
pending() { [ "$(db_count "$DB" search_pending)" = 0 ]; }
wait_until pending 3600 "the indexer"
T2=$(now)
say "every body indexed $(elapsed "$T1" "$T2") s after the last was accepted"
INDEX_SIZE=$(python3 - "$DB" <<'PY'
import sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
try:
    n = db.execute("SELECT SUM(pgsize) FROM dbstat WHERE name LIKE 'search_fts%' OR name LIKE 'search_docs%'").fetchone()[0]
    print(f"{n / 2**20:.0f} MiB")
except sqlite3.OperationalError:
    print("unknown (no dbstat)")
PY
)
DATA_SIZE=$(du -sh "$WORK/est" | cut -f1)
chown -R 65534:65534 "$WORK/dovecot-home"

# ---- timing: the same searches on each server
cat > "$WORK/measure.py" <<'PY'
import json, statistics, sys, time
sys.path.insert(0, sys.argv[3])
from benchlib import raw_imap, raw_imap_session

def session(ip, port):
    return raw_imap_session(ip, port, timeout=600)

run = raw_imap

SEARCHES = {"BODY rare (xylophone)": "SEARCH RETURN (COUNT) BODY xylophone",
            "TEXT rare (xylophone)": "SEARCH RETURN (COUNT) TEXT xylophone",
            "BODY common (meeting)": "SEARCH RETURN (COUNT) BODY meeting",
            "TEXT common (meeting)": "SEARCH RETURN (COUNT) TEXT meeting"}

ip, port = sys.argv[1], sys.argv[2]
s = session(ip, port)
run(s, "l", "LOGIN u@bench.test secret")
run(s, "s", "SELECT INBOX")   # Dovecot builds its index here
result = {}
for key, cmd in SEARCHES.items():
    got = run(s, "w", cmd)    # warm-up, and the count
    count = got.split(b"COUNT ")[1].split(b"\r\n")[0].decode()
    times = []
    for i in range(3):
        t = time.perf_counter()
        run(s, f"t{i}", cmd)
        times.append(time.perf_counter() - t)
    result[key] = (statistics.median(times), count)
s.close()
print(json.dumps(result))
PY
say "searching with the index"
INDEXED=$(python3 "$WORK/measure.py" "$EST_IP" "$EST_IMAP" "$ROOT/bench")
est_stop
config false
est_start info
say "searching by scan"
SCANNED=$(python3 "$WORK/measure.py" "$EST_IP" "$EST_IMAP" "$ROOT/bench")
est_stop
DOVECOT_RESULT="{}"
if [ "$DOVECOT" = 1 ]; then
    dov_start "$DOV_IP" "$DOV_IMAP"
    say "searching Dovecot"
    DOVECOT_RESULT=$(python3 "$WORK/measure.py" "$DOV_IP" "$DOV_IMAP" "$ROOT/bench")
fi

python3 - "$MESSAGES" "$INDEXED" "$SCANNED" "$DOVECOT_RESULT" <<'PY'
import json, sys
n = sys.argv[1]
idx, scan, dov = (json.loads(a) for a in sys.argv[2:5])
print(f"{'search (' + n + ' messages, median of 3 warm runs)':40} {'hits':>6} {'index s':>9} {'scan s':>9} {'dovecot s':>10} {'scan/index':>11}")
for k, (t, count) in idx.items():
    s_t, s_count = scan[k]
    assert count == s_count, f"{k}: index found {count}, scan {s_count}"
    d = dov.get(k)
    if d and d[1] != count:
        print(f"  note: Dovecot found {d[1]} for {k}")
    d_t = f"{d[0]:10.3f}" if d else f"{'-':>10}"
    print(f"{k:40} {count:>6} {t:9.3f} {s_t:9.3f} {d_t} {s_t / t:10.1f}x")
PY
echo "loading: $MESSAGES messages over SMTP in $(elapsed "$T0" "$T1") s; indexing finished $(elapsed "$T1" "$T2") s later"
echo "index: $INDEX_SIZE (search_docs + search_fts); data directory: $DATA_SIZE; corpus $(du -sh "$MAILDIR/cur" | cut -f1)"
echo "machine: $(nproc) cores"
