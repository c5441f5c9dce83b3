#!/usr/bin/env bash
# Import benchmark: a generated Dovecot Maildir++ tree of MESSAGES messages (4 KiB each,
# Message-IDs, flags in the file names, a third of them in .Archive) imported with
# `estafeta import maildir`, then the same import again (every message already there:
# what a resumed run costs). Prints messages per second for both runs and the store's
# size. SQLite, the release binary (EST_BIN=… to use another). Beside it, in the same run,
# the peer: Dovecot's `doveadm import` of the same tree into a Maildir (its own user
# database and mail location, as bench/imap.sh sets Dovecot up); DOVECOT=0 leaves it out.
#   bench/import.sh      (MESSAGES=100000 by default)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

knobs MESSAGES=100000 DOVECOT=1
WORK="$(mktemp -d /tmp/estafeta-import-bench.XXXXXX)"
est_binary

say "generating $MESSAGES messages"
python3 - "$WORK/Maildir" "$MESSAGES" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
body = ("All work and no play makes a fine benchmark. " * 90)[:4000]
for folder in ["", ".Archive"]:
    for sub in ["cur", "new", "tmp"]:
        os.makedirs(os.path.join(root, folder, sub), exist_ok=True)
flags = ["", "S", "RS", "FS", "S", "DS"]
for i in range(n):
    folder = ".Archive" if i % 3 == 0 else ""
    name = "%d.M%dP1.bench:2,%s" % (1600000000 + i, i, flags[i % len(flags)])
    with open(os.path.join(root, folder, "cur", name), "w") as f:
        f.write("Message-ID: <%d@bench.test>\nFrom: a@bench.test\nTo: bob@example.com\nSubject: message %d\n\n%s\n" % (i, i, body))
PY

est_toml bench.test "$WORK/est" warn </dev/null
est_users example.com secret bob

t0=$(date +%s.%N)
"$EST" -c "$WORK/est.toml" import maildir "$WORK/Maildir" --user bob@example.com > "$WORK/first.txt"
t1=$(date +%s.%N)
"$EST" -c "$WORK/est.toml" import maildir "$WORK/Maildir" --user bob@example.com > "$WORK/second.txt"
t2=$(date +%s.%N)

first=$(python3 -c "print(round(($t1 - $t0), 1))")
second=$(python3 -c "print(round(($t2 - $t1), 1))")
rate1=$(python3 -c "print(round($MESSAGES / ($t1 - $t0)))")
rate2=$(python3 -c "print(round($MESSAGES / ($t2 - $t1)))")
size=$(du -sh "$WORK/est/estafeta.db" | cut -f1)
echo "import maildir, $MESSAGES messages of 4 KiB: $(cat "$WORK/first.txt")"
echo "  first run:  ${first} s, ${rate1} messages/s"
echo "  second run (all already there): ${second} s, ${rate2} messages/s — $(cat "$WORK/second.txt")"
echo "  store: $size"

if [ "$DOVECOT" = 1 ]; then
    need dovecot-core doveadm
    need dovecot-imapd /usr/lib/dovecot/imap
    # doveadm works as the user's uid (65534): it reads the tree (writing its uid list
    # there, as Dovecot does in any Maildir it opens) and writes its home
    chmod 755 "$WORK"
    chown -R 65534:65534 "$WORK/Maildir"
    # running, for its user database (doveadm asks the auth service)
    dov_start 127.0.0.45 10145
    mkdir -p "$WORK/dovecot-home/bob@example.com"
    chown -R 65534:65534 "$WORK/dovecot-home"
    t0=$(date +%s.%N)
    doveadm -c "$DOV_CONF" import -u bob@example.com "maildir:$WORK/Maildir" "" mailbox '*'
    t1=$(date +%s.%N)
    count=$(find "$WORK/dovecot-home/bob@example.com/Maildir" -type f \( -path '*/cur/*' -o -path '*/new/*' \) | wc -l)
    dsize=$(du -sh "$WORK/dovecot-home" | cut -f1)
    echo "doveadm import (Dovecot $(dovecot --version | cut -d' ' -f1)), the same tree: $count messages"
    echo "  $(python3 -c "print(round(($t1 - $t0), 1))") s, $(python3 -c "print(round($MESSAGES / ($t1 - $t0)))") messages/s; mail: $dsize"
fi
