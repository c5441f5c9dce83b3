//! Hostile input over real sockets: whatever a client sends, the server answers within
//! its bounds, keeps its memory, and goes on serving other connections. Every wait on
//! the server is a tokio timeout of several seconds whose expiry is the failure.

mod common;

use std::time::Duration;

use common::{Client, Harness};

/// Generous: the failure condition, never a synchronisation.
const PROMPTLY: Duration = Duration::from_secs(10);

async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(PROMPTLY, f)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within {PROMPTLY:?}"))
}

async fn logged_in(h: &Harness) -> Client {
    let mut c = Client::tls(h.imaps).await;
    assert!(c.line().await.starts_with("* OK"));
    let r = c.run("l", "LOGIN bob@example.com secret").await;
    assert!(r.starts_with("l OK"), "{r}");
    c
}

/// A new connection is greeted and answers NOOP: the server is still serving.
async fn still_serving(h: &Harness) {
    within("a new connection", async {
        let mut c = Client::plain(h.imap).await;
        assert!(c.line().await.starts_with("* OK"));
        assert!(c.run("n", "NOOP").await.starts_with("n OK"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_patterns_are_matched_in_linear_time() {
    let h = Harness::start().await;
    let mut c = logged_in(&h).await;
    let long = "a".repeat(200);
    let r = c.run("c", &format!("CREATE {long}")).await;
    assert!(r.starts_with("c OK"), "{r}");
    // `*a*a…*a*b`, 25 wildcards: a backtracking matcher spends minutes on the 200 a's
    let hostile = format!("{}*b", "*a".repeat(24));
    let r = within("LIST", c.run("l1", &format!("LIST \"\" \"{hostile}\""))).await;
    assert!(r.ends_with("l1 OK LIST completed\r\n"), "{r}");
    assert!(!r.contains(&long), "no b, no match: {r}");
    let r = within("LSUB", c.run("l2", &format!("LSUB \"\" \"{hostile}\""))).await;
    assert!(r.ends_with("l2 OK LSUB completed\r\n"), "{r}");
    let percent = format!("{}%b", "%a".repeat(24));
    let r = within("LIST %", c.run("l3", &format!("LIST \"\" \"{percent}\""))).await;
    assert!(r.ends_with("l3 OK LIST completed\r\n"), "{r}");
    assert!(!r.contains(&long), "{r}");
    // the same shape that does match
    let matching = format!("{}*", "*a".repeat(24));
    let r = within("LIST", c.run("l4", &format!("LIST \"\" \"{matching}\""))).await;
    assert!(
        r.contains(&format!("* LIST (\\HasNoChildren) \"/\" \"{long}\"\r\n")),
        "{r}"
    );
    // several patterns, and the reference in front of each
    let r = c
        .run("l5", &format!("LIST \"a\" (\"{}\" \"%\")", "*a".repeat(10)))
        .await;
    assert!(r.contains(&format!("\"{long}\"")), "{r}");
    // longer than the bound: refused with the reason, nothing matched
    let r = c
        .run("l6", &format!("LIST \"\" \"{}\"", "*a".repeat(513)))
        .await;
    assert_eq!(
        r,
        "l6 BAD LIST patterns longer than 1024 octets in all (reference included)\r\n"
    );
    let patterns = vec!["\"%\""; 600].join(" ");
    let r = c.run("l7", &format!("LIST \"x\" ({patterns})")).await;
    assert!(r.starts_with("l7 BAD"), "{r}");
    let r = c.run("l8", "LIST \"\" %").await;
    assert!(r.contains("\"INBOX\""), "{r}");
    still_serving(&h).await;
}
