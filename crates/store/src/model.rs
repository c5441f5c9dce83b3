//! The values the Store hands out and takes in. Plain data, no behaviour (the few values
//! with a text form have their own modules: `flags`, `dsn_params`).

use crate::dsn_params::{Notify, Ret};
use crate::flags::Flags;

/// A domain whose mail this server keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain {
    pub name: String,
    pub created_at: i64,
    /// Open and click tracking of the mail its users send (`Tracking`).
    pub tracking: bool,
}

/// An address on a domain's suppression list (it hard-bounced mail from that domain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppression {
    pub domain: String,
    pub address: String,
    /// The bounce that put it there, e.g. `550 5.1.1 user unknown (DSN of 2026-11-23)`.
    pub reason: String,
    pub created_at: i64,
    /// Whether the domain's senders are refused at RCPT.
    pub enforced: bool,
}

/// A mailbox owner who can log in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub address: String,
    pub domain: String,
    /// Storage allowed in bytes; 0 means no limit.
    pub quota_bytes: i64,
    /// POP3 leaves retrieved messages on the server unless the client deletes them.
    pub pop3_keep: bool,
    pub created_at: i64,
    /// May use the admin pages.
    pub admin: bool,
}

/// A user's SCRAM-SHA-256 keys (RFC 5802 §3): what the server needs to check a proof,
/// never the password.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramKeys {
    pub iterations: u32,
    pub salt: Vec<u8>,
    /// H(ClientKey)
    pub stored_key: [u8; 32],
    /// HMAC(SaltedPassword, "Server Key")
    pub server_key: [u8; 32],
}

impl std::fmt::Debug for ScramKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramKeys")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

/// What a SCRAM login by a name is checked against. For a name that cannot log in with
/// SCRAM the keys are a decoy: a salt that is stable per name (derived from a server
/// secret) and keys no proof matches, so the exchange looks like a real user's until
/// it fails at the proof, as a wrong password does.
#[derive(Debug, Clone)]
pub enum ScramSecrets {
    Stored { user: User, keys: ScramKeys },
    Decoy { keys: ScramKeys, why: ScramDecoy },
}

/// Why a SCRAM login is given decoy keys (for the log, never for the client).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScramDecoy {
    UnknownUser,
    /// The user exists but has no SCRAM keys yet: they come with the next password
    /// change or the next PLAIN/LOGIN login.
    NoKeys,
}

/// What `add_user` needs.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub address: String,
    pub password: String,
    pub quota_bytes: i64,
    pub pop3_keep: bool,
}

/// Changes to a user's settings; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    pub quota_bytes: Option<i64>,
    pub pop3_keep: Option<bool>,
}

/// One alias line: mail for `address` goes to `target`. `@domain` is the catch-all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias {
    pub address: String,
    pub target: String,
}

/// Where mail for an address goes, after aliases, plus-addressing and catch-all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// The domain is ours: deliver to these users and forward to these outside addresses.
    Deliver {
        users: Vec<User>,
        external: Vec<String>,
    },
    /// The domain is ours but nobody receives mail at this address.
    UnknownUser,
    /// The domain is not served here.
    NotLocal,
}

/// A folder of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    /// RFC 6154 role without the backslash: "Sent", "Drafts", "Junk", "Trash", "Archive".
    pub special_use: Option<String>,
    pub uidvalidity: u32,
    pub uidnext: u32,
    pub highestmodseq: i64,
    pub subscribed: bool,
    /// Messages with a higher UID are recent (`\Recent`) to the next session that takes
    /// them (`Mailboxes::claim_recent`).
    pub recent_uid: u32,
}

/// One message in a mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxEntry {
    pub mailbox_id: i64,
    pub uid: u32,
    pub blob_hash: String,
    pub flags: Flags,
    pub internal_date: i64,
    pub size: i64,
    pub modseq: i64,
    /// When the message was saved in this mailbox (SAVEDATE, RFC 8514), Unix seconds.
    pub saved_at: i64,
}

/// What a reader cached about a message's body (see `Mailboxes::read_summaries`).
#[derive(Debug, Clone)]
pub struct Summary {
    pub uid: u32,
    pub blob_hash: String,
    pub summary: Option<Vec<u8>>,
}

/// A local recipient of an accepted message.
#[derive(Debug, Clone)]
pub struct LocalDelivery {
    pub user_id: i64,
    /// Header lines written before the message for this recipient only (Return-Path:, …).
    pub prefix: Vec<u8>,
    /// Into the user's Junk folder (special-use `\Junk`) rather than INBOX; INBOX when
    /// the user has no Junk folder.
    pub junk: bool,
    /// Into this folder instead (Sieve's `fileinto`): INBOX when it does not exist,
    /// unless `create` (RFC 5490 `:create`), which makes it and the parents it needs.
    pub folder: Option<String>,
    pub create: bool,
    /// The flags the copy arrives with (Sieve's imap4flags).
    pub flags: crate::Flags,
}

/// A remote recipient of an accepted message, with its DSN parameters (RFC 3461).
#[derive(Debug, Clone, Default)]
pub struct RemoteRecipient {
    pub address: String,
    pub orcpt: Option<String>,
    pub notify: Option<Notify>,
}

/// Everything SMTP hands over before it may answer 250.
#[derive(Debug, Clone, Default)]
pub struct Accept {
    /// From [`crate::new_queue_id`], already written in the Received: header.
    pub queue_id: String,
    /// The message as it will be stored (headers added by us included).
    pub body: Vec<u8>,
    /// Envelope sender; empty for the null sender `<>`.
    pub sender: String,
    pub envid: Option<String>,
    pub ret: Option<Ret>,
    pub auth_user: Option<String>,
    pub local: Vec<LocalDelivery>,
    pub remote: Vec<RemoteRecipient>,
    /// Local recipients that cannot take the message (mailbox full on its real size,
    /// mailbox gone): queued already failing, so that delivery reports them to the sender.
    pub failed: Vec<FailedRecipient>,
    /// The message's Message-ID (without angle brackets), kept with the queued message and
    /// recorded when it is delivered, to recognise reports about it.
    pub message_id: Option<String>,
    pub internal_date: i64,
}

/// A recipient of an accepted message that cannot have it: it goes to the queue with
/// `reason` (an RFC 3463 code and text, `5.2.2 mailbox full`) and delivery fails it at once,
/// with the report its NOTIFY asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FailedRecipient {
    pub address: String,
    pub orcpt: Option<String>,
    pub notify: Option<Notify>,
    pub reason: String,
}

/// A message that left this server: the recipients a remote server accepted it for, as
/// recorded on delivery (kept [`crate::SENT_RETENTION_SECS`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentMessage {
    pub queue_id: String,
    pub message_id: Option<String>,
    /// The envelope sender.
    pub sender: String,
    /// Normalised addresses, in order.
    pub recipients: Vec<String>,
    /// When the last of them was delivered.
    pub sent_at: i64,
}

/// One entry for a domain's suppression list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDkimKey {
    pub domain: String,
    pub selector: String,
    /// `ed25519` or `rsa`.
    pub algorithm: String,
    /// Base64 of the DER: PKCS#8 for Ed25519, PKCS#1 for RSA.
    pub private_key: String,
    /// Base64, as the DNS record's `p=` holds it.
    pub public_key: String,
}

/// A DKIM signing key of one of our domains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimKey {
    pub domain: String,
    pub selector: String,
    pub algorithm: String,
    pub private_key: String,
    pub public_key: String,
    pub created_at: i64,
    /// Signs new mail; a retired key is only kept listed until removed.
    pub active: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSuppression {
    pub domain: String,
    pub address: String,
    pub reason: String,
}

/// Where an accepted message landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub queue_id: String,
    pub blob_hash: String,
    /// (user id, mailbox id, UID, MODSEQ) per local recipient.
    pub delivered: Vec<Delivered>,
}

/// One message for [`crate::Messages::append_many`].
#[derive(Debug, Clone, Copy)]
pub struct NewMessage<'a> {
    pub message: &'a [u8],
    pub flags: &'a crate::Flags,
    pub internal_date: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    pub user_id: i64,
    pub mailbox_id: i64,
    pub uid: u32,
    pub modseq: i64,
}

/// State of one recipient in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecipientState {
    Queued,
    Deferred,
    Delivered,
    Failed,
}

impl RecipientState {
    pub fn as_str(self) -> &'static str {
        match self {
            RecipientState::Queued => "queued",
            RecipientState::Deferred => "deferred",
            RecipientState::Delivered => "delivered",
            RecipientState::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => RecipientState::Queued,
            "deferred" => RecipientState::Deferred,
            "delivered" => RecipientState::Delivered,
            "failed" => RecipientState::Failed,
            _ => return None,
        })
    }

    pub fn is_final(self) -> bool {
        matches!(self, RecipientState::Delivered | RecipientState::Failed)
    }
}

/// One recipient of a queued message, as `queue list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueRecipient {
    pub id: i64,
    pub queue_id: String,
    pub address: String,
    pub domain: String,
    pub orcpt: Option<String>,
    pub notify: Option<Notify>,
    pub state: RecipientState,
    pub attempts: i64,
    pub next_attempt: i64,
    pub last_reply: Option<String>,
    /// The host that gave `last_reply` (`mx.example.com[192.0.2.1]:25`), if any did.
    pub last_host: Option<String>,
    /// When the last attempt ended (Unix seconds).
    pub last_attempt: Option<i64>,
    /// A report owed to the sender and not yet queued.
    pub report: Option<ReportKind>,
    /// A "delayed" report has been sent for this recipient.
    pub delay_reported: bool,
    pub lease_owner: Option<String>,
    pub lease_until: Option<i64>,
    /// Set for a local recipient that could not take the message once it was accepted
    /// (see [`FailedRecipient`]): delivery fails it with this reason, sending nothing.
    pub failure: Option<String>,
}

/// A queued message with its recipients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMessage {
    pub id: String,
    pub blob_hash: String,
    pub sender: String,
    pub envid: Option<String>,
    pub ret: Option<Ret>,
    pub size: i64,
    pub created_at: i64,
    /// The user who submitted it (SMTP AUTH), if one did.
    pub auth_user: Option<String>,
    pub recipients: Vec<QueueRecipient>,
}

/// What a delivery attempt did for one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Delivered { reply: String },
    Deferred { reply: String, next_attempt: i64 },
    Failed { reply: String },
}

/// Which delivery status notification (RFC 3464) a recipient's outcome calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportKind {
    /// Failed for good (a 5xx, or expired): `Action: failed`.
    Failed,
    /// Still being retried, past the warning time (NOTIFY=DELAY): `Action: delayed`.
    Delayed,
    /// Handed to a next hop that does not take DSN, for NOTIFY=SUCCESS: `Action: relayed`.
    Relayed,
}

impl ReportKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportKind::Failed => "failed",
            ReportKind::Delayed => "delayed",
            ReportKind::Relayed => "relayed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "failed" => ReportKind::Failed,
            "delayed" => ReportKind::Delayed,
            "relayed" => ReportKind::Relayed,
            _ => return None,
        })
    }
}

/// One recipient's outcome of a delivery attempt, as delivery records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientUpdate {
    pub recipient_id: i64,
    /// The recipient's message.
    pub queue_id: String,
    pub outcome: DeliveryOutcome,
    /// The host that answered, for `queue show` and the report's Remote-MTA.
    pub host: Option<String>,
    /// A report this outcome owes the sender (decided by delivery from NOTIFY).
    pub report: Option<ReportKind>,
}

/// A message with remote recipients, just accepted and already leased to this process's
/// delivery scheduler (see [`crate::Queue::hand_off`]): it comes in memory, so it need
/// not be leased and read back from the database.
#[derive(Debug, Clone)]
pub struct Handoff {
    /// The message, its recipients leased to the scheduler's owner.
    pub message: QueuedMessage,
    pub body: std::sync::Arc<Vec<u8>>,
}

/// What `record_attempt` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AttemptRecorded {
    /// Recipient ids whose update was refused: the lease is another worker's now, or the
    /// message was deleted meanwhile.
    pub conflicts: Vec<i64>,
    /// Messages that owe delivery reports and have no recipient in flight any more: their
    /// reports are to be built and handed to `Queue::queue_reports`, which alone releases
    /// their bodies.
    pub owed: Vec<String>,
    /// Messages finished and removed from the queue (their body released).
    pub finished: Vec<String>,
}

/// The delivery report a message owes, built by delivery, for `Queue::queue_reports`.
#[derive(Debug, Clone)]
pub struct ReportHandover {
    /// The reported message.
    pub queue_id: String,
    /// The recipients the report covers (id, the report each owed), as delivery read
    /// them: their marks are cleared, and only if they are all still these.
    pub recipients: Vec<(i64, ReportKind)>,
    /// The report, from `<>` (see [`crate::Envelope`]); `None`: nothing is sent (the
    /// marks are cleared all the same).
    pub report: Option<Accept>,
}

/// What `queue_reports` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportsQueued {
    /// (queue id of the reported message, queue id of the report) for every report queued.
    pub reports: Vec<(String, String)>,
    /// Messages finished and removed from the queue (their body released).
    pub finished: Vec<String>,
    /// Messages whose hand-over was refused because their marks are no longer those read
    /// (another node queued the report, more recipients owe one, or the message was
    /// deleted): read them again.
    pub stale: Vec<String>,
}

/// A mailbox changed (new message, flags, expunge, its METADATA): sent to watchers such
/// as IMAP IDLE and NOTIFY. `mailbox_id` 0 (no mailbox has it) says that the user's
/// folders (created, renamed, deleted), subscriptions or server METADATA changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailboxChange {
    pub user_id: i64,
    pub mailbox_id: i64,
}

/// A message copied or moved: its UID in the source and in the target (UIDPLUS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopiedUid {
    pub source: u32,
    pub target: u32,
}

/// Which text of a message a search string is looked for in (IMAP SEARCH).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchScope {
    /// The decoded text of the text parts (SEARCH BODY).
    Body,
    /// The whole message as it is, header included, or the decoded text (SEARCH TEXT).
    Text,
}

/// How STORE changes flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagChange {
    Replace,
    Add,
    Remove,
}

/// What a STORE did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlagUpdate {
    /// The MODSEQ the changed messages now have.
    pub modseq: i64,
    /// (UID, new flags) of each message whose flags changed.
    pub changed: Vec<(u32, Flags)>,
    /// (UID, flags, MODSEQ) of each message named whose flags were already so: what
    /// they are now, which another session may have changed since the caller looked.
    pub unchanged: Vec<(u32, Flags, i64)>,
    /// UIDs left alone because they changed after UNCHANGEDSINCE.
    pub modified: Vec<u32>,
}

/// A count of outbound TLS sessions with one outcome, for a TLS report (RFC 8460). Empty
/// strings stand for "none".
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsResult {
    /// The reporting period, seconds since the epoch (a UTC day unless configured).
    pub period_start: i64,
    pub period_end: i64,
    /// The recipient domain whose policy applied.
    pub domain: String,
    /// `sts`, `tlsa` or `no-policy-found`.
    pub policy_type: String,
    /// The policy's lines, joined by `\n`.
    pub policy: String,
    /// The policy's `mx` patterns, joined by `\n`.
    pub mx_patterns: String,
    /// `success`, or an RFC 8460 result type such as `certificate-host-mismatch`.
    pub result: String,
    pub receiving_mx: String,
    pub receiving_ip: String,
    pub count: i64,
}

/// A count of messages with one DMARC outcome, for an aggregate report (RFC 7489 §7.2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DmarcRecord {
    /// The reporting period, seconds since the epoch (a UTC day unless configured).
    pub period_start: i64,
    pub period_end: i64,
    /// The From: domain whose policy was evaluated.
    pub domain: String,
    /// Where it wants aggregate reports: addresses, joined by `\n`.
    pub rua: String,
    /// The policy it published, as mail-auth's JSON.
    pub policy: String,
    /// The result row (source address, identifiers, results), as mail-auth's JSON.
    pub record: String,
    pub count: i64,
}

/// One of a user's Sieve scripts, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SieveScript {
    pub name: String,
    pub active: bool,
    pub size: usize,
    pub updated_at: i64,
    /// What the last run of the script met, when it failed (the message was kept).
    pub last_error: Option<String>,
}
