"""Reads FETCH responses off an IMAP connection and turns ENVELOPE, BODY and
BODYSTRUCTURE into plain values (lists, strings, numbers, None), so that two servers'
answers compare by meaning: a quoted string and a literal with the same bytes are equal.
Used by dovecot-golden.sh (to record Dovecot's answers) and by tests/corpus.rs (to
compare estafeta's answers with them)."""

import json
import re
import socket
import ssl


class Conn:
    def __init__(self, host, port, use_tls=False):
        sock = socket.create_connection((host, port), timeout=30)
        if use_tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            sock = ctx.wrap_socket(sock)
        self.f = sock.makefile("rwb")
        self.response()  # greeting

    def line(self):
        """One response line with its literals inlined as (literal, bytes) markers."""
        out = b""
        while True:
            raw = self.f.readline()
            if not raw:
                raise SystemExit("connection closed")
            out += raw
            m = re.search(rb"~?\{(\d+)\+?\}\r\n$", raw)
            if not m:
                return out
            out += self.f.read(int(m.group(1)))

    def response(self, tag=None):
        lines = []
        while True:
            l = self.line()
            lines.append(l)
            if tag is None or l.startswith(tag.encode() + b" "):
                return lines

    def run(self, tag, command):
        self.f.write(f"{tag} {command}\r\n".encode())
        self.f.flush()
        lines = self.response(tag)
        if not lines[-1].startswith(f"{tag} OK".encode()):
            raise SystemExit(f"{command}: {lines[-1]!r}")
        return lines[:-1]

    def append(self, tag, mailbox, data):
        self.f.write(f"{tag} APPEND {mailbox} {{{len(data)}+}}\r\n".encode() + data + b"\r\n")
        self.f.flush()
        last = self.response(tag)[-1]
        if not last.startswith(f"{tag} OK".encode()):
            raise SystemExit(f"APPEND: {last!r}")


def parse(data, i=0):
    """Parses one value at data[i:]; returns (value, next index)."""
    while data[i:i + 1] == b" ":
        i += 1
    c = data[i:i + 1]
    if c == b"(":
        items, i = [], i + 1
        while True:
            while data[i:i + 1] == b" ":
                i += 1
            if data[i:i + 1] == b")":
                return items, i + 1
            v, i = parse(data, i)
            items.append(v)
    if c == b'"':
        out, i = bytearray(), i + 1
        while data[i:i + 1] != b'"':
            if data[i:i + 1] == b"\\":
                i += 1
            out += data[i:i + 1]
            i += 1
        return bytes(out).decode("utf-8", "replace"), i + 1
    m = re.match(rb"~?\{(\d+)\+?\}\r\n", data[i:])
    if m:
        start = i + m.end()
        n = int(m.group(1))
        return data[start:start + n].decode("utf-8", "replace"), start + n
    m = re.match(rb"[^ ()\[\]\r\n]+(\[[^\]]*\](<\d+>)?)?", data[i:])
    atom = m.group(0).decode()
    i += m.end()
    if atom.upper() == "NIL":
        return None, i
    if atom.isdigit():
        return int(atom), i
    return "#" + atom, i


def fetch_items(line):
    """`* n FETCH (A a B b ...)` as {A: a, B: b}."""
    at = line.index(b"FETCH ") + len(b"FETCH ")
    values, _ = parse(line, at)
    return {values[k][1:].upper(): values[k + 1] for k in range(0, len(values), 2)}


def canonical(value):
    return json.loads(json.dumps(value))


def _lower(v):
    return v.lower() if isinstance(v, str) else v


def _params(p):
    """Parameter names are case-insensitive (RFC 2045 §5.1), and so is a charset."""
    if not isinstance(p, list):
        return p
    out = []
    for k in range(0, len(p) - 1, 2):
        name = _lower(p[k])
        out += [name, _lower(p[k + 1]) if name == "charset" else p[k + 1]]
    return out


def _disposition(d):
    return [_lower(d[0]), _params(d[1])] if isinstance(d, list) and len(d) == 2 else d


def body(b):
    """A BODY or BODYSTRUCTURE with the case-insensitive parts (MIME type, subtype,
    parameter names, charset, transfer encoding, disposition type) in lower case;
    everything else is compared exactly."""
    if not isinstance(b, list) or not b:
        return b
    if isinstance(b[0], list):  # multipart: parts..., subtype, extension data
        n = next(i for i, v in enumerate(b) if not isinstance(v, list))
        out = [body(p) for p in b[:n]] + [_lower(b[n])]
        ext = b[n + 1:]
        if ext:
            out.append(_params(ext[0]))
        if len(ext) > 1:
            out.append(_disposition(ext[1]))
        out += ext[2:]
        return out
    out = [_lower(b[0]), _lower(b[1]), _params(b[2]), b[3], b[4], _lower(b[5]), b[6]]
    rest = b[7:]
    if out[0] == "message" and out[1] == "rfc822" and len(rest) >= 3:
        out += [rest[0], body(rest[1]), rest[2]]
        rest = rest[3:]
    elif out[0] == "text" and rest:
        out.append(rest[0])
        rest = rest[1:]
    # extension data: MD5, disposition, language, location
    if rest:
        out.append(rest[0])
    if len(rest) > 1:
        out.append(_disposition(rest[1]))
    out += rest[2:]
    return out


def normalized(answer):
    return {
        "ENVELOPE": answer["ENVELOPE"],
        "BODY": body(answer["BODY"]),
        "BODYSTRUCTURE": body(answer["BODYSTRUCTURE"]),
    }


def fetch_structures(conn, count):
    answers = {}
    for line in conn.run("f", f"FETCH 1:{count} (ENVELOPE BODY BODYSTRUCTURE)"):
        if b" FETCH " in line:
            seq = int(line.split(b" ")[1])
            items = fetch_items(line)
            answers[seq] = {k: canonical(items[k]) for k in ("ENVELOPE", "BODY", "BODYSTRUCTURE")}
    return answers
