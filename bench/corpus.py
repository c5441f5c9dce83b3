#!/usr/bin/env python3
"""The mailbox the read benchmarks share (bench/imap.sh, bench/jmap.sh): N generated
messages (plain and multipart, 1-40 KiB, encoded words, several recipients, one in five
with an attachment), the same every run (seeded), each sent to estafeta over SMTP and
written into a Dovecot Maildir.
    corpus.py MAILDIR-CUR N SMTP-IP SMTP-PORT
"""
import os, random, smtplib, sys, email.utils
out, n, ip, port = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
rnd = random.Random(42)
names = ["Ana Pérez", "Bob Stone", "=?utf-8?q?Jos=C3=A9_Mart=C3=ADnez?=", "Chen Wei", "\"Doe, Jane\""]
words = "invoice meeting report holiday budget release draft photo contract review".split()
with smtplib.SMTP(ip, port) as s:
    for i in range(n):
        frm = f"{rnd.choice(names)} <sender{i % 97}@example.org>"
        tos = ", ".join(f"user{j}@bench.test" for j in range(rnd.randint(1, 4)))
        subject = " ".join(rnd.choice(words) for _ in range(rnd.randint(2, 7)))
        date = email.utils.formatdate(1_700_000_000 + i * 60)
        body = "\r\n".join(" ".join(rnd.choice(words) for _ in range(12)) for _ in range(rnd.randint(2, 80)))
        head = f"From: {frm}\r\nTo: {tos}\r\nSubject: {subject}\r\nDate: {date}\r\nMessage-ID: <m{i}@example.org>\r\nMIME-Version: 1.0\r\n"
        if i % 5 == 0:
            att = "\r\n".join(["QUJD" * 19] * 16)
            msg = (head + "Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
                   + body + "\r\n--b\r\nContent-Type: application/pdf; name=\"a.pdf\"\r\nContent-Transfer-Encoding: base64\r\n"
                   + "Content-Disposition: attachment; filename=\"a.pdf\"\r\n\r\n" + att + "\r\n--b--\r\n")
        else:
            msg = head + "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body + "\r\n"
        msg = msg.encode()
        with open(os.path.join(out, f"{1700000000 + i}.M{i}P1.bench,S={len(msg)}:2,"), "wb") as f:
            f.write(msg)
        s.sendmail("sender@example.org", ["u@bench.test"], msg)
