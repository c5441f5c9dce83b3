//! The compiled form of a script: commands and tests with their arguments checked, the
//! strings split into literal text and variable references. Nesting is at most
//! `Limits::max_nesting` deep (the parser checks it), so dropping or walking it never
//! goes deeper.

use crate::{Include, Location};

/// A compiled script.
#[derive(Clone, Debug)]
pub struct Script {
    pub(crate) requires: Vec<String>,
    pub(crate) commands: Vec<Command>,
    pub(crate) includes: Vec<Include>,
}

impl Script {
    /// Every include the script names (whether or not it runs), for callers that want
    /// to check them.
    pub fn includes(&self) -> Vec<Include> {
        self.includes.clone()
    }
    /// The extensions the script requires, as written (lower case).
    pub fn requires(&self) -> &[String] {
        &self.requires
    }
}

/// A string argument: literal, or with `${...}` references to expand at run time.
#[derive(Clone, Debug, PartialEq)]
pub enum Str {
    Lit(String),
    Tpl(Vec<Piece>),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Piece {
    Lit(String),
    /// A variable name, lower case (possibly `global.name`).
    Var(String),
    /// A match variable `${n}`.
    Match(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Comparator {
    Octet,
    CaseMap,
    Numeric,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rel {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchType {
    Is,
    Contains,
    Matches,
    Value(Rel),
    Count(Rel),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cmp {
    pub comparator: Comparator,
    pub mtype: MatchType,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddrPart {
    All,
    Local,
    Domain,
}

/// `:index n [:last]` (RFC 5260 §6): the nth field of that name, 1 being the first (or
/// the last).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Index {
    pub n: u64,
    pub last: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Zone {
    /// No zone given: the server's zone, UTC.
    Local,
    Given(Str),
    Original,
}

#[derive(Clone, Debug, PartialEq)]
pub enum BodyTransform {
    Raw,
    Text,
    Content(Vec<Str>),
}

#[derive(Clone, Debug, PartialEq)]
pub enum DupId {
    Default,
    Header(Str),
    UniqueId(Str),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Test {
    True,
    False,
    Not(Box<Test>),
    AllOf(Vec<Test>),
    AnyOf(Vec<Test>),
    Address {
        cmp: Cmp,
        part: AddrPart,
        index: Option<Index>,
        headers: Vec<Str>,
        keys: Vec<Str>,
    },
    Envelope {
        cmp: Cmp,
        part: AddrPart,
        fields: Vec<Str>,
        keys: Vec<Str>,
    },
    Header {
        cmp: Cmp,
        index: Option<Index>,
        names: Vec<Str>,
        keys: Vec<Str>,
    },
    Exists(Vec<Str>),
    Size {
        over: bool,
        limit: u64,
    },
    Body {
        cmp: Cmp,
        transform: BodyTransform,
        keys: Vec<Str>,
    },
    String {
        cmp: Cmp,
        sources: Vec<Str>,
        keys: Vec<Str>,
    },
    HasFlag {
        cmp: Cmp,
        vars: Vec<Str>,
        keys: Vec<Str>,
    },
    Date {
        cmp: Cmp,
        index: Option<Index>,
        zone: Zone,
        header: Str,
        part: Str,
        keys: Vec<Str>,
    },
    CurrentDate {
        cmp: Cmp,
        zone: Zone,
        part: Str,
        keys: Vec<Str>,
    },
    MailboxExists(Vec<Str>),
    Duplicate {
        handle: Option<Str>,
        id: DupId,
        seconds: Option<u64>,
        last: bool,
    },
    Spam {
        percent: bool,
        cmp: Cmp,
        value: Str,
    },
    Virus {
        cmp: Cmp,
        value: Str,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlagOp {
    Set,
    Add,
    Remove,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Modifier {
    Lower,
    Upper,
    LowerFirst,
    UpperFirst,
    QuoteWildcard,
    Length,
}

impl Modifier {
    /// RFC 5229 §4.1: higher precedence applies first.
    pub fn precedence(self) -> u8 {
        match self {
            Modifier::Lower | Modifier::Upper => 40,
            Modifier::LowerFirst | Modifier::UpperFirst => 30,
            Modifier::QuoteWildcard => 20,
            Modifier::Length => 10,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct VacationCmd {
    /// `:days` (true) or `:seconds` (false) and the number, when given.
    pub period: Option<(bool, u64)>,
    pub subject: Option<Str>,
    pub from: Option<Str>,
    pub addresses: Vec<Str>,
    pub mime: bool,
    pub handle: Option<Str>,
    pub reason: Str,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    If {
        branches: Vec<(Test, Vec<Command>)>,
        otherwise: Option<Vec<Command>>,
    },
    Stop,
    Return,
    Keep {
        flags: Option<Vec<Str>>,
    },
    Discard,
    FileInto {
        mailbox: Str,
        flags: Option<Vec<Str>>,
        copy: bool,
        create: bool,
    },
    Redirect {
        address: Str,
        copy: bool,
    },
    Reject {
        reason: Str,
        ereject: bool,
    },
    Vacation(Box<VacationCmd>),
    Set {
        name: String,
        value: Str,
        modifiers: Vec<Modifier>,
    },
    Flags {
        op: FlagOp,
        var: Option<Str>,
        flags: Vec<Str>,
    },
    Include {
        location: Location,
        name: String,
        once: bool,
        optional: bool,
    },
    Global(Vec<String>),
}
