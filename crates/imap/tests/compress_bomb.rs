//! A decompression bomb over COMPRESS=DEFLATE (RFC 4978), over a real TLS socket: 128
//! MiB inflated from under 200 KiB cost the server no more memory than its bounds allow,
//! and the session goes on. Alone in its test binary, since it measures the process's
//! peak memory (the server runs in it) and another test's logins (argon2, 19 MiB each)
//! would blur that.

mod common;

use common::Harness;
use common::deflate::script;

/// The peak resident memory of this process (the server runs in it), in KiB.
fn peak_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decompression_bomb_costs_no_memory() {
    let h = Harness::start().await;
    // a first login runs argon2 (its 19 MiB in the peak already); the script's login is
    // then answered from the cache of successful checks
    drop(h.logged_in("bob@example.com").await);
    let before = peak_kib();
    // 128 MiB in a line (under 200 KiB compressed), then a literal of 4 GiB the
    // APPENDLIMIT does not allow: both bounded as if they came uncompressed
    let out = script(&format!(
        r#"
c = C({port}, True)
c.line()
expect("l OK" in c.run("l", "LOGIN bob@example.com secret"), "login")
expect(c.run("c", "COMPRESS DEFLATE").startswith("c OK"), "compress")
c.compress()
block = b"x" * (1 << 20)
wire = 0
for data in [b"a NOOP "] + [block] * 128:
    out = c.z.compress(data)
    wire += len(out)
    c.s.sendall(out)
expect(wire < 200 * 1024, "the bomb is small: %d" % wire)
c.send_raw(b"\r\nb NOOP\r\n")
r = c.tagged("b")
expect("* BAD line too long" in r and "b OK" in r, r)
r = c.run("t", "APPEND INBOX {{4294967296}}")
expect(r.startswith("t NO [TOOBIG]"), r)
r = c.run("n", "NOOP")
expect("n OK" in r, r)
"#,
        port = h.imaps.port()
    ))
    .await;
    let grew = peak_kib().saturating_sub(before);
    assert!(grew < 32 * 1024, "peak grew by {grew} KiB\n{out}");
}
