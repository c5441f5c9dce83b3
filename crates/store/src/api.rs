//! The store's interface: one trait per concern, each implemented (for `SqlStore`) in the
//! module that holds its SQL, and [`Store`], the one handle (`Arc<dyn Store>`) protocol code
//! and the CLI are given. Nothing outside this crate sees SQL or knows which engine is
//! underneath.

use async_trait::async_trait;
use tokio::sync::broadcast;

use crate::error::Result;
use crate::flags::Flags;
use crate::model::*;

/// Everything storage offers, on one engine.
#[async_trait]
pub trait Store:
    Directory
    + Suppressions
    + DkimKeys
    + TlsResults
    + DmarcRecords
    + Mailboxes
    + Folders
    + Messages
    + Queue
    + Changes
    + Metadata
    + SearchIndex
    + Emails
    + crate::stats::Statistics
    + crate::tracking::Tracking
    + SieveScripts
    + SharedCounts
{
    /// "sqlite" or "postgres".
    fn engine_name(&self) -> &'static str;

    /// Closes the connections, flushing what the engine buffers.
    async fn close(&self);
}

/// Counts the nodes of a cluster share (`shared_counts.rs`): sending rates and failed
/// logins, so that limits hold for the cluster (on PostgreSQL; on SQLite there is one
/// node and nothing to share).
#[async_trait]
pub trait SharedCounts: Send + Sync {
    /// Writes `node`'s counts of `scope` (replacing its previous ones) and returns the
    /// sums of the other nodes' counts written since `fresh_after`, by key.
    async fn exchange_counts(
        &self,
        node: &str,
        scope: &str,
        counts: &[(String, u64)],
        now: i64,
        fresh_after: i64,
    ) -> Result<Vec<(String, u64)>>;
}

/// Users' Sieve scripts (`sieve.rs`): by name, at most one active; and what Sieve
/// remembers between messages (vacation replies sent, duplicate ids). The store keeps
/// the text as given: compiling it is the caller's (ManageSieve, the CLI, delivery).
#[async_trait]
pub trait SieveScripts: Send + Sync {
    /// A user's scripts, by name (without their text).
    async fn sieve_scripts(&self, user_id: i64) -> Result<Vec<SieveScript>>;
    /// One script's text.
    async fn sieve_script(&self, user_id: i64, name: &str) -> Result<Option<String>>;
    /// Stores a script under `name`, replacing one of that name (its active mark kept).
    /// `OverQuota` when the user would hold more than `max_scripts` scripts or more than
    /// `max_bytes` of them; checked inside the writing transaction.
    async fn put_sieve_script(
        &self,
        user_id: i64,
        name: &str,
        text: &str,
        max_scripts: usize,
        max_bytes: usize,
    ) -> Result<()>;
    /// Whether `put_sieve_script` would fit (ManageSieve's HAVESPACE), without storing.
    async fn sieve_space(
        &self,
        user_id: i64,
        name: &str,
        size: usize,
        max_scripts: usize,
        max_bytes: usize,
    ) -> Result<bool>;
    /// `NotFound` when there is none; `Conflict` when it is the active one (RFC 5804
    /// §2.10: the active script is not deleted).
    async fn delete_sieve_script(&self, user_id: i64, name: &str) -> Result<()>;
    /// `NotFound`, or `AlreadyExists` for the new name.
    async fn rename_sieve_script(&self, user_id: i64, from: &str, to: &str) -> Result<()>;
    /// Makes `name` the active script (`None`: none active). `NotFound` when missing.
    async fn activate_sieve_script(&self, user_id: i64, name: Option<&str>) -> Result<()>;
    /// The active script of each of `user_ids` that has one: (user id, name, text).
    async fn active_sieve_scripts(&self, user_ids: &[i64]) -> Result<Vec<(i64, String, String)>>;
    /// Records (or clears) the error the last run of a script met.
    async fn set_sieve_error(&self, user_id: i64, name: &str, error: Option<&str>) -> Result<()>;
    /// Whether `key` of `kind` ("vacation", "duplicate") is remembered for the user and
    /// has not expired at `now`.
    async fn sieve_remembers(&self, user_id: i64, kind: &str, key: &str, now: i64) -> Result<bool>;
    /// Remembers `key` unless it is remembered and not expired at `now`, in one statement
    /// (two deliveries at once cannot both get `true`): `true` when this call remembered
    /// it, until `expires_at`.
    async fn sieve_remember_once(
        &self,
        user_id: i64,
        kind: &str,
        key: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool>;
    /// Remembers `key` until `expires_at` (replacing an older memory of it), and forgets
    /// the user's expired memories.
    async fn sieve_remember(
        &self,
        user_id: i64,
        kind: &str,
        key: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<()>;
}

/// IMAP METADATA (RFC 5464) entries of a user: the server's (`mailbox_id` `None`) and
/// each mailbox's, by entry name (`metadata.rs`).
#[async_trait]
pub trait Metadata: Send + Sync {
    /// The entries of the server or of one mailbox, by name.
    async fn metadata(
        &self,
        user_id: i64,
        mailbox_id: Option<i64>,
    ) -> Result<Vec<(String, Vec<u8>)>>;
    /// Sets (`Some`) or removes (`None`) entries, all in one transaction. When the target
    /// would then hold more than `max_entries`, nothing changes and the answer is false.
    async fn set_metadata(
        &self,
        user_id: i64,
        mailbox_id: Option<i64>,
        changes: &[(String, Option<Vec<u8>>)],
        max_entries: usize,
    ) -> Result<bool>;
}

/// Domains, users, logins, aliases, and where mail for an address goes (`directory.rs`).
#[async_trait]
pub trait Directory: Send + Sync {
    // ---- domains ----
    async fn add_domain(&self, name: &str) -> Result<Domain>;
    /// Refuses while the domain still has users or aliases.
    async fn remove_domain(&self, name: &str) -> Result<()>;
    async fn list_domains(&self) -> Result<Vec<Domain>>;
    async fn is_local_domain(&self, name: &str) -> Result<bool>;

    // ---- users ----
    /// Creates the user and the default folders (INBOX, Sent, Drafts, Junk, Trash, Archive).
    async fn add_user(&self, user: NewUser) -> Result<User>;
    /// Creates the user as [`Directory::add_user`] does, with a password hash made
    /// elsewhere (SHA-512/256-crypt, bcrypt or argon2, as a Dovecot passwd-file holds
    /// them; `user.password` is not used). Its first login with the password stores an
    /// argon2id hash and the SCRAM keys in its place.
    async fn add_user_with_hash(&self, user: NewUser, hash: &str) -> Result<User>;
    /// Removes the user, their folders and their messages.
    async fn remove_user(&self, address: &str) -> Result<()>;
    async fn set_password(&self, address: &str, password: &str) -> Result<()>;
    async fn update_user(&self, address: &str, changes: UserChanges) -> Result<User>;
    async fn get_user(&self, address: &str) -> Result<Option<User>>;
    /// Makes a user an administrator of the web admin pages, or not.
    async fn set_admin(&self, address: &str, admin: bool) -> Result<()>;
    async fn list_users(&self, domain: Option<&str>) -> Result<Vec<User>>;
    /// The user if the password is right, `None` otherwise (unknown user included).
    /// Stores the user's SCRAM keys if they have none yet (users created before SCRAM).
    async fn authenticate(&self, address: &str, password: &str) -> Result<Option<User>>;
    /// What a SCRAM-SHA-256 login by `name` is checked against: the user's keys, or a
    /// decoy for an unknown user or one without keys.
    async fn scram_secrets(&self, name: &str) -> Result<ScramSecrets>;
    /// The secret SRS addresses are signed with: made on first use, the same on every
    /// node.
    async fn srs_secret(&self) -> Result<Vec<u8>>;
    /// The secret web sign-ins and their forms are signed with: made on first use, the
    /// same on every node.
    async fn web_secret(&self) -> Result<Vec<u8>>;

    // ---- aliases ----
    async fn add_alias(&self, address: &str, targets: &[String]) -> Result<()>;
    /// Removes one target of an alias, or all of them when `target` is `None`.
    async fn remove_alias(&self, address: &str, target: Option<&str>) -> Result<()>;
    async fn list_aliases(&self, domain: Option<&str>) -> Result<Vec<Alias>>;

    /// Where mail for `address` goes: users, aliases (nested), plus-addressing, catch-all
    /// (the algorithm is in `resolve.rs`).
    async fn resolve(&self, address: &str) -> Result<Resolution>;
}

/// Per-domain suppression lists of addresses that hard-bounced (`suppression.rs`).
#[async_trait]
pub trait Suppressions: Send + Sync {
    /// Records (or refreshes) several entries, on any of our domains, in one durable
    /// transaction: all or none (an unknown domain refuses the lot).
    async fn add_suppressions(&self, entries: &[NewSuppression]) -> Result<()>;
    async fn remove_suppression(&self, domain: &str, address: &str) -> Result<()>;
    async fn list_suppressions(&self, domain: Option<&str>) -> Result<Vec<Suppression>>;
    /// Switches refusal of suppressed recipients at submission on or off for a domain.
    async fn set_suppression_enforced(&self, domain: &str, enforced: bool) -> Result<()>;
    /// The entry refusing `address` to `domain`'s senders, if listed and enforced.
    async fn enforced_suppression(
        &self,
        domain: &str,
        address: &str,
    ) -> Result<Option<Suppression>>;
}

/// DKIM signing keys of our domains (`dkim_keys.rs`).
#[async_trait]
pub trait DkimKeys: Send + Sync {
    /// Adds a key (active) to one of our domains; refused when the selector is taken.
    async fn add_dkim_key(&self, key: NewDkimKey) -> Result<DkimKey>;
    /// Keys of one domain, or of all, by domain then age (oldest first).
    async fn list_dkim_keys(&self, domain: Option<&str>) -> Result<Vec<DkimKey>>;
    /// Makes a key sign new mail, or retires it.
    async fn set_dkim_key_active(&self, domain: &str, selector: &str, active: bool) -> Result<()>;
    async fn remove_dkim_key(&self, domain: &str, selector: &str) -> Result<()>;
}

/// Outcomes of outbound TLS sessions, counted for TLS reports (`tls_results.rs`).
#[async_trait]
pub trait TlsResults: Send + Sync {
    /// Adds each count to what its period, domain, policy and result already have.
    async fn add_tls_results(&self, results: &[TlsResult]) -> Result<()>;
    /// Removes and returns the counts of periods that ended at or before `ended_by`; a
    /// count is given to one caller only, whichever node asks.
    async fn take_tls_results(&self, ended_by: i64) -> Result<Vec<TlsResult>>;
}

/// What DMARC checks found, counted for aggregate reports (`dmarc_records.rs`).
#[async_trait]
pub trait DmarcRecords: Send + Sync {
    /// Adds each count to what its period, domain, policy and row already have.
    async fn add_dmarc_records(&self, records: &[DmarcRecord]) -> Result<()>;
    /// Removes and returns the counts of periods that ended at or before `ended_by`, to
    /// one caller only.
    async fn take_dmarc_records(&self, ended_by: i64) -> Result<Vec<DmarcRecord>>;
}

/// Reading mailboxes and their messages, and removing messages (`mailbox.rs`).
#[async_trait]
pub trait Mailboxes: Send + Sync {
    async fn list_mailboxes(&self, user_id: i64) -> Result<Vec<Mailbox>>;
    async fn get_mailbox(&self, user_id: i64, name: &str) -> Result<Option<Mailbox>>;
    /// The mailbox by its id (a selected mailbox may be renamed meanwhile).
    async fn mailbox_by_id(&self, mailbox_id: i64) -> Result<Option<Mailbox>>;
    /// Takes the mailbox's recent messages for the caller (RFC 3501 §2.3.2): returns
    /// `(from, to)`, the messages with UIDs in `from+1..=to` are recent to this session
    /// and to no other.
    async fn claim_recent(&self, mailbox_id: i64) -> Result<(u32, u32)>;
    async fn list_messages(&self, mailbox_id: i64) -> Result<Vec<MailboxEntry>>;
    /// The message's bytes as a reader sees them: per-recipient prefix, then the body.
    async fn read_message(&self, mailbox_id: i64, uid: u32) -> Result<Option<Vec<u8>>> {
        Ok(self
            .read_messages(mailbox_id, uid, uid)
            .await?
            .pop()
            .map(|(_, m)| m))
    }
    /// Messages with UIDs in `first..=last` (those that exist), in UID order: one query
    /// for many messages.
    async fn read_messages(
        &self,
        mailbox_id: i64,
        first: u32,
        last: u32,
    ) -> Result<Vec<(u32, Vec<u8>)>>;
    /// Octets `start..start + len` of a message as readers see it (prefix, then body),
    /// fewer at its end: a large message sent in pieces, never held whole. `None` when
    /// the message is gone.
    async fn read_message_range(
        &self,
        mailbox_id: i64,
        uid: u32,
        start: u64,
        len: u64,
    ) -> Result<Option<Vec<u8>>>;
    /// For UIDs `first..=last`, what a reader cached about each body (`None` where nothing
    /// is cached yet). The store keeps these bytes without looking into them.
    async fn read_summaries(&self, mailbox_id: i64, first: u32, last: u32) -> Result<Vec<Summary>>;
    /// Caches summaries by body hash; they go when the body goes.
    async fn save_summaries(&self, summaries: &[(String, Vec<u8>)]) -> Result<()>;
    /// Removes messages; bodies nobody references any more are deleted. Returns the MODSEQ.
    async fn expunge(&self, mailbox_id: i64, uids: &[u32]) -> Result<i64>;
    /// Removes those of `uids` that still carry `\Deleted` (IMAP EXPUNGE); returns them.
    async fn expunge_deleted(&self, mailbox_id: i64, uids: &[u32]) -> Result<Vec<u32>>;
}

/// A user's folders: creating, renaming, deleting, subscribing (`folders.rs`).
#[async_trait]
pub trait Folders: Send + Sync {
    /// Creates a folder (`/` separates levels) with a fresh UIDVALIDITY.
    async fn create_mailbox(
        &self,
        user_id: i64,
        name: &str,
        special_use: Option<&str>,
    ) -> Result<Mailbox>;
    /// Renames a folder and its children; renaming INBOX moves its messages to the new
    /// folder and leaves INBOX empty.
    async fn rename_mailbox(&self, user_id: i64, from: &str, to: &str) -> Result<()>;
    /// Deletes a folder and its messages (not INBOX).
    async fn delete_mailbox(&self, user_id: i64, name: &str) -> Result<()>;
    async fn set_subscribed(&self, user_id: i64, name: &str, subscribed: bool) -> Result<()>;
    /// The subscribed names, mailbox or not, sorted.
    async fn subscriptions(&self, user_id: i64) -> Result<Vec<String>>;
}

/// What IMAP does to messages: APPEND, COPY, MOVE, STORE, the changes since a MODSEQ, and
/// the quota they count against (`messages.rs`).
#[async_trait]
pub trait Messages: Send + Sync {
    /// Adds a message to a folder (IMAP APPEND); refused over quota.
    async fn append(
        &self,
        mailbox_id: i64,
        message: &[u8],
        flags: &Flags,
        internal_date: i64,
    ) -> Result<Delivered>;
    /// Adds several messages to a folder, all or none (imports, IMAP MULTIAPPEND); the
    /// lot is refused when it would go over quota.
    async fn append_many(
        &self,
        mailbox_id: i64,
        messages: &[NewMessage<'_>],
    ) -> Result<Vec<Delivered>>;
    /// Copies messages to another folder of the same user; the bodies are shared.
    async fn copy_messages(&self, from: i64, uids: &[u32], to: i64) -> Result<Vec<CopiedUid>>;
    /// Copies and expunges in one transaction.
    async fn move_messages(&self, from: i64, uids: &[u32], to: i64) -> Result<Vec<CopiedUid>>;
    /// Changes flags of several messages, honouring UNCHANGEDSINCE.
    async fn store_flags(
        &self,
        mailbox_id: i64,
        uids: &[u32],
        change: FlagChange,
        flags: &Flags,
        unchanged_since: Option<i64>,
    ) -> Result<FlagUpdate>;
    /// Entries added or changed after a MODSEQ (CONDSTORE).
    async fn changed_since(&self, mailbox_id: i64, modseq: i64) -> Result<Vec<MailboxEntry>>;
    /// UIDs expunged after a MODSEQ (QRESYNC).
    async fn vanished_since(&self, mailbox_id: i64, modseq: i64) -> Result<Vec<u32>>;
    /// Bytes and messages a user stores, over all folders.
    async fn quota_usage(&self, user_id: i64) -> Result<(i64, i64)>;
}

/// Acceptance, the outbound queue, the reports it owes, and what left (`queue.rs`).
#[async_trait]
pub trait Queue: Send + Sync {
    /// In one durable transaction: stores the body once, appends it to each local
    /// recipient's INBOX and queues the remote recipients. Returns after the commit is on
    /// disk; concurrent calls share one commit (group commit).
    async fn accept(&self, message: Accept) -> Result<Accepted>;

    async fn queue_list(&self) -> Result<Vec<QueuedMessage>>;
    /// The queue in two figures, for monitoring: messages queued, and when the oldest
    /// was accepted (Unix seconds; `None` when the queue is empty).
    async fn queue_summary(&self) -> Result<(i64, Option<i64>)>;
    async fn queue_get(&self, queue_id: &str) -> Result<Option<QueuedMessage>>;
    /// The body of a queued message; `None` when it is not queued (any more).
    async fn queue_body(&self, queue_id: &str) -> Result<Option<Vec<u8>>>;
    /// Leases up to `max` due recipients (queued or deferred, next attempt ≤ now, no live
    /// lease) to `owner` until `now + lease_secs`. Several nodes may call this at once.
    async fn lease_due(
        &self,
        owner: &str,
        now: i64,
        max: i64,
        lease_secs: i64,
    ) -> Result<Vec<QueueRecipient>>;
    /// Records a delivery attempt's outcomes for recipients leased by `owner`, in one
    /// transaction, with the report each owes the sender (`RecipientUpdate::report`, kept
    /// with the recipient until it is queued). A message whose recipients are all final
    /// and that owes nothing is removed and its body released. A message that owes reports
    /// and has none of its recipients still leased is listed in `owed`; its body stays
    /// until [`Queue::queue_reports`] has its reports. Updates whose lease was lost are
    /// skipped and listed in `conflicts`.
    async fn record_attempt(
        &self,
        owner: &str,
        updates: &[RecipientUpdate],
    ) -> Result<AttemptRecorded>;
    /// Up to `max` messages that owe reports with none of their recipients leased: those
    /// `record_attempt` listed as owed and whose reports were never queued (the process
    /// stopped or failed in between), and those whose hand-over was stale.
    async fn reports_owed(&self, max: i64) -> Result<Vec<String>>;
    /// In one durable transaction: for each hand-over whose recipients still owe exactly
    /// the reports it names, accepts the report (a local recipient's copy straight into
    /// the INBOX, others through the queue), clears those marks (a "delayed" one is
    /// remembered as sent), and removes the message when it is then done, releasing its
    /// body. Other hand-overs are left alone and listed in `stale`.
    async fn queue_reports(&self, reports: &[ReportHandover]) -> Result<ReportsQueued>;
    /// Extends every lease `owner` holds to `until`.
    async fn renew_leases(&self, owner: &str, until: i64) -> Result<u64>;
    /// Gives up every lease `owner` holds, so that the work is due again at once, and
    /// its heartbeat.
    async fn release_leases(&self, owner: &str) -> Result<u64>;
    /// Records that `owner` is alive at `now`, and frees the leases of every node whose
    /// last heartbeat is older than `dead_before` (a node killed, or cut off): returns how
    /// many were freed.
    async fn heartbeat(&self, owner: &str, now: i64, dead_before: i64) -> Result<u64>;
    /// Frees every lease not `owner`'s: a process that is the only one on its store
    /// (SQLite) takes back at start what the process before it held.
    async fn release_other_leases(&self, owner: &str) -> Result<u64>;
    /// When the next waiting recipient becomes due (next attempt, or end of its lease).
    async fn queue_next_due(&self) -> Result<Option<i64>>;
    /// Makes the waiting recipients of one message, or of all, due now; returns how many.
    async fn queue_retry(&self, queue_id: Option<&str>) -> Result<u64>;
    /// Removes a message from the queue without a report; false when it is not queued.
    async fn queue_delete(&self, queue_id: &str) -> Result<bool>;
    /// Makes `accept` hand messages with remote recipients (bodies up to `max_body`
    /// bytes) to this process's delivery scheduler through `sender`, their recipients
    /// written leased to `owner` for `lease_secs` in the acceptance transaction — while
    /// the channel has room; otherwise they wait in the queue to be leased as usual.
    fn hand_off(
        &self,
        owner: &str,
        lease_secs: i64,
        max_body: usize,
        sender: tokio::sync::mpsc::Sender<Handoff>,
    );

    // ---- what left this server ----
    /// Messages delivered to remote servers within the last `SENT_RETENTION_SECS` whose
    /// queue id is in `queue_ids` or whose Message-ID is in `message_ids` (at most
    /// `MAX_LOOKUP_IDS` of each are looked up), with the recipients they were sent to.
    async fn sent_messages(
        &self,
        queue_ids: &[String],
        message_ids: &[String],
    ) -> Result<Vec<SentMessage>>;
}

/// JMAP's view of a user's messages (`emails.rs`): an Email is the user's copies of one
/// body, in whatever folders, and its id the body's hash.
#[async_trait]
pub trait Emails: Send + Sync {
    /// Every message of every folder of the user, by mailbox then UID.
    async fn user_messages(&self, user_id: i64) -> Result<Vec<MailboxEntry>>;
    /// The user's copies of the bodies named by their hashes, by mailbox then UID.
    async fn messages_by_hash(&self, user_id: i64, hashes: &[String]) -> Result<Vec<MailboxEntry>>;
    /// The bodies in a mailbox by the time they arrived (the earliest copy's), newest or
    /// oldest first, then by hash: `limit` of them from `offset`, with that time.
    async fn mailbox_emails(
        &self,
        mailbox_id: i64,
        newest_first: bool,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<(String, i64)>>;
    /// How many bodies a mailbox holds (copies of one body counted once).
    async fn mailbox_email_count(&self, mailbox_id: i64) -> Result<i64>;
    /// UIDs expunged after a MODSEQ, with their body's hash (`None` for those expunged
    /// before the store kept it).
    async fn expunged_since(
        &self,
        mailbox_id: i64,
        modseq: i64,
    ) -> Result<Vec<(u32, Option<String>)>>;
    /// Keeps an uploaded blob under `id` for `emails::UPLOAD_LIFETIME_SECS`, forgetting
    /// every older one; `OverQuota` when the user's uploads would hold more than
    /// `max_total` bytes.
    async fn put_upload(
        &self,
        user_id: i64,
        id: &str,
        content_type: &str,
        data: &[u8],
        now: i64,
        max_total: i64,
    ) -> Result<()>;
    /// An upload of the user's that has not expired at `now`.
    async fn upload(
        &self,
        user_id: i64,
        id: &str,
        now: i64,
    ) -> Result<Option<crate::emails::Upload>>;
}

/// The substring index behind IMAP SEARCH TEXT and BODY (`search.rs`): one document per
/// body, made in the background after the body is stored, gone with the body.
#[async_trait]
pub trait SearchIndex: Send + Sync {
    /// The UIDs of the mailbox's messages that may contain `needle` (case-insensitive, as
    /// SEARCH compares) in `scope`, in UID order: those whose indexed text holds it, and
    /// every message the index cannot answer for (body not indexed yet, text longer than
    /// the index keeps; for TEXT, a per-recipient prefix that may hold it). A superset of
    /// the matches, to be confirmed by the caller's matcher. `None` when the index cannot
    /// narrow the search for this string (too short: see `search.rs`).
    async fn search_candidates(
        &self,
        mailbox_id: i64,
        needle: &str,
        scope: SearchScope,
    ) -> Result<Option<Vec<u32>>>;
    /// Indexes up to `max` bodies that wait for it; returns how many it took (0: none
    /// wait). Several indexers (nodes) may run at once: each body is indexed once.
    async fn index_pending(&self, max: usize) -> Result<usize>;
    /// Woken when this process has stored bodies that wait for the indexer; a wake-up
    /// given while nobody waits is kept for the next wait.
    fn search_signal(&self) -> std::sync::Arc<tokio::sync::Notify>;
}

/// Being told of committed changes: mailboxes (IMAP IDLE) and queue work (`notify.rs`).
#[async_trait]
pub trait Changes: Send + Sync {
    /// A receiver of every mailbox change committed from now on (by this process, and on
    /// PostgreSQL by every node).
    async fn subscribe(&self) -> Result<broadcast::Receiver<MailboxChange>>;
    /// Woken whenever queue work becomes due now: a message with remote recipients
    /// accepted, a report queued, a retry asked for — by this process, and on PostgreSQL
    /// by any node. A wake-up given while nobody waits is kept for the next wait.
    async fn queue_signal(&self) -> Result<std::sync::Arc<tokio::sync::Notify>>;
}
