#!/usr/bin/env bash
# Local delivery with a Sieve script against delivery without one, side by side in one
# run, with Postfix's local delivery (no filter) as the peer's reference row. Driven by
# Postfix's smtp-source: MESSAGES messages of SIZE octets from SESSIONS sessions to one
# user; "delivered msg/s" counts until every message is in a folder.
#   bench/sieve.sh             5000 messages of 4 KiB, 20 sessions
# The script has 20 rules of the kinds people write (header and address tests with
# :contains/:is/:matches, envelope, size, exists, relational on a number, a body word,
# variables); 19 do not match, the last files into a folder with a flag, so each message
# pays every test. Knobs: MESSAGES, SESSIONS, SIZE; EST_BIN=/path/to/estafeta (no build).
set -euo pipefail
BENCH=sieve
source "$(dirname "$0")/lib.sh"

knobs MESSAGES=5000 SESSIONS=20 SIZE=4096
WORK="$(mktemp -d /tmp/estafeta-bench.XXXXXX)"
chmod 755 "$WORK"
EST_IP=127.0.0.31; EST_PORT=10031
PF_IP=127.0.0.26; PF_PORT=10026

cat > "$WORK/rules.sieve" <<'SIEVE'
require ["fileinto", "mailbox", "imap4flags", "envelope", "body", "variables",
         "relational", "comparator-i;ascii-numeric"];
if header :contains "subject" "[invoice]" { fileinto :create "Invoices"; stop; }
if address :domain :is "from" "shop.example" { fileinto :create "Shopping"; stop; }
if header :matches "subject" "*weekly digest*" { fileinto :create "Digests"; stop; }
if envelope :localpart :is "from" "newsletter" { fileinto :create "News"; stop; }
if exists "list-id" { fileinto :create "Lists"; stop; }
if header :contains "x-spam-flag" "YES" { fileinto :create "Junk"; stop; }
if size :over 20M { fileinto :create "Large"; stop; }
if header :value "ge" :comparator "i;ascii-numeric" "x-priority" "5" { fileinto :create "Low"; stop; }
if address :is ["to", "cc"] "boss@bench.test" { addflag "\\Flagged"; }
if header :contains "from" ["github.com", "gitlab.com"] { fileinto :create "Code"; stop; }
if header :matches "subject" "Re: *" { set "thread" "${1}"; }
if address :localpart :contains "from" "noreply" { fileinto :create "Robots"; stop; }
if header :is "precedence" "bulk" { fileinto :create "Bulk"; stop; }
if anyof (header :contains "subject" "sale", header :contains "subject" "offer") { fileinto :create "Offers"; stop; }
if body :text :contains "unsubscribe-here-please" { fileinto :create "Unsubscribe"; stop; }
if header :contains "x-mailer" "Bulk Mailer" { fileinto :create "Bulk"; stop; }
if address :domain :matches "from" "*.invalid" { discard; stop; }
if not exists "date" { fileinto :create "Dateless"; stop; }
if header :contains "subject" "password reset" { fileinto :create "Security"; stop; }
if true { addflag "\\Seen"; fileinto :create "Filed"; }
SIEVE

start_estafeta() { # SCRIPT: with the user's active script, or "" for none
    rm -rf "$WORK/est"
    est_toml estafeta.bench "$WORK/est" warn <<TOML
[smtp]
unauthenticated_commands_per_minute = 0
trusted_networks = []
max_connections_per_ip = 1000
[trust]
checks = false
$(listener $EST_IP $EST_PORT smtp)
TOML
    est_users bench.test pw u
    if [ -n "$1" ]; then
        "$EST" -c "$WORK/est.toml" sieve put u@bench.test rules "$1" --activate >/dev/null
    fi
    est_start info
}
est_count() { db_count "$WORK/est/estafeta.db" mailbox_messages; }
est_filed() { # how many messages are in the folder the last rule files into
    python3 - "$WORK/est/estafeta.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
print(db.execute("SELECT COUNT(*) FROM mailbox_messages m JOIN mailboxes b ON b.id = m.mailbox_id WHERE b.name = 'Filed' AND m.flags LIKE '%Seen%'").fetchone()[0])
PY
}
pf_count() { find "$WORK/pf-mail/u/new" -type f 2>/dev/null | wc -l; }

run() { # IP PORT COUNTFN → "accepted_rate delivered_rate"
    local ip=$1 port=$2 count=$3 t0 t1 t2
    all_in() { [ "$($count)" -ge "$MESSAGES" ]; }
    t0=$(now)
    smtp-source -s "$SESSIONS" -m "$MESSAGES" -l "$SIZE" -d -f sender@source.test -t u@bench.test "$ip:$port"
    t1=$(now)
    wait_until all_in 300 "$MESSAGES messages"
    t2=$(now)
    echo "$(rate "$MESSAGES" "$t0" "$t1") $(rate "$MESSAGES" "$t0" "$t2")"
}

need postfix smtp-source postfix
est_binary
mkdir -p "$WORK/pf-mail"
chown 65534:65534 "$WORK/pf-mail"
pf_setup <<CF
virtual_mailbox_domains = bench.test
virtual_mailbox_base = $WORK/pf-mail
virtual_mailbox_maps = inline:{ u@bench.test=u/ }
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
CF

row 34 "server, filter" "accepted msg/s" "delivered msg/s"
start_estafeta ""
read -r na nd < <(run $EST_IP $EST_PORT est_count)
no_cpu=$(est_cpu_ms "$MESSAGES")
est_stop
start_estafeta "$WORK/rules.sieve"
read -r sa sd < <(run $EST_IP $EST_PORT est_count)
sieve_cpu=$(est_cpu_ms "$MESSAGES")
filed=$(est_filed)
est_stop
[ "$filed" -eq "$MESSAGES" ] || die "the script filed $filed of $MESSAGES messages"
rm -rf "$WORK/pf-mail/u"
pf_start
read -r pa pd < <(run $PF_IP $PF_PORT pf_count)
pf_stop
row 34 "estafeta, no script" "$na" "$nd"
row 34 "estafeta, 20-rule script" "$sa" "$sd"
row 34 "postfix, no filter" "$pa" "$pd"
row 34 "20 rules / none" "$(ratio "$sa" "$na")" "$(ratio "$sd" "$nd")"
row 34 "20 rules / postfix" "$(ratio "$sa" "$pa")" "$(ratio "$sd" "$pd")"
echo "estafeta CPU per message: ${no_cpu} ms without a script, ${sieve_cpu} ms with it"
echo "messages=$MESSAGES size=$SIZE sessions=$SESSIONS machine: $(nproc) cores"
