//! The interpreter: runs compiled scripts against a message, one shared state (actions,
//! the imap4flags internal variable, global variables, duplicate marks) across the
//! scripts of a run and their includes.
//!
//! Bounds: blocks are walked with an explicit stack (as deep as the script's nesting);
//! tests recurse as deep as they are nested (at most `max_nesting`, checked at compile
//! time); includes recurse at most `MAX_INCLUDE_DEPTH` deep, at most `max_includes`
//! scripts per run, a script including itself (directly or not) is an error. Every
//! command and test is a step; expanded strings, values set and values matched are
//! charged by the octet (`UNITS_PER_STEP` octets a step), so memory and time of a run
//! are bounded by `max_steps`. Variables hold at most `max_variable_bytes`, an expanded
//! string at most `MAX_EXPANSION_BYTES`.

use std::collections::{HashMap, HashSet};

use crate::actions::Actions;
use crate::ast::*;
use crate::matching::{self, Budget, RunError};
use crate::message::{Mail, date_of};
use crate::strings::cut;
use crate::{
    Action, DuplicateMark, Environment, Limits, Location, MAX_EXPANSION_BYTES, MAX_INCLUDE_DEPTH,
    Message, Outcome, Vacation, address, dates, vacation,
};

const DEFAULT_DUPLICATE_SECONDS: u64 = 7 * 86_400;
const MAX_DUPLICATE_SECONDS: u64 = 90 * 86_400;

enum Flow {
    Continue,
    Stop,
    Return,
}

/// The state of one script (top-level or included): its own variables.
#[derive(Default)]
struct Ctx {
    locals: HashMap<String, String>,
    globals_declared: HashSet<String>,
    matches: Vec<String>,
}

struct State<'a, 'm> {
    mail: Mail<'m>,
    env: &'a mut dyn Environment,
    limits: &'a Limits,
    budget: Budget,
    actions: Actions,
    flags: Vec<String>,
    globals: HashMap<String, String>,
    duplicates: Vec<DuplicateMark>,
    includes_run: usize,
    included: HashSet<(Location, String)>,
    include_stack: Vec<(Location, String)>,
}

pub fn run(
    scripts: &[&Script],
    message: &Message<'_>,
    env: &mut dyn Environment,
    limits: &Limits,
) -> (Outcome, u64) {
    let mut st = State {
        mail: Mail::new(message, limits),
        env,
        limits,
        budget: Budget::new(limits.max_steps),
        actions: Actions::new(limits),
        flags: Vec::new(),
        globals: HashMap::new(),
        duplicates: Vec::new(),
        includes_run: 0,
        included: HashSet::new(),
        include_stack: Vec::new(),
    };
    let mut result = Ok(());
    for script in scripts {
        match st.run_script(script, 0) {
            Ok(Flow::Stop) => break,
            Ok(_) => {}
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    let steps = st.budget.steps();
    let outcome = match result {
        Ok(()) => Outcome {
            actions: st.actions.finish(st.flags),
            error: None,
            duplicates: st.duplicates,
        },
        Err(e) => Outcome {
            actions: vec![Action::Keep { flags: Vec::new() }],
            error: Some(e.0),
            duplicates: Vec::new(),
        },
    };
    (outcome, steps)
}

/// Flags from a list of strings, each holding flags separated by spaces; duplicates
/// (without case) dropped; at most `max` octets in all.
fn flag_list<'s>(strings: impl IntoIterator<Item = &'s str>, max: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut total = 0;
    for s in strings {
        for f in s.split_whitespace() {
            if out.iter().any(|g| g.eq_ignore_ascii_case(f)) {
                continue;
            }
            if total + f.len() + 1 > max {
                return out;
            }
            total += f.len() + 1;
            out.push(f.to_string());
        }
    }
    out
}

fn modify(value: String, m: Modifier) -> String {
    match m {
        Modifier::Lower => value.to_lowercase(),
        Modifier::Upper => value.to_uppercase(),
        Modifier::LowerFirst | Modifier::UpperFirst => {
            let mut chars = value.chars();
            match chars.next() {
                None => value,
                Some(c) => {
                    let first: String = if m == Modifier::LowerFirst {
                        c.to_lowercase().collect()
                    } else {
                        c.to_uppercase().collect()
                    };
                    first + chars.as_str()
                }
            }
        }
        Modifier::QuoteWildcard => {
            let mut out = String::with_capacity(value.len());
            for c in value.chars() {
                if matches!(c, '*' | '?' | '\\') {
                    out.push('\\');
                }
                out.push(c);
            }
            out
        }
        Modifier::Length => value.chars().count().to_string(),
    }
}

impl State<'_, '_> {
    fn run_script(&mut self, script: &Script, depth: usize) -> Result<Flow, RunError> {
        let mut ctx = Ctx::default();
        let mut stack: Vec<(&[Command], usize)> = vec![(&script.commands, 0)];
        while let Some(top) = stack.last_mut() {
            let (cmds, i) = *top;
            let Some(cmd) = cmds.get(i) else {
                stack.pop();
                continue;
            };
            top.1 += 1;
            self.budget.step()?;
            match cmd {
                Command::If {
                    branches,
                    otherwise,
                } => {
                    let mut chosen = None;
                    for (test, block) in branches {
                        if self.test(test, &mut ctx)? {
                            chosen = Some(block);
                            break;
                        }
                    }
                    if let Some(block) = chosen.or(otherwise.as_ref()) {
                        stack.push((block, 0));
                    }
                }
                Command::Stop => return Ok(Flow::Stop),
                Command::Return => {
                    return Ok(if depth == 0 { Flow::Stop } else { Flow::Return });
                }
                Command::Include {
                    location,
                    name,
                    once,
                    optional,
                } => {
                    if let Flow::Stop = self.include(*location, name, *once, *optional, depth)? {
                        return Ok(Flow::Stop);
                    }
                }
                other => self.simple(other, &mut ctx)?,
            }
        }
        Ok(Flow::Continue)
    }

    fn include(
        &mut self,
        location: Location,
        name: &str,
        once: bool,
        optional: bool,
        depth: usize,
    ) -> Result<Flow, RunError> {
        let key = (location, name.to_string());
        let quoted = crate::parser::quote(name);
        if once && self.included.contains(&key) {
            return Ok(Flow::Continue);
        }
        if self.include_stack.contains(&key) {
            return Err(RunError(format!("include loop through {quoted}")));
        }
        if depth + 1 > MAX_INCLUDE_DEPTH {
            return Err(RunError(format!(
                "includes nested deeper than {MAX_INCLUDE_DEPTH}"
            )));
        }
        if self.includes_run >= self.limits.max_includes {
            return Err(RunError(format!(
                "more than {} included scripts",
                self.limits.max_includes
            )));
        }
        let Some(source) = self.env.script_source(location, name) else {
            if optional {
                return Ok(Flow::Continue);
            }
            return Err(RunError(format!("included script {quoted} not found")));
        };
        self.includes_run += 1;
        self.budget.units(source.len() as u64)?;
        let script = crate::compile(&source, self.limits)
            .map_err(|e| RunError(format!("included script {quoted}: {e}")))?;
        self.included.insert(key.clone());
        self.include_stack.push(key);
        let flow = self.run_script(&script, depth + 1);
        self.include_stack.pop();
        Ok(match flow? {
            Flow::Stop => Flow::Stop,
            _ => Flow::Continue,
        })
    }

    // ---- variables and strings

    fn var(&self, ctx: &Ctx, name: &str) -> String {
        let v = if let Some(g) = name.strip_prefix("global.") {
            self.globals.get(g)
        } else if ctx.globals_declared.contains(name) {
            self.globals.get(name)
        } else {
            ctx.locals.get(name)
        };
        v.cloned().unwrap_or_default()
    }

    fn set_var(&mut self, ctx: &mut Ctx, name: &str, mut value: String) -> Result<(), RunError> {
        cut(&mut value, self.limits.max_variable_bytes);
        self.budget.units(value.len() as u64 + 1)?;
        if let Some(g) = name.strip_prefix("global.") {
            self.globals.insert(g.to_string(), value);
        } else if ctx.globals_declared.contains(name) {
            self.globals.insert(name.to_string(), value);
        } else {
            ctx.locals.insert(name.to_string(), value);
        }
        Ok(())
    }

    fn expand(&mut self, s: &Str, ctx: &Ctx) -> Result<String, RunError> {
        let out = match s {
            Str::Lit(l) => l.clone(),
            Str::Tpl(pieces) => {
                let mut out = String::new();
                for p in pieces {
                    match p {
                        Piece::Lit(l) => out.push_str(l),
                        Piece::Var(n) => out.push_str(&self.var(ctx, n)),
                        Piece::Match(i) => {
                            out.push_str(ctx.matches.get(*i).map_or("", String::as_str))
                        }
                    }
                    if out.len() > MAX_EXPANSION_BYTES {
                        cut(&mut out, MAX_EXPANSION_BYTES);
                        break;
                    }
                }
                out
            }
        };
        self.budget.units(out.len() as u64 + 1)?;
        Ok(out)
    }

    fn expand_list(&mut self, l: &[Str], ctx: &Ctx) -> Result<Vec<String>, RunError> {
        l.iter().map(|s| self.expand(s, ctx)).collect()
    }

    fn flags_of(&mut self, l: &Option<Vec<Str>>, ctx: &Ctx) -> Result<Vec<String>, RunError> {
        match l {
            None => Ok(self.flags.clone()),
            Some(l) => {
                let l = self.expand_list(l, ctx)?;
                Ok(flag_list(
                    l.iter().map(String::as_str),
                    self.limits.max_variable_bytes,
                ))
            }
        }
    }

    // ---- commands

    fn simple(&mut self, cmd: &Command, ctx: &mut Ctx) -> Result<(), RunError> {
        match cmd {
            Command::Keep { flags } => {
                let flags = self.flags_of(flags, ctx)?;
                self.actions.keep(flags)
            }
            Command::Discard => self.actions.discard(),
            Command::FileInto {
                mailbox,
                flags,
                copy,
                create,
            } => {
                let mailbox = self.expand(mailbox, ctx)?;
                let flags = self.flags_of(flags, ctx)?;
                self.actions.fileinto(mailbox, flags, *create, *copy)
            }
            Command::Redirect { address, copy } => {
                let address = self.expand(address, ctx)?;
                self.actions.redirect(&address, *copy)
            }
            Command::Reject { reason, ereject } => {
                let reason = self.expand(reason, ctx)?;
                self.actions.reject(reason, *ereject)
            }
            Command::Vacation(v) => {
                let reason = self.expand(&v.reason, ctx)?;
                let subject = v
                    .subject
                    .as_ref()
                    .map(|s| self.expand(s, ctx))
                    .transpose()?;
                let from = v.from.as_ref().map(|s| self.expand(s, ctx)).transpose()?;
                let addresses = self.expand_list(&v.addresses, ctx)?;
                let handle = match &v.handle {
                    Some(h) => self.expand(h, ctx)?,
                    None => vacation::default_handle(
                        &reason,
                        subject.as_deref(),
                        from.as_deref(),
                        v.mime,
                    ),
                };
                self.budget.units(self.mail.fields.len() as u64 * 8)?;
                let reply = vacation::reply_allowed(&self.mail, &addresses).then(|| Vacation {
                    to: self.mail.envelope_from.trim().to_string(),
                    handle,
                    seconds: vacation::period(v.period),
                    subject,
                    from,
                    reason,
                    mime: v.mime,
                });
                self.actions.vacation(reply)
            }
            Command::Set {
                name,
                value,
                modifiers,
            } => {
                let mut value = self.expand(value, ctx)?;
                for m in modifiers {
                    self.budget.units(value.len() as u64 + 1)?;
                    value = modify(value, *m);
                }
                self.set_var(ctx, name, value)
            }
            Command::Flags { op, var, flags } => {
                let given = self.expand_list(flags, ctx)?;
                let max = self.limits.max_variable_bytes;
                let given = flag_list(given.iter().map(String::as_str), max);
                let var = match var {
                    Some(v) => Some(self.expand(v, ctx)?.to_ascii_lowercase()),
                    None => None,
                };
                let current = match &var {
                    Some(v) => flag_list([self.var(ctx, v).as_str()], max),
                    None => self.flags.clone(),
                };
                let new = match op {
                    FlagOp::Set => given,
                    FlagOp::Add => {
                        let joined: Vec<&str> = current
                            .iter()
                            .chain(given.iter())
                            .map(String::as_str)
                            .collect();
                        flag_list(joined, max)
                    }
                    FlagOp::Remove => current
                        .into_iter()
                        .filter(|f| !given.iter().any(|g| g.eq_ignore_ascii_case(f)))
                        .collect(),
                };
                match var {
                    Some(v) => self.set_var(ctx, &v, new.join(" ")),
                    None => {
                        self.flags = new;
                        Ok(())
                    }
                }
            }
            Command::Global(names) => {
                for n in names {
                    ctx.globals_declared.insert(n.clone());
                }
                Ok(())
            }
            // handled by run_script
            Command::If { .. } | Command::Stop | Command::Return | Command::Include { .. } => {
                Ok(())
            }
        }
    }

    // ---- tests

    fn matches(
        &mut self,
        cmp: Cmp,
        values: &[String],
        keys: &[String],
        ctx: &mut Ctx,
    ) -> Result<bool, RunError> {
        let mut captures = None;
        let r = matching::test(cmp, values, keys, &mut self.budget, &mut captures)?;
        if let Some(mut caps) = captures {
            for c in &mut caps {
                cut(c, self.limits.max_variable_bytes);
            }
            ctx.matches = caps;
        }
        Ok(r)
    }

    fn zone_offset(&mut self, zone: &Zone, original: i64, ctx: &Ctx) -> Result<i64, RunError> {
        Ok(match zone {
            Zone::Local => 0,
            Zone::Original => original,
            Zone::Given(z) => dates::parse_zone(self.expand(z, ctx)?.trim()).unwrap_or(0),
        })
    }

    /// A test: the recursive part is kept small (its frame is what nesting multiplies);
    /// the other tests are in [`State::leaf_test`].
    fn test(&mut self, t: &Test, ctx: &mut Ctx) -> Result<bool, RunError> {
        self.budget.step()?;
        match t {
            Test::Not(t) => Ok(!self.test(t, ctx)?),
            Test::AllOf(ts) => {
                for t in ts {
                    if !self.test(t, ctx)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Test::AnyOf(ts) => {
                for t in ts {
                    if self.test(t, ctx)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            t => self.leaf_test(t, ctx),
        }
    }

    #[inline(never)]
    fn leaf_test(&mut self, t: &Test, ctx: &mut Ctx) -> Result<bool, RunError> {
        match t {
            Test::True => Ok(true),
            Test::False => Ok(false),
            Test::Not(_) | Test::AllOf(_) | Test::AnyOf(_) => self.test(t, ctx),
            Test::Address {
                cmp,
                part,
                index,
                headers,
                keys,
            } => {
                let names = self.expand_list(headers, ctx)?;
                let keys = self.expand_list(keys, ctx)?;
                let mut values = Vec::new();
                for n in &names {
                    let fields: Vec<Vec<u8>> = self
                        .mail
                        .named(n, *index)
                        .into_iter()
                        .map(|f| f.raw.clone())
                        .collect();
                    for raw in fields {
                        self.budget.units(raw.len() as u64 + 1)?;
                        for a in address::addresses_of(&raw) {
                            values.push(address::part(&a, *part));
                        }
                    }
                }
                self.matches(*cmp, &values, &keys, ctx)
            }
            Test::Envelope {
                cmp,
                part,
                fields,
                keys,
            } => {
                let fields = self.expand_list(fields, ctx)?;
                let keys = self.expand_list(keys, ctx)?;
                let mut values = Vec::new();
                for f in &fields {
                    let a = match f.to_ascii_lowercase().trim() {
                        "from" => self.mail.envelope_from,
                        "to" => self.mail.envelope_to,
                        _ => continue,
                    };
                    let a = a.trim();
                    values.push(if a.is_empty() {
                        String::new()
                    } else {
                        address::part(a, *part)
                    });
                }
                self.matches(*cmp, &values, &keys, ctx)
            }
            Test::Header {
                cmp,
                index,
                names,
                keys,
            } => {
                let names = self.expand_list(names, ctx)?;
                let keys = self.expand_list(keys, ctx)?;
                let mut values = Vec::new();
                for n in &names {
                    for f in self.mail.named(n, *index) {
                        values.push(f.text.clone());
                    }
                }
                self.budget
                    .units(values.iter().map(|v| v.len() as u64).sum::<u64>())?;
                self.matches(*cmp, &values, &keys, ctx)
            }
            Test::Exists(names) => {
                let names = self.expand_list(names, ctx)?;
                self.budget.units(names.len() as u64 * 16)?;
                Ok(names.iter().all(|n| self.mail.has(n)))
            }
            Test::Size { over, limit } => {
                let size = self.mail.raw.len() as u64;
                Ok(if *over { size > *limit } else { size < *limit })
            }
            Test::Body {
                cmp,
                transform,
                keys,
            } => {
                let keys = self.expand_list(keys, ctx)?;
                let values: Vec<String> = match transform {
                    BodyTransform::Raw => self.mail.body_raw().to_vec(),
                    BodyTransform::Text => self.mail.body_text().to_vec(),
                    BodyTransform::Content(types) => {
                        let types = self.expand_list(types, ctx)?;
                        self.budget.units(self.mail.raw.len() as u64)?;
                        self.mail.body_content(&types)
                    }
                };
                self.budget
                    .units(values.iter().map(|v| v.len() as u64).sum::<u64>())?;
                self.matches(*cmp, &values, &keys, ctx)
            }
            Test::String { cmp, sources, keys } => {
                let mut values = self.expand_list(sources, ctx)?;
                let keys = self.expand_list(keys, ctx)?;
                if matches!(cmp.mtype, MatchType::Count(_)) {
                    values.retain(|v| !v.is_empty());
                }
                self.matches(*cmp, &values, &keys, ctx)
            }
            Test::HasFlag { cmp, vars, keys } => {
                let keys = self.expand_list(keys, ctx)?;
                let max = self.limits.max_variable_bytes;
                let values = if vars.is_empty() {
                    self.flags.clone()
                } else {
                    let names = self.expand_list(vars, ctx)?;
                    let contents: Vec<String> = names
                        .iter()
                        .map(|n| self.var(ctx, &n.to_ascii_lowercase()))
                        .collect();
                    flag_list(contents.iter().map(String::as_str), max.saturating_mul(4))
                };
                self.matches(*cmp, &values, &keys, ctx)
            }
            Test::Date {
                cmp,
                index,
                zone,
                header,
                part,
                keys,
            } => {
                let header = self.expand(header, ctx)?;
                let part = self.expand(part, ctx)?.to_ascii_lowercase();
                let keys = self.expand_list(keys, ctx)?;
                let index = index.or(Some(Index { n: 1, last: false }));
                let date = self
                    .mail
                    .named(&header, index)
                    .first()
                    .and_then(|f| date_of(f));
                let mut values = Vec::new();
                if let Some((t, original)) = date {
                    let offset = self.zone_offset(zone, original, ctx)?;
                    values.extend(dates::part(t, offset, part.trim()));
                }
                self.matches(*cmp, &values, &keys, ctx)
            }
            Test::CurrentDate {
                cmp,
                zone,
                part,
                keys,
            } => {
                let part = self.expand(part, ctx)?.to_ascii_lowercase();
                let keys = self.expand_list(keys, ctx)?;
                let offset = self.zone_offset(zone, 0, ctx)?;
                let values: Vec<String> = dates::part(self.mail.now, offset, part.trim())
                    .into_iter()
                    .collect();
                self.matches(*cmp, &values, &keys, ctx)
            }
            Test::MailboxExists(names) => {
                let names = self.expand_list(names, ctx)?;
                for n in &names {
                    self.budget.step()?;
                    if !self.env.mailbox_exists(n) {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Test::Duplicate {
                handle,
                id,
                seconds,
                last,
            } => {
                let value = match id {
                    DupId::UniqueId(s) => Some(self.expand(s, ctx)?),
                    DupId::Header(h) => {
                        let h = self.expand(h, ctx)?;
                        self.mail.named(&h, None).first().map(|f| f.text.clone())
                    }
                    DupId::Default => self
                        .mail
                        .named("message-id", None)
                        .first()
                        .map(|f| f.text.clone()),
                };
                let Some(value) = value.filter(|v| !v.trim().is_empty()) else {
                    return Ok(false);
                };
                let handle = match handle {
                    Some(h) => self.expand(h, ctx)?,
                    None => String::new(),
                };
                let key = format!("{}:{}:{}", handle.len(), handle, value.trim());
                self.budget.step()?;
                let seen = self.env.duplicate_seen(&key);
                if (!seen || *last) && !self.duplicates.iter().any(|d| d.key == key) {
                    self.duplicates.push(DuplicateMark {
                        key,
                        seconds: seconds
                            .unwrap_or(DEFAULT_DUPLICATE_SECONDS)
                            .clamp(1, MAX_DUPLICATE_SECONDS),
                    });
                }
                Ok(seen)
            }
            Test::Spam {
                percent,
                cmp,
                value,
            } => {
                let key = self.expand(value, ctx)?;
                let score = self.env.spam_score().unwrap_or(0).min(10);
                let v = if *percent {
                    // 0 not tested; 1 (surely not spam) ..= 10 (surely spam) as 0..=100
                    if score == 0 {
                        0
                    } else {
                        u32::from(score - 1) * 100 / 9
                    }
                } else {
                    u32::from(score)
                };
                self.matches(*cmp, &[v.to_string()], &[key], ctx)
            }
            Test::Virus { cmp, value } => {
                let key = self.expand(value, ctx)?;
                let score = self.env.virus_score().unwrap_or(0).min(5);
                self.matches(*cmp, &[score.to_string()], &[key], ctx)
            }
        }
    }
}
