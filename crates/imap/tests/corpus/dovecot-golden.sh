#!/usr/bin/env bash
# Records what Dovecot (Debian's dovecot-imapd) answers to FETCH (ENVELOPE BODY
# BODYSTRUCTURE) for every message of this corpus, into dovecot.json, which
# tests/corpus.rs compares estafeta's answers with. Run again after adding a message:
#   bash crates/imap/tests/corpus/dovecot-golden.sh
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
WORK="$(mktemp -d /tmp/estafeta-golden.XXXXXX)"
chmod 755 "$WORK"
IP=127.0.0.33; PORT=10145
trap 'doveadm -c "$WORK/dovecot.conf" stop >/dev/null 2>&1 || true' EXIT
if ! command -v dovecot >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd >/dev/null
fi
mkdir -p "$WORK/home/Maildir/"{cur,new,tmp} "$WORK/run" "$WORK/state"
i=0
for f in "$HERE"/*.eml; do
    cp "$f" "$WORK/home/Maildir/cur/$((1700000000 + i)).M${i}P1.golden,S=$(stat -c %s "$f"):2,"
    i=$((i + 1))
done
chown -R 65534:65534 "$WORK/home"
cat > "$WORK/dovecot.conf" <<CONF
protocols = imap
listen = $IP
base_dir = $WORK/run
state_dir = $WORK/state
log_path = $WORK/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
passdb {
  driver = static
  args = password=secret
}
userdb {
  driver = static
  args = uid=65534 gid=65534 home=$WORK/home
}
mail_location = maildir:~/Maildir
first_valid_uid = 1
service imap-login {
  inet_listener imap {
    address = $IP
    port = $PORT
  }
  inet_listener imaps {
    port = 0
  }
}
CONF
dovecot -c "$WORK/dovecot.conf"
python3 - "$HERE" "$IP" "$PORT" <<'PY'
import json, os, sys
sys.path.insert(0, sys.argv[1])
import imapvalue
here, ip, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
names = sorted(n for n in os.listdir(here) if n.endswith(".eml"))
for _ in range(100):
    try:
        c = imapvalue.Conn(ip, port)
        break
    except OSError:
        import time; time.sleep(0.1)
c.run("l", "LOGIN u secret")
c.run("s", "SELECT INBOX")
answers = imapvalue.fetch_structures(c, len(names))
golden = {names[seq - 1]: answers[seq] for seq in sorted(answers)}
with open(os.path.join(here, "dovecot.json"), "w") as f:
    json.dump(golden, f, indent=1, ensure_ascii=False, sort_keys=True)
    f.write("\n")
print(f"recorded {len(golden)} messages from", c.run("v", "ID NIL")[0].decode().strip())
PY
