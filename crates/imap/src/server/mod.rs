//! The IMAP server of the `imap` listeners: one session per connection, in three states
//! (not authenticated, authenticated, selected). A selected mailbox is a view — sequence
//! numbers, UIDs, flags, MODSEQs as the client last saw them — brought up to date between
//! commands and during IDLE, from the store's change notifications.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use estafeta_config::{Config, ListenerTls};
use estafeta_net::{
    AuthThrottle, CommandBudget, Connection, ConnectionLimits, IoError, Line, LineIo, Networks,
    RefusalWords, Service, TlsSetup, sasl,
};
use estafeta_store::{FlagChange, Flags, Mailbox, MailboxEntry, Store, StoreError, User};
use tracing::Instrument;

use crate::command::*;
use crate::framing::literal_at_end;
use crate::mime;
use crate::parser::parse_command;
use crate::response::{flag_list, literal, string};
use crate::sequence::SequenceSet;
use input::{Input, MAX_LINE};

mod auth;
mod dispatch;
mod fetch;
mod find;
mod folders;
mod input;
mod keywords;
mod metadata;
mod notify;
mod recent;
mod searchres;
mod snapshots;
mod sort;
mod summaries;
mod thread;
mod update;
mod view;

/// What the sessions read from the configuration.
#[derive(Clone)]
pub(crate) struct ImapSettings {
    pub allow_plaintext_on_loopback: bool,
    /// RFC 9051 §5.4: at least 30 minutes; not configurable.
    pub idle_timeout: Duration,
    /// Largest message APPEND takes (APPENDLIMIT): `smtp.max_message_size`.
    pub max_message_size: u64,
    /// From its first octet, the time a command (each literal adds as much again, plus
    /// time for its size) may take to arrive (`imap.command_timeout`).
    pub command_timeout: Duration,
    /// `BAD` replies (and refused literals) in a session before `* BYE Too many invalid
    /// commands` (`imap.max_bad_commands`).
    pub max_bad_commands: u32,
    /// The server's `/shared/admin` METADATA entry: `mailto:postmaster@` + `hostname`.
    pub admin: String,
    /// SEARCH TEXT/BODY narrowed by the store's search index (`imap.search_index`).
    pub search_index: bool,
}

struct ImapState {
    store: Arc<dyn Store>,
    tls: TlsSetup,
    throttle: Arc<AuthThrottle>,
    settings: ImapSettings,
    snapshots: snapshots::Snapshots,
    summaries: summaries::SummaryCache,
    /// The keywords told for each mailbox, offered again at its next SELECT.
    keywords: keywords::KeywordMemory,
    connections: Arc<ConnectionLimits>,
    /// Commands per minute per client before login.
    commands: CommandBudget,
}

#[derive(Clone)]
pub struct ImapServer {
    shared: Arc<ImapState>,
}

impl ImapServer {
    /// The server of the `imap` listeners, from the `[imap]` section (and
    /// `auth.allow_plaintext_on_loopback`, `smtp.max_message_size`,
    /// `smtp.trusted_networks`), with the failed-login throttle every protocol shares.
    pub fn new(
        config: &Config,
        store: Arc<dyn Store>,
        tls: TlsSetup,
        throttle: Arc<AuthThrottle>,
    ) -> ImapServer {
        let imap = &config.imap;
        let settings = ImapSettings {
            allow_plaintext_on_loopback: config.auth.allow_plaintext_on_loopback,
            idle_timeout: Duration::from_secs(30 * 60),
            max_message_size: config.smtp.max_message_size,
            command_timeout: Duration::from_secs(imap.command_timeout),
            max_bad_commands: imap.max_bad_commands,
            admin: format!("mailto:postmaster@{}", config.hostname),
            search_index: imap.search_index,
        };
        ImapServer {
            shared: Arc::new(ImapState {
                connections: ConnectionLimits::new(
                    imap.max_connections,
                    imap.max_connections_per_ip,
                ),
                // before login, except from `smtp.trusted_networks`
                commands: CommandBudget::new(
                    imap.unauthenticated_commands_per_minute,
                    throttle.ipv6_prefix(),
                    Networks::parse(&config.smtp.trusted_networks),
                ),
                store,
                tls,
                throttle,
                settings,
                snapshots: Default::default(),
                summaries: Default::default(),
                keywords: Default::default(),
            }),
        }
    }
}

#[async_trait]
impl Service for ImapServer {
    async fn handle(&self, conn: Connection) {
        let span = tracing::info_span!("imap", peer = %conn.peer, port = conn.local.port());
        let shared = self.shared.clone();
        async move {
            let _slot = conn.slot;
            let mut s = Session {
                tls: conn.stream.tls_info(),
                starttls_offered: conn.listener.tls == ListenerTls::Starttls,
                io: Some(LineIo::with_buffer(
                    conn.stream,
                    shared.settings.idle_timeout,
                    READ_BUFFER,
                )),
                peer: conn.peer,
                shared,
                user: None,
                view: None,
                condstore: false,
                qresync: false,
                rev2: false,
                uidonly: false,
                bad_commands: 0,
                ended: None,
                notify: None,
            };
            tracing::info!(tls = s.tls.is_some(), "connect");
            let end = s.serve().await;
            s.unselect();
            if let Some(io) = s.io.as_mut() {
                let _ = io.flush().await;
            }
            tracing::info!(user = ?s.user.as_ref().map(|u| &u.address), end, "disconnect");
        }
        .instrument(span)
        .await
    }

    fn limits(&self) -> &Arc<estafeta_net::ConnectionLimits> {
        &self.shared.connections
    }

    fn refusal_words(&self) -> &RefusalWords {
        static WORDS: RefusalWords = RefusalWords {
            permanent: Cow::Borrowed("* BYE"),
            temporary: Cow::Borrowed("* BYE [UNAVAILABLE]"),
        };
        &WORDS
    }
}

/// The read buffer of a connection: most IMAP connections spend their life in IDLE, so
/// it is kept small; long lines and literals are read across several fills.
const READ_BUFFER: usize = 4 * 1024;
/// Messages whose bodies one query reads (FETCH, SEARCH, SORT, THREAD).
const BODY_BATCH: usize = 200;
/// Bodies of one batch: about this many octets at most (one larger message excepted).
const BATCH_BYTES: i64 = 8 << 20;

/// `items` in consecutive runs whose bodies are read in one query: at most
/// [`BODY_BATCH`] messages and about [`BATCH_BYTES`] octets each (by `size`), so that a
/// folder of large messages never has hundreds of them in memory at once; a message
/// larger than that, or one `alone` picks, is a run of its own.
fn body_batches<T>(items: &[T], size: impl Fn(&T) -> i64, alone: impl Fn(&T) -> bool) -> Vec<&[T]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0i64);
    for (i, item) in items.iter().enumerate() {
        let n = size(item).max(0);
        let full = i - start >= BODY_BATCH || bytes.saturating_add(n) > BATCH_BYTES;
        if start < i && (alone(item) || full) {
            out.push(&items[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes = bytes.saturating_add(n);
        if alone(item) {
            out.push(&items[i..=i]);
            (start, bytes) = (i + 1, 0);
        }
    }
    if start < items.len() {
        out.push(&items[start..]);
    }
    out
}

struct Session {
    shared: Arc<ImapState>,
    io: Option<LineIo>,
    peer: SocketAddr,
    tls: Option<(String, String)>,
    starttls_offered: bool,
    user: Option<User>,
    view: Option<View>,
    /// CONDSTORE is on (ENABLE, or a CONDSTORE parameter or item used): MODSEQs shown.
    condstore: bool,
    /// ENABLE QRESYNC: expunges reported as VANISHED.
    qresync: bool,
    /// ENABLE IMAP4rev2: the RFC 9051 forms of responses (ESEARCH, no RECENT).
    rev2: bool,
    /// ENABLE UIDONLY (RFC 9586): no sequence numbers either way; UIDFETCH, VANISHED.
    uidonly: bool,
    /// `BAD` replies and refused literals so far (see `input`).
    bad_commands: u32,
    /// Why a command ended the session, when it was not LOGOUT (for the log).
    ended: Option<&'static str>,
    /// NOTIFY SET is in force (RFC 5465): what to tell, and what was told.
    notify: Option<Box<notify::Notifier>>,
}

type Step = Result<bool, IoError>;

/// The selected mailbox as the client knows it.
struct View {
    mailbox: Mailbox,
    read_only: bool,
    /// Every change up to this MODSEQ has been reported to the client.
    modseq: i64,
    /// In UID order; index + 1 is the sequence number. ImapState with the snapshot it came
    /// from until changed.
    entries: Arc<Vec<MailboxEntry>>,
    /// UIDs expunged by others and not yet told, because the commands since could not.
    pending_expunge: Vec<u32>,
    changes: tokio::sync::broadcast::Receiver<estafeta_store::MailboxChange>,
    /// The keywords the client has been told in FLAGS.
    keywords: keywords::Keywords,
    /// The messages recent to this session (IMAP4rev1's `\Recent`).
    recent: recent::Recent,
    /// UIDs of the result `SEARCH RETURN (SAVE)` kept, ascending (`$`, SEARCHRES).
    saved: Vec<u32>,
}

#[cfg(test)]
mod tests {
    use super::{BATCH_BYTES, BODY_BATCH, body_batches};

    #[test]
    fn body_batches_are_bounded_by_count_and_octets() {
        let lens = |sizes: &[i64], alone: &dyn Fn(&i64) -> bool| -> Vec<usize> {
            body_batches(sizes, |s| *s, alone)
                .iter()
                .map(|b| b.len())
                .collect()
        };
        let small = vec![1i64; BODY_BATCH * 2 + 3];
        assert_eq!(lens(&small, &|_| false), [BODY_BATCH, BODY_BATCH, 3]);
        // octets: four of a third each fill one run and start the next
        let third = BATCH_BYTES / 3;
        assert_eq!(lens(&[third; 4], &|_| false), [3, 1]);
        // a message over the bound is a run of its own; so is one picked to be alone
        let big = BATCH_BYTES * 3;
        assert_eq!(lens(&[1, big, 1, 1], &|_| false), [1, 1, 2]);
        assert_eq!(lens(&[1, 5, 1, 5], &|s| *s == 5), [1, 1, 1, 1]);
        assert!(lens(&[], &|_| false).is_empty());
        // every item once, in order
        let sizes: Vec<i64> = (0..1000).map(|i| (i % 7) * third / 2).collect();
        let joined: Vec<i64> = body_batches(&sizes, |s| *s, |s| *s == 0).concat();
        assert_eq!(joined, sizes);
    }
}
