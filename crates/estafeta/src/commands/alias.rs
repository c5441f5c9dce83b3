//! `estafeta alias add|list|remove`.

use estafeta_store::Store;

use crate::cli::AliasCommand;
use crate::failure::CommandResult;

pub async fn run(cmd: AliasCommand, store: &dyn Store) -> CommandResult {
    match cmd {
        AliasCommand::Add { address, targets } => {
            store.add_alias(&address, &targets).await?;
            println!(
                "alias {} → {}",
                address.trim().to_lowercase(),
                targets.join(", ")
            );
        }
        AliasCommand::List { domain } => {
            let aliases = store.list_aliases(domain.as_deref()).await?;
            if aliases.is_empty() {
                println!("no aliases");
            }
            for a in aliases {
                let note = if a.address.starts_with('@') {
                    "  (catch-all)"
                } else {
                    ""
                };
                println!("{} → {}{note}", a.address, a.target);
            }
        }
        AliasCommand::Remove { address, target } => {
            store.remove_alias(&address, target.as_deref()).await?;
            match target {
                Some(t) => println!("alias {} → {t} removed", address.trim().to_lowercase()),
                None => println!("alias {} removed", address.trim().to_lowercase()),
            }
        }
    }
    Ok(())
}
