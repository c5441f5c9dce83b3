//! The parser: tokens into the AST of `ast`, with the grammar of RFC 5228 §8.2, `require`
//! handling (unknown extension: error; extension used without being required: error),
//! and each command's and test's arguments checked (tags, their order, their types).
//!
//! Bounds: the token list is linear in the script's size. Blocks are parsed with an
//! explicit stack; tests recurse (`not`, `anyof`, `allof`), and the nesting of both is
//! checked against `Limits::max_nesting` before each descent, so the recursion is never
//! deeper than that.

use std::collections::HashSet;

use crate::ast::*;
use crate::lexer::{Tok, Token};
use crate::strings::{self, Features};
use crate::{CompileError, EXTENSIONS, Include, Limits, Location};

/// `s` quoted for an error message: printable, at most 60 characters.
pub fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for (i, c) in s.chars().enumerate() {
        if i == 60 {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out.push('"');
    out
}

type Pos = (usize, usize);

enum Arg {
    Tag(String),
    Num(u64),
    Str(String),
    List(Vec<String>),
}

struct Args {
    items: Vec<(Arg, Pos)>,
    i: usize,
    name: String,
    pos: Pos,
}

fn err(pos: Pos, message: impl Into<String>) -> CompileError {
    CompileError::new(pos.0, pos.1, message)
}

impl Args {
    fn next_tag(&mut self) -> Option<(String, Pos)> {
        match self.items.get(self.i) {
            Some((Arg::Tag(t), pos)) => {
                let r = (t.clone(), *pos);
                self.i += 1;
                Some(r)
            }
            _ => None,
        }
    }
    fn here(&self) -> Pos {
        self.items.get(self.i).map_or(self.pos, |(_, p)| *p)
    }
    fn missing(&self, what: &str) -> CompileError {
        err(self.here(), format!("{} needs {what}", quote(&self.name)))
    }
    fn string(&mut self, what: &str) -> Result<(String, Pos), CompileError> {
        match self.items.get_mut(self.i) {
            Some((Arg::Str(s), pos)) => {
                let r = (std::mem::take(s), *pos);
                self.i += 1;
                Ok(r)
            }
            _ => Err(self.missing(what)),
        }
    }
    fn list(&mut self, what: &str) -> Result<(Vec<String>, Pos), CompileError> {
        match self.items.get_mut(self.i) {
            Some((Arg::Str(s), pos)) => {
                let r = (vec![std::mem::take(s)], *pos);
                self.i += 1;
                Ok(r)
            }
            Some((Arg::List(l), pos)) => {
                let r = (std::mem::take(l), *pos);
                self.i += 1;
                Ok(r)
            }
            _ => Err(self.missing(what)),
        }
    }
    fn number(&mut self, what: &str) -> Result<u64, CompileError> {
        match self.items.get(self.i) {
            Some((Arg::Num(n), _)) => {
                self.i += 1;
                Ok(*n)
            }
            _ => Err(self.missing(what)),
        }
    }
    fn remaining(&self) -> usize {
        self.items.len() - self.i
    }
    fn end(&self) -> Result<(), CompileError> {
        match self.items.get(self.i) {
            None => Ok(()),
            Some((Arg::Tag(t), pos)) => Err(err(
                *pos,
                format!("unexpected tag :{t} for {}", quote(&self.name)),
            )),
            Some((_, pos)) => Err(err(
                *pos,
                format!("too many arguments for {}", quote(&self.name)),
            )),
        }
    }
}

struct Parser<'l> {
    toks: Vec<Token>,
    i: usize,
    limits: &'l Limits,
    required: HashSet<String>,
    requires: Vec<String>,
    includes: Vec<Include>,
    features: Features,
    end: Pos,
}

/// A block being parsed, and the `if` it belongs to (None at the top level).
struct Open {
    cmds: Vec<Command>,
    owner: Option<IfChain>,
}

/// An `if` whose blocks are being parsed: the branches so far, the test of the block
/// being parsed (None: it is the `else` block), and the `else` block once parsed.
struct IfChain {
    branches: Vec<(Test, Vec<Command>)>,
    test: Option<Test>,
    otherwise: Option<Vec<Command>>,
}

/// Gathered comparator, match type, address part and index tags of a test.
#[derive(Default)]
struct MatchOpts {
    comparator: Option<Comparator>,
    mtype: Option<MatchType>,
    part: Option<AddrPart>,
    index: Option<u64>,
    last: bool,
    pos: Option<Pos>,
}

pub fn parse(toks: Vec<Token>, limits: &Limits) -> Result<Script, CompileError> {
    let end = toks.last().map_or((1, 1), |t| (t.line, t.column));
    let mut p = Parser {
        toks,
        i: 0,
        limits,
        required: HashSet::new(),
        requires: Vec::new(),
        includes: Vec::new(),
        features: Features::default(),
        end,
    };
    let commands = p.script()?;
    Ok(Script {
        requires: p.requires,
        commands,
        includes: p.includes,
    })
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i).map(|t| &t.tok)
    }
    fn pos(&self) -> Pos {
        self.toks
            .get(self.i)
            .map_or(self.end, |t| (t.line, t.column))
    }
    fn bump(&mut self) -> Option<Token> {
        let t = self.toks.get_mut(self.i)?;
        let t = Token {
            tok: std::mem::replace(&mut t.tok, Tok::Semi),
            line: t.line,
            column: t.column,
        };
        self.i += 1;
        Some(t)
    }
    fn expect(&mut self, tok: Tok, what: &str) -> Result<(), CompileError> {
        if self.peek() == Some(&tok) {
            self.i += 1;
            Ok(())
        } else {
            Err(err(self.pos(), format!("expected {what}")))
        }
    }
    fn has(&self, ext: &str) -> bool {
        self.required.contains(ext)
    }
    fn need(&self, ext: &str, what: &str, pos: Pos) -> Result<(), CompileError> {
        if self.has(ext) {
            Ok(())
        } else {
            Err(err(pos, format!("{what} needs require {}", quote(ext))))
        }
    }
    fn string(&self, s: String, pos: Pos) -> Result<Str, CompileError> {
        strings::parse(s, self.features).map_err(|e| err(pos, e.0))
    }
    fn strings(&self, l: Vec<String>, pos: Pos) -> Result<Vec<Str>, CompileError> {
        l.into_iter().map(|s| self.string(s, pos)).collect()
    }

    /// The whole script. Blocks are parsed with an explicit stack of open blocks (one per
    /// nesting level, at most `max_nesting`), so only tests recurse.
    fn script(&mut self) -> Result<Vec<Command>, CompileError> {
        let mut stack: Vec<Open> = vec![Open {
            cmds: Vec::new(),
            owner: None,
        }];
        let mut requires_allowed = true;
        loop {
            let depth = stack.len() - 1;
            match self.peek() {
                None if depth == 0 => return Ok(stack.pop().map(|o| o.cmds).unwrap_or_default()),
                None => return Err(err(self.pos(), "missing \"}\"")),
                Some(Tok::RBrace) if depth > 0 => {
                    self.i += 1;
                    let Some(Open {
                        cmds,
                        owner: Some(mut chain),
                    }) = stack.pop()
                    else {
                        return Err(err(self.pos(), "unexpected \"}\""));
                    };
                    match chain.test.take() {
                        Some(test) => chain.branches.push((test, cmds)),
                        None => chain.otherwise = Some(cmds),
                    }
                    let next = match (&chain.otherwise, self.peek()) {
                        (None, Some(Tok::Ident(n))) if n == "elsif" || n == "else" => n.clone(),
                        _ => String::new(),
                    };
                    if next.is_empty() {
                        let done = Command::If {
                            branches: chain.branches,
                            otherwise: chain.otherwise,
                        };
                        if let Some(parent) = stack.last_mut() {
                            parent.cmds.push(done);
                        }
                        continue;
                    }
                    self.i += 1;
                    if next == "elsif" {
                        chain.test = Some(self.test(depth)?);
                    }
                    // the if is at depth - 1; its blocks at depth
                    self.open_brace(depth - 1)?;
                    stack.push(Open {
                        cmds: Vec::new(),
                        owner: Some(chain),
                    });
                }
                Some(Tok::Ident(name)) if name == "require" => {
                    let pos = self.pos();
                    if !requires_allowed {
                        return Err(err(pos, "require must come before any other command"));
                    }
                    self.i += 1;
                    let mut args = self.arguments("require")?;
                    let (list, lpos) = args.list("a list of extensions")?;
                    args.end()?;
                    self.expect(Tok::Semi, "\";\" after require")?;
                    self.require(list, lpos)?;
                }
                Some(Tok::Ident(name)) if name == "if" => {
                    requires_allowed = false;
                    self.i += 1;
                    let test = self.test(depth + 1)?;
                    self.open_brace(depth)?;
                    stack.push(Open {
                        cmds: Vec::new(),
                        owner: Some(IfChain {
                            branches: Vec::new(),
                            test: Some(test),
                            otherwise: None,
                        }),
                    });
                }
                Some(Tok::Ident(_)) => {
                    requires_allowed = false;
                    let c = self.command()?;
                    if let Some(top) = stack.last_mut() {
                        top.cmds.push(c);
                    }
                }
                Some(_) => return Err(err(self.pos(), "expected a command")),
            }
        }
    }

    fn require(&mut self, list: Vec<String>, pos: Pos) -> Result<(), CompileError> {
        for ext in list {
            let lower = ext.to_ascii_lowercase();
            let known = EXTENSIONS.contains(&lower.as_str())
                || lower == "comparator-i;octet"
                || lower == "comparator-i;ascii-casemap";
            if !known {
                return Err(err(pos, format!("unknown extension {}", quote(&ext))));
            }
            if self.required.insert(lower.clone()) {
                self.requires.push(lower);
            }
        }
        if self.has("spamtestplus") {
            self.required.insert("spamtest".into());
        }
        if self.has("vacation-seconds") {
            self.required.insert("vacation".into());
        }
        self.features = Features {
            variables: self.has("variables"),
            encoded: self.has("encoded-character"),
            global: self.has("include") && self.has("variables"),
        };
        Ok(())
    }

    /// Tagged arguments, numbers and string lists, up to a test, a block or `;`.
    fn arguments(&mut self, name: &str) -> Result<Args, CompileError> {
        let pos = self.pos();
        let mut items = Vec::new();
        loop {
            let pos = self.pos();
            let arg = match self.peek() {
                Some(Tok::Tag(_)) | Some(Tok::Num(_)) | Some(Tok::Str(_)) => {
                    match self.bump().map(|t| t.tok) {
                        Some(Tok::Tag(t)) => Arg::Tag(t),
                        Some(Tok::Num(n)) => Arg::Num(n),
                        Some(Tok::Str(s)) => Arg::Str(s),
                        _ => break,
                    }
                }
                Some(Tok::LBracket) => {
                    self.i += 1;
                    let mut list = Vec::new();
                    loop {
                        match self.bump().map(|t| t.tok) {
                            Some(Tok::Str(s)) => list.push(s),
                            _ => return Err(err(self.pos(), "expected a string in the list")),
                        }
                        match self.bump().map(|t| t.tok) {
                            Some(Tok::Comma) => {}
                            Some(Tok::RBracket) => break,
                            _ => return Err(err(self.pos(), "expected \",\" or \"]\"")),
                        }
                    }
                    Arg::List(list)
                }
                _ => break,
            };
            items.push((arg, pos));
        }
        Ok(Args {
            items,
            i: 0,
            name: name.to_string(),
            pos,
        })
    }

    fn nesting(&self, depth: usize, pos: Pos) -> Result<(), CompileError> {
        if depth > self.limits.max_nesting {
            Err(err(
                pos,
                format!("nesting deeper than {}", self.limits.max_nesting),
            ))
        } else {
            Ok(())
        }
    }

    /// The `{` of a block at nesting `depth + 1`.
    fn open_brace(&mut self, depth: usize) -> Result<(), CompileError> {
        let pos = self.pos();
        self.expect(Tok::LBrace, "\"{\"")?;
        self.nesting(depth + 1, pos)
    }

    /// One command other than `if`.
    fn command(&mut self) -> Result<Command, CompileError> {
        let pos = self.pos();
        let name = match self.bump().map(|t| t.tok) {
            Some(Tok::Ident(n)) => n,
            _ => return Err(err(pos, "expected a command")),
        };
        if name == "elsif" || name == "else" {
            return Err(err(pos, format!("{} without \"if\"", quote(&name))));
        }
        let mut a = self.arguments(&name)?;
        let cmd = self.simple_command(&name, pos, &mut a)?;
        a.end()?;
        self.expect(Tok::Semi, "\";\"")?;
        Ok(cmd)
    }

    fn flags_tag(&mut self, a: &mut Args, pos: Pos) -> Result<Vec<Str>, CompileError> {
        self.need("imap4flags", ":flags", pos)?;
        let (l, lpos) = a.list("a list of flags after :flags")?;
        self.strings(l, lpos)
    }

    fn simple_command(
        &mut self,
        name: &str,
        pos: Pos,
        a: &mut Args,
    ) -> Result<Command, CompileError> {
        let unexpected =
            |t: &str, tpos: Pos| err(tpos, format!("unexpected tag :{t} for {}", quote(name)));
        Ok(match name {
            "stop" => Command::Stop,
            "discard" => Command::Discard,
            "return" => {
                self.need("include", "return", pos)?;
                Command::Return
            }
            "keep" => {
                let mut flags = None;
                while let Some((t, tpos)) = a.next_tag() {
                    match t.as_str() {
                        "flags" => flags = Some(self.flags_tag(a, tpos)?),
                        _ => return Err(unexpected(&t, tpos)),
                    }
                }
                Command::Keep { flags }
            }
            "fileinto" => {
                self.need("fileinto", "fileinto", pos)?;
                let (mut flags, mut copy, mut create) = (None, false, false);
                while let Some((t, tpos)) = a.next_tag() {
                    match t.as_str() {
                        "flags" => flags = Some(self.flags_tag(a, tpos)?),
                        "copy" => {
                            self.need("copy", ":copy", tpos)?;
                            copy = true;
                        }
                        "create" => {
                            self.need("mailbox", ":create", tpos)?;
                            create = true;
                        }
                        _ => return Err(unexpected(&t, tpos)),
                    }
                }
                let (m, mpos) = a.string("a mailbox name")?;
                Command::FileInto {
                    mailbox: self.string(m, mpos)?,
                    flags,
                    copy,
                    create,
                }
            }
            "redirect" => {
                let mut copy = false;
                while let Some((t, tpos)) = a.next_tag() {
                    match t.as_str() {
                        "copy" => {
                            self.need("copy", ":copy", tpos)?;
                            copy = true;
                        }
                        _ => return Err(unexpected(&t, tpos)),
                    }
                }
                let (s, spos) = a.string("an address")?;
                Command::Redirect {
                    address: self.string(s, spos)?,
                    copy,
                }
            }
            "reject" | "ereject" => {
                self.need(name, name, pos)?;
                if let Some((t, tpos)) = a.next_tag() {
                    return Err(unexpected(&t, tpos));
                }
                let (s, spos) = a.string("a reason")?;
                Command::Reject {
                    reason: self.string(s, spos)?,
                    ereject: name == "ereject",
                }
            }
            "vacation" => {
                self.need("vacation", "vacation", pos)?;
                let mut v = VacationCmd {
                    period: None,
                    subject: None,
                    from: None,
                    addresses: Vec::new(),
                    mime: false,
                    handle: None,
                    reason: Str::Lit(String::new()),
                };
                while let Some((t, tpos)) = a.next_tag() {
                    match t.as_str() {
                        "days" | "seconds" => {
                            if t == "seconds" {
                                self.need("vacation-seconds", ":seconds", tpos)?;
                            }
                            if v.period.is_some() {
                                return Err(err(tpos, ":days and :seconds given twice"));
                            }
                            v.period = Some((t == "days", a.number("a number")?));
                        }
                        "subject" => {
                            let (s, p) = a.string("a subject")?;
                            v.subject = Some(self.string(s, p)?);
                        }
                        "from" => {
                            let (s, p) = a.string("an address")?;
                            v.from = Some(self.string(s, p)?);
                        }
                        "handle" => {
                            let (s, p) = a.string("a handle")?;
                            v.handle = Some(self.string(s, p)?);
                        }
                        "addresses" => {
                            let (l, p) = a.list("a list of addresses")?;
                            v.addresses = self.strings(l, p)?;
                        }
                        "mime" => v.mime = true,
                        _ => return Err(unexpected(&t, tpos)),
                    }
                }
                let (s, spos) = a.string("a reason")?;
                v.reason = self.string(s, spos)?;
                Command::Vacation(Box::new(v))
            }
            "set" => {
                self.need("variables", "set", pos)?;
                let mut modifiers: Vec<Modifier> = Vec::new();
                while let Some((t, tpos)) = a.next_tag() {
                    let m = match t.as_str() {
                        "lower" => Modifier::Lower,
                        "upper" => Modifier::Upper,
                        "lowerfirst" => Modifier::LowerFirst,
                        "upperfirst" => Modifier::UpperFirst,
                        "quotewildcard" => Modifier::QuoteWildcard,
                        "length" => Modifier::Length,
                        _ => return Err(unexpected(&t, tpos)),
                    };
                    if modifiers.iter().any(|o| o.precedence() == m.precedence()) {
                        return Err(err(
                            tpos,
                            format!("modifier :{t} conflicts with another of the same precedence"),
                        ));
                    }
                    modifiers.push(m);
                }
                modifiers.sort_by_key(|m| std::cmp::Reverse(m.precedence()));
                let (n, npos) = a.string("a variable name")?;
                let name = strings::variable_name(&n, self.features)
                    .ok_or_else(|| err(npos, format!("invalid variable name {}", quote(&n))))?;
                let (v, vpos) = a.string("a value")?;
                Command::Set {
                    name,
                    value: self.string(v, vpos)?,
                    modifiers,
                }
            }
            "setflag" | "addflag" | "removeflag" => {
                self.need("imap4flags", name, pos)?;
                if let Some((t, tpos)) = a.next_tag() {
                    return Err(unexpected(&t, tpos));
                }
                let var = if a.remaining() >= 2 {
                    let (s, spos) = a.string("a variable name")?;
                    self.need("variables", "a flag variable", spos)?;
                    strings::variable_name(&s, self.features)
                        .ok_or_else(|| err(spos, format!("invalid variable name {}", quote(&s))))?;
                    Some(self.string(s, spos)?)
                } else {
                    None
                };
                let (l, lpos) = a.list("a list of flags")?;
                Command::Flags {
                    op: match name {
                        "setflag" => FlagOp::Set,
                        "addflag" => FlagOp::Add,
                        _ => FlagOp::Remove,
                    },
                    var,
                    flags: self.strings(l, lpos)?,
                }
            }
            "include" => {
                self.need("include", "include", pos)?;
                let (mut location, mut once, mut optional) = (Location::Personal, false, false);
                let mut located = false;
                while let Some((t, tpos)) = a.next_tag() {
                    match t.as_str() {
                        "personal" | "global" => {
                            if located {
                                return Err(err(tpos, ":personal and :global given together"));
                            }
                            located = true;
                            location = if t == "global" {
                                Location::Global
                            } else {
                                Location::Personal
                            };
                        }
                        "once" => once = true,
                        "optional" => optional = true,
                        _ => return Err(unexpected(&t, tpos)),
                    }
                }
                let (s, spos) = a.string("a script name")?;
                if s.is_empty() || s.contains(['/', '\0', '\r', '\n']) {
                    return Err(err(spos, format!("invalid script name {}", quote(&s))));
                }
                self.includes.push(Include {
                    location,
                    name: s.clone(),
                    once,
                    optional,
                });
                Command::Include {
                    location,
                    name: s,
                    once,
                    optional,
                }
            }
            "global" => {
                self.need("include", "global", pos)?;
                self.need("variables", "global", pos)?;
                let (l, lpos) = a.list("a list of variable names")?;
                let mut names = Vec::new();
                for n in l {
                    let v = strings::variable_name(&n, self.features)
                        .filter(|v| !v.contains('.'))
                        .ok_or_else(|| err(lpos, format!("invalid variable name {}", quote(&n))))?;
                    names.push(v);
                }
                Command::Global(names)
            }
            _ => {
                let known_test = matches!(
                    name,
                    "address"
                        | "header"
                        | "exists"
                        | "size"
                        | "true"
                        | "false"
                        | "not"
                        | "allof"
                        | "anyof"
                        | "envelope"
                        | "body"
                        | "string"
                        | "date"
                        | "currentdate"
                        | "hasflag"
                        | "mailboxexists"
                        | "duplicate"
                        | "spamtest"
                        | "virustest"
                );
                let what = if known_test {
                    "is a test, not a command"
                } else {
                    "unknown command"
                };
                return Err(err(pos, format!("{what} {}", quote(name))));
            }
        })
    }

    /// A test, at nesting `depth`.
    fn test(&mut self, depth: usize) -> Result<Test, CompileError> {
        let pos = self.pos();
        self.nesting(depth, pos)?;
        let name = match self.bump().map(|t| t.tok) {
            Some(Tok::Ident(n)) => n,
            _ => return Err(err(pos, "expected a test")),
        };
        match name.as_str() {
            "not" => return Ok(Test::Not(Box::new(self.test(depth + 1)?))),
            "anyof" | "allof" => {
                self.expect(Tok::LParen, "\"(\"")?;
                let mut tests = vec![self.test(depth + 1)?];
                loop {
                    match self.bump().map(|t| t.tok) {
                        Some(Tok::Comma) => tests.push(self.test(depth + 1)?),
                        Some(Tok::RParen) => break,
                        _ => return Err(err(self.pos(), "expected \",\" or \")\"")),
                    }
                }
                return Ok(if name == "anyof" {
                    Test::AnyOf(tests)
                } else {
                    Test::AllOf(tests)
                });
            }
            _ => {}
        }
        let mut a = self.arguments(&name)?;
        let t = self.simple_test(&name, pos, &mut a)?;
        a.end()?;
        Ok(t)
    }

    /// Reads `tag` if it is a comparator, match type, address part or index tag.
    fn match_tag(
        &self,
        o: &mut MatchOpts,
        tag: &str,
        tpos: Pos,
        a: &mut Args,
        addr: bool,
        index: bool,
    ) -> Result<bool, CompileError> {
        let twice = || err(tpos, format!(":{tag} conflicts with an earlier tag"));
        match tag {
            "comparator" => {
                if o.comparator.is_some() {
                    return Err(twice());
                }
                let (c, cpos) = a.string("a comparator name")?;
                o.comparator = Some(match c.to_ascii_lowercase().as_str() {
                    "i;octet" => Comparator::Octet,
                    "i;ascii-casemap" => Comparator::CaseMap,
                    "i;ascii-numeric" => {
                        self.need("comparator-i;ascii-numeric", "i;ascii-numeric", cpos)?;
                        Comparator::Numeric
                    }
                    _ => return Err(err(cpos, format!("unknown comparator {}", quote(&c)))),
                });
            }
            "is" | "contains" | "matches" | "value" | "count" => {
                if o.mtype.is_some() {
                    return Err(twice());
                }
                o.pos = Some(tpos);
                o.mtype = Some(match tag {
                    "is" => MatchType::Is,
                    "contains" => MatchType::Contains,
                    "matches" => MatchType::Matches,
                    _ => {
                        self.need("relational", &format!(":{tag}"), tpos)?;
                        let (r, rpos) = a.string("a relational operator")?;
                        let rel = match r.to_ascii_lowercase().as_str() {
                            "gt" => Rel::Gt,
                            "ge" => Rel::Ge,
                            "lt" => Rel::Lt,
                            "le" => Rel::Le,
                            "eq" => Rel::Eq,
                            "ne" => Rel::Ne,
                            _ => {
                                return Err(err(
                                    rpos,
                                    format!("unknown relational operator {}", quote(&r)),
                                ));
                            }
                        };
                        if tag == "value" {
                            MatchType::Value(rel)
                        } else {
                            MatchType::Count(rel)
                        }
                    }
                });
            }
            "all" | "localpart" | "domain" if addr => {
                if o.part.is_some() {
                    return Err(twice());
                }
                o.part = Some(match tag {
                    "all" => AddrPart::All,
                    "localpart" => AddrPart::Local,
                    _ => AddrPart::Domain,
                });
            }
            "index" if index => {
                self.need("index", ":index", tpos)?;
                if o.index.is_some() {
                    return Err(twice());
                }
                let n = a.number("a number after :index")?;
                if n == 0 {
                    return Err(err(tpos, ":index counts from 1"));
                }
                o.index = Some(n);
            }
            "last" if index => {
                self.need("index", ":last", tpos)?;
                o.last = true;
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn cmp(&self, o: &MatchOpts, pos: Pos) -> Result<Cmp, CompileError> {
        let comparator = o.comparator.unwrap_or(Comparator::CaseMap);
        let mtype = o.mtype.unwrap_or(MatchType::Is);
        if comparator == Comparator::Numeric
            && matches!(mtype, MatchType::Contains | MatchType::Matches)
        {
            return Err(err(
                o.pos.unwrap_or(pos),
                "i;ascii-numeric allows only :is, :value and :count",
            ));
        }
        if o.last && o.index.is_none() {
            return Err(err(pos, ":last needs :index"));
        }
        Ok(Cmp { comparator, mtype })
    }

    fn index(o: &MatchOpts) -> Option<Index> {
        o.index.map(|n| Index { n, last: o.last })
    }

    fn simple_test(&mut self, name: &str, pos: Pos, a: &mut Args) -> Result<Test, CompileError> {
        let unexpected =
            |t: &str, tpos: Pos| err(tpos, format!("unexpected tag :{t} for {}", quote(name)));
        let mut o = MatchOpts::default();
        Ok(match name {
            "true" => Test::True,
            "false" => Test::False,
            "address" | "envelope" | "header" | "string" | "hasflag" => {
                let addr = matches!(name, "address" | "envelope");
                let index = matches!(name, "address" | "header");
                match name {
                    "envelope" => self.need("envelope", name, pos)?,
                    "string" => self.need("variables", name, pos)?,
                    "hasflag" => self.need("imap4flags", name, pos)?,
                    _ => {}
                }
                while let Some((t, tpos)) = a.next_tag() {
                    if !self.match_tag(&mut o, &t, tpos, a, addr, index)? {
                        return Err(unexpected(&t, tpos));
                    }
                }
                let cmp = self.cmp(&o, pos)?;
                if name == "hasflag" && a.remaining() < 2 {
                    let (k, kpos) = a.list("a list of flags")?;
                    return Ok(Test::HasFlag {
                        cmp,
                        vars: Vec::new(),
                        keys: self.strings(k, kpos)?,
                    });
                }
                let (l, lpos) = a.list("a list of names")?;
                if name == "hasflag" {
                    self.need("variables", "hasflag with variables", lpos)?;
                }
                let first = self.strings(l, lpos)?;
                let (k, kpos) = a.list("a list of keys")?;
                let keys = self.strings(k, kpos)?;
                let part = o.part.unwrap_or(AddrPart::All);
                match name {
                    "address" => Test::Address {
                        cmp,
                        part,
                        index: Self::index(&o),
                        headers: first,
                        keys,
                    },
                    "envelope" => Test::Envelope {
                        cmp,
                        part,
                        fields: first,
                        keys,
                    },
                    "header" => Test::Header {
                        cmp,
                        index: Self::index(&o),
                        names: first,
                        keys,
                    },
                    "string" => Test::String {
                        cmp,
                        sources: first,
                        keys,
                    },
                    _ => Test::HasFlag {
                        cmp,
                        vars: first,
                        keys,
                    },
                }
            }
            "exists" => {
                if let Some((t, tpos)) = a.next_tag() {
                    return Err(unexpected(&t, tpos));
                }
                let (l, lpos) = a.list("a list of header names")?;
                Test::Exists(self.strings(l, lpos)?)
            }
            "size" => {
                let over = match a.next_tag() {
                    Some((t, _)) if t == "over" => true,
                    Some((t, _)) if t == "under" => false,
                    Some((t, tpos)) => return Err(unexpected(&t, tpos)),
                    None => return Err(a.missing(":over or :under")),
                };
                Test::Size {
                    over,
                    limit: a.number("a number")?,
                }
            }
            "body" => {
                self.need("body", name, pos)?;
                let mut transform = None;
                while let Some((t, tpos)) = a.next_tag() {
                    if self.match_tag(&mut o, &t, tpos, a, false, false)? {
                        continue;
                    }
                    if transform.is_some() {
                        return Err(err(tpos, "only one of :raw, :text and :content"));
                    }
                    transform = Some(match t.as_str() {
                        "raw" => BodyTransform::Raw,
                        "text" => BodyTransform::Text,
                        "content" => {
                            let (l, lpos) = a.list("a list of content types")?;
                            BodyTransform::Content(self.strings(l, lpos)?)
                        }
                        _ => return Err(unexpected(&t, tpos)),
                    });
                }
                let cmp = self.cmp(&o, pos)?;
                let (k, kpos) = a.list("a list of keys")?;
                Test::Body {
                    cmp,
                    transform: transform.unwrap_or(BodyTransform::Text),
                    keys: self.strings(k, kpos)?,
                }
            }
            "date" | "currentdate" => {
                self.need("date", name, pos)?;
                let mut zone = Zone::Local;
                let index = name == "date";
                while let Some((t, tpos)) = a.next_tag() {
                    if self.match_tag(&mut o, &t, tpos, a, false, index)? {
                        continue;
                    }
                    match t.as_str() {
                        "zone" | "originalzone" if zone != Zone::Local => {
                            return Err(err(tpos, ":zone given twice"));
                        }
                        "zone" => {
                            let (z, zpos) = a.string("a time zone")?;
                            if !z.contains("${") && crate::dates::parse_zone(&z).is_none() {
                                return Err(err(zpos, format!("invalid zone {}", quote(&z))));
                            }
                            zone = Zone::Given(self.string(z, zpos)?);
                        }
                        "originalzone" if index => zone = Zone::Original,
                        _ => return Err(unexpected(&t, tpos)),
                    }
                }
                let cmp = self.cmp(&o, pos)?;
                let header = if index {
                    let (h, hpos) = a.string("a header name")?;
                    Some(self.string(h, hpos)?)
                } else {
                    None
                };
                let (dp, dpos) = a.string("a date part")?;
                if !dp.contains("${")
                    && !crate::dates::PARTS.contains(&dp.to_ascii_lowercase().as_str())
                {
                    return Err(err(dpos, format!("unknown date part {}", quote(&dp))));
                }
                let part = self.string(dp, dpos)?;
                let (k, kpos) = a.list("a list of keys")?;
                let keys = self.strings(k, kpos)?;
                match header {
                    Some(header) => Test::Date {
                        cmp,
                        index: Self::index(&o),
                        zone,
                        header,
                        part,
                        keys,
                    },
                    None => Test::CurrentDate {
                        cmp,
                        zone,
                        part,
                        keys,
                    },
                }
            }
            "mailboxexists" => {
                self.need("mailbox", name, pos)?;
                if let Some((t, tpos)) = a.next_tag() {
                    return Err(unexpected(&t, tpos));
                }
                let (l, lpos) = a.list("a list of mailboxes")?;
                Test::MailboxExists(self.strings(l, lpos)?)
            }
            "duplicate" => {
                self.need("duplicate", name, pos)?;
                let (mut handle, mut id, mut seconds, mut last) =
                    (None, DupId::Default, None, false);
                while let Some((t, tpos)) = a.next_tag() {
                    match t.as_str() {
                        "handle" => {
                            let (s, p) = a.string("a handle")?;
                            handle = Some(self.string(s, p)?);
                        }
                        "header" | "uniqueid" => {
                            if id != DupId::Default {
                                return Err(err(tpos, ":header and :uniqueid exclude each other"));
                            }
                            let (s, p) = a.string("a string")?;
                            let s = self.string(s, p)?;
                            id = if t == "header" {
                                DupId::Header(s)
                            } else {
                                DupId::UniqueId(s)
                            };
                        }
                        "seconds" => seconds = Some(a.number("a number")?),
                        "last" => last = true,
                        _ => return Err(unexpected(&t, tpos)),
                    }
                }
                Test::Duplicate {
                    handle,
                    id,
                    seconds,
                    last,
                }
            }
            "spamtest" | "virustest" => {
                self.need(name, name, pos)?;
                let mut percent = false;
                while let Some((t, tpos)) = a.next_tag() {
                    if self.match_tag(&mut o, &t, tpos, a, false, false)? {
                        continue;
                    }
                    if t == "percent" && name == "spamtest" {
                        self.need("spamtestplus", ":percent", tpos)?;
                        percent = true;
                    } else {
                        return Err(unexpected(&t, tpos));
                    }
                }
                let cmp = self.cmp(&o, pos)?;
                let (s, spos) = a.string("a value")?;
                let value = self.string(s, spos)?;
                if name == "spamtest" {
                    Test::Spam {
                        percent,
                        cmp,
                        value,
                    }
                } else {
                    Test::Virus { cmp, value }
                }
            }
            _ => return Err(err(pos, format!("unknown test {}", quote(name)))),
        })
    }
}
