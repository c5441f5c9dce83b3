#!/usr/bin/env bash
# JMAP read benchmark, beside IMAP's equivalent, in one run, on the same 10,000 messages
# (bench/corpus.py): the newest 50 of an INBOX as a mail client's message list wants them.
#   JMAP (estafeta):  Email/query (inMailbox, receivedAt descending, limit 50) + Email/get
#                     (subject, from, to, receivedAt, keywords, size, preview), one request
#   IMAP (estafeta and Dovecot): FETCH of the last 50 sequence numbers
#                     (UID FLAGS RFC822.SIZE ENVELOPE BODY.PEEK[TEXT]<0.256>), the same
#                     facts with the start of the text for the preview
# each on an open, authenticated connection (JMAP with a bearer token, HTTP keep-alive);
# prints the median and 90th percentile of 50 warm runs; stops by itself.
#   bench/jmap.sh        (MESSAGES=… to change the count; EST_BIN=… to use that binary)
set -euo pipefail
BENCH=jmap
source "$(dirname "$0")/lib.sh"

knobs MESSAGES=10000
WORK="$(mktemp -d /tmp/estafeta-jmap-bench.XXXXXX)"
chmod 755 "$WORK"
EST_IP=127.0.0.35; EST_SMTP=10035; EST_IMAP=10147; EST_HTTP=10080
DOV_IP=127.0.0.36; DOV_IMAP=10148

need_dovecot_imap
est_binary

est_toml estafeta.bench "$WORK/est" warn <<TOML
[auth]
allow_plaintext_on_loopback = true
[smtp]
unauthenticated_commands_per_minute = 0
trusted_networks = []
[trust]
checks = false
$(listener $EST_IP $EST_SMTP smtp)
$(listener $EST_IP $EST_IMAP imap)
$(listener $EST_IP $EST_HTTP http)
TOML
est_users bench.test secret u
est_start info

shared_mailbox "$MESSAGES" "$EST_IP" "$EST_SMTP" "$DOV_IP" "$DOV_IMAP"

PYTHONPATH="$ROOT/bench" python3 - "$EST_IP" "$EST_HTTP" "$EST_IMAP" "$DOV_IP" "$DOV_IMAP" "$MESSAGES" <<'PY'
import base64, http.client, json, statistics, sys, time
from benchlib import raw_imap, raw_imap_session

est_ip, http_port, est_imap, dov_ip, dov_imap, n = sys.argv[1:7]
n = int(n)
RUNS = 50

def imap_session(ip, port):
    return raw_imap_session(ip, port, timeout=120)

imap = raw_imap

def measure_imap(ip, port):
    s = imap_session(ip, port)
    imap(s, "l", "LOGIN u@bench.test secret")
    got = imap(s, "s", "SELECT INBOX")
    assert f"* {n} EXISTS".encode() in got, got[:300]
    cmd = f"FETCH {n - 49}:{n} (UID FLAGS RFC822.SIZE ENVELOPE BODY.PEEK[TEXT]<0.256>)"
    for i in range(3):
        got = imap(s, f"w{i}", cmd)
        assert got.count(b" FETCH (") == 50, got[:300]
    times = []
    for i in range(RUNS):
        t = time.perf_counter()
        imap(s, f"t{i}", cmd)
        times.append(time.perf_counter() - t)
    s.close()
    return times

def measure_jmap():
    c = http.client.HTTPConnection(est_ip, int(http_port), timeout=120)
    basic = "Basic " + base64.b64encode(b"u@bench.test:secret").decode()
    c.request("POST", "/jmap/token", b"", {"Authorization": basic})
    r = c.getresponse()
    token = json.loads(r.read())["accessToken"]
    auth = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
    using = ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail"]
    def call(calls):
        c.request("POST", "/jmap/api", json.dumps({"using": using, "methodCalls": calls}), auth)
        r = c.getresponse()
        body = r.read()
        assert r.status == 200, body[:300]
        return json.loads(body)["methodResponses"]
    account = json.loads((c.request("GET", "/jmap/session", headers=auth), c.getresponse().read())[1])["primaryAccounts"]["urn:ietf:params:jmap:mail"]
    inbox = call([["Mailbox/query", {"accountId": account, "filter": {"role": "inbox"}}, "0"]])[0][1]["ids"][0]
    calls = [
        ["Email/query", {"accountId": account, "filter": {"inMailbox": inbox},
                         "sort": [{"property": "receivedAt", "isAscending": False}], "limit": 50}, "q"],
        ["Email/get", {"accountId": account, "#ids": {"resultOf": "q", "name": "Email/query", "path": "/ids"},
                       "properties": ["subject", "from", "to", "receivedAt", "keywords", "size", "preview"]}, "g"],
    ]
    for _ in range(3):
        got = call(calls)
        assert len(got[1][1]["list"]) == 50, got
    ids = got[0][1]["ids"]
    get_only = [["Email/get", dict(calls[1][1], ids=ids), "g"]]
    get_only[0][1].pop("#ids")
    times = {"both": [], "query": [], "get": []}
    for _ in range(RUNS):
        for key, cs in (("both", calls), ("query", calls[:1]), ("get", get_only)):
            t = time.perf_counter()
            call(cs)
            times[key].append(time.perf_counter() - t)
    return times

def row(name, times):
    times = sorted(times)
    return name, statistics.median(times) * 1000, times[int(len(times) * 0.9) - 1] * 1000

jmap = measure_jmap()
rows = [row("estafeta JMAP  Email/query + Email/get", jmap["both"]),
        row("  of which Email/query alone", jmap["query"]),
        row("  of which Email/get (50 ids) alone", jmap["get"]),
        row("estafeta IMAP  FETCH last 50", measure_imap(est_ip, est_imap)),
        row("Dovecot IMAP   FETCH last 50", measure_imap(dov_ip, dov_imap))]
print(f"{'newest 50 of ' + str(n) + ' (' + str(RUNS) + ' warm runs)':44} {'median ms':>10} {'p90 ms':>8}")
for name, med, p90 in rows:
    print(f"{name:44} {med:10.2f} {p90:8.2f}")
PY
echo "machine: $(nproc) cores"
