//! Least privilege, seen from outside: the real `estafeta serve` makes its files private to
//! its user, reports loose ones with the fix, switches to the `run_as` user once its ports
//! are bound (and still stores mail afterwards), and refuses a `run_as` it cannot honour.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use common::{Env, Server, one_line_stderr};

fn config(extra: &str) -> String {
    format!(
        "hostname = \"mail.test\"\n{extra}\n[smtp]\ntrusted_networks = []\n\
         [trust]\nchecks = false\n\
         [[listener]]\naddress = \"127.0.0.1\"\nport = 0\nprotocol = \"smtp\"\ntls = \"starttls\"\n"
    )
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn is_root() -> bool {
    nix::unistd::Uid::effective().is_root()
}

/// One message to bob over SMTP; the final reply line.
fn send_to_bob(server: &Server) -> String {
    let stream = TcpStream::connect(server.address("smtp")).expect("connect");
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut out = stream;
    let mut reply = || loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("read");
        if line.is_empty() || line.as_bytes().get(3) != Some(&b'-') {
            return line;
        }
    };
    assert!(reply().starts_with("220"));
    for (cmd, code) in [
        ("EHLO client.test", "250"),
        ("MAIL FROM:<ann@remote.test>", "250"),
        ("RCPT TO:<bob@example.com>", "250"),
        ("DATA", "354"),
    ] {
        out.write_all(format!("{cmd}\r\n").as_bytes())
            .expect("write");
        let r = reply();
        assert!(r.starts_with(code), "{cmd}: {r}");
    }
    out.write_all(b"Subject: hi\r\n\r\nafter the switch\r\n.\r\n")
        .expect("write");
    reply()
}

fn status_field(pid: u32, field: &str) -> Vec<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let line = status
        .lines()
        .find(|l| l.starts_with(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in {status}"));
    line[field.len() + 1..]
        .split_whitespace()
        .map(|n| n.parse().expect("number"))
        .collect()
}

#[test]
fn first_start_makes_every_file_private() {
    let env = Env::new();
    let cfg = env.write_config(&config(""));
    let server = Server::start(&env, &cfg);
    let data = env.data_dir();
    assert_eq!(mode(&data), 0o700, "data directory");
    assert_eq!(mode(&data.join("estafeta.db")), 0o600, "database");
    for side in ["estafeta.db-wal", "estafeta.db-shm"] {
        if data.join(side).exists() {
            assert_eq!(mode(&data.join(side)), 0o600, "{side}");
        }
    }
    assert_eq!(mode(&data.join("tls")), 0o700, "tls directory");
    assert_eq!(
        mode(&data.join("tls/self-signed.key")),
        0o600,
        "generated key"
    );
    drop(server);
}

#[test]
fn a_data_directory_others_can_read_is_reported_with_the_fix() {
    let env = Env::new();
    let data = env.data_dir();
    std::fs::create_dir_all(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let cfg = env.write_config(&config(""));
    let log = startup_log(&env, &cfg);
    let line = log
        .iter()
        .find(|l| l.contains("can be read by other users"))
        .unwrap_or_else(|| panic!("no warning about the data directory in {log:#?}"));
    assert!(
        line.contains(&format!("chmod 700 {}", data.display())),
        "{line}"
    );
}

#[test]
fn serve_becomes_the_run_as_user_once_its_ports_are_bound() {
    let env = Env::new();
    let nobody = nix::unistd::User::from_name("nobody")
        .expect("user lookup")
        .expect("this machine has a nobody user");
    let cfg = env.write_config(&config("run_as = \"nobody\""));
    if !is_root() {
        // only root can switch: the server says so and does not start
        let out = env.run(&["--config", cfg.to_str().unwrap(), "serve"], "");
        assert_eq!(out.status.code(), Some(2));
        let line = one_line_stderr(&out);
        assert!(line.contains("only root can switch users"), "{line}");
        return;
    }
    // nobody must be able to reach the data directory inside the test's own directory
    std::fs::set_permissions(env.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    env.ok(&["domain", "add", "example.com"], "");
    env.ok(
        &["user", "add", "bob@example.com", "--password-stdin"],
        "secret\n",
    );
    let server = Server::start(&env, &cfg);
    let pid = server.child.id();
    assert_eq!(
        status_field(pid, "Uid"),
        vec![nobody.uid.as_raw(); 4],
        "real, effective, saved and filesystem uid"
    );
    assert_eq!(status_field(pid, "Gid"), vec![nobody.gid.as_raw(); 4]);
    assert_eq!(
        status_field(pid, "Groups"),
        vec![nobody.gid.as_raw()],
        "no supplementary groups of root's left"
    );
    let data = env.data_dir();
    for path in [
        data.clone(),
        data.join("estafeta.db"),
        data.join("tls/self-signed.key"),
    ] {
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.uid(), nobody.uid.as_raw(), "{}", path.display());
    }
    // and it still does its job as that user: the message is stored
    let reply = send_to_bob(&server);
    assert!(reply.starts_with("250 2.0.0"), "{reply}");
}

#[test]
fn run_as_a_user_the_machine_does_not_have_is_a_config_error() {
    let env = Env::new();
    let cfg = env.write_config(&config("run_as = \"no-such-estafeta-user\""));
    for args in [vec!["serve"], vec!["config", "check"]] {
        let mut full = vec!["--config", cfg.to_str().unwrap()];
        full.extend(args.iter());
        let out = env.run(&full, "");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let line = one_line_stderr(&out);
        assert!(
            line.starts_with(
                "config error: run_as = \"no-such-estafeta-user\": there is no such user"
            ),
            "{line}"
        );
        assert!(line.contains("useradd --system"), "{line}");
    }
    // and a name that cannot be a user name at all
    let cfg = env.write_config(&config("run_as = \"root; rm -rf /\""));
    let out = env.run(&["--config", cfg.to_str().unwrap(), "config", "check"], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(one_line_stderr(&out).contains("expected a user name"));
}

#[test]
fn root_without_an_estafeta_user_keeps_running_and_says_how_to_fix_it() {
    let env = Env::new();
    let cfg = env.write_config_as_is(&config(""));
    let log = startup_log(&env, &cfg);
    let warned = log.iter().find(|l| l.contains("running as root"));
    let has_user = nix::unistd::User::from_name("estafeta")
        .ok()
        .flatten()
        .is_some();
    if is_root() && !has_user {
        let line = warned.unwrap_or_else(|| panic!("no warning in {log:#?}"));
        assert!(line.contains("WARN"), "{line}");
        assert!(line.contains("useradd --system"), "{line}");
        assert!(line.contains("set run_as"), "{line}");
    } else {
        assert!(warned.is_none(), "{log:#?}");
    }
}

/// Starts `serve`, returns every log line up to and including "estafeta ready", and stops
/// it.
fn startup_log(env: &Env, cfg: &Path) -> Vec<String> {
    let mut child = env
        .command(&["--config", cfg.to_str().expect("utf-8"), "serve"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn estafeta serve");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut log = Vec::new();
    loop {
        match rx.recv_timeout(std::time::Duration::from_secs(60)) {
            Ok(line) => {
                let ready = line.contains("estafeta ready");
                log.push(line);
                if ready {
                    break;
                }
            }
            Err(e) => panic!("not ready ({e}): {log:#?}"),
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    log
}
