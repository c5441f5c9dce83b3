//! Sieve at delivery: each local recipient's active script (between the server-wide
//! `sieve.before` and `sieve.after` scripts) is run on the assembled message before it is
//! stored, and what it decides becomes that recipient's part of the `Accept`: the
//! folders its copies go to (with their flags), redirects (queued like any forward, with
//! SRS for mail from outside), a refusal (`reject`: the sender gets a report, or the
//! DATA reply is 550 when nobody else takes the message), nothing (`discard`), and, once
//! the message is stored, vacation replies and duplicate ids remembered (`after_commit`).
//!
//! A script never loses a message: a script that does not compile, or a run that fails
//! (a limit, a conflict of actions, a redirect loop), keeps the message in INBOX, logs the
//! error with the queue id, puts it in an `X-Sieve-Error:` field of the kept copy and
//! records it on the script (`estafeta sieve list`).
//!
//! Bounds: the interpreter's (`estafeta_sieve::Limits`: script size, nesting, actions,
//! redirects, steps) from `[sieve]`; runs happen on a blocking thread, never on the
//! async threads; compiled scripts are cached by the SHA-256 of their text (at most
//! [`CACHE_SIZE`], emptied when full).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use estafeta_config::SieveConfig;
use estafeta_sieve::{Action, DuplicateMark, Limits, Location, Script, Vacation};
use estafeta_store::{Accept, FailedRecipient, Flags, LocalDelivery, Store, User};
use sha2::{Digest, Sha256};

use super::quota::LocalRecipient;

/// Compiled scripts kept at most, and the octets of their sources.
const CACHE_SIZE: usize = 1000;
const CACHE_BYTES: usize = 32 << 20;

/// The header field a redirected message carries, naming who redirected it: a message
/// that comes back with it for the same user is not redirected again (a loop).
pub const REDIRECTED_FROM: &str = "X-Sieve-Redirected-From";

/// Compiled scripts by the SHA-256 of their text, or why they do not compile.
type Compiled = HashMap<[u8; 32], Result<Arc<Script>, String>>;

/// Sieve as the SMTP server runs it: settings, the server-wide scripts, the cache.
pub struct Filters {
    enabled: bool,
    limits: Limits,
    before: Option<Arc<Script>>,
    after: Option<Arc<Script>>,
    global_dir: Option<std::path::PathBuf>,
    /// Our authserv-id: the `Authentication-Results:` field spamtest reads.
    hostname: String,
    /// Compiled scripts (or why they do not compile), with the octets of source held.
    cache: Mutex<(Compiled, usize)>,
}

/// The interpreter's bounds from `[sieve]`.
pub fn limits(config: &SieveConfig) -> Limits {
    Limits {
        max_script_bytes: config.max_script_size,
        max_actions: config.max_actions,
        max_redirects: config.max_redirects,
        ..Limits::default()
    }
}

impl Filters {
    /// From `[sieve]`: `Err` names a server-wide script that cannot be read or compiled.
    pub fn from_config(config: &SieveConfig, hostname: &str) -> Result<Filters, String> {
        let limits = limits(config);
        let load = |key: &str, path: &Option<String>| -> Result<Option<Arc<Script>>, String> {
            let Some(path) = path else { return Ok(None) };
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("sieve.{key} = {path:?}: cannot read the script: {e}"))?;
            estafeta_sieve::compile(&text, &limits)
                .map(|s| Some(Arc::new(s)))
                .map_err(|e| format!("sieve.{key} = {path:?}: the script does not compile: {e}"))
        };
        Ok(Filters {
            enabled: config.enabled,
            before: load("before", &config.before)?,
            after: load("after", &config.after)?,
            global_dir: config.global_dir.as_ref().map(std::path::PathBuf::from),
            hostname: hostname.to_ascii_lowercase(),
            limits,
            cache: Mutex::new((HashMap::new(), 0)),
        })
    }

    /// No filtering at all (tests of other parts).
    pub fn off() -> Filters {
        Filters {
            enabled: false,
            limits: Limits::default(),
            before: None,
            after: None,
            global_dir: None,
            hostname: String::new(),
            cache: Mutex::new((HashMap::new(), 0)),
        }
    }

    /// The compiled script of `text` (or why it does not compile), from the cache; a
    /// compile happens outside the cache's lock.
    fn compiled(&self, text: &str) -> Result<Arc<Script>, String> {
        let key: [u8; 32] = Sha256::digest(text.as_bytes()).into();
        if let Some(known) = self
            .cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .0
            .get(&key)
        {
            return known.clone();
        }
        let compiled = estafeta_sieve::compile(text, &self.limits)
            .map(Arc::new)
            .map_err(|e| e.to_string());
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.0.len() >= CACHE_SIZE || cache.1 + text.len() > CACHE_BYTES {
            *cache = (HashMap::new(), 0);
        }
        cache.1 += text.len();
        cache.0.insert(key, compiled.clone());
        compiled
    }
}

/// What one recipient's scripts decided.
#[derive(Debug)]
pub struct Plan {
    pub user: User,
    /// The copies to store: `None` folder for INBOX (or Junk, as the checks decided).
    pub copies: Vec<Filing>,
    pub redirects: Vec<String>,
    pub reject: Option<String>,
    pub vacation: Option<Vacation>,
    pub duplicates: Vec<DuplicateMark>,
    /// The script that ran and what went wrong, when something did.
    pub error: Option<(String, String)>,
    pub discarded: bool,
}

#[derive(Debug, Clone)]
pub struct Filing {
    pub folder: Option<String>,
    pub create: bool,
    pub flags: Vec<String>,
}

/// Runs the scripts of `users` on `message` (as it will be stored). Users without a
/// script (and no server-wide one) get no plan: their copy goes where it went before.
pub async fn run(
    filters: &Arc<Filters>,
    store: &Arc<dyn Store>,
    queue_id: &str,
    sender: &str,
    message: &Arc<Vec<u8>>,
    users: &[User],
    at: i64,
) -> Vec<Plan> {
    if !filters.enabled || users.is_empty() {
        return Vec::new();
    }
    let ids: Vec<i64> = users.iter().map(|u| u.id).collect();
    let active = match store.active_sieve_scripts(&ids).await {
        Ok(a) => a,
        Err(e) => {
            // the message is delivered unfiltered rather than refused
            tracing::error!(queue_id, error = %e, "Sieve scripts not read: delivering without filters");
            return Vec::new();
        }
    };
    let server_wide = filters.before.is_some() || filters.after.is_some();
    let mut plans = Vec::new();
    for user in users {
        let own = active.iter().find(|(id, _, _)| *id == user.id);
        if own.is_none() && !server_wide {
            continue;
        }
        let (filters, store, message) = (filters.clone(), store.clone(), message.clone());
        let (user, sender, own) = (user.clone(), sender.to_string(), own.cloned());
        let handle = tokio::runtime::Handle::current();
        let queue = queue_id.to_string();
        let planned = tokio::task::spawn_blocking(move || {
            one_user(
                &filters, &store, &handle, &queue, &sender, &message, user, own, at,
            )
        })
        .await;
        match planned {
            Ok(plan) => plans.push(plan),
            Err(e) => {
                tracing::error!(queue_id, error = %e, "Sieve run failed: delivering without filters")
            }
        }
    }
    plans
}

#[allow(clippy::too_many_arguments)]
fn one_user(
    filters: &Filters,
    store: &Arc<dyn Store>,
    handle: &tokio::runtime::Handle,
    queue_id: &str,
    sender: &str,
    message: &[u8],
    user: User,
    own: Option<(i64, String, String)>,
    at: i64,
) -> Plan {
    let mut plan = Plan {
        user,
        copies: Vec::new(),
        redirects: Vec::new(),
        reject: None,
        vacation: None,
        duplicates: Vec::new(),
        error: None,
        discarded: false,
    };
    let name = own
        .as_ref()
        .map_or("(server-wide)".to_string(), |o| o.1.clone());
    let mut scripts: Vec<Arc<Script>> = Vec::new();
    scripts.extend(filters.before.clone());
    if let Some((_, _, text)) = &own {
        match filters.compiled(text) {
            Ok(s) => scripts.push(s),
            Err(e) => {
                plan.error = Some((name.clone(), format!("the script does not compile: {e}")));
            }
        }
    }
    scripts.extend(filters.after.clone());
    let addresses = vec![plan.user.address.clone()];
    let input = estafeta_sieve::Message {
        raw: message,
        envelope_from: sender,
        envelope_to: &plan.user.address,
        user_addresses: &addresses,
        now: at,
    };
    let mut env = Env {
        store,
        handle,
        user_id: plan.user.id,
        at,
        global_dir: filters.global_dir.as_deref(),
        message,
        hostname: &filters.hostname,
    };
    let refs: Vec<&Script> = scripts.iter().map(|s| s.as_ref()).collect();
    let outcome = estafeta_sieve::execute(&refs, &input, &mut env, &filters.limits);
    if let Some(e) = outcome.error {
        plan.error = Some((name.clone(), e));
    }
    let looped = redirected_by(message, &plan.user.address);
    for action in outcome.actions {
        match action {
            Action::Keep { flags } => plan.copies.push(Filing {
                folder: None,
                create: false,
                flags,
            }),
            Action::FileInto {
                mailbox,
                flags,
                create,
            } => plan.copies.push(Filing {
                folder: Some(mailbox),
                create,
                flags,
            }),
            Action::Redirect { address } if looped => {
                tracing::info!(queue_id, user = %plan.user.address, to = %address, "Sieve redirect not made: the message was redirected by this user before (a loop); kept");
                plan.error = Some((
                    plan.error.take().map_or(name.clone(), |e| e.0),
                    format!("redirect to {address} not made: a redirect loop"),
                ));
                plan.copies.push(Filing {
                    folder: None,
                    create: false,
                    flags: Vec::new(),
                });
            }
            Action::Redirect { address } => plan.redirects.push(address),
            Action::Reject { reason, .. } => plan.reject = Some(reason),
            Action::Discard => plan.discarded = true,
            Action::Vacation(v) => plan.vacation = Some(v),
        }
    }
    plan.duplicates = outcome.duplicates;
    if let Some((script, error)) = &plan.error {
        tracing::warn!(queue_id, user = %plan.user.address, script = %script, error = %error, "Sieve error: the message is kept");
    }
    tracing::info!(
        queue_id,
        user = %plan.user.address,
        copies = plan.copies.len(),
        redirects = plan.redirects.len(),
        reject = plan.reject.is_some(),
        vacation = plan.vacation.is_some(),
        "Sieve ran"
    );
    plan
}

/// Whether `message` carries our redirect mark for `user` already.
fn redirected_by(message: &[u8], user: &str) -> bool {
    header_values(message, REDIRECTED_FROM)
        .iter()
        .any(|v| v.trim().trim_matches(['<', '>']).eq_ignore_ascii_case(user))
}

/// The values of the header fields named `name` (unfolded), among the first 1,000 fields
/// of the header and its first 256 KiB, each cut at 4 KiB.
fn header_values(message: &[u8], name: &str) -> Vec<String> {
    let message = &message[..message.len().min(256 * 1024)];
    let end = message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(message.len(), |i| i + 2);
    let head = String::from_utf8_lossy(&message[..end]);
    let mut values: Vec<String> = Vec::new();
    let mut current: Option<String> = None;
    for line in head.split("\r\n").take(10_000) {
        if line.starts_with([' ', '\t']) {
            if let Some(c) = current.as_mut()
                && c.len() < 4096
            {
                c.push_str(line);
            }
            continue;
        }
        if let Some(c) = current.take() {
            values.push(c);
        }
        if values.len() >= 1000 {
            break;
        }
        if let Some((field, value)) = line.split_once(':')
            && field.trim().eq_ignore_ascii_case(name)
        {
            current = Some(value.to_string());
        }
    }
    values.extend(current);
    values
}

/// The interpreter's window on the store, from its blocking thread.
struct Env<'a> {
    store: &'a Arc<dyn Store>,
    handle: &'a tokio::runtime::Handle,
    user_id: i64,
    at: i64,
    global_dir: Option<&'a std::path::Path>,
    message: &'a [u8],
    hostname: &'a str,
}

impl estafeta_sieve::Environment for Env<'_> {
    fn mailbox_exists(&mut self, name: &str) -> bool {
        let name = if name.eq_ignore_ascii_case("INBOX") {
            "INBOX"
        } else {
            name
        };
        matches!(
            self.handle
                .block_on(self.store.get_mailbox(self.user_id, name)),
            Ok(Some(_))
        )
    }

    fn duplicate_seen(&mut self, key: &str) -> bool {
        let key = memory_key(&[key]);
        self.handle
            .block_on(
                self.store
                    .sieve_remembers(self.user_id, "duplicate", &key, self.at),
            )
            .unwrap_or(false)
    }

    fn script_source(&mut self, location: Location, name: &str) -> Option<String> {
        match location {
            Location::Personal => self
                .handle
                .block_on(self.store.sieve_script(self.user_id, name))
                .ok()
                .flatten(),
            Location::Global => {
                let dir = self.global_dir?;
                let plain = !name.is_empty()
                    && name.len() <= 128
                    && !name.starts_with('.')
                    && !name.contains(['/', '\\', '\0']);
                plain
                    .then(|| std::fs::read_to_string(dir.join(format!("{name}.sieve"))).ok())
                    .flatten()
            }
        }
    }

    fn spam_score(&mut self) -> Option<u8> {
        spam_score(self.message, self.hostname)
    }

    fn virus_score(&mut self) -> Option<u8> {
        // no virus scanner runs here: "not tested" (RFC 5235 §3.2)
        None
    }
}

/// spamtest's value from the authentication results we added (the
/// `Authentication-Results:` field of our authserv-id, `hostname`; forged ones claiming
/// it were removed at assembly, others are not ours to believe): the only evidence about
/// a message this server has. DMARC fail 10, SPF fail 8, DKIM fail or SPF softfail 6,
/// DMARC pass 1, anything else 3; no field of ours: not tested.
fn spam_score(message: &[u8], hostname: &str) -> Option<u8> {
    let results = header_values(message, "Authentication-Results");
    let ours = results
        .iter()
        .map(|r| r.trim().to_ascii_lowercase())
        .find(|r| {
            r.strip_prefix(hostname)
                .is_some_and(|rest| rest.starts_with([';', ' ', '\t', '\r', '\n']))
        })?;
    let has = |what: &str| ours.contains(what);
    Some(if has("dmarc=fail") {
        10
    } else if has("spf=fail") {
        8
    } else if has("dkim=fail") || has("spf=softfail") {
        6
    } else if has("dmarc=pass") {
        1
    } else {
        3
    })
}

/// A memory key: the SHA-256 of the parts, so that no address is stored in the clear.
pub fn memory_key(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Flags a copy may arrive with, at most.
const MAX_FLAGS: usize = 32;

/// An IMAP flag a script may set: a system flag, or a keyword atom of at most 64
/// characters (RFC 3501 `flag-keyword`); anything else a script sets (from a header,
/// say) is dropped, as it would break IMAP's responses.
fn flag_ok(flag: &str) -> bool {
    const SYSTEM: [&str; 5] = ["\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft"];
    if flag.starts_with('\\') {
        return SYSTEM.iter().any(|s| s.eq_ignore_ascii_case(flag));
    }
    !flag.is_empty()
        && flag.len() <= 64
        && flag
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"(){%*\"\\]".contains(&b))
}

/// What the plans changed in the `Accept`: the refusals to report at DATA when nobody
/// else takes the message.
#[derive(Debug, Default)]
pub struct Applied {
    pub rejections: Vec<String>,
    pub discarded: usize,
    /// Where the plans redirect to, each once, with the users who redirected there: the
    /// caller resolves them (a local address is delivered here, another queued, an
    /// unknown one gives the redirecting users their copy back).
    pub redirects: Vec<(String, Vec<i64>)>,
}

/// Applies the plans to the accept made for every local user: each planned user's INBOX
/// copy is replaced by the copies of the plan; redirects become queued recipients;
/// refusals failing recipients (the sender gets a report); redirects are listed. The message gains a
/// [`REDIRECTED_FROM`] field per redirecting user.
pub fn apply(plans: &[Plan], accept: &mut Accept, local: &[LocalRecipient]) -> Applied {
    let mut applied = Applied::default();
    if plans.is_empty() {
        return applied;
    }
    let mut copies = Vec::with_capacity(accept.local.len());
    for delivery in std::mem::take(&mut accept.local) {
        let Some(plan) = plans.iter().find(|p| p.user.id == delivery.user_id) else {
            copies.push(delivery);
            continue;
        };
        let mut prefix = delivery.prefix.clone();
        if let Some((script, error)) = &plan.error {
            let line: String = format!("{script}: {error}")
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .take(900)
                .collect();
            prefix.extend_from_slice(format!("X-Sieve-Error: {line}\r\n").as_bytes());
        }
        let mut seen: Vec<(Option<String>, bool)> = Vec::new();
        for copy in &plan.copies {
            let folder = copy
                .folder
                .clone()
                .filter(|f| !f.eq_ignore_ascii_case("INBOX"));
            if seen.iter().any(|(f, _)| *f == folder) {
                continue;
            }
            seen.push((folder.clone(), copy.create));
            copies.push(LocalDelivery {
                user_id: delivery.user_id,
                prefix: prefix.clone(),
                junk: delivery.junk && folder.is_none(),
                folder,
                create: copy.create,
                flags: Flags::new(
                    copy.flags
                        .iter()
                        .map(String::as_str)
                        .filter(|f| flag_ok(f))
                        .take(MAX_FLAGS),
                ),
            });
        }
        if plan.copies.is_empty() && plan.redirects.is_empty() && plan.reject.is_none() {
            applied.discarded += 1;
        }
        if let Some(reason) = &plan.reject {
            let brought = local.iter().find(|l| l.user.id == plan.user.id);
            // it goes into an SMTP reply line and a report: printable ASCII, 200 at most
            let reason: String = reason
                .chars()
                .map(|c| {
                    if c.is_ascii_graphic() || c == ' ' {
                        c
                    } else {
                        '?'
                    }
                })
                .take(200)
                .collect();
            accept.failed.push(FailedRecipient {
                address: brought.map_or(plan.user.address.clone(), |l| l.rcpt.clone()),
                orcpt: brought.and_then(|l| l.orcpt.clone()),
                notify: brought.and_then(|l| l.notify),
                reason: format!("5.7.1 refused by the recipient's filter: {reason}"),
            });
            applied.rejections.push(reason);
        }
    }
    accept.local = copies;
    let mut marks = String::new();
    for plan in plans.iter().filter(|p| !p.redirects.is_empty()) {
        marks.push_str(&format!("{REDIRECTED_FROM}: <{}>\r\n", plan.user.address));
        for to in &plan.redirects {
            match applied
                .redirects
                .iter_mut()
                .find(|(r, _)| r.eq_ignore_ascii_case(to))
            {
                Some((_, users)) => users.push(plan.user.id),
                None => applied.redirects.push((to.clone(), vec![plan.user.id])),
            }
        }
    }
    if !marks.is_empty() {
        accept.body.splice(0..0, marks.into_bytes());
    }
    applied
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_reading_is_bounded_whatever_the_message() {
        // 10 MB of header fields and no empty line: at most 1,000 fields of 256 KiB
        let mut hostile = Vec::new();
        while hostile.len() < 10 << 20 {
            hostile.extend_from_slice(b"X-Sieve-Redirected-From: <bob@example.com>\r\n");
        }
        let values = header_values(&hostile, REDIRECTED_FROM);
        assert!(
            !values.is_empty() && values.len() <= 1000,
            "{}",
            values.len()
        );
        // one field folded over megabytes: its value is cut at 4 KiB (and a line)
        let mut folded = b"Subject: x".to_vec();
        for _ in 0..200_000 {
            folded.extend_from_slice(b"\r\n continued");
        }
        let subject = header_values(&folded, "subject");
        assert!(
            subject.len() == 1 && subject[0].len() < 4096 + 64,
            "{}",
            subject[0].len()
        );
        assert!(redirected_by(&hostile, "BOB@example.com"));
        assert!(!redirected_by(&hostile, "ann@example.com"));
    }

    #[test]
    fn spamtest_believes_only_our_own_results() {
        let ours =
            b"Authentication-Results: mail.test; spf=fail smtp.mailfrom=x@y.test\r\n\r\nhi\r\n";
        assert_eq!(spam_score(ours, "mail.test"), Some(8));
        // a sender's field naming another server, or claiming a longer name: not ours
        let theirs = b"Authentication-Results: mail.test.evil; dmarc=pass\r\n\
Authentication-Results: other.test; dmarc=pass\r\n\r\nhi\r\n";
        assert_eq!(spam_score(theirs, "mail.test"), None);
        let both = b"Authentication-Results: other.test; dmarc=pass\r\n\
Authentication-Results: mail.test; dmarc=fail\r\n\r\nhi\r\n";
        assert_eq!(spam_score(both, "mail.test"), Some(10));
        assert_eq!(spam_score(b"Subject: x\r\n\r\n", "mail.test"), None);
    }
}
