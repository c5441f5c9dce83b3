//! COMPRESS=DEFLATE (RFC 4978) end to end over real sockets, plaintext and implicit TLS:
//! a Python client (raw socket, `zlib` with `wbits=-15`) logs in, compresses, selects,
//! fetches a body, idles and hears a delivery; the refusals (before login, twice, an
//! unknown mechanism, input pipelined behind COMPRESS); corrupt compressed data. (The
//! decompression bomb is `compress_bomb.rs`, a test binary of its own, since it measures
//! the process's peak memory.) Every wait in the scripts is a socket timeout whose
//! expiry is the failure.

mod common;

use common::Harness;
use common::deflate::script;

/// LOGIN, COMPRESS, SELECT, FETCH a body, IDLE hearing a delivery made meanwhile, NOOP,
/// LOGOUT: all of it compressed after COMPRESS's OK.
async fn a_session(h: &Harness, port: u16, tls: bool) {
    h.deliver("bob@example.com", "compressed hello").await;
    let out = script(&format!(
        r#"
c = C({port}, {tls})
expect(c.line().startswith("* OK"), "greeting")
r = c.run("l", "LOGIN bob@example.com secret")
expect("l OK" in r, r)
r = c.run("k", "CAPABILITY")
expect(" COMPRESS=DEFLATE" in r, r)
r = c.run("c", "COMPRESS DEFLATE")
expect(r.startswith("c OK"), r)
c.compress()
r = c.run("k", "CAPABILITY")
expect("k OK" in r and "COMPRESS=DEFLATE" not in r, r)
r = c.run("s", "SELECT INBOX")
expect("* 1 EXISTS" in r and "s OK" in r, r)
r = c.run("f", "FETCH 1 BODY[]")
expect("Subject: compressed hello" in r and ". a dot line" in r and "f OK" in r, r)
r = c.run("f", "FETCH 1:* (FLAGS UID)")
expect("\\Seen" in r, r)
c.send("i IDLE")
expect(c.line().startswith("+ "), "idling")
smtp = smtplib.SMTP("127.0.0.1", {smtp})
smtp.sendmail("someone@outside.test", ["bob@example.com"], b"Subject: while idling\r\n\r\nhi\r\n")
smtp.quit()
r = c.line()
while "EXISTS" not in r:
    r = c.line()
expect(r.startswith("* 2 EXISTS"), r)
c.send("DONE")
r = c.tagged("i")
expect("i OK" in r, r)
r = c.run("n", "NOOP")
expect("n OK" in r, r)
r = c.run("o", "LOGOUT")
expect("* BYE" in r and "o OK" in r, r)
expect(c.wire_in < c.plain_in, "compressed: %d octets for %d" % (c.wire_in, c.plain_in))
print("ratio", c.wire_in, c.plain_in)
"#,
        smtp = h.smtp.port(),
        tls = if tls { "True" } else { "False" },
    ))
    .await;
    assert!(out.contains("ratio"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compressed_session_over_plaintext() {
    let h = Harness::start_with(|c| c.auth.allow_plaintext_on_loopback = true).await;
    a_session(&h, h.imap.port(), false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compressed_session_over_tls() {
    let h = Harness::start().await;
    a_session(&h, h.imaps.port(), true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compress_is_refused_where_the_rfc_says() {
    let h = Harness::start().await;
    script(&format!(
        r#"
c = C({port}, True)
c.line()
r = c.run("a", "COMPRESS DEFLATE")
expect(r.startswith("a BAD"), "before login: " + r)
r = c.run("l", "LOGIN bob@example.com secret")
expect("l OK" in r, r)
r = c.run("b", "COMPRESS GZIP")
expect(r.startswith("b BAD"), "unknown mechanism: " + r)
r = c.run("b", "COMPRESS")
expect(r.startswith("b BAD"), "no mechanism: " + r)
# pipelined behind COMPRESS in plaintext: refused, and the rest answered in plaintext
c.send_raw(b"p COMPRESS DEFLATE\r\nq NOOP\r\n")
r = c.tagged("p")
expect(r.startswith("p BAD"), "pipelined: " + r)
r = c.tagged("q")
expect("q OK" in r, r)
r = c.run("c", "compress deflate")
expect(r.startswith("c OK"), r)
c.compress()
r = c.run("d", "COMPRESS DEFLATE")
expect(r.startswith("d NO [COMPRESSIONACTIVE]"), "twice: " + r)
r = c.run("n", "NOOP")
expect("n OK" in r, r)
"#,
        port = h.imaps.port()
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_deflate_data_ends_the_connection_cleanly() {
    let h = Harness::start().await;
    script(&format!(
        r#"
for garbage in [b"\xff" * 64, b"a NOOP\r\n"]:
    c = C({port}, True)
    c.line()
    expect("l OK" in c.run("l", "LOGIN bob@example.com secret"), "login")
    expect(c.run("c", "COMPRESS DEFLATE").startswith("c OK"), "compress")
    c.s.sendall(garbage)
    expect(c.closed(), "closed")
c = C({port}, True)
expect(c.line().startswith("* OK"), "still serving")
expect("n OK" in c.run("n", "NOOP"), "noop")
"#,
        port = h.imaps.port()
    ))
    .await;
}
