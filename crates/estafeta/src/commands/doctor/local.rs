//! The checks that need no network: the configuration, the data directory's modes, the
//! store, the domains to check, and the outbound queue.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::Duration;

use estafeta_config::Engine;
use estafeta_store::{RecipientState, Store};

use super::Report;
use crate::settings::Settings;

/// The configuration (valid, since it loaded), the data directory, and the store, which
/// is returned when it opens.
pub async fn check(settings: &Settings, report: &mut Report) -> Option<Arc<dyn Store>> {
    let config = &settings.config;
    match &settings.origin {
        Some(file) => report.ok("config", format!("{} is valid", file.display())),
        None => report.ok(
            "config",
            "no configuration file: the built-in defaults are in use",
        ),
    }
    let dir = &config.data_dir;
    let sqlite = config.storage.engine == Engine::Sqlite;
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {
            let mode = meta.permissions().mode() & 0o777;
            let problems = crate::privileges::mode_problems(dir, config);
            let writable: Vec<_> = problems.iter().filter(|p| p.mode & 0o022 != 0).collect();
            let readable: Vec<_> = problems
                .iter()
                .filter(|p| p.mode & 0o022 == 0 && (p.mode & 0o007 != 0 || !p.is_dir))
                .collect();
            if !writable.is_empty() {
                let names: Vec<String> = writable
                    .iter()
                    .map(|p| format!("{} (mode {:o})", p.path.display(), p.mode))
                    .collect();
                let fix: Vec<String> = writable
                    .iter()
                    .map(|p| format!("chmod {:o} {}", p.wanted, p.path.display()))
                    .collect();
                report.fail(
                    "data directory",
                    format!("others can write to {}", names.join(", ")),
                    format!("run: {}", fix.join("; ")),
                );
            } else if !readable.is_empty() {
                let names: Vec<String> = readable
                    .iter()
                    .map(|p| format!("{} (mode {:o})", p.path.display(), p.mode))
                    .collect();
                let fix: Vec<String> = readable
                    .iter()
                    .map(|p| format!("chmod {:o} {}", p.wanted, p.path.display()))
                    .collect();
                report.warn(
                    "data directory",
                    format!(
                        "other users can read {} (mail, password hashes, keys)",
                        names.join(", ")
                    ),
                    format!("run: {}", fix.join("; ")),
                );
            } else {
                report.ok(
                    "data directory",
                    format!("{} exists, mode {mode:o}", dir.display()),
                );
            }
        }
        Ok(_) => report.fail(
            "data directory",
            format!("{} is not a directory", dir.display()),
            "set data_dir (or --data-dir) to a directory",
        ),
        Err(e) if sqlite => {
            report.fail(
                "data directory",
                format!("{}: {e}", dir.display()),
                "start `estafeta serve` once (it creates it), or set data_dir",
            );
            report.skip("store", "no data directory");
            report.skip("queue", "no store");
            return None;
        }
        Err(e) => report.warn(
            "data directory",
            format!("{}: {e}", dir.display()),
            "start `estafeta serve` once (it creates it: the TLS certificate and spool live there)",
        ),
    }
    let store = match tokio::time::timeout(Duration::from_secs(15), settings.open_store()).await {
        Ok(Ok(store)) => store,
        Ok(Err(e)) => {
            report.fail(
                "store",
                e.message.trim_start_matches("error: ").to_string(),
                "see storage.engine / storage.url and the data directory's owner",
            );
            report.skip("queue", "no store");
            return None;
        }
        Err(_) => {
            report.fail(
                "store",
                "no answer from the store within 15 seconds",
                "see storage.url (PostgreSQL) or whether something holds the SQLite file",
            );
            report.skip("queue", "no store");
            return None;
        }
    };
    report.ok(
        "store",
        match config.storage.engine {
            Engine::Sqlite => format!("SQLite {} opens", dir.join("estafeta.db").display()),
            Engine::Postgres => "PostgreSQL opens".to_string(),
        },
    );
    queue(&*store, report).await;
    match crate::data_lock::running(dir) {
        Some(_) => report.ok("serve", "estafeta serve is running on this data directory"),
        None if sqlite => report.fail(
            "serve",
            format!(
                "no `estafeta serve` holds {}",
                dir.join("estafeta.lock").display()
            ),
            "start it: systemctl start estafeta (or `estafeta serve`)",
        ),
        None => {}
    }
    Some(store)
}

/// The queue: its size, its oldest message, the deferred recipients and their most
/// frequent last replies.
async fn queue(store: &dyn Store, report: &mut Report) {
    let queue = match store.queue_list().await {
        Ok(q) => q,
        Err(e) => {
            report.fail(
                "queue",
                format!("cannot list it: {e}"),
                "see the store's error",
            );
            return;
        }
    };
    if queue.is_empty() {
        report.ok("queue", "empty");
        return;
    }
    let now = estafeta_store::now();
    let oldest = queue.iter().map(|m| m.created_at).min().unwrap_or(now);
    let age = (now - oldest).max(0);
    let mut deferred = 0;
    let mut replies: HashMap<String, usize> = HashMap::new();
    for r in queue.iter().flat_map(|m| &m.recipients) {
        if r.state == RecipientState::Deferred {
            deferred += 1;
            if let Some(reply) = &r.last_reply {
                let short: String = reply.chars().take(120).collect();
                *replies.entry(short).or_default() += 1;
            }
        }
    }
    let mut top: Vec<(String, usize)> = replies.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let top: Vec<String> = top
        .iter()
        .take(3)
        .map(|(reply, n)| format!("{n}× {reply:?}"))
        .collect();
    let mut detail = format!(
        "{} message(s), oldest {} old, {deferred} deferred recipient(s)",
        queue.len(),
        span(age)
    );
    if !top.is_empty() {
        detail.push_str(&format!("; most frequent last replies: {}", top.join(", ")));
    }
    if age > 86_400 {
        report.warn(
            "queue",
            detail,
            "see `estafeta queue list` / `estafeta queue show ID` for why mail waits",
        );
    } else {
        report.ok("queue", detail);
    }
}

fn span(secs: i64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// The domains to check: those named (each must be ours), else all of the store's.
pub async fn domains(
    store: Option<&dyn Store>,
    named: &[String],
    report: &mut Report,
) -> Vec<String> {
    let named: Vec<String> = named
        .iter()
        .map(|d| d.trim().trim_end_matches('.').to_ascii_lowercase())
        .collect();
    let Some(store) = store else {
        if named.is_empty() {
            report.skip("domains", "no store to list our domains from");
        }
        return named;
    };
    if named.is_empty() {
        return match store.list_domains().await {
            Ok(list) if list.is_empty() => {
                report.warn(
                    "domains",
                    "the store has no domain",
                    "add one: estafeta domain add example.com",
                );
                Vec::new()
            }
            Ok(list) => list.into_iter().map(|d| d.name).collect(),
            Err(e) => {
                report.fail(
                    "domains",
                    format!("cannot list them: {e}"),
                    "see the store's error",
                );
                Vec::new()
            }
        };
    }
    let mut ours = Vec::new();
    for domain in named {
        match store.is_local_domain(&domain).await {
            Ok(true) => ours.push(domain),
            Ok(false) => report.fail(
                &format!("domain {domain}"),
                "not one of our domains",
                format!("add it: estafeta domain add {domain}"),
            ),
            Err(e) => report.fail(
                &format!("domain {domain}"),
                format!("cannot look it up: {e}"),
                "see the store's error",
            ),
        }
    }
    ours
}
