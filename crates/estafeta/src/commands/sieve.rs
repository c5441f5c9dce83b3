//! `estafeta sieve list|put|get|activate|delete|check`: users' Sieve scripts from the
//! terminal, compiled with the server's bounds (`[sieve]`) before they are stored, as
//! ManageSieve does.

use std::io::Read;

use estafeta_store::{Store, User};

use crate::cli::SieveCommand;
use crate::failure::{CommandResult, Failure};
use crate::settings::Settings;

pub async fn run(cmd: SieveCommand, settings: &Settings) -> CommandResult {
    let limits = estafeta_sieve::Limits {
        max_script_bytes: settings.config.sieve.max_script_size,
        max_actions: settings.config.sieve.max_actions,
        max_redirects: settings.config.sieve.max_redirects,
        ..estafeta_sieve::Limits::default()
    };
    if let SieveCommand::Check { file } = &cmd {
        let text = read(file, limits.max_script_bytes)?;
        compile(&text, &limits, file)?;
        println!("{}: the script compiles", file.display());
        return Ok(());
    }
    let store = settings.open_store().await?;
    match cmd {
        SieveCommand::Check { .. } => Ok(()),
        SieveCommand::List { user } => {
            let user = user_of(&*store, &user).await?;
            let scripts = store.sieve_scripts(user.id).await?;
            if scripts.is_empty() {
                println!("{} has no Sieve scripts", user.address);
            }
            for s in scripts {
                let mark = if s.active { "  (active)" } else { "" };
                println!("{}  {} octets{mark}", s.name, s.size);
                if let Some(e) = s.last_error {
                    println!("    last error: {e}");
                }
            }
            Ok(())
        }
        SieveCommand::Put {
            user,
            name,
            file,
            activate,
        } => {
            let user = user_of(&*store, &user).await?;
            check_name(&name)?;
            let text = read(&file, limits.max_script_bytes)?;
            compile(&text, &limits, &file)?;
            let sieve = &settings.config.sieve;
            store
                .put_sieve_script(user.id, &name, &text, sieve.max_scripts, sieve.max_storage)
                .await?;
            if activate {
                store.activate_sieve_script(user.id, Some(&name)).await?;
                println!("script {name:?} stored for {} and active", user.address);
            } else {
                println!(
                    "script {name:?} stored for {}; make it run with `estafeta sieve activate {} {name:?}`",
                    user.address, user.address
                );
            }
            Ok(())
        }
        SieveCommand::Get { user, name } => {
            let user = user_of(&*store, &user).await?;
            match store.sieve_script(user.id, &name).await? {
                Some(text) => {
                    print!("{text}");
                    Ok(())
                }
                None => Err(Failure::new(format!(
                    "{} has no script named {name:?}: see `estafeta sieve list {}`",
                    user.address, user.address
                ))),
            }
        }
        SieveCommand::Activate { user, name, .. } => {
            let user = user_of(&*store, &user).await?;
            store
                .activate_sieve_script(user.id, name.as_deref())
                .await?;
            match name {
                Some(n) => println!("{n:?} is now the active script of {}", user.address),
                None => println!("{} has no active script now", user.address),
            }
            Ok(())
        }
        SieveCommand::Delete { user, name } => {
            let user = user_of(&*store, &user).await?;
            store.delete_sieve_script(user.id, &name).await?;
            println!("script {name:?} of {} removed", user.address);
            Ok(())
        }
    }
}

async fn user_of(store: &dyn Store, address: &str) -> Result<User, Failure> {
    store.get_user(address).await?.ok_or_else(|| {
        Failure::new(format!(
            "no user {address}: see `estafeta user list`, or add one with `estafeta user add {address}`"
        ))
    })
}

fn check_name(name: &str) -> Result<(), Failure> {
    let bad = name.is_empty()
        || name.len() > 128
        || name
            .chars()
            .any(|c| c.is_control() || c == '\u{2028}' || c == '\u{2029}');
    if bad {
        return Err(Failure::new(format!(
            "{name:?} is not a usable script name: 1 to 128 octets, no control characters"
        )));
    }
    Ok(())
}

/// The file's text (`-`: standard input), at most `max` octets of UTF-8.
fn read(file: &std::path::Path, max: usize) -> Result<String, Failure> {
    let mut bytes = Vec::new();
    let limit = max as u64 + 1;
    let read = if file.as_os_str() == "-" {
        std::io::stdin().take(limit).read_to_end(&mut bytes)
    } else {
        std::fs::File::open(file).and_then(|f| f.take(limit).read_to_end(&mut bytes))
    };
    read.map_err(|e| Failure::new(format!("cannot read {}: {e}", file.display())))?;
    if bytes.len() > max {
        return Err(Failure::new(format!(
            "{} is larger than sieve.max_script_size ({max} octets)",
            file.display()
        )));
    }
    String::from_utf8(bytes)
        .map_err(|_| Failure::new(format!("{} is not UTF-8 text", file.display())))
}

fn compile(
    text: &str,
    limits: &estafeta_sieve::Limits,
    file: &std::path::Path,
) -> Result<(), Failure> {
    estafeta_sieve::compile(text, limits)
        .map(|_| ())
        .map_err(|e| Failure::new(format!("{}: {e}", file.display())))
}
