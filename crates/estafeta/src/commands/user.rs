//! `estafeta user add|list|remove|passwd|set`. Passwords come from a prompt or from
//! standard input, never from the command line (where `ps` would show them).

use std::io::{BufRead, IsTerminal};

use estafeta_store::{NewUser, Store, User, UserChanges};

use crate::cli::{PasswordSource, UserCommand};
use crate::failure::{CommandResult, Failure};

pub async fn run(cmd: UserCommand, store: &dyn Store) -> CommandResult {
    match cmd {
        UserCommand::Add {
            address,
            password,
            quota,
            pop3_delete,
            admin,
        } => {
            // Check what can be checked before asking for a password.
            let normalized = estafeta_store::address::normalize(&address)?;
            let domain = estafeta_store::address::domain_of(&normalized);
            if !store.is_local_domain(domain).await? {
                return Err(estafeta_store::StoreError::DomainNotServed(domain.to_string()).into());
            }
            if store.get_user(&normalized).await?.is_some() {
                return Err(Failure::new(format!("user {normalized} already exists")));
            }
            let password = read_password(&password, &normalized)?;
            let user = store
                .add_user(NewUser {
                    address: normalized,
                    password,
                    quota_bytes: quota,
                    pop3_keep: !pop3_delete,
                })
                .await?;
            if admin {
                store.set_admin(&user.address, true).await?;
            }
            println!(
                "user {} added{}",
                user.address,
                if admin { " (administrator)" } else { "" }
            );
        }
        UserCommand::List { domain } => {
            let users = store.list_users(domain.as_deref()).await?;
            if users.is_empty() {
                println!("no users");
            }
            for u in users {
                println!("{}", describe(&u));
            }
        }
        UserCommand::Remove { address } => {
            store.remove_user(&address).await?;
            println!("user {} removed", address.trim().to_lowercase());
        }
        UserCommand::Passwd { address, password } => {
            let normalized = estafeta_store::address::normalize(&address)?;
            if store.get_user(&normalized).await?.is_none() {
                return Err(Failure::new(format!("user {normalized} does not exist")));
            }
            let password = read_password(&password, &normalized)?;
            store.set_password(&normalized, &password).await?;
            println!("password of {normalized} changed");
        }
        UserCommand::Set {
            address,
            quota,
            pop3_keep,
            pop3_delete,
            admin,
            no_admin,
        } => {
            let pop3 = match (pop3_keep, pop3_delete) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            };
            let admin = match (admin, no_admin) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            };
            if quota.is_none() && pop3.is_none() && admin.is_none() {
                return Err(Failure::new(
                    "nothing to change: give --quota, --pop3-keep, --pop3-delete, --admin or --no-admin",
                ));
            }
            if let Some(admin) = admin {
                store.set_admin(&address, admin).await?;
            }
            if quota.is_none() && pop3.is_none() {
                let user = store.get_user(&address).await?;
                if let Some(user) = user {
                    println!("{}", describe(&user));
                }
                return Ok(());
            }
            let user = store
                .update_user(
                    &address,
                    UserChanges {
                        quota_bytes: quota,
                        pop3_keep: pop3,
                    },
                )
                .await?;
            println!("{}", describe(&user));
        }
    }
    Ok(())
}

fn describe(u: &User) -> String {
    let quota = if u.quota_bytes == 0 {
        "no quota".to_string()
    } else {
        format!("quota {}", human_size(u.quota_bytes))
    };
    let pop3 = if u.pop3_keep {
        "pop3 keeps mail"
    } else {
        "pop3 deletes on download"
    };
    let admin = if u.admin { "  administrator" } else { "" };
    format!("{}  {quota}  {pop3}{admin}", u.address)
}

pub fn human_size(bytes: i64) -> String {
    const UNITS: [(&str, i64); 4] = [
        ("T", 1 << 40),
        ("G", 1 << 30),
        ("M", 1 << 20),
        ("K", 1 << 10),
    ];
    for (unit, size) in UNITS {
        if bytes >= size && bytes % size == 0 {
            return format!("{}{unit}", bytes / size);
        }
    }
    format!("{bytes} bytes")
}

/// One line of standard input, without its line end: a password given with
/// `--password-stdin`.
pub fn password_line() -> Result<String, Failure> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Failure::new(format!("cannot read the password from standard input: {e}")))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn read_password(source: &PasswordSource, address: &str) -> Result<String, Failure> {
    let password = if source.password_stdin {
        password_line()?
    } else if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("password for {address}: "))
            .map_err(|e| Failure::new(format!("cannot read the password: {e}")))?;
        let second = rpassword::prompt_password("again: ")
            .map_err(|e| Failure::new(format!("cannot read the password: {e}")))?;
        if first != second {
            return Err(Failure::new("the two passwords differ; nothing changed"));
        }
        first
    } else {
        return Err(Failure::new(
            "no terminal to ask for the password: pipe it in with --password-stdin",
        ));
    };
    if password.is_empty() {
        return Err(Failure::new("the password may not be empty"));
    }
    Ok(password)
}
