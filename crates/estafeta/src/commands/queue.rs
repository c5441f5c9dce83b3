//! `estafeta queue list|show|retry|delete|flush`: the outbound queue, like Postfix's
//! `mailq`, `postqueue -f` and `postsuper -d`. Works beside a running server: the store
//! coordinates (a retry wakes the server at once on PostgreSQL, and within
//! `delivery.scan_interval` on SQLite).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use estafeta_store::{QueueRecipient, QueuedMessage, RecipientState, Store, now};

use crate::cli::QueueCommand;
use crate::failure::{CommandResult, Failure};

pub async fn run(cmd: QueueCommand, store: &dyn Store) -> CommandResult {
    match cmd {
        QueueCommand::List => list(store).await,
        QueueCommand::Show { id } => show(store, &id).await,
        QueueCommand::Retry { id, all } => retry(store, id.as_deref(), all).await,
        QueueCommand::Delete { id } => {
            let id = normalize_id(&id);
            if store.queue_delete(&id).await? {
                println!("{id}: deleted from the queue (no report sent to the sender)");
                Ok(())
            } else {
                Err(unknown(&id))
            }
        }
        QueueCommand::Flush { wait } => flush(store, Duration::from_secs(wait)).await,
    }
}

/// Queue ids are upper-case hex; accept them in any case.
fn normalize_id(id: &str) -> String {
    id.trim().to_ascii_uppercase()
}

fn unknown(id: &str) -> Failure {
    Failure::new(format!(
        "no message {id} in the queue (delivered, bounced or deleted; see `estafeta queue list`)"
    ))
}

async fn list(store: &dyn Store) -> CommandResult {
    let queue = store.queue_list().await?;
    if queue.is_empty() {
        println!("queue is empty");
        return Ok(());
    }
    let t = now();
    let mut recipients = 0;
    for m in &queue {
        println!(
            "{}  {} bytes  {}  from {}",
            m.id,
            m.size,
            ago(t - m.created_at),
            sender(m)
        );
        for r in &m.recipients {
            recipients += 1;
            let reply = r
                .last_reply
                .as_deref()
                .map(|x| format!("  last reply: {x}"))
                .unwrap_or_default();
            println!(
                "    {}  {}  attempts {}{}{reply}",
                r.address,
                r.state.as_str(),
                r.attempts,
                next_attempt(r, t)
            );
        }
    }
    println!("{} message(s), {recipients} recipient(s)", queue.len());
    Ok(())
}

async fn show(store: &dyn Store, id: &str) -> CommandResult {
    let id = normalize_id(id);
    let m = store.queue_get(&id).await?.ok_or_else(|| unknown(&id))?;
    let t = now();
    println!("queue id:  {}", m.id);
    println!("from:      {}", sender(&m));
    println!("size:      {} bytes", m.size);
    println!(
        "queued:    {} ({})",
        estafeta_net::dates::rfc5322_date(m.created_at),
        ago(t - m.created_at)
    );
    if let Some(envid) = &m.envid {
        println!("envid:     {envid}");
    }
    if let Some(ret) = &m.ret {
        println!("ret:       {ret}");
    }
    for r in &m.recipients {
        println!();
        println!("  to:           {}", r.address);
        println!("  state:        {}", r.state.as_str());
        println!("  attempts:     {}", r.attempts);
        if let Some(at) = r.last_attempt {
            println!(
                "  last attempt: {} ({})",
                estafeta_net::dates::rfc5322_date(at),
                ago(t - at)
            );
        }
        if let Some(host) = &r.last_host {
            println!("  last host:    {host}");
        }
        if let Some(reply) = &r.last_reply {
            println!("  last reply:   {reply}");
        }
        if let Some(why) = &r.failure {
            // a local recipient that could not take the message once it was accepted
            println!("  refused at acceptance: {why}");
        }
        if !r.state.is_final() {
            let when = if r.next_attempt <= t {
                "now".to_string()
            } else {
                format!(
                    "{} (in {})",
                    estafeta_net::dates::rfc5322_date(r.next_attempt),
                    span(r.next_attempt - t)
                )
            };
            println!("  next attempt: {when}");
        }
        if let Some(notify) = &r.notify {
            println!("  notify:       {notify}");
        }
        if let Some(orcpt) = &r.orcpt {
            println!("  orcpt:        {orcpt}");
        }
        if let Some(report) = r.report {
            println!("  report owed:  {}", report.as_str());
        }
        if let (Some(owner), Some(until)) = (&r.lease_owner, r.lease_until)
            && until >= t
        {
            println!("  in delivery:  by {owner}");
        }
    }
    Ok(())
}

async fn retry(store: &dyn Store, id: Option<&str>, all: bool) -> CommandResult {
    match (id, all) {
        (Some(id), false) => {
            let id = normalize_id(id);
            let m = store.queue_get(&id).await?.ok_or_else(|| unknown(&id))?;
            let n = store.queue_retry(Some(&m.id)).await?;
            if n == 0 {
                println!("{id}: no recipient is waiting (each is delivered or failed)");
            } else {
                println!("{id}: {n} recipient(s) due now");
            }
        }
        _ => {
            let n = store.queue_retry(None).await?;
            println!("{n} recipient(s) due now");
        }
    }
    Ok(())
}

/// Makes everything due, then waits until each waiting recipient has been attempted.
async fn flush(store: &dyn Store, wait: Duration) -> CommandResult {
    let before: HashMap<i64, i64> = waiting(&store.queue_list().await?)
        .map(|r| (r.id, r.attempts))
        .collect();
    if before.is_empty() {
        println!("nothing waiting in the queue");
        return Ok(());
    }
    store.queue_retry(None).await?;
    println!(
        "{} recipient(s) due now; waiting for the attempts",
        before.len()
    );
    let deadline = Instant::now() + wait;
    loop {
        let queue = store.queue_list().await?;
        let current: HashMap<i64, &QueueRecipient> = queue
            .iter()
            .flat_map(|m| m.recipients.iter())
            .map(|r| (r.id, r))
            .collect();
        let pending = before
            .iter()
            .filter(|(id, attempts)| {
                current
                    .get(id)
                    .is_some_and(|r| !r.state.is_final() && r.attempts <= **attempts)
            })
            .count();
        if pending == 0 {
            let still: Vec<&&QueueRecipient> = current
                .values()
                .filter(|r| before.contains_key(&r.id) && r.state == RecipientState::Deferred)
                .collect();
            println!(
                "done: {} recipient(s) tried; {} still deferred",
                before.len(),
                still.len()
            );
            for r in still {
                println!(
                    "    {}  {}",
                    r.address,
                    r.last_reply.as_deref().unwrap_or("")
                );
            }
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Failure::new(format!(
                "{pending} recipient(s) not tried within {} s: is `estafeta serve` running? \
                 (with SQLite it notices within delivery.scan_interval)",
                wait.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn waiting(queue: &[QueuedMessage]) -> impl Iterator<Item = &QueueRecipient> {
    queue
        .iter()
        .flat_map(|m| m.recipients.iter())
        .filter(|r| !r.state.is_final())
}

fn sender(m: &QueuedMessage) -> &str {
    if m.sender.is_empty() { "<>" } else { &m.sender }
}

fn next_attempt(r: &QueueRecipient, t: i64) -> String {
    if r.state.is_final() {
        String::new()
    } else if r.next_attempt <= t {
        "  next attempt: now".to_string()
    } else {
        format!("  next attempt: in {}", span(r.next_attempt - t))
    }
}

fn ago(secs: i64) -> String {
    format!("{} ago", span(secs.max(0)))
}

fn span(secs: i64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}
