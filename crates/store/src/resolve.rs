//! Recipient resolution: the one lookup that turns an address into the users and outside
//! addresses that receive its mail. Order: a user of that address; an alias of that
//! address (targets resolved in turn, up to [`MAX_DEPTH`] levels); the same two for the
//! address without its `+tag`; the domain's catch-all (`@domain` alias).

use std::collections::BTreeSet;

use sqlx::{AssertSqlSafe, Row};

use crate::address::{domain_of, normalize, strip_plus};
use crate::api::Directory;
use crate::directory::{USER_COLUMNS_U, user_from_row};
use crate::error::Result;
use crate::model::{Resolution, User};
use crate::sql_store::SqlStore;

/// How deep aliases may point at aliases before the chain is cut (and logged).
pub const MAX_DEPTH: usize = 8;

#[derive(Default)]
struct Found {
    users: Vec<User>,
    external: BTreeSet<String>,
}

/// Where mail for `address` goes (`Directory::resolve`).
pub(crate) async fn resolve(store: &SqlStore, address: &str) -> Result<Resolution> {
    let Ok(address) = normalize(address) else {
        return Ok(Resolution::UnknownUser);
    };
    let domain = domain_of(&address).to_string();
    // The common case in one round trip: is the domain ours, and is this a user?
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT d.name AS local_domain, {USER_COLUMNS_U} FROM domains d \
         LEFT JOIN users u ON u.address = $1 WHERE d.name = $2"
    )))
    .bind(&address)
    .bind(&domain)
    .fetch_optional(&store.db.pool)
    .await?;
    let Some(row) = row else {
        return Ok(Resolution::NotLocal);
    };
    if row.try_get::<Option<i64>, _>("id")?.is_some() {
        return Ok(Resolution::Deliver {
            users: vec![user_from_row(&row)?],
            external: Vec::new(),
        });
    }
    let mut found = Found::default();
    let mut seen = BTreeSet::new();
    let mut any = expand(store, &address, 0, &mut found, &mut seen).await?;
    if !any && let Some(base) = strip_plus(&address) {
        any = expand(store, &base, 0, &mut found, &mut seen).await?;
    }
    if !any {
        for target in store.alias_targets(&format!("@{domain}")).await? {
            any |= expand(store, &target, 1, &mut found, &mut seen).await?;
        }
    }
    if !any || (found.users.is_empty() && found.external.is_empty()) {
        return Ok(Resolution::UnknownUser);
    }
    Ok(Resolution::Deliver {
        users: found.users,
        external: found.external.into_iter().collect(),
    })
}

/// Adds what `address` delivers to; false when it names nothing here.
async fn expand(
    store: &SqlStore,
    address: &str,
    depth: usize,
    found: &mut Found,
    seen: &mut BTreeSet<String>,
) -> Result<bool> {
    if !seen.insert(address.to_string()) {
        return Ok(true); // already counted: an alias loop or two routes to one user
    }
    if let Some(user) = store.get_user(address).await? {
        if !found.users.iter().any(|u| u.id == user.id) {
            found.users.push(user);
        }
        return Ok(true);
    }
    let targets = store.alias_targets(address).await?;
    if targets.is_empty() {
        return Ok(false);
    }
    if depth >= MAX_DEPTH {
        tracing::warn!(%address, "alias chain deeper than {MAX_DEPTH} levels cut here");
        return Ok(false);
    }
    let mut any = false;
    for target in targets {
        if store.is_local_domain(domain_of(&target)).await? {
            let hit = Box::pin(expand(store, &target, depth + 1, found, seen)).await?;
            if !hit {
                tracing::warn!(alias = %address, %target, "alias target does not exist here");
            }
            any |= hit;
        } else {
            found.external.insert(target);
            any = true;
        }
    }
    Ok(any)
}
