#!/usr/bin/env bash
# SMTP acceptance benchmark: estafeta and Postfix side by side, in one run, driven by
# Postfix's smtp-source. Local delivery, durable (fsync'd) in both.
#   bench/smtp.sh            5000 messages of 4 KiB, 20 sessions, with -d and without
# Knobs: MESSAGES, SESSIONS, SIZE, PEAK_SESSIONS; EST_BIN=/path/to/estafeta (no build);
# CHECKS=false turns estafeta's checks of mail from outside off (SPF, DKIM, DMARC ask DNS
# for source.test: where the machine's resolver is slow to say it does not exist, that
# wait is what gets measured).
# Prints, per server and mode: accepted messages/s, seconds until all messages are in
# the mailbox, delivered messages/s, and estafeta's figure over Postfix's; then
# estafeta's peak RSS with 100 concurrent sessions. Loopback only; stops by itself.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

knobs MESSAGES=5000 SESSIONS=20 SIZE=4096 PEAK_SESSIONS=100 CHECKS=true
WORK="$(mktemp -d /tmp/estafeta-bench.XXXXXX)"
chmod 755 "$WORK"
EST_IP=127.0.0.30; EST_PORT=10030
PF_IP=127.0.0.25; PF_PORT=10025

start_estafeta() { # a new data directory each time, so that the mailbox starts empty
    rm -rf "$WORK/est"
    est_toml estafeta.bench "$WORK/est" warn <<TOML
[smtp]
# a load generator is one client sending far more than a person would
unauthenticated_commands_per_minute = 0
trusted_networks = []
max_connections_per_ip = 1000
[trust]
checks = $CHECKS
$(listener $EST_IP $EST_PORT smtp)
TOML
    est_users bench.test pw u
    est_start info
}
est_count() { db_count "$WORK/est/estafeta.db" mailbox_messages; }

pf_count() { find "$WORK/pf-mail/u/new" -type f 2>/dev/null | wc -l; }
start_postfix() { rm -rf "$WORK/pf-mail/u"; pf_start; }

# run IP PORT COUNTFN MODE-FLAGS → prints "accepted_rate delivered_seconds delivered_rate"
run() {
    local ip=$1 port=$2 count=$3; shift 3
    local t0 t1 t2
    all_in() { [ "$($count)" -ge "$MESSAGES" ]; }
    t0=$(now)
    smtp-source -s "$SESSIONS" -m "$MESSAGES" -l "$SIZE" "$@" -f sender@source.test -t u@bench.test "$ip:$port"
    t1=$(now)
    wait_until all_in 300 "$MESSAGES messages"
    t2=$(now)
    echo "$(rate "$MESSAGES" "$t0" "$t1") $(elapsed "$t0" "$t2") $(rate "$MESSAGES" "$t0" "$t2")"
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

row 34 "server, mode" "accepted msg/s" "all in mbox s" "delivered msg/s"
for mode in "-d" ""; do
    label=$([ -n "$mode" ] && echo "many msgs/session" || echo "one msg/session")
    start_estafeta
    read -r ea es ed < <(run $EST_IP $EST_PORT est_count $mode)
    est_stop
    start_postfix
    read -r pa ps pd < <(run $PF_IP $PF_PORT pf_count $mode)
    pf_stop
    row 34 "estafeta, $label" "$ea" "$es" "$ed"
    row 34 "postfix,  $label" "$pa" "$ps" "$pd"
    row 34 "ratio estafeta/postfix" "$(ratio "$ea" "$pa")" "" "$(ratio "$ed" "$pd")"
done

# peak RSS with many concurrent sessions
start_estafeta
SESSIONS=$PEAK_SESSIONS run $EST_IP $EST_PORT est_count -d >/dev/null
peak_kib=$(awk '/VmHWM/ {print $2}' "/proc/$EST_PID/status")
est_stop
echo "estafeta peak RSS with $PEAK_SESSIONS sessions: $((peak_kib / 1024)) MiB"
echo "messages=$MESSAGES size=$SIZE sessions=$SESSIONS machine: $(nproc) cores"
