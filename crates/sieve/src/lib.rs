//! Sieve (RFC 5228 and the extensions in [`EXTENSIONS`]): the script parser and the
//! interpreter run at delivery. Written by hand for estafeta because the only mature Rust
//! implementation, sieve-rs, is AGPL-3.0-only and estafeta is Apache-2.0 (neither sieve-rs
//! nor Pigeonhole was read; the RFC texts were).
//!
//! Pure and synchronous: no I/O, no async. [`compile`] turns a script into a [`Script`]
//! (an AST), [`execute`] runs one or more scripts against a [`Message`] and returns the
//! [`Outcome`]; what the interpreter needs from the world (mailboxes, the duplicate
//! store, included scripts, spam scores) comes through [`Environment`].
//!
//! Scripts come from users and messages from anyone, so everything is bounded (see
//! [`Limits`] and README.md):
//! - compile: the script's size (`max_script_bytes`) bounds every token, string, list
//!   and `text:` block; nesting of blocks and tests is checked against `max_nesting`
//!   before descending (blocks are parsed with an explicit stack, tests recurse at most
//!   that deep); numbers saturate.
//! - run: `max_steps` counts commands, tests and match work (one step is one command or
//!   test, or [`UNITS_PER_STEP`] character comparisons); `:matches` is
//!   O(len(text) × len(pattern)) and never backtracks exponentially; variables are cut
//!   at `max_variable_bytes`, an expanded string at [`MAX_EXPANSION_BYTES`]; header
//!   values at `max_header_bytes`, at most [`MAX_HEADER_FIELDS`] header fields; the body
//!   test reads at most `max_body_bytes`; actions, redirects and includes are counted.
//! - the interpreter walks blocks with an explicit stack; tests recurse at most
//!   `max_nesting` deep (as compiled); includes recurse at most [`MAX_INCLUDE_DEPTH`].
//!
//! Modules: `lexer` (tokens), `parser` (grammar, requires, extension checks → `ast`),
//! `strings` (variables and encoded characters inside strings), `matching`
//! (comparators, match types, relational), `address` (address parts, redirect
//! addresses), `message` (headers, envelope, body, read from the message), `dates`
//! (date parts), `actions` (the action list and its conflict rules), `vacation` (when a
//! reply is allowed, the handle), `interpreter` (running it all).

mod actions;
mod address;
mod ast;
mod dates;
mod interpreter;
mod lexer;
mod matching;
mod message;
mod parser;
mod strings;
mod vacation;

use std::fmt;

pub use ast::Script;

/// The extensions a script may `require`, in the order ManageSieve's SIEVE capability
/// lists them.
pub const EXTENSIONS: &[&str] = &[
    "fileinto",
    "reject",
    "ereject",
    "envelope",
    "encoded-character",
    "body",
    "variables",
    "imap4flags",
    "relational",
    "comparator-i;ascii-numeric",
    "date",
    "index",
    "vacation",
    "vacation-seconds",
    "copy",
    "mailbox",
    "duplicate",
    "spamtest",
    "spamtestplus",
    "virustest",
    "include",
];

/// Most header fields of a message looked at (the first ones).
pub const MAX_HEADER_FIELDS: usize = 1000;
/// Longest string after variable expansion (cut at a character boundary beyond).
pub const MAX_EXPANSION_BYTES: usize = 64 * 1024;
/// Deepest nesting of `include` (the top-level script is depth 0).
pub const MAX_INCLUDE_DEPTH: usize = 5;
/// Character comparisons (or octets scanned) that make one step of `max_steps`.
pub const UNITS_PER_STEP: u64 = 16;

/// The bounds of compilation and of one run.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Compile refuses a larger script.
    pub max_script_bytes: usize,
    /// Blocks and tests nested deeper are a compile error.
    pub max_nesting: usize,
    /// More actions in one run is a runtime error (the message is kept).
    pub max_actions: usize,
    /// More distinct redirects in one run is a runtime error.
    pub max_redirects: usize,
    /// Scripts included in one run (nesting depth is at most [`MAX_INCLUDE_DEPTH`]).
    pub max_includes: usize,
    /// Interpreter steps (commands, tests and match work) per run.
    pub max_steps: u64,
    /// A variable's value is cut (at a character boundary) beyond this.
    pub max_variable_bytes: usize,
    /// Header values examined are cut here.
    pub max_header_bytes: usize,
    /// The body test looks at no more than this.
    pub max_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_script_bytes: 256 * 1024,
            max_nesting: 32,
            max_actions: 32,
            max_redirects: 4,
            max_includes: 8,
            max_steps: 1_000_000,
            max_variable_bytes: 4096,
            max_header_bytes: 64 * 1024,
            max_body_bytes: 1024 * 1024,
        }
    }
}

/// An `include` a script names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Include {
    pub location: Location,
    pub name: String,
    pub once: bool,
    pub optional: bool,
}

/// Where an included script lives (RFC 6609 `:personal`, `:global`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Location {
    Personal,
    Global,
}

/// Why a script does not compile, and where.
#[derive(Debug, Clone, PartialEq)]
pub struct CompileError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl CompileError {
    pub(crate) fn new(line: usize, column: usize, message: impl Into<String>) -> Self {
        CompileError {
            line,
            column,
            message: message.into(),
        }
    }
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let message: String = self
            .message
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        write!(f, "line {}, column {}: {}", self.line, self.column, message)
    }
}

impl std::error::Error for CompileError {}

/// Compiles a script. A script larger than `limits.max_script_bytes` is refused.
pub fn compile(source: &str, limits: &Limits) -> Result<Script, CompileError> {
    if source.len() > limits.max_script_bytes {
        return Err(CompileError::new(
            1,
            1,
            format!(
                "script too large ({} octets, at most {})",
                source.len(),
                limits.max_script_bytes
            ),
        ));
    }
    let tokens = lexer::lex(source)?;
    parser::parse(tokens, limits)
}

/// What the interpreter needs from the world, all synchronous.
pub trait Environment {
    fn mailbox_exists(&mut self, name: &str) -> bool;
    /// Has this duplicate key been recorded within its period? (does not record it)
    fn duplicate_seen(&mut self, key: &str) -> bool;
    /// The source of an included script; None when it does not exist.
    fn script_source(&mut self, location: Location, name: &str) -> Option<String>;
    /// spamtest value 0..=10 (0 = not tested), or None when unknown.
    fn spam_score(&mut self) -> Option<u8>;
    /// virustest value 0..=5 (0 = not tested), or None when unknown.
    fn virus_score(&mut self) -> Option<u8>;
}

/// The message being delivered and its envelope.
pub struct Message<'a> {
    /// The whole message, header and body, CRLF (may be hostile: any bytes).
    pub raw: &'a [u8],
    /// "" for the null sender.
    pub envelope_from: &'a str,
    /// The recipient being delivered to (the user's address).
    pub envelope_to: &'a str,
    /// The user's own addresses (for vacation's "is it to me" check), at least
    /// `envelope_to`.
    pub user_addresses: &'a [String],
    /// Unix seconds, for `currentdate`.
    pub now: i64,
}

/// What a run decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// In the order taken; the implicit keep, when it applies, is an `Action::Keep` at
    /// the end.
    pub actions: Vec<Action>,
    /// A runtime error; then `actions == [Keep { flags: [] }]`: the message is never lost.
    pub error: Option<String>,
    /// Keys to record once the delivery succeeded (only when the script completed).
    pub duplicates: Vec<DuplicateMark>,
}

/// A duplicate key (RFC 7352) to remember for `seconds`.
#[derive(Debug, Clone, PartialEq)]
pub struct DuplicateMark {
    pub key: String,
    pub seconds: u64,
}

/// One action of the outcome.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Keep {
        flags: Vec<String>,
    },
    FileInto {
        mailbox: String,
        flags: Vec<String>,
        create: bool,
    },
    /// A syntactically valid address (local@domain, no CR/LF/space/<>, ≤ 254 octets).
    Redirect {
        address: String,
    },
    Reject {
        reason: String,
        ereject: bool,
    },
    Discard,
    Vacation(Vacation),
}

/// An automatic reply the interpreter found allowed (RFC 5230).
#[derive(Debug, Clone, PartialEq)]
pub struct Vacation {
    /// Whom to answer: the envelope sender.
    pub to: String,
    /// `:handle`, or derived from reason, subject, from and mime (RFC 5230 §4.2).
    pub handle: String,
    /// How long not to answer the same sender again; 0 means "always answer" (RFC 6131).
    pub seconds: u64,
    /// `:subject` as given (None: the caller writes "Auto: <original subject>").
    pub subject: Option<String>,
    pub from: Option<String>,
    pub reason: String,
    pub mime: bool,
}

/// Runs the scripts in order (a server-wide "before" script, the user's, an "after"
/// script), sharing one state: `stop` ends all.
pub fn execute(
    scripts: &[&Script],
    message: &Message<'_>,
    env: &mut dyn Environment,
    limits: &Limits,
) -> Outcome {
    execute_counting(scripts, message, env, limits).0
}

/// [`execute`], also returning the steps the run used (for logs and tests).
pub fn execute_counting(
    scripts: &[&Script],
    message: &Message<'_>,
    env: &mut dyn Environment,
    limits: &Limits,
) -> (Outcome, u64) {
    interpreter::run(scripts, message, env, limits)
}
