//! `estafeta import imap HOST[:PORT] --login NAME --user ADDRESS`: a user's mail copied
//! from the old server over IMAP while it still runs (Dovecot, Courier, Exchange, a
//! hosted mailbox), every folder with its flags and dates, into the same folders here.
//! The IMAP client is async-imap (the crate the tests use), over tokio-rustls: implicit
//! TLS on 993 by default, `--starttls` on 143, or `--plaintext` (loopback and trusted
//! networks only). Certificates are checked against the system's roots, `--ca-file`, or
//! not at all with `--insecure`.
//!
//! Folders are taken by name with the server's hierarchy delimiter turned into `/`;
//! a folder marked `\Sent`, `\Drafts`, `\Junk`, `\Trash` or `\Archive` (RFC 6154) goes
//! to our folder of that use. Messages already here are skipped as by the Maildir
//! import (same Message-ID, else the same octets), and those whose Message-ID is
//! already here are not even downloaded, so a second run just before the switch is
//! quick. The old server is only read (EXAMINE, BODY.PEEK).
//!
//! Bounds: the server is one the operator names, but its answers are still bounded —
//! each network step must finish within [`STEP_TIMEOUT`], a message larger than
//! [`MAX_MESSAGE`] by its RFC822.SIZE is skipped and counted, bodies are asked for at
//! most [`FETCH_MESSAGES`] or [`FETCH_BYTES`] (by RFC822.SIZE) at a time. async-imap
//! reads a literal as it arrives, so a server lying about sizes can make one fetch hold
//! what it sends within the step's time.

use std::collections::HashMap;
use std::fmt::Debug;
use std::io::IsTerminal;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_imap::types::{Fetch, Flag, NameAttribute};
use futures::TryStreamExt;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::import_mail::{Importer, Item, MAX_MESSAGE, importer, progress, summary};
use crate::failure::{CommandResult, Failure};
use estafeta_store::Store;

/// The longest any one network step (connect, a command and its answer) may take.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(300);
/// Bodies asked for in one UID FETCH: at most this many messages ...
pub const FETCH_MESSAGES: usize = 100;
/// ... and at most this many octets by their RFC822.SIZE (one larger message alone).
pub const FETCH_BYTES: u64 = 16 * 1024 * 1024;

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    Tls,
    StartTls,
    Plaintext,
}

/// Where to connect and how.
pub struct Source<'a> {
    pub server: &'a str,
    pub login: &'a str,
    pub security: Security,
    pub ca_file: Option<&'a Path>,
    pub insecure: bool,
    pub password_stdin: bool,
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send + Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Debug> Io for T {}
type Session = async_imap::Session<Box<dyn Io>>;

/// One message of a folder, before its body is fetched.
struct Meta {
    uid: u32,
    flags: Vec<String>,
    date: i64,
    size: u64,
    message_id: Option<String>,
}

pub async fn run(store: &dyn Store, source: &Source<'_>, user: &str) -> CommandResult {
    let mut importer = importer(store, user).await?;
    let password = read_password(source)?;
    let (host, port) = host_and_port(source.server, source.security)?;
    let mut session = connect(source, &host, port, &password).await?;
    let folders = folders(&mut session).await?;
    let bar = progress(0);
    let mut skipped = 0;
    for (remote, local) in &folders {
        skipped += copy_folder(&mut session, &mut importer, remote, local, &bar).await?;
    }
    importer.flush(&bar).await;
    bar.finish_and_clear();
    let _ = step("LOGOUT", session.logout()).await;
    summary(&importer.tally, skipped)
}

fn read_password(source: &Source<'_>) -> Result<String, Failure> {
    let password = if source.password_stdin {
        super::user::password_line()?
    } else if std::io::stdin().is_terminal() {
        rpassword::prompt_password(format!(
            "password of {} on {}: ",
            source.login, source.server
        ))
        .map_err(|e| Failure::new(format!("cannot read the password: {e}")))?
    } else {
        return Err(Failure::new(
            "no terminal to ask for the password: pipe it in with --password-stdin",
        ));
    };
    if password.is_empty() {
        return Err(Failure::new("the password may not be empty"));
    }
    Ok(password)
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`; the port defaults to 993 with TLS, 143
/// otherwise.
pub fn host_and_port(server: &str, security: Security) -> Result<(String, u16), Failure> {
    let default = if security == Security::Tls { 993 } else { 143 };
    let bad = || {
        Failure::new(format!(
            "{server:?} is not a server: give HOST, HOST:PORT or [IPv6]:PORT"
        ))
    };
    let (host, port) = if let Some(rest) = server.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        match after.strip_prefix(':') {
            Some(p) => (host, Some(p)),
            None if after.is_empty() => (host, None),
            None => return Err(bad()),
        }
    } else if server.matches(':').count() == 1 {
        let (h, p) = server.split_once(':').ok_or_else(bad)?;
        (h, Some(p))
    } else {
        (server, None)
    };
    if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c == '/') {
        return Err(bad());
    }
    let port = match port {
        Some(p) => p.parse::<u16>().ok().filter(|&p| p > 0).ok_or_else(bad)?,
        None => default,
    };
    Ok((host.to_string(), port))
}

async fn step<T, E: std::fmt::Display>(
    what: &str,
    f: impl Future<Output = Result<T, E>>,
) -> Result<T, Failure> {
    match tokio::time::timeout(STEP_TIMEOUT, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Failure::new(format!("{what}: {e}"))),
        Err(_) => Err(Failure::new(format!(
            "{what}: no answer within {} s",
            STEP_TIMEOUT.as_secs()
        ))),
    }
}

async fn connect(
    source: &Source<'_>,
    host: &str,
    port: u16,
    password: &str,
) -> Result<Session, Failure> {
    let at = format!("{host}:{port}");
    let tcp = step(
        &format!("cannot connect to {at}"),
        TcpStream::connect((host, port)),
    )
    .await?;
    let stream: Box<dyn Io> = match source.security {
        Security::Tls => Box::new(tls(source, host, tcp).await?),
        Security::Plaintext => Box::new(tcp),
        Security::StartTls => {
            let mut client = async_imap::Client::new(tcp);
            greeting(&mut client, &at).await?;
            step(
                &format!("{at} refused STARTTLS"),
                client.run_command_and_check_ok("STARTTLS", None),
            )
            .await?;
            Box::new(tls(source, host, client.into_inner()).await?)
        }
    };
    let mut client = async_imap::Client::new(stream);
    if source.security != Security::StartTls {
        greeting(&mut client, &at).await?;
    }
    match tokio::time::timeout(STEP_TIMEOUT, client.login(source.login, password)).await {
        Ok(Ok(session)) => Ok(session),
        Ok(Err((e, _))) => Err(Failure::new(format!(
            "{at} refused the login of {}: {e} (check the login name and password)",
            source.login
        ))),
        Err(_) => Err(Failure::new(format!("{at}: no answer to LOGIN"))),
    }
}

async fn greeting<T: AsyncRead + AsyncWrite + Unpin + Send + Debug>(
    client: &mut async_imap::Client<T>,
    at: &str,
) -> Result<(), Failure> {
    match step(at, client.read_response()).await? {
        Some(_) => Ok(()),
        None => Err(Failure::new(format!(
            "{at} closed the connection before its greeting"
        ))),
    }
}

async fn tls(
    source: &Source<'_>,
    host: &str,
    tcp: TcpStream,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, Failure> {
    let roots = if source.insecure {
        None
    } else if let Some(file) = source.ca_file {
        Some(estafeta_net::roots::from_file("--ca-file", file).map_err(Failure::new)?)
    } else {
        Some(estafeta_net::roots::system())
    };
    let connector = estafeta_net::client_tls::connector(roots.map(|r: Arc<_>| r))
        .map_err(|e| Failure::new(format!("TLS: {e}")))?;
    let name = match host.parse::<IpAddr>() {
        Ok(ip) => ServerName::IpAddress(ip.into()),
        Err(_) => ServerName::try_from(host.to_string())
            .map_err(|_| Failure::new(format!("{host:?} is not a host name")))?,
    };
    step(
        &format!(
            "TLS with {host} failed (a self-signed certificate: give its CA with --ca-file, or --insecure)"
        ),
        connector.connect(name, tcp),
    )
    .await
}

/// The folders to copy, as (their name there, our name), INBOX first.
async fn folders(session: &mut Session) -> Result<Vec<(String, String)>, Failure> {
    let names: Vec<_> = step("LIST", async {
        session.list(Some(""), Some("*")).await?.try_collect().await
    })
    .await?;
    let mut out = Vec::new();
    for n in &names {
        let attributes = n.attributes();
        // not a folder, or a virtual one whose messages are in others too (Gmail's
        // All Mail and Starred)
        if attributes.iter().any(|a| {
            matches!(
                a,
                NameAttribute::NoSelect | NameAttribute::All | NameAttribute::Flagged
            ) || format!("{a:?}")
                .to_ascii_lowercase()
                .contains("nonexistent")
        }) {
            continue;
        }
        let special = attributes.iter().find_map(|a| match a {
            NameAttribute::Sent => Some("Sent"),
            NameAttribute::Drafts => Some("Drafts"),
            NameAttribute::Junk => Some("Junk"),
            NameAttribute::Trash => Some("Trash"),
            NameAttribute::Archive => Some("Archive"),
            _ => None,
        });
        let local = local_name(n.name(), n.delimiter(), special);
        out.push((n.name().to_string(), local));
    }
    out.sort_by_key(|(_, local)| (local != "INBOX", local.clone()));
    Ok(out)
}

/// Our name for a folder there: its special use's folder, else its name with the
/// delimiter turned into `/` (and a `/` in a level's name into `_`), INBOX in any case
/// as INBOX.
pub fn local_name(remote: &str, delimiter: Option<&str>, special: Option<&str>) -> String {
    if let Some(special) = special {
        return special.to_string();
    }
    if remote.eq_ignore_ascii_case("INBOX") {
        return "INBOX".to_string();
    }
    let levels: Vec<String> = match delimiter {
        Some(d) if !d.is_empty() && d != "/" => {
            remote.split(d).map(|l| l.replace('/', "_")).collect()
        }
        _ => remote.split('/').map(str::to_string).collect(),
    };
    let mut levels: Vec<String> = levels.into_iter().filter(|l| !l.is_empty()).collect();
    if levels
        .first()
        .is_some_and(|l| l.eq_ignore_ascii_case("INBOX"))
        && levels.len() == 1
    {
        levels[0] = "INBOX".into();
    }
    levels.join("/")
}

fn flag_name(f: &Flag<'_>) -> Option<String> {
    Some(match f {
        Flag::Seen => "\\Seen".into(),
        Flag::Answered => "\\Answered".into(),
        Flag::Flagged => "\\Flagged".into(),
        Flag::Deleted => "\\Deleted".into(),
        Flag::Draft => "\\Draft".into(),
        Flag::Recent | Flag::MayCreate => return None,
        Flag::Custom(s) => s.to_string(),
    })
}

fn meta_of(f: &Fetch) -> Option<Meta> {
    let message_id = f
        .envelope()
        .and_then(|e| e.message_id.as_ref())
        .map(|id| String::from_utf8_lossy(id).trim().to_string())
        .filter(|id| !id.is_empty());
    Some(Meta {
        uid: f.uid?,
        flags: f.flags().filter_map(|f| flag_name(&f)).collect(),
        date: f
            .internal_date()
            .map_or_else(estafeta_store::now, |d| d.timestamp()),
        size: u64::from(f.size.unwrap_or(0)),
        message_id,
    })
}

/// Copies one folder; returns how many messages were too large.
async fn copy_folder(
    session: &mut Session,
    importer: &mut Importer<'_>,
    remote: &str,
    local: &str,
    bar: &indicatif::ProgressBar,
) -> Result<u64, Failure> {
    // async-imap quotes the name
    let mailbox = step(&format!("EXAMINE {remote}"), session.examine(remote)).await?;
    if mailbox.exists == 0 {
        return Ok(0);
    }
    let fetched: Vec<Fetch> = step(&format!("FETCH in {remote}"), async {
        session
            .uid_fetch("1:*", "(UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)")
            .await?
            .try_collect()
            .await
    })
    .await?;
    let mut metas: Vec<Meta> = fetched.iter().filter_map(meta_of).collect();
    drop(fetched);
    bar.inc_length(metas.len() as u64);
    let mut skipped = 0;
    // what is known to be here already, and what is too large, is never downloaded
    let mut wanted = Vec::new();
    for m in metas.drain(..) {
        if m.size > MAX_MESSAGE as u64 {
            skipped += 1;
            bar.inc(1);
            bar.suspend(|| {
                eprintln!(
                    "{local}: UID {} is larger than {MAX_MESSAGE} octets, skipped",
                    m.uid
                )
            });
            continue;
        }
        if let Some(id) = &m.message_id
            && importer.knows(local, &format!("id:{id}")).await?
        {
            importer.tally.existing += 1;
            bar.inc(1);
            continue;
        }
        wanted.push(m);
    }
    let by_uid: HashMap<u32, &Meta> = wanted.iter().map(|m| (m.uid, m)).collect();
    let mut start = 0;
    while start < wanted.len() {
        let mut end = start;
        let mut bytes = 0;
        while end < wanted.len()
            && end - start < FETCH_MESSAGES
            && (end == start || bytes + wanted[end].size <= FETCH_BYTES)
        {
            bytes += wanted[end].size;
            end += 1;
        }
        let set: Vec<String> = wanted[start..end]
            .iter()
            .map(|m| m.uid.to_string())
            .collect();
        let bodies: Vec<Fetch> = step(&format!("FETCH of bodies in {remote}"), async {
            session
                .uid_fetch(set.join(","), "(UID BODY.PEEK[])")
                .await?
                .try_collect()
                .await
        })
        .await?;
        for f in &bodies {
            let (Some(uid), Some(body)) = (f.uid, f.body()) else {
                continue;
            };
            let Some(meta) = by_uid.get(&uid) else {
                continue;
            };
            bar.inc(1);
            if body.len() > MAX_MESSAGE {
                skipped += 1;
                continue;
            }
            let item = Item {
                folder: local.to_string(),
                bytes: body.to_vec(),
                flags: meta.flags.clone(),
                date: meta.date,
            };
            importer.put(item, bar).await?;
        }
        start = end;
    }
    Ok(skipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_and_ports() {
        let ok = |s, sec| host_and_port(s, sec).ok();
        assert_eq!(
            ok("mail.old.test", Security::Tls),
            Some(("mail.old.test".into(), 993))
        );
        assert_eq!(
            ok("mail.old.test", Security::StartTls),
            Some(("mail.old.test".into(), 143))
        );
        assert_eq!(
            ok("10.0.0.1:1993", Security::Tls),
            Some(("10.0.0.1".into(), 1993))
        );
        assert_eq!(ok("[::1]:993", Security::Tls), Some(("::1".into(), 993)));
        assert_eq!(ok("[::1]", Security::Plaintext), Some(("::1".into(), 143)));
        assert_eq!(ok("::1", Security::Tls), Some(("::1".into(), 993)));
        for bad in [
            "",
            "host:0",
            "host:99999",
            "host:x",
            "[::1",
            "[::1]x",
            "a b",
            ":993",
        ] {
            assert!(ok(bad, Security::Tls).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn folder_names() {
        assert_eq!(local_name("INBOX", Some("."), None), "INBOX");
        assert_eq!(local_name("inbox", Some("/"), None), "INBOX");
        assert_eq!(local_name("Archive.2024", Some("."), None), "Archive/2024");
        assert_eq!(local_name("a/b.c", Some("."), None), "a_b/c");
        assert_eq!(local_name("Sent Items", Some("/"), Some("Sent")), "Sent");
        assert_eq!(local_name("x//y/", Some("/"), None), "x/y");
        assert_eq!(local_name("INBOX.Work", Some("."), None), "INBOX/Work");
    }
}
