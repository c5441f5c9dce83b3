//! `estafeta domain add|list|remove`.

use estafeta_store::Store;

use crate::cli::DomainCommand;
use crate::failure::CommandResult;

pub async fn run(cmd: DomainCommand, store: &dyn Store) -> CommandResult {
    match cmd {
        DomainCommand::Add { name } => {
            let d = store.add_domain(&name).await?;
            println!("domain {} added", d.name);
        }
        DomainCommand::List => {
            let domains = store.list_domains().await?;
            if domains.is_empty() {
                println!("no domains");
            }
            for d in domains {
                println!("{}", d.name);
            }
        }
        DomainCommand::Remove { name } => {
            store.remove_domain(&name).await?;
            println!("domain {} removed", name.trim().to_lowercase());
        }
    }
    Ok(())
}
