//! The commands a client may send, as the session will receive them.

use crate::sequence::SequenceSet;

/// A tagged command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub tag: String,
    pub body: CommandBody,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandBody {
    Capability,
    Noop,
    Logout,
    StartTls,
    Authenticate {
        mechanism: String,
        initial: Option<String>,
    },
    Login {
        user: String,
        password: String,
    },
    Enable(Vec<String>),
    Select {
        mailbox: String,
        read_only: bool,
        condstore: bool,
        qresync: Option<Qresync>,
    },
    Create {
        mailbox: String,
        /// RFC 6154 use attributes as written (`\\Sent`), possibly none
        special_use: Vec<String>,
    },
    Delete(String),
    Rename {
        from: String,
        to: String,
    },
    Subscribe(String),
    Unsubscribe(String),
    List {
        reference: String,
        patterns: Vec<String>,
        selection: Vec<String>,
        returns: Vec<ListReturn>,
    },
    Lsub {
        reference: String,
        pattern: String,
    },
    Namespace,
    Status {
        mailbox: String,
        items: Vec<StatusItem>,
    },
    Append {
        mailbox: String,
        flags: Vec<String>,
        date: Option<i64>,
        message: Vec<u8>,
    },
    Idle,
    Check,
    Close,
    Unselect,
    Expunge,
    UidExpunge(SequenceSet),
    /// SORT (RFC 5256, with RFC 5957's DISPLAYFROM and DISPLAYTO).
    Sort {
        uid: bool,
        /// ESORT return options (RFC 5267); `Some(empty)` for `RETURN ()`.
        returns: Option<Vec<String>>,
        criteria: Vec<SortCriterion>,
        charset: String,
        key: SearchKey,
    },
    /// THREAD (RFC 5256 §3).
    Thread {
        uid: bool,
        algorithm: ThreadAlgorithm,
        charset: String,
        key: SearchKey,
    },
    Search {
        uid: bool,
        /// ESEARCH return options (RFC 4731); `Some(empty)` for `RETURN ()`.
        returns: Option<Vec<String>>,
        charset: Option<String>,
        key: SearchKey,
    },
    Fetch {
        uid: bool,
        set: SequenceSet,
        items: Vec<FetchItem>,
        changed_since: Option<u64>,
        vanished: bool,
    },
    Store {
        uid: bool,
        set: SequenceSet,
        unchanged_since: Option<u64>,
        action: StoreAction,
        silent: bool,
        flags: Vec<String>,
    },
    Copy {
        uid: bool,
        set: SequenceSet,
        mailbox: String,
    },
    Move {
        uid: bool,
        set: SequenceSet,
        mailbox: String,
    },
    GetQuota(String),
    GetQuotaRoot(String),
    Id(Vec<(String, Option<String>)>),
    Compress(String),
    /// GETMETADATA (RFC 5464): the mailbox (`""` the server), the entries, and the
    /// options MAXSIZE and DEPTH (0, 1, or `u32::MAX` for infinity).
    GetMetadata {
        mailbox: String,
        entries: Vec<String>,
        max_size: Option<u64>,
        depth: u32,
    },
    /// SETMETADATA: entries and their values (`None` for NIL: remove).
    SetMetadata {
        mailbox: String,
        entries: Vec<(String, Option<Vec<u8>>)>,
    },
    /// NOTIFY (RFC 5465): `None` for NOTIFY NONE, else what NOTIFY SET asks for.
    Notify(Option<NotifySet>),
}

/// NOTIFY SET (RFC 5465 §3.1): whether STATUS is sent at once, and the event groups in
/// the order given (see `crate::notify` for the rules the parser enforces).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifySet {
    pub status: bool,
    pub groups: Vec<NotifyGroup>,
}

/// One event group: which mailboxes, and which events (empty for `NONE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyGroup {
    pub filter: NotifyFilter,
    pub events: Vec<NotifyEvent>,
}

/// The mailboxes of an event group (RFC 5465 §6). Names are as `Reader::mailbox` reads
/// them (INBOX in any case is `INBOX`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyFilter {
    Selected,
    SelectedDelayed,
    Inboxes,
    Personal,
    Subscribed,
    Subtree(Vec<String>),
    Mailboxes(Vec<String>),
}

impl NotifyFilter {
    pub fn is_selected(&self) -> bool {
        matches!(self, NotifyFilter::Selected | NotifyFilter::SelectedDelayed)
    }
}

/// An event type (RFC 5465 §5); `Other` is any other atom (answered `NO [BADEVENT]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyEvent {
    /// With the FETCH items to send for each new message (selected mailbox only).
    MessageNew(Vec<FetchItem>),
    MessageExpunge,
    FlagChange,
    AnnotationChange,
    MailboxName,
    SubscriptionChange,
    MailboxMetadataChange,
    ServerMetadataChange,
    Other(String),
}

impl NotifyEvent {
    /// The event's name as RFC 5465 spells it.
    pub fn name(&self) -> &str {
        match self {
            NotifyEvent::MessageNew(_) => "MessageNew",
            NotifyEvent::MessageExpunge => "MessageExpunge",
            NotifyEvent::FlagChange => "FlagChange",
            NotifyEvent::AnnotationChange => "AnnotationChange",
            NotifyEvent::MailboxName => "MailboxName",
            NotifyEvent::SubscriptionChange => "SubscriptionChange",
            NotifyEvent::MailboxMetadataChange => "MailboxMetadataChange",
            NotifyEvent::ServerMetadataChange => "ServerMetadataChange",
            NotifyEvent::Other(name) => name,
        }
    }

    /// A `message-event` (RFC 5465 §8), the only kind a selected filter may name.
    pub fn is_message_event(&self) -> bool {
        matches!(
            self,
            NotifyEvent::MessageNew(_)
                | NotifyEvent::MessageExpunge
                | NotifyEvent::FlagChange
                | NotifyEvent::AnnotationChange
        )
    }
}

/// QRESYNC parameters of SELECT/EXAMINE (RFC 7162 §3.2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Qresync {
    pub uidvalidity: u32,
    pub modseq: u64,
    pub known_uids: Option<SequenceSet>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListReturn {
    Subscribed,
    Children,
    SpecialUse,
    Status(Vec<StatusItem>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusItem {
    Messages,
    Recent,
    UidNext,
    UidValidity,
    Unseen,
    Deleted,
    Size,
    HighestModSeq,
    /// OBJECTID (RFC 8474).
    MailboxId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreAction {
    Replace,
    Add,
    Remove,
}

/// A section specifier: `1.2.HEADER.FIELDS (From To)`, `TEXT`, `2.MIME`, or empty.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Section {
    pub parts: Vec<u32>,
    pub text: Option<SectionText>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionText {
    Header,
    HeaderFields { not: bool, fields: Vec<String> },
    Text,
    Mime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchItem {
    Flags,
    InternalDate,
    Rfc822Size,
    Envelope,
    BodyStructure,
    /// `BODY` without a section: the non-extensible structure.
    Body,
    BodySection {
        peek: bool,
        section: Section,
        partial: Option<(u32, u32)>,
    },
    Binary {
        peek: bool,
        parts: Vec<u32>,
        partial: Option<(u32, u32)>,
    },
    BinarySize(Vec<u32>),
    Uid,
    ModSeq,
    Rfc822,
    Rfc822Header,
    Rfc822Text,
    /// OBJECTID (RFC 8474): the message's content id, and its thread (none: NIL).
    EmailId,
    ThreadId,
    /// PREVIEW (RFC 8970), with or without LAZY: the start of the text.
    Preview,
    /// SAVEDATE (RFC 8514): when the message was saved in this mailbox.
    SaveDate,
}

/// How THREAD groups messages (RFC 5256 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThreadAlgorithm {
    OrderedSubject,
    References,
}

/// One SORT criterion: what to compare, and whether the order is reversed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortCriterion {
    pub reverse: bool,
    pub key: SortKey,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Arrival,
    Cc,
    Date,
    From,
    Size,
    Subject,
    To,
    DisplayFrom,
    DisplayTo,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchKey {
    All,
    And(Vec<SearchKey>),
    Or(Box<SearchKey>, Box<SearchKey>),
    Not(Box<SearchKey>),
    SequenceSet(SequenceSet),
    Uid(SequenceSet),
    /// ANSWERED, DELETED, DRAFT, FLAGGED, SEEN, or KEYWORD x.
    Flag(String),
    /// UNANSWERED, UNDELETED, … or UNKEYWORD x.
    NotFlag(String),
    New,
    Old,
    Recent,
    Bcc(String),
    Cc(String),
    From(String),
    Subject(String),
    To(String),
    Body(String),
    Text(String),
    Header(String, String),
    /// Internal date, in days since the Unix epoch.
    Before(i64),
    On(i64),
    Since(i64),
    SentBefore(i64),
    SentOn(i64),
    SentSince(i64),
    /// SAVEDBEFORE, SAVEDON, SAVEDSINCE (RFC 8514), in days since the Unix epoch.
    SavedBefore(i64),
    SavedOn(i64),
    SavedSince(i64),
    /// SAVEDATESUPPORTED: every message, since every mailbox keeps save dates.
    SaveDateSupported,
    Larger(u64),
    Smaller(u64),
    ModSeq(u64),
}
