//! A small SMTP server for tests of the outbound side: it answers like a plain, willing
//! server unless the test's script says otherwise (another reply to some command, the
//! connection closed, extensions taken away, STARTTLS with a self-signed certificate,
//! AUTH required), and records every command and message it receives for assertions.
//!
//! ```text
//! let server = ScriptedSmtp::start(Script::new().on(|c| {
//!     (c.verb == "RCPT" && c.arg.contains("<nobody@")).then(|| Action::reply("550 5.1.1 no such user"))
//! })).await;
//! // … deliver to server.addr …
//! let sessions = server.sessions();
//! ```

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use estafeta_config::TlsConfig;
use estafeta_net::{Line, LineIo, MaybeTls, TlsSetup};
use tokio::net::TcpListener;

/// One command as the server read it, with what the script needs to decide on it.
#[derive(Debug, Clone)]
pub struct Command {
    /// The verb in upper case (`MAIL`, `RCPT`…); `.` for the end of a message (after the
    /// DATA text or the last BDAT chunk), where a script can change the final reply.
    pub verb: String,
    /// Everything after the verb, as sent (`FROM:<a@b> SIZE=10`).
    pub arg: String,
    /// How many commands with this verb the server has read so far, this one included,
    /// over all connections: `nth == 1` is the first MAIL the server ever saw.
    pub nth: usize,
    /// The connection, counted from 1.
    pub connection: usize,
}

/// What the server does instead of its usual reply.
#[derive(Debug, Clone)]
pub enum Action {
    /// This reply (one or more lines, without the final CRLF).
    Reply(String),
    /// Close the connection without a reply.
    Close,
}

impl Action {
    pub fn reply(text: &str) -> Option<Action> {
        Some(Action::Reply(text.to_string()))
    }
}

/// Decides on a command: `Some` replaces the usual answer.
pub type Hook = dyn Fn(&Command) -> Option<Action> + Send + Sync;

/// How the server behaves. [`Script::new`] is a willing server that offers PIPELINING,
/// SIZE 10 MB, 8BITMIME, SMTPUTF8, ENHANCEDSTATUSCODES, CHUNKING and DSN.
#[derive(Clone)]
pub struct Script {
    pub greeting: String,
    /// EHLO keywords after the host name; STARTTLS and AUTH are added by the options below.
    pub extensions: Vec<String>,
    /// Answer EHLO with `502` (a server that only knows HELO).
    pub refuse_ehlo: bool,
    /// Offer STARTTLS (self-signed certificate) until TLS is up.
    pub starttls: bool,
    /// TLS from the first byte (port 465 role).
    pub implicit_tls: bool,
    /// Offer AUTH PLAIN LOGIN and require it before MAIL with these credentials.
    pub auth: Option<(String, String)>,
    /// After the 354 to DATA (or a BDAT command), read part of the message, then close.
    pub drop_mid_data: bool,
    /// Set with [`Script::on`].
    pub hook: Option<Arc<Hook>>,
}

impl Default for Script {
    fn default() -> Self {
        Script::new()
    }
}

impl Script {
    pub fn new() -> Script {
        Script {
            greeting: "220 scripted.test ESMTP scripted".into(),
            extensions: [
                "PIPELINING",
                "SIZE 10485760",
                "8BITMIME",
                "SMTPUTF8",
                "ENHANCEDSTATUSCODES",
                "CHUNKING",
                "DSN",
            ]
            .map(String::from)
            .to_vec(),
            refuse_ehlo: false,
            starttls: false,
            implicit_tls: false,
            auth: None,
            drop_mid_data: false,
            hook: None,
        }
    }

    /// Answers `command` as `hook` says; `None` from the hook keeps the usual reply.
    pub fn on(mut self, hook: impl Fn(&Command) -> Option<Action> + Send + Sync + 'static) -> Self {
        self.hook = Some(Arc::new(hook));
        self
    }

    /// Takes an extension away (by its keyword: `PIPELINING`, `SIZE`…).
    pub fn without(mut self, keyword: &str) -> Self {
        self.extensions.retain(|e| {
            !e.split(' ')
                .next()
                .unwrap_or("")
                .eq_ignore_ascii_case(keyword)
        });
        self
    }

    /// Replaces an extension, e.g. `with("SIZE 1000")`.
    pub fn with(self, extension: &str) -> Self {
        let keyword = extension.split(' ').next().unwrap_or(extension).to_string();
        let mut s = self.without(&keyword);
        s.extensions.push(extension.to_string());
        s
    }
}

/// A command line as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The line without its CRLF (SASL responses included).
    pub line: String,
    /// More input was already waiting behind this line when it was read: the client
    /// sent it without waiting for the reply (pipelining).
    pub pipelined: bool,
}

/// A message the server accepted or answered at its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The MAIL command line.
    pub mail: String,
    /// The RCPT command lines the server accepted.
    pub rcpts: Vec<String>,
    /// The message: dot-unstuffed text after DATA, or the BDAT chunks joined.
    pub body: Vec<u8>,
    pub bdat: bool,
}

/// What one connection brought.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Session {
    pub commands: Vec<Received>,
    pub messages: Vec<Message>,
    /// TLS was up when the connection ended.
    pub tls: bool,
    /// The user that authenticated.
    pub user: Option<String>,
}

impl Session {
    /// The command lines only.
    pub fn lines(&self) -> Vec<&str> {
        self.commands.iter().map(|c| c.line.as_str()).collect()
    }
}

/// A running scripted server; it stops when dropped.
pub struct ScriptedSmtp {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
    dir: tempfile::TempDir,
}

#[derive(Default)]
struct State {
    sessions: Vec<Session>,
    counts: std::collections::HashMap<String, usize>,
}

impl ScriptedSmtp {
    /// Listens on 127.0.0.1 at a free port.
    pub async fn start(script: Script) -> ScriptedSmtp {
        ScriptedSmtp::start_on("127.0.0.1:0".parse().expect("address"), script).await
    }

    /// Listens on `addr` (another loopback address such as 127.0.0.2, port 0 for a free one).
    pub async fn start_on(addr: SocketAddr, script: Script) -> ScriptedSmtp {
        let dir = tempfile::tempdir().expect("temp dir");
        let tls = TlsSetup::load_or_generate(&TlsConfig::default(), "scripted.test", dir.path())
            .expect("self-signed certificate");
        let listener = TcpListener::bind(addr).await.expect("bind scripted SMTP");
        let addr = listener.local_addr().expect("local address");
        let state = Arc::new(Mutex::new(State::default()));
        let script = Arc::new(script);
        let shared = state.clone();
        let task = tokio::spawn(async move {
            let mut connections = 0;
            while let Ok((tcp, _)) = listener.accept().await {
                connections += 1;
                let index = {
                    let mut s = shared.lock().expect("state");
                    s.sessions.push(Session::default());
                    s.sessions.len() - 1
                };
                let conn = Conn {
                    script: script.clone(),
                    state: shared.clone(),
                    index,
                    number: connections,
                    tls: tls.clone(),
                };
                tokio::spawn(conn.run(tcp));
            }
        });
        ScriptedSmtp {
            addr,
            state,
            task,
            dir,
        }
    }

    /// Every connection so far, in the order they came.
    pub fn sessions(&self) -> Vec<Session> {
        self.state.lock().expect("state").sessions.clone()
    }

    /// The server's self-signed certificate (PEM), for tests that verify certificates.
    pub fn certificate_pem(&self) -> Vec<u8> {
        std::fs::read(self.dir.path().join("tls/self-signed.crt")).expect("certificate")
    }

    /// Every message received, over all connections.
    pub fn messages(&self) -> Vec<Message> {
        self.sessions()
            .into_iter()
            .flat_map(|s| s.messages)
            .collect()
    }
}

impl Drop for ScriptedSmtp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One connection being served.
struct Conn {
    script: Arc<Script>,
    state: Arc<Mutex<State>>,
    index: usize,
    number: usize,
    tls: TlsSetup,
}

/// The transaction in progress.
#[derive(Default)]
struct Tx {
    mail: Option<String>,
    rcpts: Vec<String>,
    chunks: Vec<u8>,
}

impl Conn {
    fn record(&self, f: impl FnOnce(&mut Session)) {
        let mut s = self.state.lock().expect("state");
        f(&mut s.sessions[self.index]);
    }

    /// The script's say on this command, after counting it.
    fn consult(&self, verb: &str, arg: &str) -> Option<Action> {
        let nth = {
            let mut s = self.state.lock().expect("state");
            let n = s.counts.entry(verb.to_string()).or_default();
            *n += 1;
            *n
        };
        let hook = self.script.hook.as_ref()?;
        hook(&Command {
            verb: verb.to_string(),
            arg: arg.to_string(),
            nth,
            connection: self.number,
        })
    }

    async fn run(self, tcp: tokio::net::TcpStream) {
        let idle = Duration::from_secs(30);
        let stream = if self.script.implicit_tls {
            match self.tls.acceptor.accept(tcp).await {
                Ok(s) => MaybeTls::Tls(Box::new(s.into())),
                Err(_) => return,
            }
        } else {
            MaybeTls::Plain(tcp)
        };
        let _ = self.serve(LineIo::new(stream, idle)).await;
    }

    async fn serve(&self, mut io: LineIo) -> Result<(), estafeta_net::IoError> {
        let mut tls_up = self.script.implicit_tls;
        self.record(|s| s.tls = tls_up);
        let mut user: Option<String> = None;
        let mut tx = Tx::default();
        io.reply(&self.script.greeting);
        loop {
            let line = match io.read_line(4096).await? {
                Line::Complete(l) => l,
                Line::TooLong => {
                    io.reply("500 5.5.2 line too long");
                    continue;
                }
                Line::Closed => return Ok(()),
            };
            let pipelined = !io.reader.buffer().is_empty();
            let text = String::from_utf8_lossy(&line).trim_end().to_string();
            self.record(|s| {
                s.commands.push(Received {
                    line: text.clone(),
                    pipelined,
                })
            });
            let (verb, arg) = match text.split_once(' ') {
                Some((v, a)) => (v.to_ascii_uppercase(), a.to_string()),
                None => (text.to_ascii_uppercase(), String::new()),
            };
            match self.consult(&verb, &arg) {
                Some(Action::Close) => {
                    io.flush().await?;
                    return Ok(());
                }
                Some(Action::Reply(reply)) => {
                    match verb.as_str() {
                        "MAIL" if reply.starts_with('2') => {
                            tx = Tx {
                                mail: Some(text),
                                ..Tx::default()
                            }
                        }
                        "RCPT" if reply.starts_with('2') => tx.rcpts.push(text),
                        "RSET" | "EHLO" | "HELO" => tx = Tx::default(),
                        _ => {}
                    }
                    io.reply(&reply);
                    continue;
                }
                None => {}
            }
            match verb.as_str() {
                "EHLO" if self.script.refuse_ehlo => io.reply("502 5.5.1 EHLO not implemented"),
                "EHLO" => {
                    tx = Tx::default();
                    let mut lines = vec!["scripted.test".to_string()];
                    lines.extend(self.script.extensions.iter().cloned());
                    if self.script.starttls && !tls_up {
                        lines.push("STARTTLS".into());
                    }
                    if self.script.auth.is_some() && user.is_none() {
                        lines.push("AUTH PLAIN LOGIN".into());
                    }
                    let last = lines.len() - 1;
                    for (i, l) in lines.iter().enumerate() {
                        io.reply(&format!("250{}{l}", if i == last { ' ' } else { '-' }));
                    }
                }
                "HELO" => {
                    tx = Tx::default();
                    io.reply("250 scripted.test");
                }
                "STARTTLS" if self.script.starttls && !tls_up => {
                    io = match io.start_tls("220 2.0.0 go ahead", &self.tls.acceptor).await {
                        Some(secure) => secure,
                        None => return Ok(()),
                    };
                    tls_up = true;
                    user = None;
                    tx = Tx::default();
                    self.record(|s| s.tls = true);
                }
                "AUTH" if self.script.auth.is_some() => match self.auth(&mut io, &arg).await? {
                    Some(name) => {
                        io.reply("235 2.7.0 authenticated");
                        self.record(|s| s.user = Some(name.clone()));
                        user = Some(name);
                    }
                    None => io.reply("535 5.7.8 bad credentials"),
                },
                "MAIL" if self.script.auth.is_some() && user.is_none() => {
                    io.reply("530 5.7.0 authentication required")
                }
                "MAIL" if tx.mail.is_some() => io.reply("503 5.5.1 nested MAIL"),
                "MAIL" => {
                    tx = Tx {
                        mail: Some(text),
                        ..Tx::default()
                    };
                    io.reply("250 2.1.0 ok");
                }
                "RCPT" if tx.mail.is_none() => io.reply("503 5.5.1 need MAIL"),
                "RCPT" => {
                    tx.rcpts.push(text);
                    io.reply("250 2.1.5 ok");
                }
                "DATA" if tx.rcpts.is_empty() => io.reply("554 5.5.1 no valid recipients"),
                "DATA" => {
                    io.reply("354 go ahead");
                    if self.script.drop_mid_data {
                        let _ = io.read_line(4096).await?;
                        return Ok(());
                    }
                    let Some(body) = read_data(&mut io).await? else {
                        return Ok(());
                    };
                    if !self.end_of_message(&mut io, std::mem::take(&mut tx), body, false) {
                        return Ok(());
                    }
                }
                "BDAT" => {
                    let mut words = arg.split_whitespace();
                    let size = words.next().and_then(|n| n.parse::<usize>().ok());
                    let last = words.next().is_some_and(|w| w.eq_ignore_ascii_case("LAST"));
                    let Some(size) = size else {
                        io.reply("501 5.5.4 BDAT size");
                        continue;
                    };
                    if self.script.drop_mid_data {
                        io.read_chunk(size / 2, None).await?;
                        return Ok(());
                    }
                    if !io.read_chunk(size, Some(&mut tx.chunks)).await? {
                        return Ok(());
                    }
                    if tx.rcpts.is_empty() {
                        io.reply("554 5.5.1 no valid recipients");
                    } else if last {
                        let mut done = std::mem::take(&mut tx);
                        let body = std::mem::take(&mut done.chunks);
                        if !self.end_of_message(&mut io, done, body, true) {
                            return Ok(());
                        }
                    } else {
                        io.reply(&format!("250 2.0.0 {size} octets"));
                    }
                }
                "RSET" => {
                    tx = Tx::default();
                    io.reply("250 2.0.0 ok");
                }
                "NOOP" => io.reply("250 2.0.0 ok"),
                "QUIT" => {
                    io.reply("221 2.0.0 bye");
                    io.flush().await?;
                    return Ok(());
                }
                _ => io.reply("502 5.5.1 not implemented"),
            }
        }
    }

    /// Records the message and answers its end (the script may change the reply);
    /// false when the script closes the connection instead.
    fn end_of_message(&self, io: &mut LineIo, tx: Tx, body: Vec<u8>, bdat: bool) -> bool {
        let message = Message {
            mail: tx.mail.unwrap_or_default(),
            rcpts: tx.rcpts,
            body,
            bdat,
        };
        self.record(|s| s.messages.push(message));
        match self.consult(".", "") {
            Some(Action::Close) => false,
            Some(Action::Reply(r)) => {
                io.reply(&r);
                true
            }
            None => {
                io.reply("250 2.0.0 queued as SCRIPTED");
                true
            }
        }
    }

    /// AUTH PLAIN (with or without an initial response) or LOGIN; the user name when the
    /// credentials match.
    async fn auth(
        &self,
        io: &mut LineIo,
        arg: &str,
    ) -> Result<Option<String>, estafeta_net::IoError> {
        let Some((user, password)) = self.script.auth.clone() else {
            return Ok(None);
        };
        let mut words = arg.split_whitespace();
        let mechanism = words.next().unwrap_or("").to_ascii_uppercase();
        let initial = words.next().map(str::to_string);
        let given = match mechanism.as_str() {
            "PLAIN" => {
                let response = match initial {
                    Some(r) => r,
                    None => self.sasl_line(io, "334 ").await?,
                };
                estafeta_net::sasl::plain(&response).map(|c| (c.username, c.password))
            }
            "LOGIN" => {
                let name = match initial {
                    Some(r) => r,
                    None => self.sasl_line(io, "334 VXNlcm5hbWU6").await?,
                };
                let pass = self.sasl_line(io, "334 UGFzc3dvcmQ6").await?;
                estafeta_net::sasl::decode(&name).zip(estafeta_net::sasl::decode(&pass))
            }
            _ => None,
        };
        Ok(given
            .filter(|(u, p)| *u == user && *p == password)
            .map(|(u, _)| u))
    }

    async fn sasl_line(
        &self,
        io: &mut LineIo,
        challenge: &str,
    ) -> Result<String, estafeta_net::IoError> {
        io.reply(challenge);
        let line = match io.read_line(4096).await? {
            Line::Complete(l) => String::from_utf8_lossy(&l).trim_end().to_string(),
            _ => String::new(),
        };
        self.record(|s| {
            s.commands.push(Received {
                line: line.clone(),
                pipelined: false,
            })
        });
        Ok(line)
    }
}

/// The text after DATA up to `.`, unstuffed; `None` when the connection closed first.
async fn read_data(io: &mut LineIo) -> Result<Option<Vec<u8>>, estafeta_net::IoError> {
    let mut body = Vec::new();
    loop {
        let line = match io.read_line(64 * 1024).await? {
            Line::Complete(l) => l,
            Line::TooLong => continue,
            Line::Closed => return Ok(None),
        };
        if line == b".\r\n" {
            return Ok(Some(body));
        }
        body.extend_from_slice(line.strip_prefix(b".").unwrap_or(&line));
    }
}
