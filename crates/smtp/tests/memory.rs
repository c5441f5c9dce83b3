//! The server does not keep what a client sends beyond its limits: measured as this
//! process's peak memory, so this test has a process of its own (other tests running
//! beside it would add their own allocations to the peak).

mod common;

use common::{Client, Harness, good_message, nothing_pending, reply_within, still_serving};

/// The process's peak resident memory, in KiB (Linux).
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

/// 100 MiB without a line end: read and dropped as it comes, then `500 5.5.2` when the
/// line ends; the session goes on. The server runs in this process, so its peak memory
/// would grow by 100 MiB if it kept the line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_mib_line_is_dropped_not_buffered() {
    let h = Harness::start().await;
    let (mut c, _) = Client::connect(h.mx).await;
    c.cmd("EHLO big.test").await;
    let before = peak_rss_kib();
    let chunk = vec![b'a'; 1 << 20];
    for _ in 0..100 {
        c.send_bytes(&chunk).await;
    }
    c.send("\r\n").await;
    assert_eq!(
        reply_within(&mut c).await,
        "500 5.5.2 Error: line too long\r\n"
    );
    let grown = peak_rss_kib().saturating_sub(before);
    assert!(grown < 48 * 1024, "peak memory grew by {grown} KiB");
    nothing_pending(&mut c, "after the long line").await;
    let r = good_message(&mut c, "bob@example.com", "after 100 MiB").await;
    assert!(r.starts_with("250"), "{r}");
    still_serving(h.mx).await;
}
