//! `sendmail`, `mailq` and `newaliases` as applications call them: the binary under those
//! names (symlinks) and `estafeta sendmail`, handing messages to a running server.

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use common::{BIN, Env, Server, one_line_stderr};

/// A server with bob, ann and carol of example.com, loopback trusted (the default), and a
/// small message size limit.
fn server(env: &Env) -> (Server, std::path::PathBuf) {
    let config = env.write_config(
        "hostname = \"mail.test\"\n[smtp]\nmax_message_size = 20000\n[trust]\nchecks = false\n\
         [[listener]]\naddress = \"127.0.0.1\"\nport = 0\nprotocol = \"smtp\"\ntls = \"starttls\"\n",
    );
    let c = config.to_str().expect("utf-8");
    env.ok(&["-c", c, "domain", "add", "example.com"], "");
    for user in ["bob", "ann", "carol"] {
        env.ok(
            &[
                "-c",
                c,
                "user",
                "add",
                &format!("{user}@example.com"),
                "--password-stdin",
            ],
            "pw\n",
        );
    }
    let server = Server::start(env, &config);
    (server, config)
}

/// Runs `program` (this binary, or a symlink to it) with `args` and `stdin`.
fn run(
    env: &Env,
    program: &std::path::Path,
    config: &std::path::Path,
    args: &[&str],
    stdin: &[u8],
) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .current_dir(env.dir.path())
        .env("ESTAFETA_CONFIG", config)
        .env("ESTAFETA_DATA_DIR", env.data_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("write");
    child.wait_with_output().expect("wait")
}

fn symlink(env: &Env, name: &str) -> std::path::PathBuf {
    let link = env.dir.path().join(name);
    std::os::unix::fs::symlink(BIN, &link).expect("symlink");
    link
}

fn inbox(env: &Env, user: &str) -> Vec<String> {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let store = estafeta_store::open(&estafeta_store::StoreOptions {
            backend: estafeta_store::Backend::Sqlite {
                path: env.data_dir().join("estafeta.db"),
            },
            max_connections: 2,
        })
        .await
        .expect("store");
        estafeta_testkit::inbox(&*store, user)
            .await
            .into_iter()
            .map(|m| String::from_utf8_lossy(&m).into_owned())
            .collect()
    })
}

#[test]
fn php_style_sendmail_t_i_takes_recipients_from_the_header_and_drops_bcc() {
    let env = Env::new();
    let (mut server, config) = server(&env);
    let bin = std::path::Path::new(BIN);
    // PHP's mail(): sendmail -t -i, LF line ends, recipients only in the header
    let message = b"To: bob@example.com\nCc: \"Ann\" <ann@example.com>\nBcc: carol@example.com\n\
        Subject: order 42\n\n.a line that starts with a dot\n.\nafter the lone dot\n";
    let out = run(&env, bin, &config, &["sendmail", "-t", "-i"], message);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // the same through a symlink named sendmail, with -f and a recipient argument
    let link = symlink(&env, "sendmail");
    let out = run(
        &env,
        &link,
        &config,
        &["-f", "bounce@example.com", "-F", "Shop", "bob@example.com"],
        b"Subject: plain\n\nhello\n.\nnot sent\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // -bs: an SMTP session on standard input and output
    let session = b"EHLO cron.test\r\nMAIL FROM:<cron@mail.test>\r\nRCPT TO:<ann@example.com>\r\nDATA\r\nSubject: from cron\r\n\r\nnightly\r\n.\r\nQUIT\r\n";
    let out = run(&env, &link, &config, &["-bs"], session);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.contains("250 2.0.0 Ok: queued as") && said.contains("221"),
        "{said}"
    );
    // mailq and newaliases
    let mailq = run(&env, &symlink(&env, "mailq"), &config, &[], b"");
    assert!(mailq.status.success());
    assert_eq!(String::from_utf8_lossy(&mailq.stdout), "queue is empty\n");
    let newaliases = run(&env, &symlink(&env, "newaliases"), &config, &[], b"");
    assert!(
        newaliases.status.success()
            && String::from_utf8_lossy(&newaliases.stdout).contains("nothing to rebuild")
    );
    server.signal(libc::SIGTERM);
    assert_eq!(server.child.wait().expect("wait").code(), Some(0));

    let bob = inbox(&env, "bob@example.com");
    let ann = inbox(&env, "ann@example.com");
    let carol = inbox(&env, "carol@example.com");
    assert_eq!(
        (bob.len(), ann.len(), carol.len()),
        (2, 2, 1),
        "{bob:?} {ann:?} {carol:?}"
    );
    let order = &carol[0];
    assert!(
        order.contains("Subject: order 42\r\n") && !order.contains("Bcc"),
        "{order}"
    );
    assert!(
        order.contains("\r\n.a line that starts with a dot\r\n.\r\nafter the lone dot\r\n"),
        "{order}"
    );
    assert!(
        order.contains("\r\nDate: ")
            && order.contains("\r\nMessage-ID: <")
            && order.contains("From: root@mail.test\r\n"),
        "{order}"
    );
    assert!(
        order.starts_with("Return-Path: <root@mail.test>"),
        "{order}"
    );
    let plain = bob
        .iter()
        .find(|m| m.contains("Subject: plain"))
        .expect("plain");
    assert!(
        plain.starts_with("Return-Path: <bounce@example.com>"),
        "{plain}"
    );
    assert!(
        plain.contains("From: \"Shop\" <bounce@example.com>\r\n"),
        "{plain}"
    );
    assert!(
        plain.ends_with("\r\nhello\r\n") && !plain.contains("not sent"),
        "a lone dot ends it without -i: {plain}"
    );
    assert!(
        ann.iter().any(|m| m.contains("Subject: from cron")),
        "{ann:?}"
    );
}

#[test]
fn sendmail_says_what_is_wrong_with_sysexits_codes() {
    let env = Env::new();
    let (mut server, config) = server(&env);
    let bin = std::path::Path::new(BIN);
    let code = |out: &Output| out.status.code();
    // usage: unknown option, no recipients
    let out = run(&env, bin, &config, &["sendmail", "-k"], b"");
    assert_eq!(code(&out), Some(64));
    assert!(one_line_stderr(&out).contains("-k: unknown option"));
    let out = run(&env, bin, &config, &["sendmail"], b"Subject: x\n\nbody\n");
    assert_eq!(code(&out), Some(64));
    assert!(one_line_stderr(&out).contains("no recipients"));
    // too large: nothing sent
    let big = format!("Subject: big\n\n{}\n", "x".repeat(30_000));
    let out = run(
        &env,
        bin,
        &config,
        &["sendmail", "bob@example.com"],
        big.as_bytes(),
    );
    assert_eq!(code(&out), Some(65));
    assert!(one_line_stderr(&out).contains("larger than smtp.max_message_size"));
    // a recipient the server refuses
    let out = run(
        &env,
        bin,
        &config,
        &["sendmail", "nobody@example.com"],
        b"Subject: x\n\nbody\n",
    );
    assert_eq!(
        code(&out),
        Some(67),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // a sender that is not an address
    let out = run(
        &env,
        bin,
        &config,
        &["sendmail", "-f", "a b@x", "bob@example.com"],
        b"x\n",
    );
    assert_eq!(code(&out), Some(64));
    server.signal(libc::SIGTERM);
    assert_eq!(server.child.wait().expect("wait").code(), Some(0));
    // the server stopped: the message goes into the store, local copies at once and
    // mail for other servers queued for when it starts
    let out = run(
        &env,
        bin,
        &config,
        &["sendmail", "bob@example.com", "far@elsewhere.test"],
        b"Subject: while down\n\nbody\n",
    );
    assert_eq!(
        code(&out),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = one_line_stderr(&out);
    assert!(
        said.contains("estafeta serve is not running: queued as"),
        "{said}"
    );
    let bob = inbox(&env, "bob@example.com");
    assert_eq!(bob.len(), 1);
    assert!(
        bob[0].contains("Received: from local user") && bob[0].contains("Subject: while down"),
        "{}",
        bob[0]
    );
    let queue = run(&env, bin, &config, &["queue", "list"], b"");
    assert!(
        String::from_utf8_lossy(&queue.stdout).contains("far@elsewhere.test"),
        "{queue:?}"
    );
    // unknown here: refused by name; -bs needs the server
    let out = run(
        &env,
        bin,
        &config,
        &["sendmail", "nobody@example.com"],
        b"Subject: x\n\nbody\n",
    );
    assert_eq!(code(&out), Some(67));
    let out = run(&env, bin, &config, &["sendmail", "-bs"], b"QUIT\r\n");
    assert_eq!(code(&out), Some(75));
    assert!(one_line_stderr(&out).contains("-bs needs it"));
}
