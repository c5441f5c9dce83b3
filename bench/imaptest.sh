#!/usr/bin/env bash
# Dovecot's imaptest (IMAP conformance and stress) against estafeta. Builds imaptest
# outside the repository if needed, starts estafeta with two users on an imap listener
# (plaintext, loopback) and an implicit-TLS one, then runs
#   the scripted tests (imaptest's src/tests) over TLS (ssl=any-cert) and over plaintext:
#     imaptest has no STARTTLS, so the second run is plain IMAP on loopback
#     (auth.allow_plaintext_on_loopback), not STARTTLS;
#   two stress runs, CLIENTS clients on one user and one mailbox for SECS seconds: the
#     default profile, and `own_flags` (each client owns some flags, so flag changes are
#     checked strictly);
# and prints per run the "test groups" summary and failing tests, or the error lines
# counted by kind. Raw outputs in OUT (scripted-993.txt, scripted-143.txt,
# stress-default.txt, stress-ownflags.txt) and the server's log as est.log.
#   IMAPTEST_SRC=DIR bash bench/imaptest.sh
#     (SECS=60 CLIENTS=5 IMAPTEST_BUILD=/tmp/imaptest-build OUT=… EST_BIN=… no build)
#   PG=postgres://postgres@127.0.0.1:5432 IMAPTEST_SRC=DIR bash bench/imaptest.sh
#     the same with the store on PostgreSQL, in a database made for the run and dropped after
# IMAPTEST_SRC is imaptest's source at commit 924f619 (2022-03-09), the last one that
# builds against Debian 12's dovecot-dev 2.3.19 (the next, f4f39aa, follows a 2.4 API):
#   git clone https://github.com/dovecot/imaptest /tmp/imaptest.git    (or any snapshot)
#   mkdir DIR && git --git-dir=/tmp/imaptest.git archive 924f619 | tar -x -C DIR
# The tree is copied to IMAPTEST_BUILD and edited there: imap_parser_create() gets 2.3's
# fourth argument (NULL parameters), own_flags' keyword owners are respected by the
# client that sets a keyword (see build_imaptest), and a `version` file stands in for .git.
set -euo pipefail
BENCH=imaptest
source "$(dirname "$0")/lib.sh"

knobs SECS=60 CLIENTS=5 IMAPTEST_BUILD=/tmp/imaptest-build SCRIPT_TIMEOUT=900 PG=
WORK="$(mktemp -d /tmp/estafeta-imaptest.XXXXXX)"
knobs OUT="$WORK/out"
IP=127.0.0.44; IMAP=10243; IMAPS=10993
DOMAIN=imaptest.test; PASS=imaptest-secret
IMAPTEST="$IMAPTEST_BUILD/src/imaptest"
mkdir -p "$OUT"

# ---- imaptest: copied, edited and built once
build_imaptest() {
    [ -n "${IMAPTEST_SRC:-}" ] || die "IMAPTEST_SRC is not set (see the top of $0 for how to get it)"
    [ -f "$IMAPTEST_SRC/configure.ac" ] && [ -d "$IMAPTEST_SRC/src/tests" ] \
        || die "$IMAPTEST_SRC does not hold imaptest's source"
    if grep -A1 'io_stream_create_ssl_client(' "$IMAPTEST_SRC/src/client.c" | grep -q 'NULL,'; then
        die "$IMAPTEST_SRC is newer than 924f619 (it needs Dovecot 2.4's headers)"
    fi
    need autoconf autoreconf
    need automake automake
    need libtool libtoolize
    need make make
    need gcc gcc
    need pkg-config pkg-config
    # the headers, and libdovecot.so (in dovecot-core, which dovecot-dev does not pull in)
    if [ ! -f /usr/lib/dovecot/dovecot-config ] || [ ! -e /usr/lib/dovecot/libdovecot.so ]; then
        say "installing dovecot-dev and dovecot-core (imaptest's build needs them)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-dev dovecot-core >/dev/null
    fi
    say "building imaptest in $IMAPTEST_BUILD (log: $IMAPTEST_BUILD/build.log)"
    rm -rf "$IMAPTEST_BUILD"; mkdir -p "$IMAPTEST_BUILD"
    cp -a "$IMAPTEST_SRC/." "$IMAPTEST_BUILD/"
    sed -i -E 's/imap_parser_create\((.*), \(size_t\)-1\);/imap_parser_create(\1, (size_t)-1, NULL);/' \
        "$IMAPTEST_BUILD"/src/{commands.c,imap-client.c,test-parser.c}
    [ "$(grep -c 'imap_parser_create(.*(size_t)-1, NULL)' "$IMAPTEST_BUILD"/src/{commands.c,imap-client.c,test-parser.c} \
        | awk -F: '{s += $2} END {print s}')" -eq 3 ] || die "the imap_parser_create() edit did not apply"
    # own_flags: imaptest lets a client set a keyword it does not own when the keyword is
    # not in its view yet, then the keyword's owner (chosen when it is first told) reports
    # "Owned keyword changed" against the server (docs/conformance.md, "own_flags"). Only
    # the owner may set a keyword, whether the client's view has it or not:
    (cd "$IMAPTEST_BUILD" && patch -s -p1) <<'PATCH' || die "the own_flags edit did not apply"
--- a/src/mailbox.c
+++ b/src/mailbox.c
@@ -454,6 +454,14 @@
 			/* not our keyword, can't set it */
 			continue;
 		}
+		if (storage->assign_flag_owners && kw == NULL &&
+		    mailbox_keyword_name_get(storage, keywords[i])->
+		    owner_client_idx1 != client_idx + 1) {
+			/* not yet in our view, but the keyword may already
+			   have an owner (or gets one now): only the owner
+			   may set it */
+			continue;
+		}
 		if (str_len(str) != 0)
 			str_append_c(str, ' ');
 		str_append(str, keywords[i]);
PATCH
    echo "0.0.0-924f619-estafeta" > "$IMAPTEST_BUILD/version"
    if ! (cd "$IMAPTEST_BUILD" && autoreconf -i && ./configure --with-dovecot=/usr/lib/dovecot && make) \
        >"$IMAPTEST_BUILD/build.log" 2>&1; then
        tail -30 "$IMAPTEST_BUILD/build.log" >&2; die "imaptest did not build"
    fi
}
[ -x "$IMAPTEST" ] || build_imaptest
export LD_LIBRARY_PATH=/usr/lib/dovecot

# messages for the stress runs' APPENDs: every message of the scripted tests' mboxes, in
# one file, each with a Message-ID of its own (the stress clients tell messages apart by
# Message-ID, and the test mboxes reuse <a@b> and the like for different messages)
STRESS_MBOX="$WORK/stress.mbox"
python3 - "$STRESS_MBOX" "$IMAPTEST_BUILD"/src/tests/*.mbox <<'PY'
import re, sys
out, n = open(sys.argv[1], "w", encoding="latin-1", newline="\n"), 0
for path in sys.argv[2:]:
    text = open(path, encoding="latin-1").read()
    for msg in re.split(r"(?m)^(?=From \S+ +\w{3} \w{3} )", text):
        if not msg.startswith("From "):
            continue
        from_line, _, rest = msg.partition("\n")
        head, sep, body = rest.partition("\n\n")
        head = re.sub(r"(?im)^message-id:.*\n?([ \t].*\n?)*", "", head).rstrip("\n")
        n += 1
        out.write(f"{from_line}\nMessage-ID: <stress{n}@imaptest.test>\n{head}\n\n{body.rstrip(chr(10))}\n\n")
PY

# ---- estafeta: an imap listener without TLS (loopback logins allowed) and one with
est_binary
STORAGE=""
if [ -n "$PG" ]; then
    PG_DB="estafeta_imaptest_$$"
    psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $PG_DB" -c "CREATE DATABASE $PG_DB" >/dev/null \
        || die "cannot make database $PG_DB on $PG"
    trap 'bench_cleanup; psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true' EXIT
    STORAGE=$(printf '[storage]\nengine = "postgres"\nurl = "%s/%s"' "$PG" "$PG_DB")
    say "store: PostgreSQL database $PG_DB"
fi
est_toml "$DOMAIN" "$WORK/est" warn <<TOML
$STORAGE
[auth]
allow_plaintext_on_loopback = true
[imap]
# imaptest logs in and out all the time: no pre-login command budget
unauthenticated_commands_per_minute = 0
$(listener $IP $IMAP imap)
$(listener $IP $IMAPS imap implicit)
TOML
est_users "$DOMAIN" "$PASS" user user2
est_start info
wait_until "port_open $IP $IMAPS" 10 "the imaps listener"

COMMON=(host=$IP user=user@$DOMAIN user2=user2@$DOMAIN pass=$PASS)

scripted() { # NAME PORT [ssl=any-cert]: the scripted tests, output in $OUT/scripted-NAME.txt
    local out="$OUT/scripted-$1.txt" port=$2; shift 2
    say "scripted tests on port $port $*"
    (cd "$IMAPTEST_BUILD/src" && timeout "$SCRIPT_TIMEOUT" "$IMAPTEST" test=tests port="$port" "${COMMON[@]}" "$@") \
        >"$out" 2>&1 || echo "imaptest exited with status $?" >>"$out"
}

stress() { # NAME OPTION...: one stress run, output in $OUT/stress-NAME.txt
    local out="$OUT/stress-$1.txt" name=$1; shift
    say "stress ($name): $CLIENTS clients, $SECS s"
    # imaptest's stress clients SELECT their mailbox but do not create it
    python3 - $IP $IMAP "user@$DOMAIN" "$PASS" "stress-$name" <<'PY'
import imaplib, sys
ip, port, user, password, box = sys.argv[1:]
imap = imaplib.IMAP4(ip, int(port))
imap.login(user, password)
typ, data = imap.create(box)
assert typ == "OK", (typ, data)
imap.logout()
PY
    # after secs= imaptest gives its clients up to 30 s to log out
    timeout $((SECS + 120)) "$IMAPTEST" port=$IMAP "${COMMON[@]}" box="stress-$name" \
        mbox="$STRESS_MBOX" clients="$CLIENTS" secs="$SECS" "$@" \
        >"$out" 2>&1 </dev/null || echo "imaptest exited with status $?" >>"$out"
    est_alive || die "estafeta died during the $name stress run (log: $WORK/est.log)"
}

scripted 993 $IMAPS ssl=any-cert
scripted 143 $IMAP
stress default
stress ownflags own_flags
est_stop
cp "$WORK/est.log" "$OUT/est.log"

# ---- summary
python3 - "$OUT" "$EST_CODE" <<'PY'
import collections, pathlib, re, sys
out, est_code = pathlib.Path(sys.argv[1]), sys.argv[2]
ansi = re.compile(r"\x1b\[[0-9;]*m")

def error_kinds(text):
    """imaptest's Error/Warning/Fatal/Panic lines, counted by kind, with one example each"""
    kinds, example = collections.Counter(), {}
    for line in text.splitlines():
        m = re.match(r"(Error|Warning|Fatal|Panic): (?:\S+\[\d+\]: )?(.*)", line)
        if not m:
            continue
        # the kind: the message without the message it is about, its quoted values and its
        # numbers, cut where the command's args begin
        msg = re.sub(r"^(uid=\d+ )?\S+@\S+: ", "", m[2])
        kind = m[1] + ": " + re.split(r": | '", re.sub(r"\d+", "N", msg))[0][:90]
        kinds[kind] += 1
        example.setdefault(kind, line[:300])
    for kind, n in kinds.most_common():
        print(f"  {n:6d}  {kind}\n          e.g. {example[kind]}")
    return sum(kinds.values())

for name in ("993", "143"):
    text = ansi.sub("", (out / f"scripted-{name}.txt").read_text(errors="replace"))
    print(f"== scripted tests, port {name} ({'TLS' if name == '993' else 'plaintext'})")
    for line in text.splitlines():
        if re.match(r"\d+ test groups:|base protocol:|extensions:|imaptest exited", line):
            print("  " + line)
    failed = collections.defaultdict(list)
    for test, line in re.findall(r"^\*\*\* Test (\S+) .*?\(line (\d+)\)", text, re.M):
        failed[test].append(line)
    for test, lines in sorted(failed.items()):
        print(f"  FAILED {test}: {len(lines)} command(s), script lines {' '.join(lines)}")
    for test in re.findall(r"^\*\*\* Test (\S+) initialization failed", text, re.M):
        print(f"  FAILED {test}: initialization")
    error_kinds(text)
for name in ("default", "ownflags"):
    text = ansi.sub("", (out / f"stress-{name}.txt").read_text(errors="replace"))
    print(f"== stress ({name}): error lines by kind")
    print(f"  total {error_kinds(text)}")
    for line in text.splitlines():
        if line.startswith("imaptest exited"):
            print("  " + line)
print(f"== estafeta: exit status {est_code}; ERROR/WARN lines of its log:")
PY
log_kinds 20 's/^.* (ERROR|WARN) //; s/[0-9]+/N/g' | sed 's/^/  /'
say "raw outputs in $OUT"
