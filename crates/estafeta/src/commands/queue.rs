//! `estafeta queue list`: like Postfix's `mailq`, one block per message.

use estafeta_store::{Store, now};

use crate::cli::QueueCommand;
use crate::failure::Outcome;

pub async fn run(cmd: QueueCommand, store: &dyn Store) -> Outcome {
    match cmd {
        QueueCommand::List => {
            let queue = store.queue_list().await?;
            if queue.is_empty() {
                println!("queue is empty");
                return Ok(());
            }
            let t = now();
            let mut recipients = 0;
            for m in &queue {
                let sender = if m.sender.is_empty() { "<>" } else { &m.sender };
                println!(
                    "{}  {} bytes  {}  from {sender}",
                    m.id,
                    m.size,
                    ago(t - m.created_at)
                );
                for r in &m.recipients {
                    recipients += 1;
                    let next = if r.state.is_final() {
                        String::new()
                    } else if r.next_attempt <= t {
                        "  next attempt: now".to_string()
                    } else {
                        format!("  next attempt: in {}", span(r.next_attempt - t))
                    };
                    let reply = r
                        .last_reply
                        .as_deref()
                        .map(|x| format!("  last reply: {x}"))
                        .unwrap_or_default();
                    println!(
                        "    {}  {}  attempts {}{next}{reply}",
                        r.address,
                        r.state.as_str(),
                        r.attempts
                    );
                }
            }
            println!("{} message(s), {recipients} recipient(s)", queue.len());
        }
    }
    Ok(())
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
