//! The IMAP server driven by a real IMAP client library, async-imap, over implicit TLS:
//! mail delivered over SMTP read back byte-identical, flags seen across sessions, IDLE
//! woken by a delivery, COPY/MOVE, SEARCH, APPEND and STATUS as a client program uses them.

mod common;

use std::time::Duration;

use async_imap::extensions::idle::IdleResponse;
use async_imap::imap_proto::{MailboxDatum, Response};
use common::Harness;
use futures::TryStreamExt;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

type Session = async_imap::Session<TlsStream<TcpStream>>;

async fn login(h: &Harness, user: &str) -> Session {
    let tcp = TcpStream::connect(h.imaps).await.expect("connect");
    let tls = estafeta_net::testing::insecure_tls_connector()
        .connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await
        .expect("TLS");
    let mut client = async_imap::Client::new(tls);
    client
        .read_response()
        .await
        .expect("greeting")
        .expect("greeting present");
    client
        .login(user, "secret")
        .await
        .map_err(|(e, _)| e)
        .expect("login")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_imap_reads_and_changes_mail() {
    let h = Harness::start().await;
    h.deliver("bob@example.com", "first").await;
    let stored = h.inbox("bob@example.com").await.remove(0);

    let mut a = login(&h, "bob@example.com").await;
    let inbox = a.select("INBOX").await.expect("select");
    assert_eq!(inbox.exists, 1);
    assert!(inbox.uid_validity.is_some());
    let fetched: Vec<_> = a
        .fetch("1", "(UID FLAGS BODY.PEEK[])")
        .await
        .expect("fetch")
        .try_collect()
        .await
        .expect("fetch responses");
    assert_eq!(fetched.len(), 1);
    assert_eq!(fetched[0].uid, Some(1));
    assert_eq!(fetched[0].body(), Some(&stored[..]), "byte-identical");

    // flags set by one session are what another session fetches
    let mut b = login(&h, "bob@example.com").await;
    b.select("INBOX").await.expect("select");
    let _: Vec<_> = a
        .store("1", "+FLAGS (\\Flagged)")
        .await
        .expect("store")
        .try_collect()
        .await
        .expect("store responses");
    let seen: Vec<_> = b
        .fetch("1", "FLAGS")
        .await
        .expect("fetch")
        .try_collect()
        .await
        .expect("flags");
    let flags: Vec<String> = seen[0].flags().map(|f| format!("{f:?}")).collect();
    assert!(flags.iter().any(|f| f.contains("Flagged")), "{flags:?}");

    // SEARCH, COPY and MOVE with UIDPLUS, STATUS
    let hits = a.uid_search("SUBJECT first").await.expect("search");
    assert_eq!(hits.into_iter().collect::<Vec<_>>(), vec![1]);
    a.uid_copy("1", "Archive").await.expect("copy");
    a.uid_mv("1", "Trash").await.expect("move");
    let status = a.status("Archive", "(MESSAGES)").await.expect("status");
    assert_eq!(status.exists, 1);
    let status = a.status("Trash", "(MESSAGES)").await.expect("status");
    assert_eq!(status.exists, 1);
    let now = a.select("INBOX").await.expect("select");
    assert_eq!(now.exists, 0);

    // APPEND with a flag, then found by SEARCH
    a.append(
        "Drafts",
        Some("(\\Draft)"),
        None,
        "Subject: draft\r\n\r\nnot yet\r\n",
    )
    .await
    .expect("append");
    a.select("Drafts").await.expect("select");
    let drafts = a.search("DRAFT").await.expect("search");
    assert_eq!(drafts.len(), 1);
    a.logout().await.expect("logout");
    b.logout().await.expect("logout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_imap_idle_wakes_on_delivery() {
    let h = Harness::start().await;
    let mut s = login(&h, "bob@example.com").await;
    s.select("INBOX").await.expect("select");
    let mut idle = s.idle();
    idle.init().await.expect("IDLE");
    let (wait, _stop) = idle.wait_with_timeout(Duration::from_secs(20));
    let deliver = async {
        h.deliver("bob@example.com", "wake up").await;
    };
    let (response, ()) = tokio::join!(wait, deliver);
    match response.expect("idle") {
        IdleResponse::NewData(data) => match data.parsed() {
            Response::MailboxData(MailboxDatum::Exists(n)) => assert_eq!(*n, 1),
            other => panic!("expected EXISTS, got {other:?}"),
        },
        other => panic!("IDLE ended without news: {other:?}"),
    }
    let mut s = idle.done().await.expect("DONE");
    s.logout().await.expect("logout");
}
