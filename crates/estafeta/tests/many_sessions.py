"""Many sessions on one mailbox (see many_sessions.rs): 4 IMAP sessions, 2 POP3
sessions and an SMTP sender, each in a thread, for a fixed number of operations.
Usage: many_sessions.py SMTP-ADDR IMAP-ADDR POP3-ADDR (host:port each). Exits non-zero
with the inconsistencies found."""

import collections
import poplib
import random
import re
import smtplib
import socket
import ssl
import sys
import threading

SMTP, IMAP, POP3 = (a.rsplit(":", 1) for a in sys.argv[1:4])
USER, PASSWORD = "bob@example.com", "secret"
IMAP_SESSIONS, POP3_SESSIONS, ROUNDS = 4, 2, 60
errors, lock = [], threading.Lock()
tokens_by_uidl = {}


def fail(who, what):
    with lock:
        errors.append(f"{who}: {what}")


class Imap:
    """A raw IMAP client that keeps the untagged lines of each command in order, and the
    view of the mailbox those lines alone describe."""

    def __init__(self, name):
        self.name = name
        self.sock = socket.create_connection((IMAP[0], int(IMAP[1])), timeout=60)
        self.buf = b""
        self.tag = 0
        self.uids = []  # by sequence number; None until a response names the UID
        self.flags = {}  # uid -> set of flags, as last reported
        self.tokens = {}  # uid -> its X-Token, where fetched
        self.history = collections.deque(maxlen=40)  # (command, untagged line), to explain a failure
        self.line()
        self.run(f"LOGIN {USER} {PASSWORD}")

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        # a literal: its octets follow, then the rest of the line
        m = re.search(rb"\{(\d+)\}$", line)
        if m:
            n = int(m.group(1))
            while len(self.buf) < n:
                self.buf += self.sock.recv(65536)
            line += b"\r\n" + self.buf[:n]
            self.buf = self.buf[n:]
            line += self.line()
        return line

    def run(self, command, literal=None):
        self.tag += 1
        tag = f"t{self.tag}".encode()
        if literal is None:
            self.sock.sendall(tag + b" " + command.encode() + b"\r\n")
        else:
            self.sock.sendall(tag + b" " + command.encode() + b" {%d+}\r\n" % len(literal) + literal + b"\r\n")
        while True:
            line = self.line()
            if line.startswith(tag + b" "):
                if not line.startswith(tag + b" OK"):
                    raise RuntimeError(f"{command}: {line!r}")
                return line
            if line.startswith(b"* "):
                self.history.append((command, line[:200]))
                self.feed(line, command)

    def feed(self, line, command):
        if m := re.match(rb"\* (\d+) EXISTS$", line):
            n = int(m.group(1))
            if n < len(self.uids):
                fail(self.name, f"EXISTS {n} after {len(self.uids)} without EXPUNGE ({command})")
            self.uids.extend([None] * (n - len(self.uids)))
        elif m := re.match(rb"\* (\d+) EXPUNGE$", line):
            n = int(m.group(1))
            if not 1 <= n <= len(self.uids):
                fail(self.name, f"EXPUNGE {n} of {len(self.uids)} ({command})")
            else:
                uid = self.uids.pop(n - 1)
                self.flags.pop(uid, None)
        elif m := re.match(rb"\* (\d+) FETCH \((.*)\)$", line, re.S):
            n, items = int(m.group(1)), m.group(2)
            if not 1 <= n <= len(self.uids):
                fail(self.name, f"FETCH {n} of {len(self.uids)} ({command}): {line[:100]!r}")
                return
            uid = re.search(rb"UID (\d+)", items)
            if uid:
                uid = int(uid.group(1))
                if self.uids[n - 1] not in (None, uid):
                    fail(self.name, f"message {n} was UID {self.uids[n - 1]}, now {uid}")
                self.uids[n - 1] = uid
            flags = re.search(rb"FLAGS \(([^)]*)\)", items)
            if flags and self.uids[n - 1] is not None:
                self.flags[self.uids[n - 1]] = set(flags.group(1).decode().split())
            token = re.search(rb"X-Token: (\S+)", items)
            if token and self.uids[n - 1] is not None:
                self.tokens[self.uids[n - 1]] = token.group(1)

    def check_order(self):
        known = [u for u in self.uids if u is not None]
        if known != sorted(set(known)):
            fail(self.name, f"UIDs out of order or repeated: {known}")


def imap_worker(i):
    name, own = f"imap{i}", f"$own{i}"
    rnd = random.Random(i)
    mine = {}  # uid -> whether this session's keyword is set, as it last set it
    try:
        c = Imap(name)
        c.run("SELECT INBOX")
        c.run("FETCH 1:* (UID FLAGS)") if c.uids else None
        for r in range(ROUNDS):
            op = rnd.random()
            known = [u for u in c.uids if u is not None]
            if op < 0.35 and known:
                uid = rnd.choice(known)
                on = rnd.random() < 0.6
                c.run(f"UID STORE {uid} {'+' if on else '-'}FLAGS ({own})")
                mine[uid] = on
            elif op < 0.5:
                body = f"From: {name}@example.com\r\nX-Token: {name}-{r}\r\nSubject: {r}\r\n\r\nappended\r\n"
                c.run("APPEND INBOX", body.encode())
            elif op < 0.6 and known:
                uid = rnd.choice(known)
                c.run(f"UID STORE {uid} +FLAGS.SILENT (\\Deleted)")
                c.run(f"UID EXPUNGE {uid}")
            elif op < 0.8:
                c.run("NOOP")
            else:
                c.run("FETCH 1:* (UID FLAGS)") if c.uids else c.run("NOOP")
            c.check_order()
            # a keyword only this session changes is always as it left it (imaptest's
            # own_flags "Owned keyword changed"); the last responses go with the failure
            for uid, on in mine.items():
                if uid in c.flags and (own in c.flags[uid]) != on:
                    trail = "\n".join(f"   {cmd} -> {l!r}" for cmd, l in c.history)
                    fail(name, f"{own} of UID {uid} seen changed: {sorted(c.flags[uid])}\n{trail}")
                    mine[uid] = own in c.flags[uid]
        return c
    except Exception as e:  # noqa: BLE001 - every failure is a finding
        fail(name, repr(e))
        return None


def pop3_worker(i, rounds=8):
    name = f"pop{i}"
    rnd = random.Random(100 + i)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        for _ in range(rounds):
            p = poplib.POP3_SSL(POP3[0], int(POP3[1]), context=ctx, timeout=60)
            p.user(USER)
            try:
                p.pass_(PASSWORD)
            except poplib.error_proto as e:
                # RFC 1939 §8: one POP3 session holds the maildrop at a time
                if b"[IN-USE]" not in e.args[0]:
                    fail(name, f"PASS: {e}")
                p.close()
                continue
            listing = [l.decode().split() for l in p.uidl()[1]]
            for number, uidl in rnd.sample(listing, min(3, len(listing))):
                try:
                    lines = p.retr(int(number))[1]
                except poplib.error_proto as e:
                    # expunged over IMAP since this session began
                    if b"-ERR" not in str(e).encode():
                        fail(name, f"RETR {number}: {e}")
                    continue
                token = next((l for l in lines if l.startswith(b"X-Token:")), b"none")
                with lock:
                    seen = tokens_by_uidl.setdefault(uidl, token)
                if seen != token:
                    fail(name, f"UIDL {uidl} was {seen!r}, now {token!r}")
            if listing and rnd.random() < 0.5:
                p.dele(int(rnd.choice(listing)[0]))
            p.quit()
    except Exception as e:  # noqa: BLE001
        fail(name, repr(e))


def smtp_worker(n=40):
    try:
        with smtplib.SMTP(SMTP[0], int(SMTP[1]), timeout=60) as s:
            for k in range(n):
                s.sendmail("ann@elsewhere.test", [USER],
                           f"From: ann@elsewhere.test\r\nX-Token: smtp-{k}\r\nSubject: s{k}\r\n\r\nhello\r\n")
    except Exception as e:  # noqa: BLE001
        fail("smtp", repr(e))


results = [None] * IMAP_SESSIONS
threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, imap_worker(i))) for i in range(IMAP_SESSIONS)]
threads += [threading.Thread(target=pop3_worker, args=(i,)) for i in range(POP3_SESSIONS)]
threads.append(threading.Thread(target=smtp_worker))
for t in threads:
    t.start()
for t in threads:
    t.join()

# quiet now: every session, brought up to date, agrees with a fresh one
fresh = Imap("fresh")
fresh.run("SELECT INBOX")
if fresh.uids:
    fresh.run("FETCH 1:* (UID FLAGS BODY.PEEK[HEADER.FIELDS (X-Token)])")
truth = (fresh.uids, {u: sorted(f - {"\\Recent"}) for u, f in fresh.flags.items()})
for c in results:
    if c is None:
        continue
    c.run("NOOP")
    if c.uids:
        c.run("FETCH 1:* (UID FLAGS)")
    view = (c.uids, {u: sorted(f - {"\\Recent"}) for u, f in c.flags.items()})
    if view != truth:
        fail(c.name, f"view differs from a fresh session's: {view} vs {truth}")
# nothing is there twice, everything has its token
tokens = list(fresh.tokens.values())
if len(tokens) != len(fresh.uids) or len(set(tokens)) != len(tokens):
    fail("fresh", f"{len(fresh.uids)} messages, tokens {sorted(tokens)}")

if errors:
    print("\n".join(errors[:50]))
    sys.exit(1)
print(f"consistent: {len(fresh.uids)} messages at the end")
