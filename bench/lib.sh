# bench/lib.sh: what the benchmark scripts share, sourced (not run) after `set -euo
# pipefail`: finding or building estafeta, writing its config, starting and stopping it,
# the Postfix peer, waiting for ports and counts, timing, table rows and log summaries.
# A script sets BENCH (the prefix of its messages) before sourcing it and WORK (its
# temporary directory) before calling the estafeta and Postfix functions. At exit the
# servers started here are stopped and the commands in AT_EXIT run.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
BENCH="${BENCH:-bench}"
EST_PID=""; SINK_PID=""; PF_CONF=""; DOV_CONF=""; AT_EXIT=":"

say() { echo "$BENCH: $*" >&2; }
die() { say "$@"; exit 1; }

bench_cleanup() {
    if [ -n "$EST_PID" ]; then kill "$EST_PID" 2>/dev/null || true; wait "$EST_PID" 2>/dev/null || true; fi
    if [ -n "$SINK_PID" ]; then kill "$SINK_PID" 2>/dev/null || true; fi
    if [ -n "$PF_CONF" ]; then postfix -c "$PF_CONF" stop >/dev/null 2>&1 || true; fi
    if [ -n "$DOV_CONF" ]; then doveadm -c "$DOV_CONF" stop >/dev/null 2>&1 || true; fi
    eval "$AT_EXIT"
    if [ -n "${WORK:-}" ]; then rm -rf "$WORK/old"; fi
}
trap bench_cleanup EXIT

knobs() { # NAME=DEFAULT...: each NAME as the environment gives it, or DEFAULT when unset or empty
    local knob name
    for knob; do name=${knob%%=*}; [ -n "${!name:-}" ] || printf -v "$name" '%s' "${knob#*=}"; done
}

need() { # PACKAGE COMMAND...: apt-get installs PACKAGE (a peer) unless every COMMAND is there
    local package=$1; shift
    [ "$(command -v "$@" | wc -l)" -eq $# ] && return
    say "installing $package (the peer)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null
}

set_aside() { # PATH...: moved into $WORK/old, which goes at exit. Deleting a run's thousands
    # of files right before the next run slowed that run (Postfix by 20-30 % in trust.sh,
    # ext4 mounted with discard; docs/performance.md, "Trust: checks and signing")
    local p
    mkdir -p "$WORK/old"
    for p; do if [ -e "$p" ]; then mv "$p" "$WORK/old/$(basename "$p").$RANDOM$RANDOM"; fi; done
}

more_files() { ulimit -n "$(ulimit -Hn)" 2>/dev/null || true; }   # one socket per session
room() { FREE_KB=$(df -Pk "$1" | awk 'NR == 2 {print $4}'); [ "$FREE_KB" -ge "$2" ]; }   # DIR KIB: that free?

# ---------------------------------------------------------------- timing and waiting
now() { date +%s.%N; }
elapsed() { python3 -c "print(f'{$2 - $1:.${3:-2}f}')"; }   # T0 T1 [DIGITS]: seconds
rate() { python3 -c "print(f'{$1 / ($3 - $2):.0f}')"; }     # N T0 T1: N per second
ratio() { python3 -c "print(f'{$1 / $2:.1f}x')"; }          # A B: A over B
median() { python3 -c "import statistics, sys; print(f'{statistics.median(map(float, sys.argv[1:])):g}')" "$@"; }
row() { # WIDTH FIRST-COLUMN COLUMN...: a table row, the other columns 14 wide
    local width=$1; shift
    printf "%-${width}s" "$1"; shift
    printf " %14s" "$@"; printf "\n"
}

wait_until() { # COMMAND TIMEOUT-SECONDS WHAT: runs COMMAND every 0.05 s until it succeeds
    local deadline=$(( $(date +%s) + $2 ))
    until $1; do
        [ "$(date +%s)" -ge "$deadline" ] && { say "timed out waiting for $3"; return 1; }
        sleep 0.05
    done
}

port_open() { python3 -c "import socket; socket.create_connection(('$1', $2), 1).close()" 2>/dev/null; }

# ---------------------------------------------------------------- estafeta
est_binary() { # EST: $EST_BIN if set, else a release build of the estafeta package
    if [ -n "${EST_BIN:-}" ]; then
        EST="$EST_BIN"
    else
        (cd "$ROOT" && cargo build --release -q -p estafeta)
        EST="$TARGET/release/estafeta"
    fi
    [ -x "$EST" ] || die "no estafeta binary at $EST"
}

est_toml() { # HOSTNAME DATA-DIR LOG-LEVEL, more of the config on stdin: $WORK/est.toml
    mkdir -p "$2"
    { printf 'hostname = "%s"\ndata_dir = "%s"\n[log]\nlevel = "%s"\n' "$1" "$2" "$3"; cat; } > "$WORK/est.toml"
}

listener() { # ADDRESS PORT PROTOCOL [TLS]: a [[listener]] table (TLS "none" by default)
    printf '[[listener]]\naddress = "%s"\nport = %s\nprotocol = "%s"\ntls = "%s"\n' "$1" "$2" "$3" "${4:-none}"
}

est_users() { # DOMAIN PASSWORD LOCAL-PART...: adds the domain and its users
    local domain=$1 password=$2 u; shift 2
    "$EST" -c "$WORK/est.toml" domain add "$domain" >/dev/null
    for u; do echo "$password" | "$EST" -c "$WORK/est.toml" user add "$u@$domain" --password-stdin >/dev/null; done
}

est_serve() { # LOG-FILTER: serves $WORK/est.toml in the background (EST_PID), log in $WORK/est.log
    ESTAFETA_LOG="$1" "$EST" -c "$WORK/est.toml" serve 2>"$WORK/est.log" &
    EST_PID=$!
}

est_start() { # LOG-FILTER: est_serve, then up to 60 s for its "estafeta ready" line
    est_serve "$1"
    for _ in $(seq 1 1200); do grep -q "estafeta ready" "$WORK/est.log" && return 0; sleep 0.05; done
    say "estafeta did not start"; cat "$WORK/est.log" >&2; exit 1
}

est_stop() { kill "$EST_PID"; EST_CODE=0; wait "$EST_PID" || EST_CODE=$?; EST_PID=""; }   # SIGTERM

est_cpu_ms() { # N: milliseconds of CPU (user + system) the running estafeta has used, per N
    python3 -c "print(f'{$(awk '{print $14 + $15}' "/proc/$EST_PID/stat") * 1000 / $(getconf CLK_TCK) / $1:.3f}')"
}

est_alive() { [ -d "/proc/$EST_PID" ] && ! grep -q '^State:.*Z' "/proc/$EST_PID/status" 2>/dev/null; }

db_count() { # DATABASE TABLE: how many rows TABLE has (read-only)
    python3 - "$1" "$2" <<'PY'
import sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True, timeout=60)
print(db.execute(f"SELECT COUNT(*) FROM {sys.argv[2]}").fetchone()[0])
PY
}

log_count() { grep -c -- "$1" "$WORK/est.log" || true; }   # PATTERN: lines of the server log

log_kinds() { # N SED-SCRIPT: the N commonest ERROR and WARN lines of the server log, as SED-SCRIPT cuts them
    grep -E ' (ERROR|WARN) ' "$WORK/est.log" | sed -E "$2" | sort | uniq -c | sort -rn | head -"$1" || true
}

# ---------------------------------------------------------------- Postfix
pf_setup() { # a Postfix instance in $WORK/postfix, smtpd on $PF_IP:$PF_PORT only; more main.cf on stdin
    PF_CONF="$WORK/postfix"
    postfix stop >/dev/null 2>&1 || true   # the instance the package started on port 25
    mkdir -p "$PF_CONF" "$WORK/pf-queue" "$WORK/pf-data"
    [ -f /etc/postfix/main.cf ] || touch /etc/postfix/main.cf
    if ! grep -q "^alternate_config_directories" /etc/postfix/main.cf; then
        echo "alternate_config_directories = /tmp" >> /etc/postfix/main.cf
    fi
    sed -i "s|^alternate_config_directories.*|alternate_config_directories = $PF_CONF|" /etc/postfix/main.cf
    { cat <<CF; cat; } > "$PF_CONF/main.cf"
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
CF
    # the shipped master.cf without chroot, smtpd only on our own address
    awk 'BEGIN{OFS=" "} /^#/ || /^[ \t]/ || NF<8 {print; next} $1=="smtp" && $2=="inet" {next} {$5="n"; print}' \
        /etc/postfix/master.cf > "$PF_CONF/master.cf"
    echo "$PF_IP:$PF_PORT inet n - n - - smtpd" >> "$PF_CONF/master.cf"
    postfix -c "$PF_CONF" post-install create-missing >/dev/null 2>&1 || true
    chown postfix "$WORK/pf-data"
}

pf_start() {
    if ! postfix -c "$PF_CONF" start >"$WORK/pf-start.log" 2>&1; then
        say "postfix did not start:"; cat "$WORK/pf-start.log" >&2; exit 1
    fi
    wait_until "port_open $PF_IP $PF_PORT" 10 "postfix to listen" || { tail -20 "$WORK/pf.log" >&2; exit 1; }
}

pf_stop() { postfix -c "$PF_CONF" stop >/dev/null 2>&1 || true; }

# ---------------------------------------------------------------- Dovecot
need_dovecot_imap() { # Dovecot's IMAP server, installed if missing, the package's own instance stopped
    need dovecot-imapd dovecot
    # dovecot-core alone (imaptest's build wants it) has no imap binary
    if [ ! -x /usr/lib/dovecot/imap ]; then
        say "installing dovecot-imapd"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd >/dev/null
    fi
    doveadm stop >/dev/null 2>&1 || true   # the instance the package started
}

shared_mailbox() { # MESSAGES SMTP-ADDRESS SMTP-PORT DOVECOT-ADDRESS DOVECOT-PORT: the read
    # benchmarks' one mailbox (bench/corpus.py) sent to the running estafeta over SMTP and
    # written into user u@bench.test's Maildir, which Dovecot then serves; returns once
    # estafeta's search indexer is done, so that timed reads do not run beside indexing
    local maildir="$WORK/dovecot-home/u@bench.test/Maildir"
    say "generating $1 messages"
    mkdir -p "$maildir/cur" "$maildir/new" "$maildir/tmp" "$WORK/dovecot-run" "$WORK/dovecot-state"
    python3 "$ROOT/bench/corpus.py" "$maildir/cur" "$1" "$2" "$3"
    pending() { [ "$(db_count "$WORK/est/estafeta.db" search_pending)" = 0 ]; }
    wait_until pending 600 "the search indexer"
    chown -R 65534:65534 "$WORK/dovecot-home"
    dov_start "$4" "$5"
}

dov_start() { # ADDRESS PORT: Dovecot's imap on ADDRESS:PORT (plaintext, one static password
    # "secret" for every user, uid 65534), each user's Maildir in $WORK/dovecot-home/USER/Maildir
    dov_config "$1" "$2"
    dovecot -c "$DOV_CONF"
}

dov_config() { # ADDRESS PORT: dov_start's configuration in $DOV_CONF, without starting it
    # (doveadm alone needs no daemon)
    DOV_CONF="$WORK/dovecot.conf"
    mkdir -p "$WORK/dovecot-run" "$WORK/dovecot-state"
    cat > "$DOV_CONF" <<CONF
protocols = imap
listen = $1
base_dir = $WORK/dovecot-run
state_dir = $WORK/dovecot-state
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
  args = uid=65534 gid=65534 home=$WORK/dovecot-home/%u
}
mail_location = maildir:~/Maildir
first_valid_uid = 1
service imap-login {
  inet_listener imap {
    address = $1
    port = $2
  }
  inet_listener imaps {
    port = 0
  }
}
CONF
}
