//! `estafeta dkim generate|list|rotate|remove`: the keys live in the store, the key
//! material is made by `estafeta_trust::signing`; this only turns arguments into calls
//! and prints the DNS records to publish.

use estafeta_store::{DkimKey, Store};
use estafeta_trust::signing::{self, Algorithm};

use crate::cli::{DkimCommand, KeyAlgorithm};
use crate::failure::{CommandResult, Failure};

pub async fn run(cmd: DkimCommand, store: &dyn Store) -> CommandResult {
    match cmd {
        DkimCommand::Generate {
            domain,
            selector,
            algorithm,
        } => {
            let algorithms = match algorithm {
                Some(KeyAlgorithm::Rsa) => vec![Algorithm::Rsa],
                Some(KeyAlgorithm::Ed25519) => vec![Algorithm::Ed25519],
                None => vec![Algorithm::Rsa, Algorithm::Ed25519],
            };
            let one = algorithms.len() == 1;
            for a in algorithms {
                let selector = match &selector {
                    Some(s) if one => Some(s.clone()),
                    Some(s) => Some(format!("{s}-{}", a.name())),
                    None => None,
                };
                add(store, &domain, selector.as_deref(), a).await?;
            }
            println!(
                "Publish the records before sending: until then receivers see dkim=permerror."
            );
        }
        DkimCommand::List { domain } => {
            let keys = store.list_dkim_keys(domain.as_deref()).await?;
            if keys.is_empty() {
                println!("no DKIM keys: make some with `estafeta dkim generate DOMAIN`");
            }
            for key in keys {
                let state = if key.active { "signing" } else { "retired" };
                println!(
                    "{}  {}  {}  {state}  since {}",
                    key.domain,
                    key.selector,
                    key.algorithm,
                    estafeta_net::dates::rfc5322_date(key.created_at)
                );
                print_record(&key);
            }
        }
        DkimCommand::Rotate { domain } => {
            let old: Vec<DkimKey> = store
                .list_dkim_keys(Some(&domain))
                .await?
                .into_iter()
                .filter(|k| k.active)
                .collect();
            let mut kinds: Vec<Algorithm> = old
                .iter()
                .filter_map(|k| Algorithm::from_name(&k.algorithm))
                .collect();
            kinds.sort_by_key(|a| a.name());
            kinds.dedup();
            if kinds.is_empty() {
                kinds = vec![Algorithm::Rsa, Algorithm::Ed25519];
            }
            for a in kinds {
                add(store, &domain, None, a).await?;
            }
            for k in &old {
                store
                    .set_dkim_key_active(&k.domain, &k.selector, false)
                    .await?;
                println!(
                    "{}: {} retired; keep its record published a few days for mail in flight, then `estafeta dkim remove {} {}`",
                    k.domain, k.selector, k.domain, k.selector
                );
            }
        }
        DkimCommand::Remove { domain, selector } => {
            store.remove_dkim_key(&domain, &selector).await?;
            println!(
                "{}: key {selector} removed; its DNS record may go too",
                domain.trim().to_lowercase()
            );
        }
    }
    Ok(())
}

/// Makes and stores a key (`selector` `None`: the dated default), and prints its record.
async fn add(
    store: &dyn Store,
    domain: &str,
    selector: Option<&str>,
    algorithm: Algorithm,
) -> Result<(), Failure> {
    let key = signing::create_key(store, domain, selector, algorithm)
        .await
        .map_err(Failure::new)?;
    println!(
        "{}: new {} key, selector {}",
        key.domain,
        algorithm.name(),
        key.selector
    );
    print_record(&key);
    Ok(())
}

fn print_record(key: &DkimKey) {
    println!("  {}", signing::zone_line(key));
}
