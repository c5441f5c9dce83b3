//! `estafeta domain add|list|remove|tracking`.

use estafeta_store::Store;

use crate::cli::{DomainCommand, OnOff};
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
                match d.tracking {
                    true => println!("{} (open and click tracking on)", d.name),
                    false => println!("{}", d.name),
                }
            }
        }
        DomainCommand::Remove { name } => {
            store.remove_domain(&name).await?;
            println!("domain {} removed", name.trim().to_lowercase());
        }
        DomainCommand::Tracking { name, state } => {
            let on = state == OnOff::On;
            store.set_domain_tracking(&name, on).await?;
            let name = name.trim().to_lowercase();
            match on {
                true => {
                    println!("{name}: open and click tracking on for the HTML mail its users send")
                }
                false => println!("{name}: open and click tracking off"),
            }
        }
    }
    Ok(())
}
