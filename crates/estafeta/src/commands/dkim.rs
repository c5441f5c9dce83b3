//! `estafeta dkim generate|list|rotate|remove`: the keys live in the store, the key
//! material is made by `estafeta_trust::signing`; this only turns arguments into calls
//! and prints the DNS records to publish.

use estafeta_store::{DkimKey, NewDkimKey, Store};
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
                    Some(s) if one => s.clone(),
                    Some(s) => format!("{s}-{}", a.name()),
                    None => format!("{}-{}", a.name(), today()),
                };
                add(store, &domain, &selector, a).await?;
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
                let selector = unused_selector(store, &domain, a).await?;
                add(store, &domain, &selector, a).await?;
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

/// Makes and stores a key, and prints its record.
async fn add(
    store: &dyn Store,
    domain: &str,
    selector: &str,
    algorithm: Algorithm,
) -> Result<(), Failure> {
    let made = signing::generate(algorithm).map_err(Failure::new)?;
    let key = store
        .add_dkim_key(NewDkimKey {
            domain: domain.to_string(),
            selector: selector.to_string(),
            algorithm: algorithm.name().to_string(),
            private_key: made.private_key,
            public_key: made.public_key,
        })
        .await?;
    println!(
        "{}: new {} key, selector {}",
        key.domain,
        algorithm.name(),
        key.selector
    );
    print_record(&key);
    Ok(())
}

/// `ALGORITHM-YYYYMMDD`, with `-2`, `-3`… when that is taken (two rotations in a day).
async fn unused_selector(
    store: &dyn Store,
    domain: &str,
    algorithm: Algorithm,
) -> Result<String, Failure> {
    let taken: Vec<String> = store
        .list_dkim_keys(Some(domain))
        .await?
        .into_iter()
        .map(|k| k.selector)
        .collect();
    let base = format!("{}-{}", algorithm.name(), today());
    let mut selector = base.clone();
    let mut n = 1;
    while taken.contains(&selector) {
        n += 1;
        selector = format!("{base}-{n}");
    }
    Ok(selector)
}

fn print_record(key: &DkimKey) {
    println!("  {}", signing::zone_line(key));
}

/// Today as YYYYMMDD (UTC).
fn today() -> String {
    let (y, m, d) = estafeta_net::dates::civil_from_days(estafeta_store::now() / 86_400);
    format!("{y:04}{m:02}{d:02}")
}
