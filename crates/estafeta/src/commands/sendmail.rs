//! `sendmail`: the command web applications (PHP's `mail()`), cron and monitoring pipe
//! mail into — the binary called `sendmail` (a symlink) or `estafeta sendmail`. It reads
//! one message from standard input and hands it to the running server over SMTP on the
//! server's own SMTP listener (which `serve` writes into `estafeta.lock`), where loopback
//! is a trusted network by default: the message is signed (DKIM) and delivered like any
//! of our users' mail. Also `mailq` (the queue) and `newaliases` (nothing to do).
//!
//! The flags are sendmail's, read by hand here: they predate getopt's long options and
//! clap's conventions (`-oi` is option `o` with value `i`, `-fbob@x` and `-f bob@x` are
//! the same, unknown `-o…` options are ignored as Postfix ignores them). Taken: `-t`
//! (recipients from To/Cc/Bcc, Bcc removed), `-f`/`-r` (envelope sender), `-F` (full
//! name for an added From:), `-i`/`-oi` (a lone `.` does not end the message), `-bm`
//! (the default), `-bs` (SMTP on standard input and output), `-bp` (= mailq), `-bi`/`-I`
//! (= newaliases), `-v` (the SMTP dialogue on standard error), `-C FILE` (estafeta's
//! configuration file). Local users are trusted as Postfix trusts them: root and those in
//! `sendmail.allowed_users` (default everyone) may send with any sender.
//!
//! Bounds: the message is read up to `smtp.max_message_size` (more: refused, nothing
//! sent); every SMTP reply line is read within 60 seconds and 1,000 octets.
//! Exit codes are `sysexits.h`'s.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use estafeta_mime::local_input::{
    self, Message, ReadError, envelope_address_ok, field_name, header_recipients,
};

/// sysexits.h
pub const EX_OK: i32 = 0;
pub const EX_USAGE: i32 = 64;
pub const EX_DATAERR: i32 = 65;
pub const EX_NOUSER: i32 = 67;
pub const EX_UNAVAILABLE: i32 = 69;
pub const EX_TEMPFAIL: i32 = 75;
pub const EX_NOPERM: i32 = 77;
pub const EX_CONFIG: i32 = 78;

/// How long one SMTP reply may take.
const REPLY_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest SMTP reply line read.
const MAX_REPLY_LINE: usize = 1000;

/// What the command line asks.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Request {
    pub mode: Mode,
    pub sender: Option<String>,
    pub full_name: Option<String>,
    pub from_headers: bool,
    pub ignore_dots: bool,
    pub verbose: bool,
    pub config: Option<std::path::PathBuf>,
    pub recipients: Vec<String>,
}

#[derive(Debug, Default, PartialEq, Eq, Clone, Copy)]
pub enum Mode {
    #[default]
    Deliver,
    Smtp,
    Queue,
    Aliases,
}

/// A failure: what to say on standard error and the exit code.
#[derive(Debug, PartialEq, Eq)]
pub struct Exit {
    pub code: i32,
    pub message: String,
}

fn exit(code: i32, message: impl Into<String>) -> Exit {
    Exit {
        code,
        message: format!("sendmail: {}", message.into()),
    }
}

/// Reads sendmail's flags (the program name left out).
pub fn parse(args: &[String]) -> Result<Request, Exit> {
    let mut r = Request::default();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "--" {
            r.recipients.extend(args[i..].iter().cloned());
            break;
        }
        let Some(flags) = arg.strip_prefix('-').filter(|f| !f.is_empty()) else {
            r.recipients.push(arg.clone());
            continue;
        };
        for (at, flag) in flags.char_indices() {
            let rest = &flags[at + flag.len_utf8()..];
            // options that take a value: the rest of this word, else the next word
            let mut value = |what: &str| -> Result<String, Exit> {
                if !rest.is_empty() {
                    return Ok(rest.to_string());
                }
                let v = args
                    .get(i)
                    .cloned()
                    .ok_or_else(|| exit(EX_USAGE, format!("-{flag} needs {what}")))?;
                i += 1;
                Ok(v)
            };
            match flag {
                't' => r.from_headers = true,
                'i' => r.ignore_dots = true,
                'v' => r.verbose = true,
                'n' | 'U' | 'G' | 'm' => {}
                'I' => r.mode = Mode::Aliases,
                'f' | 'r' => {
                    r.sender = Some(value("a sender address")?);
                    break;
                }
                'F' => {
                    r.full_name = Some(value("a name")?);
                    break;
                }
                'C' => {
                    r.config = Some(value("a configuration file")?.into());
                    break;
                }
                'o' => {
                    if value("an option")? == "i" {
                        r.ignore_dots = true;
                    }
                    break;
                }
                // accepted and without effect here, as with Postfix
                'B' | 'N' | 'R' | 'V' | 'X' | 'O' | 'h' | 'L' | 'q' => {
                    value("a value")?;
                    break;
                }
                'b' => {
                    r.mode = match value("a mode")?.as_str() {
                        "m" => Mode::Deliver,
                        "s" => Mode::Smtp,
                        "p" => Mode::Queue,
                        "i" => Mode::Aliases,
                        other => {
                            return Err(exit(
                                EX_USAGE,
                                format!("-b{other}: unsupported mode (m, s, p and i are)"),
                            ));
                        }
                    };
                    break;
                }
                other => {
                    return Err(exit(EX_USAGE, format!("-{other}: unknown option")));
                }
            }
        }
    }
    Ok(r)
}

/// Reads the message from standard input ([`local_input::read_message`]), the errors
/// as sendmail's exit codes.
pub fn read_message(input: impl Read, ignore_dots: bool, max: usize) -> Result<Message, Exit> {
    local_input::read_message(input, ignore_dots, max).map_err(|e| match e {
        ReadError::TooLarge => exit(
            EX_DATAERR,
            format!(
                "the message is larger than smtp.max_message_size ({max} octets): nothing sent"
            ),
        ),
        ReadError::Io(e) => exit(EX_DATAERR, format!("cannot read the message: {e}")),
    })
}

/// Bcc removed; From:, Date: and Message-ID: added when missing (as Postfix's cleanup
/// does for local submissions); the whole message as sent.
pub fn prepare(message: &Message, sender: &str, full_name: Option<&str>, host: &str) -> Vec<u8> {
    let has = |name: &str| {
        message
            .header
            .iter()
            .any(|f| field_name(f).eq_ignore_ascii_case(name))
    };
    let mut out = Vec::with_capacity(message.body.len() + 1024);
    for field in &message.header {
        if field_name(field).eq_ignore_ascii_case("bcc") {
            continue;
        }
        out.extend_from_slice(field.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !has("from") {
        let from = match full_name {
            Some(name) => format!(
                "From: \"{}\" <{sender}>\r\n",
                name.replace(['"', '\\', '\r', '\n'], "")
            ),
            None => format!("From: {sender}\r\n"),
        };
        out.extend_from_slice(from.as_bytes());
    }
    if !has("date") {
        out.extend_from_slice(
            format!(
                "Date: {}\r\n",
                estafeta_net::dates::rfc5322_date(estafeta_store::now())
            )
            .as_bytes(),
        );
    }
    if !has("message-id") {
        out.extend_from_slice(
            format!(
                "Message-ID: <{}@{host}>\r\n",
                estafeta_store::new_queue_id()
            )
            .as_bytes(),
        );
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&message.body);
    out
}

/// The local user running the command, and whether `allowed` lets them send.
pub fn local_user(allowed: &[String]) -> Result<String, Exit> {
    let uid = nix::unistd::Uid::current();
    let name = nix::unistd::User::from_uid(uid)
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| uid.to_string());
    if may_send(&name, uid.is_root(), allowed) {
        Ok(name)
    } else {
        Err(exit(
            EX_NOPERM,
            format!("user {name} may not send mail with sendmail (sendmail.allowed_users)"),
        ))
    }
}

/// Root always; others when `allowed` holds `*` or their name.
fn may_send(name: &str, root: bool, allowed: &[String]) -> bool {
    root || allowed.iter().any(|a| a == "*" || a == name)
}

/// One SMTP conversation with the server.
struct Smtp {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    verbose: bool,
}

impl Smtp {
    fn connect(at: SocketAddr, verbose: bool) -> std::io::Result<Smtp> {
        let stream = TcpStream::connect_timeout(&at, Duration::from_secs(10))?;
        stream.set_read_timeout(Some(REPLY_TIMEOUT))?;
        stream.set_write_timeout(Some(REPLY_TIMEOUT))?;
        let writer = stream.try_clone()?;
        Ok(Smtp {
            reader: BufReader::new(stream),
            writer,
            verbose,
        })
    }

    /// The reply: its code and its last line.
    fn reply(&mut self) -> std::io::Result<(u16, String)> {
        loop {
            let mut line = Vec::new();
            let n = (&mut self.reader)
                .take(MAX_REPLY_LINE as u64)
                .read_until(b'\n', &mut line)?;
            if n == 0 {
                return Err(std::io::Error::other("the server closed the connection"));
            }
            let text = String::from_utf8_lossy(&line).trim_end().to_string();
            if self.verbose {
                eprintln!("<<< {text}");
            }
            let code = text.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
            if text.as_bytes().get(3) != Some(&b'-') {
                return Ok((code, text));
            }
        }
    }

    fn command(&mut self, line: &str) -> std::io::Result<(u16, String)> {
        if self.verbose {
            eprintln!(">>> {line}");
        }
        self.writer.write_all(format!("{line}\r\n").as_bytes())?;
        self.reply()
    }
}

/// An SMTP reply as an exit: 4xx temporary, 5.7.x not permitted, other 5xx data.
fn refused(what: &str, code: u16, text: &str) -> Exit {
    let status = if code / 100 == 4 {
        EX_TEMPFAIL
    } else if text.contains(" 5.7.") {
        EX_NOPERM
    } else {
        EX_DATAERR
    };
    let hint = if text.contains("5.7.1") {
        " (is 127.0.0.0/8 in smtp.trusted_networks?)"
    } else {
        ""
    };
    exit(status, format!("{what} refused: {text}{hint}"))
}

/// Hands the message to the server at `at`: the recipients it took, or why not.
pub fn submit(
    at: SocketAddr,
    sender: &str,
    recipients: &[String],
    message: &[u8],
    verbose: bool,
) -> Result<usize, Exit> {
    let io = |e: std::io::Error| exit(EX_TEMPFAIL, format!("the server at {at}: {e}"));
    let mut s = Smtp::connect(at, verbose).map_err(io)?;
    let (code, text) = s.reply().map_err(io)?;
    if code != 220 {
        return Err(refused("the connection", code, &text));
    }
    let (code, text) = s.command("EHLO localhost").map_err(io)?;
    if code != 250 {
        return Err(refused("EHLO", code, &text));
    }
    let (code, text) = s
        .command(&format!("MAIL FROM:<{sender}> SIZE={}", message.len()))
        .map_err(io)?;
    if code != 250 {
        return Err(refused("the sender", code, &text));
    }
    let mut taken = 0;
    let mut last_refusal = None;
    for r in recipients {
        let (code, text) = s.command(&format!("RCPT TO:<{r}>")).map_err(io)?;
        if code / 100 == 2 {
            taken += 1;
        } else {
            eprintln!("sendmail: {r}: {text}");
            last_refusal = Some((code, text));
        }
    }
    if taken == 0 {
        let _ = s.command("QUIT");
        return Err(match last_refusal {
            Some((code, text)) if code / 100 == 4 => refused("every recipient", code, &text),
            Some((_, text)) if text.contains(" 5.7.") => refused("every recipient", 550, &text),
            Some((_, text)) => exit(EX_NOUSER, format!("no recipient was taken: {text}")),
            None => exit(EX_USAGE, "no recipients"),
        });
    }
    let (code, text) = s.command("DATA").map_err(io)?;
    if code != 354 {
        return Err(refused("DATA", code, &text));
    }
    let mut data = Vec::with_capacity(message.len() + 64);
    for line in message.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b".") {
            data.push(b'.');
        }
        data.extend_from_slice(line);
    }
    if !data.ends_with(b"\r\n") {
        data.extend_from_slice(b"\r\n");
    }
    data.extend_from_slice(b".\r\n");
    s.writer.write_all(&data).map_err(io)?;
    let (code, text) = s.reply().map_err(io)?;
    if code != 250 {
        return Err(refused("the message", code, &text));
    }
    let _ = s.command("QUIT");
    Ok(taken)
}

/// `-bs`: standard input and output joined to an SMTP session with the server.
pub fn relay_session(at: SocketAddr) -> Result<(), Exit> {
    let io = |e: std::io::Error| exit(EX_TEMPFAIL, format!("the server at {at}: {e}"));
    let stream = TcpStream::connect_timeout(&at, Duration::from_secs(10)).map_err(io)?;
    let mut to_server = stream.try_clone().map_err(io)?;
    let mut from_server = stream;
    let upstream = std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut to_server);
        let _ = to_server.shutdown(std::net::Shutdown::Write);
    });
    std::io::copy(&mut from_server, &mut std::io::stdout().lock()).map_err(io)?;
    let _ = upstream.join();
    Ok(())
}

/// Where the running server takes mail: its first SMTP listener, a wildcard address
/// made loopback.
pub fn server_address(listeners: &[SocketAddr]) -> Option<SocketAddr> {
    let at = *listeners.first()?;
    let ip = match at.ip() {
        std::net::IpAddr::V4(v4) if v4.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(v6) if v6.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    };
    Some(SocketAddr::new(ip, at.port()))
}

/// What `sendmail` does once its flags are read and the configuration loaded: hand the
/// message to the server (`Deliver`), join an SMTP session (`Smtp`), or say that aliases
/// need no rebuilding. `Queue` is `estafeta queue list`, run by the caller.
pub fn run(request: &Request, config: &estafeta_config::Config) -> Result<(), Exit> {
    if request.mode == Mode::Aliases {
        println!(
            "newaliases: estafeta keeps aliases in its store (`estafeta alias list`); there is nothing to rebuild"
        );
        return Ok(());
    }
    let user = local_user(&config.sendmail.allowed_users)?;
    let Some(listeners) = crate::data_lock::running(&config.data_dir) else {
        return match request.mode {
            Mode::Smtp => Err(exit(
                EX_TEMPFAIL,
                format!(
                    "estafeta serve is not running on {}: -bs needs it; start it (or name its data \
                     directory with ESTAFETA_DATA_DIR or its configuration with -C)",
                    config.data_dir.display()
                ),
            )),
            _ => {
                let (sender, recipients, message) = envelope(request, config, &user)?;
                queue_in_store(config, &user, &sender, &recipients, message)
            }
        };
    };
    let at = server_address(&listeners).ok_or_else(|| {
        exit(
            EX_UNAVAILABLE,
            "the running server has no smtp listener to take the message: add one (port 25) to [[listener]]",
        )
    })?;
    if request.mode == Mode::Smtp {
        return relay_session(at);
    }
    let (sender, recipients, prepared) = envelope(request, config, &user)?;
    let taken = submit(at, &sender, &recipients, &prepared, request.verbose)?;
    if request.verbose {
        eprintln!("sendmail: handed to {at} for {taken} recipient(s)");
    }
    Ok(())
}

/// The message read from standard input and made ready, with its sender and recipients.
fn envelope(
    request: &Request,
    config: &estafeta_config::Config,
    user: &str,
) -> Result<(String, Vec<String>, Vec<u8>), Exit> {
    let max = usize::try_from(config.smtp.max_message_size).unwrap_or(usize::MAX);
    let message = read_message(std::io::stdin().lock(), request.ignore_dots, max)?;
    let host = config.hostname.trim_end_matches('.');
    let sender = match &request.sender {
        Some(s) if !s.is_empty() && !envelope_address_ok(s) => {
            return Err(exit(EX_USAGE, format!("-f {s:?}: not an address")));
        }
        Some(s) => s.clone(),
        None => format!("{user}@{host}"),
    };
    let mut recipients = request.recipients.clone();
    if request.from_headers {
        recipients.extend(header_recipients(&message.header));
    }
    for r in &recipients {
        if !envelope_address_ok(r) {
            return Err(exit(EX_NOUSER, format!("{r:?}: not an address")));
        }
    }
    if recipients.is_empty() {
        return Err(exit(
            EX_USAGE,
            "no recipients: give their addresses, or -t to take them from To:, Cc: and Bcc:",
        ));
    }
    let prepared = prepare(&message, &sender, request.full_name.as_deref(), host);
    Ok((sender, recipients, prepared))
}

/// With no server running: the message goes into the store as the server would take it
/// (a `Received:` field, the DKIM signature of its From: domain when that is the
/// sender's, local copies now, remote recipients queued for when the server starts).
/// Recipients nobody receives mail at are refused one by one; mailbox quotas are not
/// checked on this path.
fn queue_in_store(
    config: &estafeta_config::Config,
    user: &str,
    sender: &str,
    recipients: &[String],
    message: Vec<u8>,
) -> Result<(), Exit> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| exit(EX_TEMPFAIL, format!("cannot start: {e}")))?;
    runtime.block_on(async {
        let settings = crate::settings::Settings {
            config: config.clone(),
            origin: None,
        };
        let store = settings.open_store().await.map_err(|f| {
            exit(
                EX_TEMPFAIL,
                format!("the store cannot be opened: {}", f.message),
            )
        })?;
        let mut envelope = estafeta_store::Envelope {
            sender: sender.to_string(),
            auth_user: None,
            ..Default::default()
        };
        let mut refused = 0;
        for r in recipients {
            let resolution = store
                .resolve(r)
                .await
                .map_err(|e| exit(EX_TEMPFAIL, format!("{r}: {e}")))?;
            match estafeta_store::Envelope::to_resolved(sender, r, resolution) {
                Some(one) => {
                    for u in one.local {
                        if !envelope.local.iter().any(|l| l.id == u.id) {
                            envelope.local.push(u);
                        }
                    }
                    for remote in one.remote {
                        if !envelope.remote.iter().any(|x| x.address == remote.address) {
                            envelope.remote.push(remote);
                        }
                    }
                }
                None => {
                    eprintln!("sendmail: {r}: no such user here");
                    refused += 1;
                }
            }
        }
        if envelope.local.is_empty() && envelope.remote.is_empty() {
            return Err(exit(
                EX_NOUSER,
                format!("no recipient was taken ({refused} unknown)"),
            ));
        }
        let queue_id = estafeta_store::new_queue_id();
        let host = config.hostname.trim_end_matches('.');
        let now = estafeta_store::now();
        let mut body = format!(
            "Received: from local user {user} by {host} (estafeta sendmail, server not running)\r\n\
             \tid {queue_id}; {}\r\n",
            estafeta_net::dates::rfc5322_date(now)
        )
        .into_bytes();
        body.extend_from_slice(&message);
        if let (Some(from), Some((_, domain))) = (
            estafeta_trust::signing::from_domain(&body),
            sender.rsplit_once('@'),
        ) && from.eq_ignore_ascii_case(domain)
        {
            let signatures = estafeta_trust::signing::Signer::new(store.clone())
                .sign(&from, &body)
                .await;
            body.splice(0..0, signatures.into_bytes());
        }
        let message_id = estafeta_mime::message_id_of(&body);
        let accept = envelope.accept(queue_id.clone(), body, message_id, now);
        store.accept(accept).await.map_err(|e| {
            exit(
                EX_TEMPFAIL,
                format!("the store did not take the message: {e}"),
            )
        })?;
        store.close().await;
        eprintln!(
            "sendmail: estafeta serve is not running: queued as {queue_id} in the store; mail to \
             other servers leaves when it starts"
        );
        if refused > 0 {
            return Err(exit(
                EX_NOUSER,
                format!("{refused} recipient(s) unknown (see above)"),
            ));
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn flags_as_applications_write_them() {
        let r = parse(&args(&[
            "-t",
            "-i",
            "-fbounce@example.com",
            "-F",
            "Web Shop",
        ]))
        .unwrap();
        assert!(r.from_headers && r.ignore_dots);
        assert_eq!(r.sender.as_deref(), Some("bounce@example.com"));
        assert_eq!(r.full_name.as_deref(), Some("Web Shop"));
        let r = parse(&args(&[
            "-oi", "-f", "a@b.test", "-odi", "-oem", "x@y.test", "z@y.test",
        ]))
        .unwrap();
        assert!(r.ignore_dots && !r.from_headers);
        assert_eq!(r.recipients, ["x@y.test", "z@y.test"]);
        assert!(parse(&args(&["-ti"])).unwrap().ignore_dots);
        assert_eq!(parse(&args(&["-bs"])).unwrap().mode, Mode::Smtp);
        assert_eq!(parse(&args(&["-bp"])).unwrap().mode, Mode::Queue);
        assert_eq!(parse(&args(&["-I"])).unwrap().mode, Mode::Aliases);
        assert_eq!(
            parse(&args(&["--", "-odd@x.test"])).unwrap().recipients,
            ["-odd@x.test"]
        );
        assert_eq!(parse(&args(&["-f"])).unwrap_err().code, EX_USAGE);
        assert_eq!(parse(&args(&["-bz"])).unwrap_err().code, EX_USAGE);
        assert_eq!(parse(&args(&["-k"])).unwrap_err().code, EX_USAGE);
    }

    #[test]
    fn messages_are_read_with_their_header() {
        let m = read_message(
            &b"To: a@x.test,\n  b@x.test\nBcc: c@x.test\nSubject: hi\n\nline\n.\nafter\n"[..],
            false,
            1000,
        )
        .unwrap();
        assert_eq!(m.header.len(), 3);
        assert_eq!(m.body, b"line\r\n");
        let m = read_message(&b"Subject: hi\n\nline\n.\nafter"[..], true, 1000).unwrap();
        assert_eq!(m.body, b"line\r\n.\r\nafter\r\n");
        assert_eq!(
            header_recipients(
                &read_message(
                    &b"To: a@x.test,\n  \"B\" <b@x.test>\nCc: c@x.test\nBcc: d@x.test\n\n"[..],
                    true,
                    1000
                )
                .unwrap()
                .header
            ),
            ["a@x.test", "b@x.test", "c@x.test", "d@x.test"]
        );
        let no_header = read_message(&b"just text\nmore\n"[..], true, 1000).unwrap();
        assert!(no_header.header.is_empty() && no_header.body == b"just text\r\nmore\r\n");
        assert_eq!(
            read_message(&[b'x'; 2000][..], true, 1000)
                .unwrap_err()
                .code,
            EX_DATAERR
        );
    }

    #[test]
    fn who_may_send() {
        let list = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(may_send("www-data", false, &list(&["*"])));
        assert!(may_send("www-data", false, &list(&["cron", "www-data"])));
        assert!(!may_send("mallory", false, &list(&["cron", "www-data"])));
        assert!(!may_send("mallory", false, &[]));
        assert!(may_send("root", true, &[]), "root always");
    }

    #[test]
    fn bcc_goes_and_missing_fields_come() {
        let m = read_message(&b"To: a@x.test\nBcc: secret@x.test\n\nhi\n"[..], true, 1000).unwrap();
        let out = String::from_utf8(prepare(
            &m,
            "web@mail.test",
            Some("Web \"Shop\""),
            "mail.test",
        ))
        .unwrap();
        assert!(!out.contains("secret"));
        assert!(out.contains("From: \"Web Shop\" <web@mail.test>\r\n"));
        assert!(out.contains("\r\nDate: ") && out.contains("@mail.test>\r\n\r\nhi\r\n"));
    }
}
