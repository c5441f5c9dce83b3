//! `estafeta serve` as a process: start-up, listeners, the CLI beside a running server,
//! clean stop on SIGTERM/SIGINT, SIGKILL without loss, and start-up failures.

mod common;

use std::io::Read;
use std::net::{TcpListener, TcpStream};

use common::{Env, Server, loopback_config, one_line_stderr};

#[test]
fn serves_listeners_and_stops_cleanly_on_sigterm() {
    let env = Env::new();
    let config = env.write_config(&loopback_config());
    let mut server = Server::start(&env, &config);
    let protocols: Vec<&str> = server.listeners.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(protocols, vec!["smtp", "submission", "imap", "pop3"]);
    assert!(
        server
            .listeners
            .iter()
            .all(|(_, a)| a.ip().is_loopback() && a.port() != 0)
    );
    // SMTP and IMAP answer
    let mut smtp = TcpStream::connect(server.address("smtp")).unwrap();
    let mut first = [0u8; 64];
    let n = smtp.read(&mut first).unwrap();
    assert!(
        first[..n].starts_with(b"220 mail.test ESMTP"),
        "{:?}",
        String::from_utf8_lossy(&first[..n])
    );
    drop(smtp);
    let mut imap = TcpStream::connect(server.address("imap")).unwrap();
    let n = imap.read(&mut first).unwrap();
    assert!(
        first[..n].starts_with(b"* OK [CAPABILITY IMAP4rev2 IMAP4rev1"),
        "{:?}",
        String::from_utf8_lossy(&first[..n])
    );
    drop(imap);
    // the self-signed certificate was generated and kept
    assert!(env.data_dir().join("tls/self-signed.crt").exists());

    // the CLI works on the same data while the server runs
    env.ok(&["domain", "add", "example.com"], "");
    env.ok(
        &["user", "add", "bob@example.com", "--password-stdin"],
        "pw\n",
    );

    // a session open at stop time is told so
    let open = TcpStream::connect(server.address("smtp")).unwrap();
    let mut open = std::io::BufReader::new(open);
    let mut line = String::new();
    std::io::BufRead::read_line(&mut open, &mut line).unwrap();
    assert!(line.starts_with("220 "), "{line}");

    server.signal(libc::SIGTERM);
    line.clear();
    std::io::BufRead::read_line(&mut open, &mut line).unwrap();
    assert_eq!(line, "421 4.3.2 mail.test Service shutting down\r\n");
    server.wait_for_log("stopped");
    let status = server.child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(
        TcpStream::connect(server.address("smtp")).is_err(),
        "listener closed"
    );
}

#[test]
fn sigint_also_stops_cleanly() {
    let env = Env::new();
    let config = env.write_config(&loopback_config());
    let mut server = Server::start(&env, &config);
    server.signal(libc::SIGINT);
    assert_eq!(server.child.wait().unwrap().code(), Some(0));
}

/// A throttle key under its old `[smtp]` name still starts the server, with a warning
/// that names the new key.
#[test]
fn an_old_key_name_is_warned_about_at_start() {
    let env = Env::new();
    let text = loopback_config().replace(
        "[smtp]\ntrusted_networks = []\n",
        "[smtp]\ntrusted_networks = []\nauth_block_time = 60\n",
    );
    let config = env.write_config(&text);
    let mut server = Server::start(&env, &config);
    let warning = server
        .startup
        .iter()
        .find(|l| l.contains("WARN") && l.contains("smtp.auth_block_time"))
        .unwrap_or_else(|| panic!("no warning in {:#?}", server.startup));
    assert!(
        warning.contains("smtp.auth_block_time is the old name of auth.block_time"),
        "{warning}"
    );
    server.signal(libc::SIGTERM);
    assert_eq!(server.child.wait().unwrap().code(), Some(0));
}

#[test]
fn sigkill_loses_nothing_committed_and_restart_needs_no_repair() {
    let env = Env::new();
    let config = env.write_config(&loopback_config());
    let mut server = Server::start(&env, &config);
    env.ok(&["domain", "add", "example.com"], "");
    for i in 0..5 {
        env.ok(
            &[
                "user",
                "add",
                &format!("u{i}@example.com"),
                "--password-stdin",
            ],
            "pw\n",
        );
    }
    server.signal(libc::SIGKILL);
    server.child.wait().unwrap();

    let mut again = Server::start(&env, &config);
    let users = env.ok(&["user", "list"], "");
    assert_eq!(users.lines().count(), 5, "{users}");
    // and it still takes writes
    env.ok(
        &["user", "add", "u5@example.com", "--password-stdin"],
        "pw\n",
    );
    again.signal(libc::SIGTERM);
    assert_eq!(again.child.wait().unwrap().code(), Some(0));
}

#[test]
fn port_in_use_fails_start_with_one_line() {
    let env = Env::new();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let config = env.write_config(&format!(
        "[[listener]]\naddress = \"127.0.0.1\"\nport = {port}\nprotocol = \"smtp\"\ntls = \"starttls\"\n"
    ));
    let out = env.run(&["--config", config.to_str().unwrap(), "serve"], "");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.trim_end().lines().last().unwrap_or("");
    assert!(
        last.starts_with(&format!(
            "error: cannot listen on 127.0.0.1:{port} (smtp, tls starttls): address already in use"
        )),
        "{stderr}"
    );
    assert!(
        last.contains("another port in the [[listener]] table"),
        "{last}"
    );
}

#[test]
fn mismatched_certificate_fails_start_clearly() {
    let env = Env::new();
    // two self-signed pairs, then the certificate of one with the key of the other
    let a = Env::new();
    let b = Env::new();
    for e in [&a, &b] {
        let c = e.write_config(&loopback_config());
        let mut s = Server::start(e, &c);
        s.signal(libc::SIGTERM);
        s.child.wait().unwrap();
    }
    let config = env.write_config(&format!(
        "{}[tls]\ncertificate = \"{}\"\nprivate_key = \"{}\"\n",
        loopback_config(),
        a.data_dir().join("tls/self-signed.crt").display(),
        b.data_dir().join("tls/self-signed.key").display()
    ));
    let out = env.run(&["--config", config.to_str().unwrap(), "serve"], "");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.trim_end().lines().last().unwrap_or("");
    assert!(
        last.starts_with("error: tls.private_key: the key in"),
        "{stderr}"
    );
    assert!(
        last.contains("does not belong to the certificate"),
        "{last}"
    );
    let _ = one_line_stderr;
}
