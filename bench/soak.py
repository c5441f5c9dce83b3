#!/usr/bin/env python3
"""Soak driver for bench/soak.sh: mixed ordinary and hostile load against one running
estafeta for a fixed time, then checks that every message acknowledged with 250 is in
the mailboxes and that every port still answers.

Only loopback addresses are used; every loop stops at the deadline and every wait has a
timeout. Run through bench/soak.sh, which starts the server and passes the arguments.

Load (all at once, for --seconds):
  * SMTP senders (port 25-like listener, and 1 in 5 sessions on submission with AUTH):
    messages of 1 KiB-1 MiB (log-uniform), plain or multipart, to 1-3 local users, each
    with a unique X-Soak-Token and Message-ID and an X-Soak-Body-SHA256 of its body.
    Every token acknowledged with 250 is recorded with its queue id.
  * IMAP clients (plain and implicit TLS): SELECT, FETCH (ENVELOPE BODYSTRUCTURE) on a
    window, FETCH BODY[] of one message (body checked against its SHA-256), SEARCH
    HEADER for a token already acknowledged to that user (must be found), other
    SEARCHes, STORE flags, IDLE for a few seconds.
  * POP3 clients (plain and implicit TLS): STAT, UIDL, LIST, RETR (body checked), no
    DELE.
  * hostile sessions, continuously: 20,000-level multipart, a null-sender report nesting
    message/rfc822 100,000 times (both then fetched over IMAP), SMTP smuggling attempts
    (fake end of data followed by commands), 25 bad commands (SMTP, IMAP, POP3; one at a
    time and pipelined), a LIST pattern "*a" x 25 + "*b", IMAP literals announcing 4 GiB
    (before and after login, synchronizing and not), disconnects in the middle of DATA;
    and slow ones: dribbling clients (SMTP that completes its message, IMAP and POP3 that
    the server must cut off), TLS connections on implicit-TLS ports that never finish
    the handshake.
  * a sampler: VmRSS, threads and open fds of the server every --sample-every seconds.

Exit status: 0 when every acknowledged message was found, nothing forbidden (smuggled,
aborted, refused) was stored, no body was corrupted, the server is alive and answers on
every port; 1 otherwise. Unexpected replies are listed but do not change the status.
"""
import argparse
import asyncio
import base64
import collections
import csv
import hashlib
import math
import os
import random
import re
import ssl
import statistics
import sys
import time

import benchlib
from benchlib import (IO_TIMEOUT, Session, Smtp, close, connect, env, proc_sample, readline,
                      server_alive, tls_context, until_closed, write)

CRLF = b"\r\n"
WORDS = (b"invoice meeting report holiday budget release draft photo contract review "
         b"quarterly needle haystack estafeta soak mailbox server parcel relay").split()


# ----------------------------------------------------------------------------- state
class State:
    def __init__(self, args):
        self.args = args
        self.deadline = 0.0
        self.t0 = 0.0
        self.count = collections.Counter()           # what was done
        self.hostile = collections.Counter()         # (kind, outcome) -> n
        self.unexpected = collections.Counter()      # where -> n
        self.unexpected_samples = collections.defaultdict(list)
        self.lat = collections.defaultdict(list)     # op -> seconds
        self.acked = {}                              # token -> (users, queue id, size, how)
        self.acked_by_user = collections.defaultdict(list)
        self.forbidden = {}                          # token -> why it must not be stored
        self.corrupt = []                            # (token, where)
        self.search_misses = []                      # (user, token)
        self.samples = []                            # (t, rss_kib, threads, fds)
        self.dead = False
        self.stop_sampling = False
        self.seq = 0

    def token(self, prefix):
        self.seq += 1
        return f"{prefix}{self.seq:08d}x{random.getrandbits(32):08x}"

    def left(self):
        return self.deadline - time.monotonic()

    def oops(self, where, detail):
        self.unexpected[where] += 1
        samples = self.unexpected_samples[where]
        if len(samples) < 5:
            samples.append(f"t={time.monotonic() - self.t0:.0f}s {detail}"[:300])

    def ack(self, token, users, qid, size, how):
        self.acked[token] = (tuple(users), qid, size, how)
        for u in users:
            self.acked_by_user[u].append(token)

    def timed(self, op, seconds):
        self.lat[op].append(seconds)

    async def timing(self, op, aw):
        """Awaits aw and records how long it took under op."""
        result, took = await clock(aw)
        self.timed(op, took)
        return result


async def clock(aw):
    """(What aw gives, the seconds it took.)"""
    t = time.monotonic()
    return await aw, time.monotonic() - t


S = None  # the State, set in main


# ----------------------------------------------------------------------------- messages
def body_lines(rnd, size):
    """CRLF lines making about `size` octets: some words (searchable), then base64 text;
    every 40th line starts with a dot, so dot-stuffing is exercised."""
    out = []
    n = 0
    words = min(size, 4096)
    while n < words:
        line = b" ".join(rnd.choice(WORDS) for _ in range(10))
        out.append(line)
        n += len(line) + 2
    if size > n:
        raw = base64.b64encode(rnd.randbytes((size - n) * 3 // 4 + 3))[: size - n]
        out.extend(raw[i:i + 76] for i in range(0, len(raw), 76))
    for i in range(0, len(out), 40):
        out[i] = b"." + out[i][:75]
    return out


def make_message(rnd, token, sender, rcpts, size):
    multipart = rnd.random() < 0.3
    if multipart:
        boundary = b"soak-" + token.encode()
        text = body_lines(rnd, min(size // 4, 8192) + 100)
        att = base64.b64encode(rnd.randbytes(max(1, size * 3 // 4 - 8192)))
        att_lines = [att[i:i + 76] for i in range(0, len(att), 76)]
        body = (b"--" + boundary + b"\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
                + b"\r\n".join(text) + b"\r\n--" + boundary
                + b"\r\nContent-Type: application/octet-stream; name=\"soak.bin\"\r\n"
                + b"Content-Transfer-Encoding: base64\r\n"
                + b"Content-Disposition: attachment; filename=\"soak.bin\"\r\n\r\n"
                + b"\r\n".join(att_lines) + b"\r\n--" + boundary + b"--\r\n")
        ctype = b"multipart/mixed; boundary=\"" + boundary + b"\""
    else:
        body = b"\r\n".join(body_lines(rnd, size)) + b"\r\n"
        ctype = b"text/plain; charset=utf-8"
    digest = hashlib.sha256(body).hexdigest()
    head = (f"From: Soak Sender <{sender or 'mailer-daemon@remote.test'}>\r\n"
            f"To: {', '.join(rcpts)}\r\n"
            f"Subject: soak {token} {size} octets\r\n"
            f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime())}\r\n"
            f"Message-ID: <{token}@soak.test>\r\n"
            f"X-Soak-Token: {token}\r\n"
            f"X-Soak-Body-SHA256: {digest}\r\n"
            "MIME-Version: 1.0\r\n").encode() + b"Content-Type: " + ctype + b"\r\n\r\n"
    return head + body


def stuff(msg):
    """Dot-stuffing for DATA (the message has CRLF line ends and ends with CRLF)."""
    out = msg.replace(b"\r\n.", b"\r\n..")
    if out.startswith(b"."):
        out = b"." + out
    return out


KINDS = {"m": "ordinary", "h": "deep/nested hostile", "so": "smuggle carrier", "dr": "dribbled"}


def kind_of(full):
    """ordinary, deep/nested hostile, ... from the X-Soak-Token in the first 64 KiB."""
    t = re.search(rb"(?im)^X-Soak-Token: ([a-z]+)", full[:65536])
    return KINDS.get(t.group(1).decode(), "other") if t else "no token"


def check_body(where, full):
    """full: a message as stored (with the headers the server added). Returns True when
    it carries our checksum and the body matches it; records corruption."""
    cut = full.find(b"\r\n\r\n")
    if cut < 0:
        return False
    head = full[:cut]
    m = re.search(rb"(?im)^X-Soak-Body-SHA256: ([0-9a-f]{64})", head)
    if not m:
        return False
    t = re.search(rb"(?im)^X-Soak-Token: (\S+)", head)
    token = t.group(1).decode() if t else "?"
    if hashlib.sha256(full[cut + 4:]).hexdigest().encode() != m.group(1):
        S.corrupt.append((token, where))
        S.oops(f"{where}: body does not match its checksum", token)
    else:
        S.count[f"{where} bodies verified"] += 1
    return True


# ----------------------------------------------------------------------------- SMTP
async def transaction(s, sender, rcpts, msg, where):
    """MAIL, RCPT, DATA and the message; returns (code, text) of the final reply, or of the
    first refusal. Refusals of MAIL/RCPT/DATA count as unexpected for ordinary mail."""
    code, text = await s.cmd(f"MAIL FROM:<{sender}> SIZE={len(msg)}")
    if code != 250:
        return code, text
    for rc in rcpts:
        code, text = await s.cmd(f"RCPT TO:<{rc}>")
        if code != 250:
            await s.cmd("RSET")
            return code, text
    code, text = await s.cmd("DATA")
    if code != 354:
        return code, text
    data = stuff(msg)
    for i in range(0, len(data), 1 << 16):
        await write(s.w, data[i:i + (1 << 16)])
    await write(s.w, b".\r\n")
    return await s.reply()


def queue_id(text):
    m = re.search(r"queued as (\S+)", text)
    return m.group(1) if m else "?"


CONNECTION_ERRORS = (ConnectionError, OSError, asyncio.TimeoutError, ssl.SSLError)


async def client(name, session, n, seed, errors=CONNECTION_ERRORS):
    """Ordinary client n: session(n, rnd) over and over until the deadline; after a
    failure (a connection error, or a bug in the driver or a reply it cannot read) a
    pause of a second."""
    rnd = random.Random(S.args.seed * seed + n)
    while S.left() > 0:
        try:
            await session(n, rnd)
        except errors as e:
            S.oops(f"{name}: connection failed", repr(e))
            await asyncio.sleep(1)
        except Exception as e:  # noqa
            S.oops(f"{name}: unexpected exception", repr(e))
            await asyncio.sleep(1)


async def smtp_session(n, rnd):
    a = S.args
    submission = rnd.random() < 0.2
    user_i = rnd.randrange(a.users)
    if submission:
        s = await Smtp.open(a.submission, a.src)
        await s.ehlo()
        code, text = await s.auth(f"soak{user_i}@soak.test", a.password)
        if code != 235:
            S.oops("submission AUTH refused", f"{code} {text}")
            await s.quit()
            await asyncio.sleep(1)
            return
        sender = f"soak{user_i}@soak.test"
    else:
        s = await Smtp.open(a.smtp, a.src)
        await s.ehlo()
        sender = f"sender{n}@remote.test"
    S.count["smtp sessions"] += 1
    for _ in range(rnd.randint(1, 5)):
        if S.left() <= 0:
            break
        rcpts = [f"soak{i}@soak.test" for i in rnd.sample(range(a.users), rnd.choice([1, 1, 1, 2, 3]))]
        size = int(math.exp(rnd.uniform(math.log(1024), math.log(1 << 20))))
        token = S.token(f"m{n:02d}")
        msg = make_message(rnd, token, sender, rcpts, size)
        code, text = await S.timing("SMTP message (MAIL..250)", transaction(s, sender, rcpts, msg, "smtp"))
        if code == 250:
            S.ack(token, [r.split("@")[0] for r in rcpts], queue_id(text), len(msg),
                  "submission" if submission else "smtp")
            S.count["ordinary messages acknowledged"] += 1
            S.count["ordinary octets acknowledged"] += len(msg)
        else:
            S.oops(f"{'submission' if submission else 'smtp'}: message refused", f"{code} {text}")
        await asyncio.sleep(rnd.expovariate(1 / a.smtp_pause))
    await s.quit()


# ----------------------------------------------------------------------------- IMAP
class Imap(benchlib.Imap):
    async def ok(self, command, where, timeout=IO_TIMEOUT):
        status, items = await self.cmd(command, timeout)
        if not status.startswith(b"OK"):
            S.oops(f"imap {where} not OK", f"{command!s:.80} -> {status[:200]!r}")
        return status.startswith(b"OK"), items


def exists(items):
    n = 0
    for text, _ in items:
        m = re.match(rb"\* (\d+) EXISTS", text)
        if m:
            n = int(m.group(1))
    return n


def search_hits(items):
    for text, _ in items:
        if text.startswith(b"* SEARCH"):
            return len(text.split()) - 2
        if text.startswith(b"* ESEARCH"):
            m = re.search(rb" (?:ALL|COUNT) (\S+)", text)
            return 1 if m else 0
    return 0


async def imap_session(n, rnd):
    a = S.args
    u = rnd.randrange(a.users)
    tls = rnd.random() < 0.2
    t = time.monotonic()
    s = await Imap.open(a.imaps if tls else a.imap, a.src, tls)
    good, _ = await s.ok(f"LOGIN soak{u}@soak.test {a.password}", "LOGIN")
    S.timed("IMAP connect+LOGIN" + (" (TLS)" if tls else ""), time.monotonic() - t)
    if not good:
        await s.quit()
        await asyncio.sleep(1)
        return
    S.count["imap sessions"] += 1
    if rnd.random() < 0.3:
        await s.ok("ENABLE IMAP4rev2", "ENABLE")
    for _ in range(rnd.randint(1, 6)):
        if S.left() <= 0:
            break
        good, items = await S.timing("IMAP SELECT", s.ok("SELECT INBOX", "SELECT"))
        count = exists(items)
        if count:
            lo = rnd.randint(1, count)
            await S.timing("IMAP FETCH 20 x (ENVELOPE BODYSTRUCTURE)", s.ok(
                f"FETCH {lo}:{min(count, lo + 19)} (UID FLAGS RFC822.SIZE ENVELOPE BODYSTRUCTURE)", "FETCH"))
            one = rnd.randint(1, count)
            item = "BODY[]" if rnd.random() < 0.5 else "BODY.PEEK[]"
            (good, items), took = await clock(s.ok(f"FETCH {one} {item}", "FETCH BODY[]"))
            for text, lits in items:
                if lits and b"BODY[]" in text:
                    S.timed(f"IMAP FETCH BODY[] of one ({kind_of(lits[-1])})", took)
                    check_body("imap", lits[-1])
            S.count["imap fetches"] += 2
        # a token acknowledged to this user before this command must be found
        mine = S.acked_by_user.get(f"soak{u}")
        if mine:
            token = rnd.choice(mine)
            good, items = await S.timing("IMAP SEARCH HEADER (whole INBOX)",
                                         s.ok(f'SEARCH HEADER X-Soak-Token "{token}"', "SEARCH HEADER"))
            S.count["imap searches"] += 1
            if good and search_hits(items) == 0:
                S.search_misses.append((u, token))
                S.oops("imap SEARCH HEADER missed an acknowledged message", f"soak{u} {token}")
        other = rnd.choice(["UNSEEN", "FLAGGED", "LARGER 500000", "SMALLER 4000",
                            "KEYWORD $SoakSeen", 'SUBJECT "soak m0"', "SINCE 1-Jan-2020"])
        await S.timing("IMAP UID SEARCH (other)", s.ok(f"UID SEARCH {other}", "SEARCH"))
        if count:
            one = rnd.randint(1, count)
            flags = rnd.choice([r"+FLAGS.SILENT (\Flagged)", r"-FLAGS.SILENT (\Flagged)",
                                r"+FLAGS ($SoakSeen)", r"-FLAGS (\Seen)", r"+FLAGS.SILENT (\Seen $SoakSeen)"])
            await S.timing("IMAP STORE", s.ok(f"STORE {one} {flags}", "STORE"))
            S.count["imap stores"] += 1
        if rnd.random() < 0.5:
            tag = await s.send("IDLE")
            text, _ = await s.item()
            if not text.startswith(b"+"):
                S.oops("imap IDLE refused", text[:200])
            else:
                end = time.monotonic() + rnd.uniform(1, 5)
                while time.monotonic() < end:
                    try:
                        await s.item(timeout=max(0.01, end - time.monotonic()))
                        S.count["imap IDLE updates"] += 1
                    except asyncio.TimeoutError:
                        break
                await write(s.w, b"DONE\r\n")
                status, _ = await s.done(tag)
                if not status.startswith(b"OK"):
                    S.oops("imap IDLE not OK", status[:200])
                S.count["imap idles"] += 1
        await asyncio.sleep(rnd.uniform(0, a.reader_pause))
    await s.quit()


# ----------------------------------------------------------------------------- POP3
class Pop3(Session):

    async def cmd(self, line, multi=False, timeout=IO_TIMEOUT):
        """(status line, data): for a multi-line reply the data un-stuffed, without the
        final ".", read in bulk (a line-by-line read costs the client seconds on a
        message of 200,000 lines)."""
        await write(self.w, line.encode() + b"\r\n")
        status = await readline(self.r, timeout)
        if not multi or not status.startswith(b"+OK"):
            return status.rstrip(b"\r\n"), b""
        data = await readline(self.r, timeout)
        if data == b".\r\n":
            return status.rstrip(b"\r\n"), b""
        while not data.endswith(b"\r\n.\r\n"):
            data += await asyncio.wait_for(self.r.readuntil(b".\r\n"), timeout)
        data = data[:-3].replace(b"\r\n..", b"\r\n.")
        return status.rstrip(b"\r\n"), (data[1:] if data.startswith(b"..") else data)


async def pop3_session(n, rnd):
    a = S.args
    u = rnd.randrange(a.users)
    tls = rnd.random() < 0.2
    t = time.monotonic()
    s = await Pop3.open(a.pop3s if tls else a.pop3, a.src, tls)
    st, _ = await s.cmd(f"USER soak{u}@soak.test")
    st, _ = await s.cmd(f"PASS {a.password}")
    if st.startswith(b"-ERR [IN-USE]"):
        S.count["pop3 logins refused: maildrop in use (expected)"] += 1
        await s.quit()
        await asyncio.sleep(rnd.uniform(0, 1))
        return
    if not st.startswith(b"+OK"):
        S.oops("pop3 login refused", st[:200])
        await s.quit()
        await asyncio.sleep(1)
        return
    S.timed("POP3 connect+login" + (" (TLS)" if tls else ""), time.monotonic() - t)
    S.count["pop3 sessions"] += 1
    st, _ = await S.timing("POP3 STAT", s.cmd("STAT"))
    m = re.match(rb"\+OK (\d+) (\d+)", st)
    if not m:
        S.oops("pop3 STAT", st[:200])
        await s.quit()
        return
    count = int(m.group(1))
    st, data = await S.timing("POP3 UIDL", s.cmd("UIDL", multi=True))
    if not st.startswith(b"+OK") or data.count(b"\r\n") != count:
        S.oops("pop3 UIDL", f"{st[:100]!r} {data.count(CRLF)} lines for {count} messages")
    st, data = await s.cmd("LIST", multi=True)
    if not st.startswith(b"+OK") or data.count(b"\r\n") != count:
        S.oops("pop3 LIST", f"{st[:100]!r} {data.count(CRLF)} lines for {count} messages")
    for _ in range(rnd.randint(1, 3) if count else 0):
        one = rnd.randint(1, count)
        (st, full), took = await clock(s.cmd(f"RETR {one}", multi=True))
        if not st.startswith(b"+OK"):
            S.oops("pop3 RETR", st[:200])
            continue
        S.count["pop3 retrs"] += 1
        S.timed(f"POP3 RETR ({kind_of(full)})", took)
        check_body("pop3", full)
    await s.quit()
    await asyncio.sleep(rnd.uniform(0, a.reader_pause))


# ----------------------------------------------------------------------------- hostile
DEEP = None
NESTED = None


def deep_message(token):
    global DEEP
    if DEEP is None:
        DEEP = ("".join('Content-Type: multipart/mixed; boundary="=%d"\r\n\r\n--=%d\r\n' % (i, i) for i in range(20000))
                + "Content-Type: text/plain\r\n\r\nneedle-in-the-deep\r\n").encode()
    return (f"Subject: deep multipart {token}\r\nFrom: alice@remote.test\r\nMessage-ID: <{token}@soak.test>\r\n"
            f"X-Soak-Token: {token}\r\n").encode() + DEEP


def nested_message(token):
    global NESTED
    if NESTED is None:
        NESTED = ("Content-Type: multipart/report; report-type=delivery-status; boundary=\"r\"\r\n\r\n"
                  "--r\r\nContent-Type: message/rfc822\r\n\r\nFrom: bob@soak.test\r\n"
                  + "Content-Type: message/rfc822\r\n\r\n" * 100000 + "\r\n--r--\r\n").encode()
    return (f"Subject: nested report {token}\r\nFrom: MAILER-DAEMON@remote.test\r\n"
            f"Message-ID: <{token}@soak.test>\r\nX-Soak-Token: {token}\r\n").encode() + NESTED


async def h_big(rnd, kind):
    """Deep multipart or the nested report, then FETCH of its structure and body over IMAP."""
    a = S.args
    u = rnd.randrange(a.users)
    token = S.token("h")
    msg = deep_message(token) if kind == "deep multipart (20,000 levels)" else nested_message(token)
    sender = "" if kind.startswith("nested") else "alice@remote.test"
    s = await Smtp.open(a.smtp, a.hostile_src)
    await s.ehlo()
    code, text = await S.timing(f"SMTP {kind}", transaction(s, sender, [f"soak{u}@soak.test"], msg, "hostile"))
    await s.quit()
    if code != 250:
        S.forbidden[token] = f"{kind} refused with {code}"
        return f"refused {code}"
    S.ack(token, [f"soak{u}"], queue_id(text), len(msg), kind)
    i = await Imap.open(a.imap, a.hostile_src)
    await i.ok(f"LOGIN soak{u}@soak.test {a.password}", "LOGIN")
    await i.ok("SELECT INBOX", "SELECT")
    status, items = await i.cmd(f'UID SEARCH HEADER X-Soak-Token "{token}"')
    uids = [int(x) for text, _ in items if text.startswith(b"* SEARCH") for x in text.split()[2:]]
    if not uids:
        S.oops(f"hostile {kind}: acknowledged message not found by SEARCH", token)
        await i.quit()
        return "250, not found by SEARCH"
    uid = uids[0]
    for what in ["(ENVELOPE BODYSTRUCTURE RFC822.SIZE)", "(BODY)", "BODY.PEEK[]", "BODY.PEEK[1.1.1.1]",
                 "BINARY.PEEK[1]", "BODY.PEEK[TEXT]"]:
        status, _ = await S.timing(f"IMAP FETCH {what} of {kind.split(' (')[0]}", i.cmd(f"UID FETCH {uid} {what}"))
        if not (status.startswith(b"OK") or status.startswith(b"NO")):
            S.oops(f"hostile {kind}: FETCH {what}", status[:200])
    await S.timing(f"IMAP SEARCH BODY of {kind.split(' (')[0]}", i.cmd(f"UID SEARCH UID {uid} BODY needle-in-the-deep"))
    await i.quit()
    return "250, fetched"


SMUGGLE_ENDS = [b"\n.\r\n", b"\r.\r\n", b"\n.\n", b"\r\n.\n", b"\r\n.\r"]


async def h_smuggle(rnd):
    a = S.args
    u = rnd.randrange(a.users)
    outer, inner = S.token("so"), S.token("si")
    fake = rnd.choice(SMUGGLE_ENDS)
    msg = (f"Subject: smuggle carrier {outer}\r\nX-Soak-Token: {outer}\r\n\r\nhello").encode() + fake + (
        f"MAIL FROM:<ceo@soak.test>\r\nRCPT TO:<soak{u}@soak.test>\r\nDATA\r\n"
        f"Subject: smuggled {inner}\r\nX-Soak-Token: {inner}\r\n\r\nsmuggled\r\n").encode()
    S.forbidden[inner] = f"smuggled behind {fake!r}"
    s = await Smtp.open(a.smtp, a.hostile_src)
    await s.ehlo()
    code, text = await s.cmd("MAIL FROM:<mallory@remote.test>")
    code, text = await s.cmd(f"RCPT TO:<soak{u}@soak.test>")
    code, text = await s.cmd("DATA")
    if code != 354:
        await s.quit()
        return f"DATA {code}"
    await write(s.w, msg + b"\r\n.\r\n")
    code, text = await s.reply()
    if code == 250:
        S.ack(outer, [f"soak{u}"], queue_id(text), len(msg), "smuggle carrier")
    else:
        S.forbidden[outer] = f"smuggle carrier refused with {code}"
    # nothing else may come: a second reply would mean the smuggled commands were run
    extra = b""
    try:
        extra = await asyncio.wait_for(s.r.read(4096), 0.5)
    except asyncio.TimeoutError:
        pass
    if extra:
        S.oops("smuggling: extra replies after the end of data", f"{fake!r} {extra[:200]!r}")
    ncode, ntext = await s.cmd("NOOP")
    if ncode != 250:
        S.oops("smuggling: session unusable after refusal", f"{ncode} {ntext}")
    await s.quit()
    return f"{code} {text.split(' ', 2)[1] if ' ' in text else ''}".strip()


async def bad_commands(c, proto, answer, end, err, lost, still, pipelined=False):
    """25 bad commands on c: answer(n) sends the nth (unless pipelined) and reads its
    answer: "end" when the server says it closes (then it must), else whether the answer
    is an error (err). Returns the outcome."""
    errors = 0
    try:
        for n in range(25):
            got = await answer(n)
            if got == "end":
                closed, _, _ = await until_closed(c.r, 10)
                close(c.w)
                return f"{end} after {errors} {err}{', closed' if closed else ', NOT closed'}" + (" (pipelined)" if pipelined else "")
            errors += got
    except (ConnectionError, OSError):
        close(c.w)
        return f"reset after {errors} {err} ({lost} sent before the reset is lost to it)"
    close(c.w)
    S.oops(f"hostile bad commands ({proto}): 25 {err} {still}", "")
    return f"25 {err}, still open"


async def h_bad_smtp(rnd):
    s = await Smtp.open(S.args.smtp, S.args.hostile_src)
    await s.ehlo()
    pipelined = rnd.random() < 0.5
    if pipelined:
        await write(s.w, b"".join(b"XBOGUS%d\r\n" % i for i in range(25)))

    async def answer(n):
        code, _ = (await s.reply(30)) if pipelined else (await s.cmd(f"XBOGUS{n}", 30))
        return "end" if code == 421 else code >= 400
    return await bad_commands(s, "smtp", answer, "421", "errors", "a 421", "and no 421", pipelined)


async def h_bad_imap(rnd):
    i = await Imap.open(S.args.imap, S.args.hostile_src)
    pipelined = rnd.random() < 0.5
    if pipelined:
        await write(i.w, b"".join(b"b%d BOGUS\r\n" % n for n in range(25)))

    async def answer(n):
        if not pipelined:
            await write(i.w, b"b%d BOGUS\r\n" % n)
        while True:
            text, _ = await i.item(30)
            if text.startswith(b"* BYE"):
                return "end"
            if text.startswith(b"b%d " % n):
                return b" BAD" in text[:12]
    return await bad_commands(i, "imap", answer, "BYE", "BAD", "a BYE", "and no BYE", pipelined)


async def h_bad_pop3(rnd):
    p = await Pop3.open(S.args.pop3, S.args.hostile_src)

    async def answer(n):
        st, _ = await p.cmd(f"XBOGUS{n}", timeout=30)
        return "end" if b"too many errors" in st else st.startswith(b"-ERR")
    return await bad_commands(p, "pop3", answer, "'too many errors'", "-ERR", "a last -ERR", "and still open")


async def h_list(rnd):
    a = S.args
    u = rnd.randrange(a.users)
    i = await Imap.open(a.imap, a.hostile_src)
    await i.ok(f"LOGIN soak{u}@soak.test {a.password}", "LOGIN")
    await i.cmd('CREATE "' + "a" * 60 + 'c"')   # a name full of a's and no b: worst case for backtracking
    pattern = "*a" * 25 + "*b"
    (status, _), took = await clock(i.cmd(f'LIST "" "{pattern}"', timeout=120))
    S.timed("IMAP LIST \"*a\"x25\"*b\"", took)
    await S.timing("IMAP LIST \"%a\"x25\"%b\"", i.cmd(f'LIST "" "{"%a" * 25}%b"', timeout=120))
    await i.quit()
    if took > 2:
        S.oops("hostile LIST pattern slow", f"{took:.1f}s")
    return f"{status.split(b' ')[0].decode()}{' (slow)' if took > 2 else ''}"


async def h_literal(rnd):
    a = S.args
    variant = rnd.choice(["before login {4294967296}", "APPEND {4294967296}", "APPEND {4294967296+}"])
    i = await Imap.open(a.imap, a.hostile_src)
    if variant != "before login {4294967296}":
        await i.ok(f"LOGIN soak{rnd.randrange(a.users)}@soak.test {a.password}", "LOGIN")
        cmd = b"L APPEND INBOX " + variant.split(" ", 1)[1].encode()
    else:
        cmd = b"L LOGIN " + variant.split(" ", 2)[2].encode()
    await write(i.w, cmd + b"\r\n")
    if cmd.endswith(b"+}"):
        await write(i.w, b"0123456789")
    try:
        text, _ = await i.item(30)
    except (ConnectionError, OSError):
        close(i.w)
        return f"{variant}: connection reset (closed with our octets unread; its reply lost to the reset)"
    except asyncio.TimeoutError:
        close(i.w)
        S.oops("hostile literal: no answer to a 4 GiB literal", variant)
        return "no answer"
    if text.startswith(b"+"):
        close(i.w)
        S.oops("hostile literal: server invited a 4 GiB literal", f"{variant} {text[:100]!r}")
        return "invited (+)"
    word = text.split(b" ")[1].decode(errors="replace") if b" " in text else "?"
    # is the session still usable (sync) or closed (non-sync)?
    try:
        status, _ = await i.cmd("NOOP", timeout=10)
        after = "session goes on" if status.startswith(b"OK") else f"NOOP {status[:30]!r}"
    except (ConnectionError, OSError, asyncio.TimeoutError):
        after = "closed"
    close(i.w)
    return f"{variant}: {word}, {after}"


async def h_abort(rnd):
    a = S.args
    u = rnd.randrange(a.users)
    token = S.token("ab")
    S.forbidden[token] = "client disconnected in the middle of DATA"
    msg = make_message(rnd, token, "alice@remote.test", [f"soak{u}@soak.test"], rnd.randint(2048, 1 << 19))
    s = await Smtp.open(a.smtp, a.hostile_src)
    await s.ehlo()
    await s.cmd("MAIL FROM:<alice@remote.test>")
    await s.cmd(f"RCPT TO:<soak{u}@soak.test>")
    code, _ = await s.cmd("DATA")
    if code != 354:
        close(s.w)
        return f"DATA {code}"
    cut = rnd.randint(1, len(msg) - 1)
    await write(s.w, stuff(msg)[:cut])
    await asyncio.sleep(rnd.uniform(0, 0.5))
    close(s.w, abort=rnd.random() < 0.5)
    return "disconnected"


async def h_dribble_smtp(rnd):
    """Completes a message, slowly: one octet a second for EHLO, one line every 3 s of data."""
    a = S.args
    u = rnd.randrange(a.users)
    token = S.token("dr")
    s = await Smtp.open(a.smtp, a.slow_src)
    for b in b"EHLO dribble.soak.test\r\n":
        await write(s.w, bytes([b]))
        await asyncio.sleep(1)
    code, _ = await s.reply()
    await s.cmd("MAIL FROM:<slow@remote.test>")
    await s.cmd(f"RCPT TO:<soak{u}@soak.test>")
    code, text = await s.cmd("DATA")
    if code != 354:
        await s.quit()
        return f"DATA {code}"
    body = make_message(rnd, token, "slow@remote.test", [f"soak{u}@soak.test"], 1500)
    lines = stuff(body).split(b"\r\n")[:-1]
    pace = max(0.5, (a.dribble_seconds - 25) / max(1, len(lines)))
    for line in lines:
        await write(s.w, line + b"\r\n")
        await asyncio.sleep(pace)
    await write(s.w, b".\r\n")
    code, text = await s.reply()
    await s.quit()
    if code == 250:
        S.ack(token, [f"soak{u}"], queue_id(text), len(body), "slow smtp")
        return "completed, 250"
    S.forbidden[token] = f"dribbled message refused with {code}"
    return f"completed, {code}"


async def h_dribble_line(rnd, proto):
    """IMAP or POP3 command line at one octet every 3 s: the server must cut it off
    (command_timeout, 60 s by default)."""
    a = S.args
    u = rnd.randrange(a.users)
    if proto == "imap":
        c = await Imap.open(a.imap, a.slow_src)
        line = f"a LOGIN soak{u}@soak.test {a.password}\r\n".encode()
    else:
        c = await Pop3.open(a.pop3, a.slow_src)
        line = f"USER soak{u}@soak.test\r\n".encode()
    t = time.monotonic()
    reader = asyncio.ensure_future(until_closed(c.r, a.dribble_seconds + 30))
    for b in line:
        if reader.done() or time.monotonic() - t > a.dribble_seconds:
            break
        try:
            await write(c.w, bytes([b]), timeout=10)
        except (ConnectionError, OSError, asyncio.TimeoutError):
            break
        await asyncio.sleep(3)
    closed, _, seen = await reader
    took = time.monotonic() - t
    close(c.w)
    if closed:
        said = seen.strip().split(b"\r\n")[-1][:50].decode(errors="replace") if seen.strip() else "nothing"
        return f"cut off by server after ~{5 * round(took / 5)}s ({said})"
    return "completed (not cut off)"


async def h_tls_stall(rnd):
    """Opens TLS on an implicit-TLS port and never finishes the handshake."""
    a = S.args
    name, port = rnd.choice([("imaps", a.imaps), ("pop3s", a.pop3s), ("submissions", a.submissions)])
    variant = rnd.choice(["nothing sent", "half a ClientHello", "ClientHello, then silence"])
    r, w = await connect(a.ip, port, a.slow_src)
    if variant != "nothing sent":
        inc, outb = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = tls_context().wrap_bio(inc, outb, server_hostname="soak.test")
        try:
            obj.do_handshake()
        except ssl.SSLWantReadError:
            pass
        hello = outb.read()
        await write(w, hello[: len(hello) // 2] if variant.startswith("half") else hello)
    cap = a.tls_cap
    closed, took, _ = await until_closed(r, cap)
    close(w)
    if not closed:
        S.oops("TLS handshake never finished and the server kept the connection", f"{name} {variant} > {cap}s")
        return f"{name}: still open after {cap}s"
    return f"closed by server after {5 * round(took / 5)}s (rounded)"


FAST = [  # (weight, kind, coroutine factory)
    (1, "deep multipart (20,000 levels)", lambda rnd: h_big(rnd, "deep multipart (20,000 levels)")),
    (1, "nested report (100,000 message/rfc822)", lambda rnd: h_big(rnd, "nested report (100,000 message/rfc822)")),
    (3, "smuggling (fake end of data + commands)", h_smuggle),
    (1, "25 bad commands, smtp", h_bad_smtp),
    (1, "25 bad commands, imap", h_bad_imap),
    (1, "25 bad commands, pop3", h_bad_pop3),
    (2, "LIST *a*a...*b", h_list),
    (2, "IMAP literal of 4 GiB", h_literal),
    (3, "disconnect mid-DATA", h_abort),
]
SLOW = [
    (1, "dribbling smtp (completes)", h_dribble_smtp),
    (1, "TLS handshake never finished", h_tls_stall),
    (1, "dribbling imap command", lambda rnd: h_dribble_line(rnd, "imap")),
    (1, "TLS handshake never finished", h_tls_stall),
    (1, "dribbling pop3 command", lambda rnd: h_dribble_line(rnd, "pop3")),
]


async def hostile_worker(n, table, pause, rotate=False):
    """Runs hostile sessions one after another until the deadline: picked at random by
    weight, or (rotate) each kind in turn, starting at kind n, so that a short run with a
    few workers still sees every kind."""
    rnd = random.Random(S.args.seed * 4000 + n)
    weights = [w for w, _, _ in table]
    turn = n
    while S.left() > 0:
        if rotate:
            _, kind, fn = table[turn % len(table)]
            turn += 1
        else:
            _, kind, fn = rnd.choices(table, weights)[0]
        try:
            outcome = await asyncio.wait_for(fn(rnd), S.args.dribble_seconds + 120)
        except asyncio.TimeoutError:
            outcome = "client gave up (timeout)"
            S.oops(f"hostile {kind}: no end", "timeout")
        except (ConnectionError, OSError, asyncio.IncompleteReadError, ssl.SSLError) as e:
            outcome = f"connection error {type(e).__name__}"
        except Exception as e:  # noqa
            outcome = f"driver exception {type(e).__name__}"
            S.oops(f"hostile {kind}: unexpected exception", repr(e))
        S.hostile[(kind, outcome)] += 1
        await asyncio.sleep(rnd.uniform(0, pause))


# ----------------------------------------------------------------------------- sampling
async def sampler(path):
    a = S.args
    with open(path, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["seconds", "rss_kib", "threads", "fds", "messages_acked", "hostile_sessions"])
        while True:
            t = time.monotonic() - S.t0
            if not server_alive(a.pid):
                S.dead = True
                print(f"soak: the server (pid {a.pid}) is gone at {t:.0f} s", file=sys.stderr, flush=True)
                return
            try:
                rss, threads, fds = proc_sample(a.pid)
            except (OSError, KeyError, ValueError):
                S.dead = True
                return
            S.samples.append((t, rss, threads, fds))
            out.writerow([f"{t:.0f}", rss, threads, fds, len(S.acked), sum(S.hostile.values())])
            f.flush()
            if a.progress:
                print(f"soak: {t:5.0f}s rss {rss / 1024:6.1f} MiB threads {threads:3d} fds {fds:4d} "
                      f"acked {len(S.acked):6d} hostile {sum(S.hostile.values()):5d} "
                      f"unexpected {sum(S.unexpected.values())}", file=sys.stderr, flush=True)
            if S.left() <= 0 and S.stop_sampling:
                return
            await asyncio.sleep(a.sample_every)


# ----------------------------------------------------------------------------- final checks
async def check_ports():
    """Whether every port answers: EHLO and NOOP, NOOP, CAPA."""
    a = S.args
    results = {}

    async def answers(cls, port, tls):
        c = await cls.open(port, a.src, tls)
        if cls is Smtp:
            await c.ehlo()
            code, text = await c.cmd("NOOP")
            assert code == 250, text
        else:
            st, _ = await (c.cmd("NOOP") if cls is Imap else c.cmd("CAPA", multi=True))
            assert st.startswith(b"OK" if cls is Imap else b"+OK"), st
        await c.quit()

    async def one(name, cls, port, tls=False):
        try:
            await asyncio.wait_for(answers(cls, port, tls), 30)
            results[f"{name} {port}"] = "ok"
        except Exception as e:  # noqa: anything is a failure here
            results[f"{name} {port}"] = f"FAILED {e!r}"[:200]

    await asyncio.gather(
        one("smtp", Smtp, a.smtp), one("submission", Smtp, a.submission),
        one("submission/TLS", Smtp, a.submissions, True), one("imap", Imap, a.imap),
        one("imap/TLS", Imap, a.imaps, True), one("pop3", Pop3, a.pop3), one("pop3/TLS", Pop3, a.pop3s, True))
    return results


async def mailbox_tokens(u):
    """Every X-Soak-Token in soak<u>'s INBOX (a list: duplicates show)."""
    a = S.args
    i = await Imap.open(a.imap, a.src)
    await i.ok(f"LOGIN soak{u}@soak.test {a.password}", "LOGIN (check)")
    await i.ok("EXAMINE INBOX", "EXAMINE (check)")
    status, items = await i.cmd("FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (X-Soak-Token)])", timeout=900)
    tokens = []
    for text, lits in items:
        for lit in lits:
            m = re.search(rb"(?i)X-Soak-Token:\s*(\S+)", lit)
            if m:
                tokens.append(m.group(1).decode())
    # a cross-check through SEARCH for a few of the acknowledged tokens
    misses = []
    expected = S.acked_by_user.get(f"soak{u}", [])
    for token in random.Random(u).sample(expected, min(20, len(expected))):
        status, items = await i.cmd(f'SEARCH HEADER X-Soak-Token "{token}"', timeout=300)
        if search_hits(items) == 0:
            misses.append(token)
    await i.quit()
    return tokens, misses


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(p / 100 * len(v)))]


async def main_async():
    a = S.args
    S.t0 = time.monotonic()
    S.deadline = S.t0 + a.seconds
    sample_task = asyncio.ensure_future(sampler(os.path.join(a.out, "samples.csv")))
    imap_errors = CONNECTION_ERRORS + (asyncio.IncompleteReadError,)
    tasks = [asyncio.ensure_future(c) for c in (
        [client("smtp sender", smtp_session, n, 1000) for n in range(a.smtp_clients)]
        + [client("imap client", imap_session, n, 2000, imap_errors) for n in range(a.imap_clients)]
        + [client("pop3 client", pop3_session, n, 3000) for n in range(a.pop3_clients)]
        + [hostile_worker(n, FAST, a.hostile_pause) for n in range(a.hostile_workers)]
        + [hostile_worker(n, SLOW, 1, rotate=True) for n in range(a.slow_workers)])]

    while S.left() > 0 and not S.dead:
        await asyncio.sleep(1)
    # the load stops at the deadline; sessions under way end by themselves (bounded)
    done, pending = await asyncio.wait(tasks, timeout=a.dribble_seconds + 180)
    for t in pending:
        t.cancel()
    for t in done:
        if t.exception():
            S.oops("driver task crashed", repr(t.exception()))
    load_seconds = time.monotonic() - S.t0
    S.stop_sampling = True
    await asyncio.sleep(0)
    if not S.dead:
        # one more sample after the load, then stop the sampler
        sample_task.cancel()
        try:
            S.samples.append((time.monotonic() - S.t0, *proc_sample(a.pid)))
        except OSError:
            S.dead = True
    alive = server_alive(a.pid) and not S.dead

    ports = await check_ports() if alive else {}
    found_by_user, search_miss = {}, {}
    if alive:
        for u in range(a.users):
            try:
                found_by_user[u], search_miss[u] = await mailbox_tokens(u)
            except Exception as e:  # noqa
                found_by_user[u], search_miss[u] = None, []
                S.oops("final mailbox check failed", f"soak{u} {e!r}")

    # ---- what was acknowledged and what is there
    missing, duplicates, forbidden_found, deliveries = [], [], [], 0
    for u in range(a.users):
        expected, toks = sorted(set(S.acked_by_user.get(f"soak{u}", ()))), found_by_user.get(u)
        if toks is None:
            missing += [(f"soak{u}", t) for t in expected]
            continue
        have = collections.Counter(toks)
        deliveries += len(expected)
        missing += [(f"soak{u}", t) for t in expected if t not in have]
        duplicates += [(f"soak{u}", t, c) for t, c in have.items() if c > 1]
        forbidden_found += [(f"soak{u}", t, S.forbidden[t]) for t in have if t in S.forbidden]
    found = deliveries - len(missing)

    with open(os.path.join(a.out, "acked.tsv"), "w") as f:
        f.write("token\tqueue_id\tusers\tsize\thow\n")
        for token, (users, qid, size, how) in S.acked.items():
            f.write(f"{token}\t{qid}\t{','.join(users)}\t{size}\t{how}\n")

    # ---- summary
    out = []
    p = out.append
    p("=" * 78)
    p(f"estafeta soak: {load_seconds:.0f} s of load (asked {a.seconds} s), {a.users} users, "
      f"{a.smtp_clients} SMTP + {a.imap_clients} IMAP + {a.pop3_clients} POP3 clients, "
      f"{a.hostile_workers} hostile + {a.slow_workers} slow hostile workers")
    p(f"messages acknowledged (250): {len(S.acked)} "
      f"({S.count['ordinary messages acknowledged']} ordinary, "
      f"{S.count['ordinary octets acknowledged'] / 2**20:.0f} MiB; the rest hostile or slow), "
      f"{deliveries} mailbox deliveries expected")
    p(f"messages found in the mailboxes: {found} of {deliveries}; missing {len(missing)}; "
      f"duplicated {len(duplicates)}; forbidden ones stored {len(forbidden_found)}")
    p(f"bodies checked against their SHA-256: {S.count['imap bodies verified']} over IMAP, "
      f"{S.count['pop3 bodies verified']} over POP3; corrupt {len(S.corrupt)}")
    p(f"searches for acknowledged tokens that found nothing: during the run {len(S.search_misses)}, "
      f"at the end {sum(len(v) for v in search_miss.values())}")
    p(f"hostile sessions run: {sum(S.hostile.values())}")
    for (kind, outcome), c in sorted(S.hostile.items()):
        p(f"  {c:5d}  {kind}: {outcome}")
    p("activity: " + ", ".join(f"{k} {v}" for k, v in sorted(S.count.items())
                               if k not in ("ordinary octets acknowledged",)))
    if S.samples:
        rss = [s[1] for s in S.samples]
        fds = [s[3] for s in S.samples]
        thr = [s[2] for s in S.samples]
        p(f"server RSS MiB: first {rss[0] / 1024:.1f}, min {min(rss) / 1024:.1f}, max {max(rss) / 1024:.1f}, "
          f"last {rss[-1] / 1024:.1f} ({len(rss)} samples every {a.sample_every:g} s)")
        p(f"server fds: first {fds[0]}, max {max(fds)}, last {fds[-1]}; threads: first {thr[0]}, "
          f"max {max(thr)}, last {thr[-1]}")
        warm = [s for s in S.samples if a.warmup <= s[0] <= a.seconds]
        after = [s for s in S.samples if s[0] > a.seconds]
        if after:
            p(f"server RSS after the load ended (sessions winding down, then idle): "
              f"{after[0][1] / 1024:.1f} MiB at {after[0][0]:.0f} s, {after[-1][1] / 1024:.1f} MiB at {after[-1][0]:.0f} s")
        q = len(warm) // 4
        if q >= 1:
            first = statistics.median(s[1] for s in warm[:q])
            last = statistics.median(s[1] for s in warm[-q:])
            growth = (last - first) / first * 100
            verdict = "flat" if growth <= a.rss_tolerance else "GREW"
            p(f"RSS during the load, after {a.warmup:g} s of warm-up: first-quarter median {first / 1024:.1f} MiB, "
              f"last-quarter median {last / 1024:.1f} MiB: {growth:+.1f}% -> {verdict} "
              f"(tolerance {a.rss_tolerance:g}%)")
        else:
            p("RSS flatness: too few samples after warm-up to judge")
    p("latency (s): op  count  p50  p95  max")
    for op, v in sorted(S.lat.items()):
        p(f"  {op:62} {len(v):6d} {pct(v, 50):7.3f} {pct(v, 95):7.3f} {max(v):7.3f}")
    p("ports after the run: " + (", ".join(f"{k} {v}" for k, v in ports.items()) if ports else "not checked (server gone)"))
    if S.unexpected:
        p("unexpected replies or failures (not the documented refusals):")
        for where, c in sorted(S.unexpected.items()):
            p(f"  {c:5d}  {where}")
            for sample in S.unexpected_samples[where]:
                p(f"           e.g. {sample}")
    failures = []
    if not alive:
        failures.append("the server died")
    if any(v != "ok" for v in ports.values()):
        failures.append("a port did not answer")
    if missing:
        failures.append(f"{len(missing)} acknowledged deliveries missing, e.g. "
                        + ", ".join(f"{u}:{t} (queue id {S.acked[t][1]})" for u, t in missing[:5]))
    if forbidden_found:
        failures.append(f"{len(forbidden_found)} messages stored that must not be, e.g. "
                        + ", ".join(f"{u}:{t} ({why})" for u, t, why in forbidden_found[:5]))
    if S.corrupt:
        failures.append(f"{len(S.corrupt)} bodies corrupt, e.g. {S.corrupt[:5]}")
    if duplicates:
        p(f"note: {len(duplicates)} tokens stored more than once, e.g. {duplicates[:5]}")
    p("RESULT: " + ("PASS" if not failures else "FAIL: " + "; ".join(failures)))
    p(f"files: {a.out}/samples.csv (RSS, threads, fds), {a.out}/acked.tsv (token, queue id)")
    text = "\n".join(out)
    print(text, flush=True)
    with open(os.path.join(a.out, "summary.txt"), "w") as f:
        f.write(text + "\n")
    return 1 if failures else 0


def main():
    global S
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    # the knobs bench/soak.sh does not use itself come from its environment variables
    ap.add_argument("--ip", required=True)
    for port in ["smtp", "submission", "submissions", "imap", "imaps", "pop3", "pop3s"]:
        ap.add_argument(f"--{port}", type=int, required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seconds", type=float, default=1800)
    ap.add_argument("--users", type=int, default=6)
    ap.add_argument("--password", default="secret")
    ap.add_argument("--src", default="127.0.0.41", help="source address of the ordinary clients")
    ap.add_argument("--hostile-src", default="127.0.0.42")
    ap.add_argument("--slow-src", default="127.0.0.43")
    ap.add_argument("--smtp-clients", type=int, default=4)
    ap.add_argument("--imap-clients", type=int, default=env("IMAP_CLIENTS", "4"))
    ap.add_argument("--pop3-clients", type=int, default=env("POP3_CLIENTS", "2"))
    ap.add_argument("--hostile-workers", type=int, default=env("HOSTILE_WORKERS", "2"))
    ap.add_argument("--slow-workers", type=int, default=env("SLOW_WORKERS", "3"))
    ap.add_argument("--smtp-pause", type=float, default=env("SMTP_PAUSE", "0.5"), help="mean pause between messages of one sender")
    ap.add_argument("--reader-pause", type=float, default=1.0)
    ap.add_argument("--hostile-pause", type=float, default=2.0)
    ap.add_argument("--dribble-seconds", type=float, default=90)
    ap.add_argument("--tls-cap", type=float, default=45, help="how long a stalled TLS handshake may stay open")
    ap.add_argument("--sample-every", type=float, default=env("SAMPLE_SECONDS", "10"))
    ap.add_argument("--warmup", type=float, default=None)
    ap.add_argument("--rss-tolerance", type=float, default=env("RSS_TOLERANCE", "20"), help="percent")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--progress", action="store_true", default=env("PROGRESS", "1") == "1")
    a = ap.parse_args()
    if a.warmup is None:
        a.warmup = min(300, a.seconds / 10)
    S = State(a)
    Session.ip = a.ip
    random.seed(a.seed)
    sys.exit(asyncio.run(main_async()))


if __name__ == "__main__":
    main()
