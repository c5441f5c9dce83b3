//! The command line, end to end: configuration checks, directory management, and the
//! errors a person meets, each one clear line with a non-zero exit code.

mod common;

use common::{Env, one_line_stderr};

#[test]
fn example_config_passes_check() {
    let env = Env::new();
    let example = env.ok(&["config", "example"], "");
    let path = env.write_config(&example);
    let out = env.ok(&["config", "check", path.to_str().unwrap()], "");
    assert!(out.trim_end().ends_with(": ok"), "{out}");
}

#[test]
fn config_check_names_the_new_name_of_an_old_key() {
    let env = Env::new();
    let path = env.write_config("[smtp]\nauth_max_failures = 3\n");
    let out = env.run(&["config", "check", path.to_str().unwrap()], "");
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .trim_end()
            .ends_with(": ok")
    );
    assert_eq!(
        one_line_stderr(&out),
        "warning: smtp.auth_max_failures is the old name of auth.max_failures: it still works, but rename it in the configuration file"
    );
    let path = env.write_config("[auth]\nmax_failures = 3\n");
    let out = env.run(&["config", "check", path.to_str().unwrap()], "");
    assert!(out.status.success());
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn bad_config_is_one_line_and_exit_2() {
    let env = Env::new();
    let path =
        env.write_config("[[listener]]\nport = 70000\nprotocol = \"smtp\"\ntls = \"none\"\n");
    let out = env.run(&["config", "check", path.to_str().unwrap()], "");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        one_line_stderr(&out),
        "config error: listener[0].port = 70000: expected a port number from 0 to 65535"
    );
    // the same file given to the server is refused the same way
    let out = env.run(&["--config", path.to_str().unwrap(), "serve"], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(one_line_stderr(&out).starts_with("config error: listener[0].port = 70000"));

    let out = env.run(&["config", "check", "/nonexistent/estafeta.toml"], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        one_line_stderr(&out).starts_with("config error: cannot read /nonexistent/estafeta.toml")
    );

    let path = env.write_config("[storage]\nengine = \"postgres\"\n");
    let out = env.run(&["--config", path.to_str().unwrap(), "domain", "list"], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(one_line_stderr(&out).starts_with("config error: storage.url = (missing):"));
}

#[test]
fn directory_management_round_trip() {
    let env = Env::new();
    assert_eq!(
        env.ok(&["domain", "add", "Example.com"], ""),
        "domain example.com added\n"
    );
    env.ok(
        &["user", "add", "bob@example.com", "--password-stdin"],
        "s3cret pass\n",
    );
    env.ok(
        &[
            "user",
            "add",
            "ann@example.com",
            "--password-stdin",
            "--quota",
            "1G",
            "--pop3-delete",
        ],
        "pw\n",
    );
    let users = env.ok(&["user", "list"], "");
    assert_eq!(
        users,
        "ann@example.com  quota 1G  pop3 deletes on download\nbob@example.com  no quota  pop3 keeps mail\n"
    );
    env.ok(
        &[
            "alias",
            "add",
            "team@example.com",
            "bob@example.com",
            "ann@example.com",
        ],
        "",
    );
    env.ok(&["alias", "add", "@example.com", "bob@example.com"], "");
    let aliases = env.ok(&["alias", "list", "example.com"], "");
    assert!(
        aliases.contains("team@example.com → ann@example.com\n"),
        "{aliases}"
    );
    assert!(
        aliases.contains("@example.com → bob@example.com  (catch-all)\n"),
        "{aliases}"
    );
    env.ok(
        &["user", "passwd", "bob@example.com", "--password-stdin"],
        "new pass\n",
    );
    env.ok(&["user", "set", "bob@example.com", "--quota", "500M"], "");
    assert!(
        env.ok(&["user", "list", "example.com"], "")
            .contains("bob@example.com  quota 500M")
    );
    assert_eq!(
        env.ok(&["user", "set", "bob@example.com", "--admin"], ""),
        "bob@example.com  quota 500M  pop3 keeps mail  administrator\n"
    );
    assert_eq!(
        env.ok(&["user", "set", "bob@example.com", "--no-admin"], ""),
        "bob@example.com  quota 500M  pop3 keeps mail\n"
    );
    assert_eq!(
        env.ok(
            &[
                "user",
                "add",
                "boss@example.com",
                "--admin",
                "--password-stdin"
            ],
            "pw\n"
        ),
        "user boss@example.com added (administrator)\n"
    );
    env.ok(&["user", "remove", "boss@example.com"], "");
    assert_eq!(env.ok(&["queue", "list"], ""), "queue is empty\n");
    env.ok(&["alias", "remove", "team@example.com"], "");
    env.ok(&["alias", "remove", "@example.com"], "");
    env.ok(&["user", "remove", "bob@example.com"], "");
    env.ok(&["user", "remove", "ann@example.com"], "");
    env.ok(&["domain", "remove", "example.com"], "");
    assert_eq!(env.ok(&["domain", "list"], ""), "no domains\n");
}

#[test]
fn duplicate_user_and_unknown_domain_are_clear() {
    let env = Env::new();
    env.ok(&["domain", "add", "example.com"], "");
    env.ok(
        &["user", "add", "bob@example.com", "--password-stdin"],
        "pw\n",
    );
    let out = env.run(
        &["user", "add", "bob@example.com", "--password-stdin"],
        "pw\n",
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        one_line_stderr(&out),
        "error: user bob@example.com already exists"
    );

    let out = env.run(
        &["user", "add", "ann@example.org", "--password-stdin"],
        "pw\n",
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        one_line_stderr(&out),
        "error: domain example.org is not served here: add it with `estafeta domain add example.org`"
    );

    let out = env.run(
        &["user", "add", "not-an-address", "--password-stdin"],
        "pw\n",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(one_line_stderr(&out).contains("is not a mail address"));

    // no terminal and no --password-stdin: say how to give the password
    let out = env.run(&["user", "add", "carl@example.com"], "");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        one_line_stderr(&out),
        "error: no terminal to ask for the password: pipe it in with --password-stdin"
    );

    let out = env.run(&["domain", "remove", "example.com"], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(one_line_stderr(&out).contains("still has 1 user(s)"));

    let out = env.run(&["domain", "add", "example.com"], "");
    assert_eq!(
        one_line_stderr(&out),
        "error: domain example.com already exists"
    );
}

#[test]
fn password_is_not_accepted_on_the_command_line() {
    let env = Env::new();
    let out = env.run(&["user", "add", "bob@example.com", "--password", "x"], "");
    assert_eq!(out.status.code(), Some(2), "clap refuses an unknown flag");
}

#[test]
fn unwritable_data_dir_is_reported() {
    let env = Env::new();
    let data = env.data_dir();
    std::fs::create_dir_all(&data).unwrap();
    let mut cmd = env.command(&["domain", "list"]);
    if unsafe { libc::geteuid() } == 0 {
        // root ignores permissions: run the command as nobody against a root-only directory
        use std::os::unix::fs::PermissionsExt;
        use std::os::unix::process::CommandExt;
        std::fs::set_permissions(env.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
        // a copy of the binary nobody can run, wherever the checkout lives
        let copy = env.dir.path().join("estafeta");
        std::fs::copy(common::BIN, &copy).unwrap();
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
        cmd = std::process::Command::new(&copy);
        cmd.args(["domain", "list"])
            .current_dir(env.dir.path())
            .env("ESTAFETA_DATA_DIR", &data)
            .env_remove("ESTAFETA_CONFIG")
            .env_remove("ESTAFETA_LOG")
            .uid(65534)
            .gid(65534);
    } else {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o555)).unwrap();
    }
    let out = cmd.output().expect("run");
    assert_eq!(out.status.code(), Some(1));
    let line = one_line_stderr(&out);
    assert!(
        line.starts_with(&format!(
            "error: the data directory {} is not writable: permission denied",
            data.display()
        )),
        "{line}"
    );
    assert!(line.contains("--data-dir"), "{line}");

    // a path through a file
    let file = env.dir.path().join("plain-file");
    std::fs::write(&file, "x").unwrap();
    let out = env
        .command(&[
            "--data-dir",
            file.join("data").to_str().unwrap(),
            "domain",
            "list",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(one_line_stderr(&out).starts_with("error: cannot create the data directory"));
}

/// The CLI and the server on PostgreSQL (when `ESTAFETA_TEST_POSTGRES` is set): the same
/// commands work, the server starts on it, and the CLI works beside the running server.
#[test]
fn cli_and_server_on_postgres() {
    let Some(db) = common::PgDatabase::create("estafeta_cli") else {
        return;
    };

    let env = Env::new();
    let config = env.write_config(&format!(
        "{}{}",
        common::loopback_config(),
        db.storage_config()
    ));
    let c = config.to_str().unwrap();
    env.ok(&["-c", c, "domain", "add", "example.com"], "");
    env.ok(
        &[
            "-c",
            c,
            "user",
            "add",
            "bob@example.com",
            "--password-stdin",
        ],
        "pw\n",
    );
    let mut server = common::Server::start(&env, &config);
    env.ok(
        &[
            "-c",
            c,
            "user",
            "add",
            "ann@example.com",
            "--password-stdin",
        ],
        "pw\n",
    );
    let out = env.run(
        &[
            "-c",
            c,
            "user",
            "add",
            "ann@example.com",
            "--password-stdin",
        ],
        "pw\n",
    );
    assert_eq!(
        one_line_stderr(&out),
        "error: user ann@example.com already exists"
    );
    assert_eq!(env.ok(&["-c", c, "user", "list"], "").lines().count(), 2);
    assert!(
        !env.data_dir().join("estafeta.db").exists(),
        "nothing written to SQLite"
    );
    server.signal(libc::SIGTERM);
    assert_eq!(server.child.wait().unwrap().code(), Some(0));
}

#[test]
fn suppression_list_round_trip() {
    let env = Env::new();
    env.ok(&["domain", "add", "example.com"], "");
    assert_eq!(
        env.ok(&["suppression", "list"], ""),
        "no suppressed addresses\n"
    );
    env.ok(
        &[
            "suppression",
            "add",
            "Gone@Remote.example",
            "--domain",
            "example.com",
            "--reason",
            "5.1.1 user unknown",
        ],
        "",
    );
    let list = env.ok(&["suppression", "list", "--domain", "example.com"], "");
    assert!(
        list.starts_with("example.com  gone@remote.example  5.1.1 user unknown  (listed only)"),
        "{list}"
    );
    let on = env.ok(&["suppression", "enforce", "example.com", "on"], "");
    assert!(on.contains("refused"), "{on}");
    assert!(env.ok(&["suppression", "list"], "").contains("(refused)"));
    env.ok(
        &[
            "suppression",
            "remove",
            "gone@remote.example",
            "--domain",
            "example.com",
        ],
        "",
    );
    let out = env.run(
        &[
            "suppression",
            "remove",
            "gone@remote.example",
            "--domain",
            "example.com",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        one_line_stderr(&out),
        "error: gone@remote.example is not on the suppression list of example.com"
    );
    let out = env.run(&["suppression", "enforce", "nowhere.example", "on"], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(one_line_stderr(&out).contains("domain nowhere.example does not exist"));
    let out = env.run(&["suppression", "enforce", "example.com", "maybe"], "");
    assert_eq!(out.status.code(), Some(2), "clap's usage error");
}

#[test]
fn dkim_keys_round_trip() {
    let env = Env::new();
    env.ok(&["domain", "add", "example.com"], "");
    assert!(env.ok(&["dkim", "list"], "").starts_with("no DKIM keys"));
    let made = env.ok(&["dkim", "generate", "example.com"], "");
    // one RSA and one Ed25519 key, each with the record to publish
    assert!(
        made.contains("example.com: new rsa key, selector rsa-"),
        "{made}"
    );
    assert!(
        made.contains("example.com: new ed25519 key, selector ed25519-"),
        "{made}"
    );
    assert!(
        made.contains("._domainkey.example.com. IN TXT ( \"v=DKIM1; k=rsa; p=MII"),
        "{made}"
    );
    assert!(made.contains("\"v=DKIM1; k=ed25519; p="), "{made}");
    let one = env.ok(
        &[
            "dkim",
            "generate",
            "example.com",
            "--selector",
            "s1",
            "--algorithm",
            "ed25519",
        ],
        "",
    );
    assert!(
        one.contains("selector s1\n  s1._domainkey.example.com. IN TXT"),
        "{one}"
    );
    let list = env.ok(&["dkim", "list", "example.com"], "");
    assert_eq!(list.matches("  signing  since ").count(), 3, "{list}");
    let rotated = env.ok(&["dkim", "rotate", "example.com"], "");
    assert_eq!(
        rotated
            .matches(" retired; keep its record published")
            .count(),
        3,
        "{rotated}"
    );
    assert_eq!(
        rotated.matches(": new ").count(),
        2,
        "one key per kind: {rotated}"
    );
    let list = env.ok(&["dkim", "list"], "");
    assert_eq!(list.matches("  retired  since ").count(), 3, "{list}");
    assert_eq!(list.matches("  signing  since ").count(), 2, "{list}");
    assert!(
        env.ok(&["dkim", "remove", "example.com", "s1"], "")
            .contains("removed")
    );

    // what is wrong, in one line, and how to fix it
    let out = env.run(&["dkim", "remove", "example.com", "s1"], "");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        one_line_stderr(&out),
        "error: example.com has no DKIM key with selector s1"
    );
    let out = env.run(&["dkim", "generate", "nowhere.example"], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(one_line_stderr(&out).contains("estafeta domain add nowhere.example"));
    let out = env.run(
        &[
            "dkim",
            "generate",
            "example.com",
            "--selector",
            "a.b",
            "--algorithm",
            "rsa",
        ],
        "",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(one_line_stderr(&out).contains("is not a DKIM selector"));
    let out = env.run(
        &["dkim", "generate", "example.com", "--algorithm", "dsa"],
        "",
    );
    assert_eq!(out.status.code(), Some(2), "clap's usage error");
}

#[test]
fn dns_prints_every_record_with_our_values() {
    let env = Env::new();
    let config = env.write_config("hostname = \"mail.example.net\"\n");
    let config = config.to_str().unwrap();
    env.ok(&["--config", config, "domain", "add", "example.com"], "");
    let before = env.ok(&["--config", config, "dns", "example.com"], "");
    assert!(
        before.contains("; DANE (RFC 7672): no certificate at"),
        "{before}"
    );
    assert!(
        before.contains("; DKIM: no keys yet; make them with `estafeta dkim generate example.com`"),
        "{before}"
    );
    env.ok(
        &[
            "--config",
            config,
            "dkim",
            "generate",
            "example.com",
            "--selector",
            "s1",
            "--algorithm",
            "ed25519",
        ],
        "",
    );
    // the certificate `serve` would make, and its key's digest in a TLSA record
    let tls = estafeta_net::TlsSetup::load_or_generate(
        &Default::default(),
        "mail.example.net",
        &env.data_dir(),
    )
    .unwrap();
    drop(tls);
    let out = env.ok(&["--config", config, "dns", "Example.COM"], "");
    let tlsa = out
        .lines()
        .find(|l| l.starts_with("_25._tcp.mail.example.net. IN TLSA 3 1 1 "))
        .unwrap_or_else(|| panic!("no TLSA record in:\n{out}"));
    assert_eq!(tlsa.rsplit(' ').next().unwrap().len(), 64, "{tlsa}");
    for record in [
        "example.com. IN MX 10 mail.example.net.",
        "example.com. IN TXT \"v=spf1 mx -all\"",
        "s1._domainkey.example.com. IN TXT ( \"v=DKIM1; k=ed25519; p=",
        "_dmarc.example.com. IN TXT \"v=DMARC1; p=quarantine;",
        "_smtp._tls.example.com. IN TXT \"v=TLSRPTv1; rua=mailto:postmaster@example.com\"",
        "_submission._tcp.example.com. IN SRV 0 1 587 mail.example.net.",
        "_submissions._tcp.example.com. IN SRV 0 1 465 mail.example.net.",
        "_imaps._tcp.example.com. IN SRV 0 1 993 mail.example.net.",
        "_pop3s._tcp.example.com. IN SRV 0 1 995 mail.example.net.",
    ] {
        assert!(out.contains(record), "{record} missing from:\n{out}");
    }
    assert!(!out.contains("WARNING"), "{out}");
    let out = env.run(&["--config", config, "dns", "nowhere.example"], "");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        one_line_stderr(&out),
        "error: nowhere.example is not one of our domains: add it with `estafeta domain add nowhere.example`"
    );
}

#[test]
fn domain_tracking_is_switched_per_domain() {
    let env = Env::new();
    env.ok(&["domain", "add", "example.com"], "");
    env.ok(&["domain", "add", "other.test"], "");
    assert_eq!(
        env.ok(&["domain", "tracking", "Example.com", "on"], ""),
        "example.com: open and click tracking on for the HTML mail its users send\n"
    );
    assert_eq!(
        env.ok(&["domain", "list"], ""),
        "example.com (open and click tracking on)\nother.test\n"
    );
    assert_eq!(
        env.ok(&["domain", "tracking", "example.com", "off"], ""),
        "example.com: open and click tracking off\n"
    );
    assert_eq!(env.ok(&["domain", "list"], ""), "example.com\nother.test\n");
    let out = env.run(&["domain", "tracking", "nowhere.test", "on"], "");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        one_line_stderr(&out),
        "error: domain nowhere.test does not exist"
    );
    let out = env.run(&["domain", "tracking", "example.com", "maybe"], "");
    assert_eq!(out.status.code(), Some(2), "clap refuses the value");
}

#[test]
fn sieve_scripts_from_the_command_line() {
    let env = Env::new();
    env.ok(&["domain", "add", "example.com"], "");
    env.ok(
        &["user", "add", "bob@example.com", "--password-stdin"],
        "pw\n",
    );
    let good = "require \"fileinto\";\nif header :contains \"subject\" \"[list]\" { fileinto \"Lists\"; }\n";
    let out = env.ok(&["sieve", "check", "-"], good);
    assert_eq!(out, "-: the script compiles\n");
    // a script that does not compile: one line naming the line, exit 1, nothing stored
    let out = env.run(
        &["sieve", "put", "bob@example.com", "main", "-"],
        "if true {\n  fileinot \"x\";\n}\n",
    );
    assert_eq!(out.status.code(), Some(1));
    let err = one_line_stderr(&out);
    assert!(err.contains("line 2"), "{err}");
    let out = env.ok(
        &["sieve", "put", "bob@example.com", "main", "-", "--activate"],
        good,
    );
    assert_eq!(
        out,
        "script \"main\" stored for bob@example.com and active\n"
    );
    env.ok(
        &["sieve", "put", "bob@example.com", "spare", "-"],
        "keep;\n",
    );
    let listed = env.ok(&["sieve", "list", "bob@example.com"], "");
    assert_eq!(
        listed,
        format!("main  {} octets  (active)\nspare  6 octets\n", good.len())
    );
    assert_eq!(
        env.ok(&["sieve", "get", "bob@example.com", "main"], ""),
        good
    );
    // the active script is not deleted
    let out = env.run(&["sieve", "delete", "bob@example.com", "main"], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        one_line_stderr(&out).contains("active script"),
        "{}",
        one_line_stderr(&out)
    );
    env.ok(&["sieve", "activate", "bob@example.com", "--none"], "");
    env.ok(&["sieve", "delete", "bob@example.com", "main"], "");
    assert_eq!(
        env.ok(&["sieve", "list", "bob@example.com"], ""),
        "spare  6 octets\n"
    );
    // unknown user, unknown script: what is wrong and how to look
    let out = env.run(&["sieve", "list", "nobody@example.com"], "");
    assert!(
        one_line_stderr(&out).contains("estafeta user list"),
        "{}",
        one_line_stderr(&out)
    );
    let out = env.run(&["sieve", "get", "bob@example.com", "nope"], "");
    assert!(
        one_line_stderr(&out).contains("estafeta sieve list"),
        "{}",
        one_line_stderr(&out)
    );
}

/// Every connection to PostgreSQL ends with the protocol's goodbye (a Terminate message)
/// rather than a reset, after CLI commands and after a server's clean stop: otherwise
/// PostgreSQL logs "could not receive data from client: Connection reset by peer" for
/// each. Seen through a TCP relay in front of PostgreSQL that looks at the last message
/// each client sent.
#[test]
fn postgres_connections_end_with_a_goodbye() {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::{Arc, Mutex};

    let Some(db) = common::PgDatabase::create("estafeta_bye") else {
        return;
    };
    let (prefix, rest) = db.url.split_once('@').expect("user@host in the URL");
    let (upstream, name) = rest.split_once('/').expect("host/database");
    let upstream = upstream.to_string();
    let relay = TcpListener::bind("127.0.0.1:0").expect("relay");
    let relay_addr = relay.local_addr().expect("address");
    // per client connection: whether its last message was Terminate ('X', length 4)
    let endings: Arc<Mutex<Vec<bool>>> = Arc::default();
    {
        let endings = endings.clone();
        std::thread::spawn(move || {
            for client in relay.incoming() {
                let Ok(mut client) = client else { continue };
                let Ok(mut server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let (mut client_r, mut server_w) = (
                    client.try_clone().expect("clone"),
                    server.try_clone().expect("clone"),
                );
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut server, &mut client);
                });
                let endings = endings.clone();
                std::thread::spawn(move || {
                    let mut last: Vec<u8> = Vec::new();
                    let mut buf = [0u8; 16384];
                    let clean = loop {
                        match client_r.read(&mut buf) {
                            Ok(0) => break last.ends_with(b"X\0\0\0\x04"),
                            Ok(n) => {
                                last.extend_from_slice(&buf[..n]);
                                let keep = last.len().saturating_sub(16);
                                last.drain(..keep);
                                if server_w.write_all(&buf[..n]).is_err() {
                                    break false;
                                }
                            }
                            Err(_) => break false,
                        }
                    };
                    let _ = server_w.shutdown(std::net::Shutdown::Both);
                    endings.lock().unwrap().push(clean);
                });
            }
        });
    }
    let env = Env::new();
    let config = env.write_config(&format!(
        "{}[storage]\nengine = \"postgres\"\nurl = \"{prefix}@{relay_addr}/{name}?sslmode=disable\"\n",
        common::loopback_config(),
    ));
    let c = config.to_str().unwrap();
    env.ok(&["-c", c, "domain", "add", "example.com"], "");
    env.ok(&["-c", c, "user", "list"], "");
    let mut server = common::Server::start(&env, &config);
    server.signal(libc::SIGTERM);
    let status = server.child.wait().expect("server ends");
    assert!(status.success(), "{status:?}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let seen = endings.lock().unwrap().clone();
        // the CLI's and the server's pools, and the server's LISTEN connection
        if seen.len() >= 3 {
            assert!(
                seen.iter().all(|clean| *clean),
                "connections reset: {seen:?}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "only {} connections ended: {seen:?}",
            seen.len()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
