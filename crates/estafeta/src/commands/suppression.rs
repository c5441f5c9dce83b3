//! `estafeta suppression list|add|remove|enforce`.

use estafeta_store::{NewSuppression, Store};

use crate::cli::{OnOff, SuppressionCommand};
use crate::failure::CommandResult;

pub async fn run(cmd: SuppressionCommand, store: &dyn Store) -> CommandResult {
    match cmd {
        SuppressionCommand::List { domain } => {
            let list = store.list_suppressions(domain.as_deref()).await?;
            if list.is_empty() {
                println!("no suppressed addresses");
            }
            for s in list {
                let state = if s.enforced { "refused" } else { "listed only" };
                println!(
                    "{}  {}  {}  ({state}) since {}",
                    s.domain,
                    s.address,
                    s.reason,
                    estafeta_net::dates::rfc5322_date(s.created_at)
                );
            }
        }
        SuppressionCommand::Add {
            address,
            domain,
            reason,
        } => {
            let entry = NewSuppression {
                domain: domain.clone(),
                address: address.clone(),
                reason,
            };
            store.add_suppressions(&[entry]).await?;
            println!(
                "{} added to the suppression list of {}",
                address.trim().to_lowercase(),
                domain.trim().to_lowercase()
            );
        }
        SuppressionCommand::Remove { address, domain } => {
            store.remove_suppression(&domain, &address).await?;
            println!(
                "{} removed from the suppression list of {}",
                address.trim().to_lowercase(),
                domain.trim().to_lowercase()
            );
        }
        SuppressionCommand::Enforce { domain, state } => {
            let on = state == OnOff::On;
            store.set_suppression_enforced(&domain, on).await?;
            if on {
                println!(
                    "{}: RCPT to suppressed addresses is refused for its users",
                    domain.trim().to_lowercase()
                );
            } else {
                println!(
                    "{}: suppressed addresses are listed only",
                    domain.trim().to_lowercase()
                );
            }
        }
    }
    Ok(())
}
