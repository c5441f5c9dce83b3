//! Runs the real `estafeta` binary: management commands, and `serve` as a child process
//! whose log tells which ports it bound.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_estafeta");

/// A private data directory and the commands that use it.
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Env {
        Env {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .current_dir(self.dir.path())
            .env("ESTAFETA_DATA_DIR", self.data_dir())
            .env_remove("ESTAFETA_CONFIG")
            .env_remove("ESTAFETA_LOG");
        c
    }

    /// Runs a command with `stdin` as its standard input.
    pub fn run(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn estafeta");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("write stdin");
        child.wait_with_output().expect("wait for estafeta")
    }

    /// Runs a command that must succeed; returns its standard output.
    pub fn ok(&self, args: &[&str], stdin: &str) -> String {
        let out = self.run(args, stdin);
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Writes the configuration, pinned to the user running the tests (`run_as`), unless
    /// it says `run_as` itself: on a machine with an `estafeta` user, a server started
    /// as root would otherwise become that user, who cannot reach the test's directory.
    pub fn write_config(&self, text: &str) -> PathBuf {
        let me = nix::unistd::User::from_uid(nix::unistd::Uid::effective())
            .ok()
            .flatten();
        match me {
            Some(me) if !text.contains("run_as") => {
                self.write_config_as_is(&format!("run_as = {:?}\n{text}", me.name))
            }
            _ => self.write_config_as_is(text),
        }
    }

    /// Writes the configuration exactly as given.
    pub fn write_config_as_is(&self, text: &str) -> PathBuf {
        let path = self.dir.path().join("estafeta.toml");
        std::fs::write(&path, text).expect("write config");
        path
    }
}

/// Standard error as text, and whether it is exactly one line.
pub fn one_line_stderr(out: &Output) -> String {
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        text.trim_end().lines().count(),
        1,
        "expected one line, got: {text}"
    );
    assert!(!text.contains("panicked"), "{text}");
    text.trim_end().to_string()
}

/// A config with one loopback listener per protocol on ports the system picks, and no
/// checks of mail from outside (they would ask the machine's DNS).
pub fn loopback_config() -> String {
    let mut s = String::from(
        "hostname = \"mail.test\"\n[smtp]\ntrusted_networks = []\n[trust]\nchecks = false\n",
    );
    for (protocol, tls) in [
        ("smtp", "starttls"),
        ("submission", "implicit"),
        ("imap", "starttls"),
        ("pop3", "implicit"),
    ] {
        s.push_str(&format!(
            "[[listener]]\naddress = \"127.0.0.1\"\nport = 0\nprotocol = \"{protocol}\"\ntls = \"{tls}\"\n"
        ));
    }
    s
}

/// `estafeta serve` in `env` on [`loopback_config`] with plaintext logins on loopback and
/// `storage` (a `[storage]` table, or "" for SQLite), serving the domain example.com with
/// these users, each with the password "secret".
pub fn serve_with_users(env: &Env, storage: &str, users: &[&str]) -> Server {
    let config = env.write_config(&format!(
        "{}[auth]\nallow_plaintext_on_loopback = true\n{storage}",
        loopback_config()
    ));
    let c = config.to_str().expect("utf-8 path");
    env.ok(&["-c", c, "domain", "add", "example.com"], "");
    for user in users {
        env.ok(
            &["-c", c, "user", "add", user, "--password-stdin"],
            "secret\n",
        );
    }
    Server::start(env, &config)
}

/// `estafeta serve` running as a child process.
pub struct Server {
    pub child: Child,
    /// (protocol, address) of every listener, from the "listening" log lines.
    pub listeners: Vec<(String, SocketAddr)>,
    /// The log lines up to "estafeta ready".
    pub startup: Vec<String>,
    lines: mpsc::Receiver<String>,
}

impl Server {
    /// Starts the server and waits (up to 60 s) for its "estafeta ready" line.
    pub fn start(env: &Env, config: &Path) -> Server {
        let mut child = env
            .command(&["--config", config.to_str().expect("utf-8 path"), "serve"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn estafeta serve");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut listeners = Vec::new();
        let mut startup = Vec::new();
        loop {
            let line = match lines.recv_timeout(Duration::from_secs(60)) {
                Ok(l) => l,
                Err(_) => panic!("server did not get ready; listeners so far: {listeners:?}"),
            };
            if line.contains("listening") {
                listeners.push((
                    field(&line, "protocol"),
                    field(&line, "address").parse().expect("address"),
                ));
            }
            let ready = line.contains("estafeta ready");
            startup.push(line);
            if ready {
                break;
            }
        }
        Server {
            child,
            listeners,
            startup,
            lines,
        }
    }

    pub fn address(&self, protocol: &str) -> SocketAddr {
        self.listeners
            .iter()
            .find(|(p, _)| p == protocol)
            .map(|(_, a)| *a)
            .unwrap_or_else(|| panic!("no {protocol} listener in {:?}", self.listeners))
    }

    /// Sends a signal to the server process.
    pub fn signal(&self, sig: i32) {
        let rc = unsafe { libc::kill(self.child.id() as i32, sig) };
        assert_eq!(rc, 0, "kill failed");
    }

    /// Waits for the log line containing `text` (up to 60 s).
    pub fn wait_for_log(&self, text: &str) -> String {
        loop {
            match self.lines.recv_timeout(Duration::from_secs(60)) {
                Ok(l) if l.contains(text) => return l,
                Ok(_) => continue,
                Err(e) => panic!("no log line with {text:?}: {e}"),
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of `key=value` (or `key="value"`) in a log line.
fn field(line: &str, key: &str) -> String {
    let start = line.find(&format!("{key}=")).expect("field in log line") + key.len() + 1;
    line[start..]
        .split_whitespace()
        .next()
        .unwrap_or("")
        .trim_matches('"')
        .to_string()
}

/// A fresh PostgreSQL database for one test, dropped at the end; `None` (and a note)
/// when `ESTAFETA_TEST_POSTGRES` does not name a server to use.
pub struct PgDatabase {
    admin: String,
    name: String,
    runtime: tokio::runtime::Runtime,
    /// The database's URL, for `storage.url`.
    pub url: String,
}

impl PgDatabase {
    pub fn create(prefix: &str) -> Option<PgDatabase> {
        let admin = estafeta_testkit::postgres::url()?;
        let name = format!("{prefix}_{}", std::process::id());
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
        let db = PgDatabase {
            url: format!("{base}/{name}"),
            runtime: tokio::runtime::Runtime::new().expect("runtime"),
            admin,
            name,
        };
        db.admin_sql(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", db.name));
        db.admin_sql(&format!("CREATE DATABASE {}", db.name));
        Some(db)
    }

    /// `[storage]` for a configuration file.
    pub fn storage_config(&self) -> String {
        format!("[storage]\nengine = \"postgres\"\nurl = \"{}\"\n", self.url)
    }

    /// Rows of two integer columns from a query on this database.
    pub fn rows(&self, sql: &str) -> Vec<(i64, i64)> {
        use sqlx::{AssertSqlSafe, Connection, Row};
        self.runtime.block_on(async {
            let mut c = sqlx::PgConnection::connect(&self.url)
                .await
                .expect("connect");
            let rows = sqlx::query(AssertSqlSafe(sql.to_string()))
                .fetch_all(&mut c)
                .await
                .expect("query");
            let _ = c.close().await;
            rows.iter()
                .map(|r| (r.get::<i64, _>(0), r.get::<i64, _>(1)))
                .collect()
        })
    }

    fn admin_sql(&self, sql: &str) {
        use sqlx::{AssertSqlSafe, Connection, Executor};
        self.runtime.block_on(async {
            let mut c = sqlx::PgConnection::connect(&self.admin)
                .await
                .expect("connect");
            c.execute(AssertSqlSafe(sql.to_string()))
                .await
                .expect("admin statement");
        })
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        self.admin_sql(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}

/// Sends messages to bob@example.com over plain SMTP at `addr` until the connection
/// breaks; reports the token (`X-Token:`) of each message acknowledged with 250.
pub fn send_until_broken(addr: SocketAddr, id: usize, acked: mpsc::Sender<String>) {
    let Ok(stream) = TcpStream::connect(addr) else {
        return;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut writer = match stream.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut reader = BufReader::new(stream);
    let mut reply = || -> Option<String> {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).ok()? == 0 {
                return None;
            }
            all.push_str(&line);
            if line.as_bytes().get(3) != Some(&b'-') {
                return Some(all);
            }
        }
    };
    reply();
    if writer.write_all(b"EHLO crash.test\r\n").is_err() || reply().is_none() {
        return;
    }
    for n in 0.. {
        let token = format!("c{id}-m{n}");
        let msg = format!(
            "MAIL FROM:<load@outside.test>\r\nRCPT TO:<bob@example.com>\r\nDATA\r\nSubject: {token}\r\nX-Token: {token}\r\n\r\n{}\r\n.\r\n",
            "payload ".repeat(64)
        );
        if writer.write_all(msg.as_bytes()).is_err() {
            return;
        }
        for _ in 0..3 {
            if reply().is_none() {
                return;
            }
        }
        match reply() {
            Some(r) if r.starts_with("250") => {
                if acked.send(token).is_err() {
                    return;
                }
            }
            _ => return,
        }
    }
}

/// The `X-Token:` of every message in bob@example.com's INBOX of the SQLite store in
/// `env`'s data directory (the server stopped).
pub fn stored_tokens(env: &Env) -> Vec<String> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let stored: Vec<String> = runtime.block_on(async {
        let store = estafeta_store::open(&estafeta_store::StoreOptions {
            backend: estafeta_store::Backend::Sqlite {
                path: env.data_dir().join("estafeta.db"),
            },
            max_connections: 2,
        })
        .await
        .unwrap();
        let bob = store.get_user("bob@example.com").await.unwrap().unwrap();
        let inbox = store.get_mailbox(bob.id, "INBOX").await.unwrap().unwrap();
        let mut tokens = Vec::new();
        for e in store.list_messages(inbox.id).await.unwrap() {
            let m = store.read_message(inbox.id, e.uid).await.unwrap().unwrap();
            let text = String::from_utf8_lossy(&m).into_owned();
            let token = text
                .lines()
                .find_map(|l| l.strip_prefix("X-Token: "))
                .expect("token header")
                .to_string();
            tokens.push(token);
        }
        tokens
    });
    stored
}
