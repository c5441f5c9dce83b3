//! The server started from a configuration as `estafeta serve` starts it, over real
//! sockets: every protocol on its listener, one failed-login throttle for all of them
//! (here from the `smtp.auth_*` keys under their old names), and a stop that closes the
//! listeners.

use base64::Engine;
use estafeta_config::{Config, Protocol};
use estafeta_net::testing::LineClient;
use estafeta_server::Server;
use estafeta_store::NewUser;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_throttle_for_every_protocol_and_a_clean_stop() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut toml = format!(
        "hostname = \"mail.test\"\ndata_dir = {:?}\n\
         [auth]\nallow_plaintext_on_loopback = true\n\
         [smtp]\ntrusted_networks = []\nauth_max_failures = 2\n\
         auth_max_failures_per_address = 2\nauth_failure_delay_ms = 1\n\
         [delivery]\ndns_servers = [\"127.0.0.1:53\"]\n",
        dir.path().display().to_string()
    );
    for protocol in ["submission", "imap", "pop3"] {
        toml.push_str(&format!(
            "[[listener]]\naddress = \"127.0.0.1\"\nport = 0\nprotocol = \"{protocol}\"\ntls = \"none\"\n"
        ));
    }
    let config = Config::from_toml(&toml, "test").expect("config");
    assert_eq!(config.renamed.len(), 3, "the old names are noticed");
    let store = estafeta_testkit::sqlite_store(dir.path()).await;
    store.add_domain("example.com").await.expect("domain");
    store
        .add_user(NewUser {
            address: "bob@example.com".into(),
            password: "secret".into(),
            quota_bytes: 0,
            pop3_keep: true,
        })
        .await
        .expect("user");

    let server = Server::bind(&config)
        .await
        .expect("bind")
        .start(store)
        .await
        .expect("start");
    let protocols: Vec<Protocol> = server.listeners().iter().map(|(l, _)| l.protocol).collect();
    assert_eq!(
        protocols,
        [Protocol::Submission, Protocol::Imap, Protocol::Pop3]
    );
    let [submission, imap, pop3] = server.addresses()[..] else {
        panic!("three listeners")
    };

    // one wrong password over IMAP, one over POP3…
    let mut i = LineClient::plain(imap).await;
    assert!(i.line().await.starts_with("* OK"));
    let r = i.run("a", "LOGIN bob@example.com wrong").await;
    assert_eq!(
        r,
        "a NO [AUTHENTICATIONFAILED] invalid user name or password\r\n"
    );
    let mut p = LineClient::plain(pop3).await;
    assert!(p.line().await.starts_with("+OK"));
    assert!(p.cmd("USER bob@example.com").await.starts_with("+OK"));
    assert_eq!(
        p.cmd("PASS wrong").await,
        "-ERR [AUTH] invalid user name or password\r\n"
    );
    // …and the client is blocked everywhere, SMTP AUTH too, even with the password
    let mut s = LineClient::plain(submission).await;
    assert!(s.smtp_reply().await.starts_with("220 mail.test"));
    s.send("EHLO client.test\r\n").await;
    assert!(s.smtp_reply().await.contains("AUTH PLAIN"));
    let token = base64::engine::general_purpose::STANDARD.encode("\0bob@example.com\0secret");
    s.send(&format!("AUTH PLAIN {token}\r\n")).await;
    assert_eq!(
        s.smtp_reply().await,
        "454 4.7.0 Too many failed authentication attempts, try again later\r\n"
    );
    let r = i.run("b", "LOGIN bob@example.com secret").await;
    assert_eq!(
        r,
        "b NO [UNAVAILABLE] too many failed logins from your address, try again later\r\n"
    );

    // stopping tells the SMTP session and closes every listener
    let stopping = tokio::spawn(server.stop());
    assert_eq!(
        s.smtp_reply().await,
        "421 4.3.2 mail.test Service shutting down\r\n"
    );
    stopping.await.expect("stopped");
    for addr in [submission, imap, pop3] {
        assert!(
            tokio::net::TcpStream::connect(addr).await.is_err(),
            "{addr} still accepts"
        );
    }
}
