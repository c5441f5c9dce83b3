#!/usr/bin/env bash
# SMTP acceptance benchmark: estafeta and Postfix side by side, in one run, driven by
# Postfix's smtp-source. Local delivery, durable (fsync'd) in both.
#   bench/smtp.sh            5000 messages of 4 KiB, 20 sessions, with -d and without
# Prints, per server and mode: accepted messages/s, seconds until all messages are in
# the mailbox, delivered messages/s, and estafeta's figure over Postfix's; then
# estafeta's peak RSS with 100 concurrent sessions. Loopback only; stops by itself.
set -euo pipefail

MESSAGES="${MESSAGES:-5000}"
SESSIONS="${SESSIONS:-20}"
SIZE="${SIZE:-4096}"
PEAK_SESSIONS="${PEAK_SESSIONS:-100}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="$(mktemp -d /tmp/estafeta-bench.XXXXXX)"
chmod 755 "$WORK"
EST_IP=127.0.0.30; EST_PORT=10030
PF_IP=127.0.0.25; PF_PORT=10025
PF_CONF="$WORK/postfix"
EST_PID=""

cleanup() {
    [ -n "$EST_PID" ] && kill "$EST_PID" 2>/dev/null || true
    postfix -c "$PF_CONF" stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

need() {
    if ! command -v smtp-source >/dev/null || ! command -v postfix >/dev/null; then
        echo "bench: installing postfix (smtp-source, the peer)" >&2
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix >/dev/null
    fi
}

now() { date +%s.%N; }
elapsed() { python3 -c "print(f'{$2 - $1:.2f}')"; }
rate() { python3 -c "print(f'{$1 / ($3 - $2):.0f}')"; }

wait_for_count() { # command-that-prints-a-count target timeout-seconds
    local deadline=$(( $(date +%s) + $3 ))
    while [ "$($1)" -lt "$2" ]; do
        [ "$(date +%s)" -ge "$deadline" ] && { echo "bench: timed out waiting for $2 messages" >&2; return 1; }
        sleep 0.05
    done
}

# ---------------------------------------------------------------- estafeta
EST_BIN="$ROOT/target/release/estafeta"
build_estafeta() {
    (cd "$ROOT" && cargo build --release -q)
}

est_count() {
    python3 - "$WORK/est/estafeta.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True, timeout=30)
print(db.execute("SELECT COUNT(*) FROM mailbox_messages").fetchone()[0])
PY
}

start_estafeta() {
    rm -rf "$WORK/est"; mkdir -p "$WORK/est"
    cat > "$WORK/est.toml" <<TOML
hostname = "estafeta.bench"
data_dir = "$WORK/est"
[log]
level = "warn"
[smtp]
# a load generator is one client sending far more than a person would
unauthenticated_commands_per_minute = 0
trusted_networks = []
max_connections_per_ip = 1000
[[listener]]
address = "$EST_IP"
port = $EST_PORT
protocol = "smtp"
tls = "none"
TOML
    "$EST_BIN" -c "$WORK/est.toml" domain add bench.test >/dev/null
    echo pw | "$EST_BIN" -c "$WORK/est.toml" user add u@bench.test --password-stdin >/dev/null
    ESTAFETA_LOG=info "$EST_BIN" -c "$WORK/est.toml" serve 2>"$WORK/est.log" &
    EST_PID=$!
    for _ in $(seq 1 200); do grep -q "estafeta ready" "$WORK/est.log" && return 0; sleep 0.05; done
    echo "bench: estafeta did not start" >&2; cat "$WORK/est.log" >&2; exit 1
}

stop_estafeta() { kill "$EST_PID"; wait "$EST_PID" || true; EST_PID=""; }

# ---------------------------------------------------------------- postfix
setup_postfix() {
    postfix stop >/dev/null 2>&1 || true   # the instance the package started on port 25
    mkdir -p "$PF_CONF" "$WORK/pf-mail"
    chown 65534:65534 "$WORK/pf-mail"
    [ -f /etc/postfix/main.cf ] || touch /etc/postfix/main.cf
    if ! grep -q "^alternate_config_directories" /etc/postfix/main.cf; then
        echo "alternate_config_directories = /tmp" >> /etc/postfix/main.cf
    fi
    sed -i "s|^alternate_config_directories.*|alternate_config_directories = $PF_CONF|" /etc/postfix/main.cf
    cat > "$PF_CONF/main.cf" <<CF
compatibility_level = 3.6
myhostname = postfix.bench
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
queue_directory = $WORK/pf-queue
data_directory = $WORK/pf-data
maillog_file = $WORK/pf.log
maillog_file_prefixes = /tmp
mynetworks = 127.0.0.0/8
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
default_process_limit = 200
virtual_mailbox_domains = bench.test
virtual_mailbox_base = $WORK/pf-mail
virtual_mailbox_maps = inline:{ u@bench.test=u/ }
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
CF
    # the shipped master.cf without chroot, smtpd only on our own address
    awk 'BEGIN{OFS=" "} /^#/ || /^[ \t]/ || NF<8 {print; next} $1=="smtp" && $2=="inet" {next} {$5="n"; print}' \
        /etc/postfix/master.cf > "$PF_CONF/master.cf"
    echo "$PF_IP:$PF_PORT inet n - n - - smtpd" >> "$PF_CONF/master.cf"
    mkdir -p "$WORK/pf-queue" "$WORK/pf-data"
    postfix -c "$PF_CONF" post-install create-missing >/dev/null 2>&1 || true
    chown postfix "$WORK/pf-data"
}

pf_count() { find "$WORK/pf-mail/u/new" -type f 2>/dev/null | wc -l; }

start_postfix() {
    rm -rf "$WORK/pf-mail/u"
    if ! postfix -c "$PF_CONF" start >"$WORK/pf-start.log" 2>&1; then
        echo "bench: postfix did not start:" >&2; cat "$WORK/pf-start.log" >&2; exit 1
    fi
    for _ in $(seq 1 200); do
        python3 -c "import socket; socket.create_connection(('$PF_IP', $PF_PORT), 1).close()" 2>/dev/null && return 0
        sleep 0.05
    done
    echo "bench: postfix did not start" >&2; tail -20 "$WORK/pf.log" >&2; exit 1
}

stop_postfix() { postfix -c "$PF_CONF" stop >/dev/null 2>&1 || true; }

# ---------------------------------------------------------------- runs
# run NAME IP PORT COUNTFN MODE-FLAGS → prints "accepted_rate delivered_seconds delivered_rate"
run() {
    local ip=$1 port=$2 count=$3; shift 3
    local t0 t1 t2
    t0=$(now)
    smtp-source -s "$SESSIONS" -m "$MESSAGES" -l "$SIZE" "$@" -f sender@source.test -t u@bench.test "$ip:$port"
    t1=$(now)
    wait_for_count "$count" "$MESSAGES" 300
    t2=$(now)
    echo "$(rate "$MESSAGES" "$t0" "$t1") $(elapsed "$t0" "$t2") $(rate "$MESSAGES" "$t0" "$t2")"
}

need
build_estafeta
setup_postfix

printf "%-34s %14s %14s %14s\n" "server, mode" "accepted msg/s" "all in mbox s" "delivered msg/s"
for mode in "-d" ""; do
    label=$([ -n "$mode" ] && echo "many msgs/session" || echo "one msg/session")
    start_estafeta
    read -r ea es ed < <(run $EST_IP $EST_PORT est_count $mode)
    stop_estafeta
    start_postfix
    read -r pa ps pd < <(run $PF_IP $PF_PORT pf_count $mode)
    stop_postfix
    printf "%-34s %14s %14s %14s\n" "estafeta, $label" "$ea" "$es" "$ed"
    printf "%-34s %14s %14s %14s\n" "postfix,  $label" "$pa" "$ps" "$pd"
    printf "%-34s %14s %14s %14s\n" "ratio estafeta/postfix" \
        "$(python3 -c "print(f'{$ea/$pa:.1f}x')")" "" "$(python3 -c "print(f'{$ed/$pd:.1f}x')")"
done

# peak RSS with many concurrent sessions
start_estafeta
SESSIONS=$PEAK_SESSIONS run $EST_IP $EST_PORT est_count -d >/dev/null
peak_kib=$(awk '/VmHWM/ {print $2}' "/proc/$EST_PID/status")
stop_estafeta
echo "estafeta peak RSS with $PEAK_SESSIONS sessions: $((peak_kib / 1024)) MiB"
echo "messages=$MESSAGES size=$SIZE sessions=$SESSIONS machine: $(nproc) cores"
