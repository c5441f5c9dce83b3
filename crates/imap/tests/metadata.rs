//! METADATA and METADATA-SERVER (RFC 5464) end to end over TLS with the raw client:
//! server and mailbox entries, private and shared apart, DEPTH and MAXSIZE, NIL removes,
//! the read-only `/shared/admin`, the bounds (a value one octet over, one entry too
//! many), hostile entry names, and entries following RENAME and going with DELETE.

mod common;

use common::Harness;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_of_the_server_and_of_mailboxes() {
    let h = Harness::start().await;
    let mut c = h.logged_in("bob@example.com").await;
    let r = c.run("k", "CAPABILITY").await;
    assert!(
        r.contains(" METADATA ") && r.contains(" METADATA-SERVER"),
        "{r}"
    );

    let r = c
        .run(
            "s",
            "SETMETADATA \"\" (/private/comment \"mine\" /shared/comment \"ours\")",
        )
        .await;
    assert!(r.starts_with("s OK"), "{r}");
    let r = c.run("g", "GETMETADATA \"\" /private/comment").await;
    assert!(
        r.contains("* METADATA \"\" (\"/private/comment\" \"mine\")"),
        "{r}"
    );
    let r = c
        .run("g", "GETMETADATA (DEPTH infinity) \"\" (/private /shared)")
        .await;
    assert!(r.contains("\"/shared/comment\" \"ours\""), "{r}");
    assert!(r.contains("\"/shared/admin\" \"mailto:postmaster@"), "{r}");
    let r = c
        .run("g", "GETMETADATA (MAXSIZE 3) \"\" /shared/comment")
        .await;
    assert!(r.contains("g OK [METADATA LONGENTRIES 4]"), "{r}");
    assert!(!r.contains("* METADATA"), "{r}");
    let r = c.run("a", "SETMETADATA \"\" (/shared/admin \"me\")").await;
    assert!(r.starts_with("a NO"), "{r}");

    // a mailbox's entries, binary in a literal; case-insensitive names; NIL removes
    let r = c.run("c", "CREATE Work").await;
    assert!(r.starts_with("c OK"), "{r}");
    c.send("s SETMETADATA Work (/private/Comment {3+}\r\nx\ny)\r\n")
        .await;
    let r = c.until_tagged("s").await;
    assert!(r.starts_with("s OK"), "{r}");
    let r = c.run("g", "GETMETADATA Work /PRIVATE/comment").await;
    assert!(
        r.contains("* METADATA \"Work\" (\"/private/comment\" {3}\r\nx\ny)"),
        "{r}"
    );
    let r = c
        .run("g", "GETMETADATA Work (/private/comment/deeper)")
        .await;
    assert!(!r.contains("* METADATA"), "{r}");
    // RENAME keeps them; DELETE drops them
    assert!(c.run("r", "RENAME Work Job").await.starts_with("r OK"));
    let r = c.run("g", "GETMETADATA Job /private/comment").await;
    assert!(r.contains("* METADATA \"Job\""), "{r}");
    let r = c.run("n", "SETMETADATA Job (/private/comment NIL)").await;
    assert!(r.starts_with("n OK"), "{r}");
    let r = c.run("g", "GETMETADATA Job /private/comment").await;
    assert!(!r.contains("* METADATA"), "{r}");
    c.run("s", "SETMETADATA Job (/private/comment \"x\")").await;
    assert!(c.run("d", "DELETE Job").await.starts_with("d OK"));
    assert!(c.run("c", "CREATE Job").await.starts_with("c OK"));
    let r = c.run("g", "GETMETADATA Job /private/comment").await;
    assert!(!r.contains("* METADATA"), "{r}");
    let r = c.run("g", "GETMETADATA Nope /private/comment").await;
    assert!(r.starts_with("g NO [NONEXISTENT]"), "{r}");

    // another user sees none of bob's entries
    let mut a = h.logged_in("ann@example.com").await;
    let r = a.run("g", "GETMETADATA \"\" /private/comment").await;
    assert!(!r.contains("* METADATA") && r.contains("g OK"), "{r}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bounds_and_hostile_names() {
    let h = Harness::start().await;
    let mut c = h.logged_in("bob@example.com").await;
    // a value of 64 KiB is taken, one octet more is not
    for (size, ok) in [(64 * 1024, true), (64 * 1024 + 1, false)] {
        c.send(&format!("v SETMETADATA \"\" (/private/big {{{size}+}}\r\n"))
            .await;
        c.send_bytes(&vec![b'x'; size]).await;
        c.send(")\r\n").await;
        let r = c.until_tagged("v").await;
        if ok {
            assert!(r.starts_with("v OK"), "{r}");
        } else {
            assert!(r.starts_with("v NO [METADATA MAXSIZE 65536]"), "{r}");
        }
    }
    // 100 entries per target (/private/big is one), the 101st refused whole
    let items: Vec<String> = (1..100).map(|i| format!("/private/e{i} \"{i}\"")).collect();
    let r = c
        .run("m", &format!("SETMETADATA \"\" ({})", items.join(" ")))
        .await;
    assert!(r.starts_with("m OK"), "{r}");
    let r = c
        .run(
            "m",
            "SETMETADATA \"\" (/private/e1 \"changed\" /private/one-more \"x\")",
        )
        .await;
    assert!(r.starts_with("m NO [METADATA TOOMANY]"), "{r}");
    let r = c.run("g", "GETMETADATA \"\" /private/e1").await;
    assert!(r.contains("\"/private/e1\" \"1\""), "nothing kept: {r}");
    // replacing and removing within the bound is fine
    let r = c
        .run(
            "m",
            "SETMETADATA \"\" (/private/e1 NIL /private/one-more \"x\")",
        )
        .await;
    assert!(r.starts_with("m OK"), "{r}");

    for name in [
        "/private/*",
        "/private/a%",
        "/private//a",
        "/private/a/",
        "/other/a",
        "private/a",
        "/private",
        "\"/private/a b\"",
        "\"/private/\u{e9}\"",
    ] {
        let r = c
            .run("h", &format!("SETMETADATA \"\" ({name} \"v\")"))
            .await;
        assert!(r.starts_with("h BAD"), "{name}: {r}");
    }
    let long = format!("/private/{}", "a".repeat(300));
    let r = c
        .run("h", &format!("SETMETADATA \"\" ({long} \"v\")"))
        .await;
    assert!(r.starts_with("h BAD"), "{r}");
    let r = c.run("h", "GETMETADATA (DEPTH 2) \"\" /private").await;
    assert!(r.starts_with("h BAD"), "{r}");
    let r = c.run("h", "GETMETADATA \"\" /private/*").await;
    assert!(r.starts_with("h BAD"), "{r}");
    // before login: not allowed
    let mut anon = common::Client::tls(h.imaps).await;
    anon.line().await;
    let r = anon.run("x", "GETMETADATA \"\" /private/comment").await;
    assert!(r.starts_with("x BAD"), "{r}");
}
