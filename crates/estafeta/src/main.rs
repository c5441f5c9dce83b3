//! estafeta: the binary. Parses the command line, loads the configuration, starts
//! logging and runs one command; all behaviour lives in the library crates.

mod cli;
mod commands;
mod data_lock;
mod failure;
mod logging;
mod privileges;
mod settings;
mod stop;

use clap::Parser;

use cli::{Cli, Command};
use failure::{CommandResult, Failure};
use settings::Settings;

fn main() {
    return_large_buffers_to_the_system();
    privileges::private_umask();
    let cli = match program_name().as_deref() {
        // the names mail-sending programs expect on the machine (symlinks to this binary)
        Some("sendmail") => Cli::parse_from(
            ["estafeta".to_string(), "sendmail".to_string()]
                .into_iter()
                .chain(std::env::args().skip(1)),
        ),
        Some("mailq") => Cli::parse_from(["estafeta", "queue", "list"]),
        Some("newaliases") => Cli::parse_from(["estafeta", "sendmail", "-bi"]),
        _ => Cli::parse(),
    };
    let result = run(cli);
    if let Err(f) = result {
        eprintln!("{}", f.message);
        std::process::exit(f.code);
    }
}

/// glibc raises its mmap threshold each time a large buffer is freed, so that after a few
/// logins argon2's 19 MiB working memory is carved from the heap and kept there, a few
/// hundred MiB over a login storm. A fixed threshold keeps such buffers mmapped, and so
/// returned to the system as soon as each password check ends.
fn return_large_buffers_to_the_system() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes an allocator setting; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

/// The name this binary was called by, without its directory.
fn program_name() -> Option<String> {
    let first = std::env::args_os().next()?;
    let name = std::path::Path::new(&first).file_name()?;
    Some(name.to_string_lossy().into_owned())
}

/// `sendmail`: its flags read, the configuration loaded (its `-C` wins), then either the
/// queue listing (`-bp`) or the hand-over; failures exit with sysexits.h's codes.
fn sendmail(mut cli: Cli, args: &[String]) -> Result<Cli, Failure> {
    use commands::sendmail::{self, Mode};
    let fail = |e: sendmail::Exit| Failure {
        message: e.message,
        code: e.code,
    };
    let request = sendmail::parse(args).map_err(fail)?;
    if let Some(file) = &request.config {
        cli.config = Some(file.clone());
    }
    if request.mode == Mode::Queue {
        cli.command = Command::Queue(cli::QueueCommand::List);
        return Ok(cli);
    }
    let settings = Settings::load(&cli).map_err(|f| Failure {
        message: format!("sendmail: {}", f.message),
        code: sendmail::EX_CONFIG,
    })?;
    sendmail::run(&request, &settings.config).map_err(fail)?;
    std::process::exit(sendmail::EX_OK);
}

fn run(cli: Cli) -> CommandResult {
    let cli = match &cli.command {
        Command::Sendmail { args } => {
            let args = args.clone();
            sendmail(cli, &args)?
        }
        _ => cli,
    };
    let settings = Settings::load(&cli);
    // `config` commands must work, and report, even when the configuration is broken.
    let command = match cli.command {
        Command::Config(cmd) => return commands::config::run(cmd, settings),
        other => other,
    };
    let settings = settings?;
    let quiet = !matches!(command, Command::Serve);
    logging::init(&settings.config.log.level, quiet).map_err(Failure::config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::new(format!("cannot start the async runtime: {e}")))?;
    let outcome = runtime.block_on(async move {
        let outcome = match command {
            Command::Serve => commands::serve::run(settings).await,
            Command::Config(_) => Ok(()),
            Command::Domain(cmd) => {
                commands::domain::run(cmd, &*settings.open_store().await?).await
            }
            Command::User(cmd) => commands::user::run(cmd, &*settings.open_store().await?).await,
            Command::Alias(cmd) => commands::alias::run(cmd, &*settings.open_store().await?).await,
            Command::Queue(cmd) => commands::queue::run(cmd, &*settings.open_store().await?).await,
            Command::Suppression(cmd) => {
                commands::suppression::run(cmd, &*settings.open_store().await?).await
            }
            Command::Dkim(cmd) => commands::dkim::run(cmd, &*settings.open_store().await?).await,
            Command::Sieve(cmd) => commands::sieve::run(cmd, &settings).await,
            Command::Sendmail { .. } => Ok(()),
            Command::Export {
                user,
                maildir,
                mbox,
            } => {
                let store = settings.open_store().await?;
                let (target, form) = match (maildir, mbox) {
                    (Some(dir), _) => (dir, commands::export::Form::Maildir),
                    (None, Some(dir)) => (dir, commands::export::Form::Mbox),
                    (None, None) => return Err(Failure::new("give --maildir DIR or --mbox DIR")),
                };
                commands::export::run(&*store, &user, &target, form).await
            }
            Command::Import(cli::ImportCommand::PasswdFile { file, domain }) => {
                let store = settings.open_store().await?;
                commands::import::passwd_file(&*store, &file, domain.as_deref()).await
            }
            Command::Import(cli::ImportCommand::Maildir { dir, user }) => {
                let store = settings.open_store().await?;
                commands::import_mail::maildir(&*store, &dir, &user).await
            }
            Command::Import(cli::ImportCommand::Mbox { file, user, folder }) => {
                let store = settings.open_store().await?;
                commands::import_mail::mbox(&*store, &file, &user, &folder).await
            }
            Command::Import(cli::ImportCommand::Imap {
                server,
                login,
                user,
                starttls,
                plaintext,
                ca_file,
                insecure,
                password_stdin,
            }) => {
                use commands::import_imap::{Security, Source};
                let security = match (starttls, plaintext) {
                    (true, _) => Security::StartTls,
                    (_, true) => Security::Plaintext,
                    _ => Security::Tls,
                };
                let source = Source {
                    server: &server,
                    login: &login,
                    security,
                    ca_file: ca_file.as_deref(),
                    insecure,
                    password_stdin,
                };
                let store = settings.open_store().await?;
                commands::import_imap::run(&*store, &source, &user).await
            }
            Command::Backup { file } => commands::backup::backup(&settings, &file).await,
            Command::Restore { file } => commands::backup::restore(&settings, &file).await,
            Command::Doctor { domains, json } => {
                commands::doctor::run(&settings, &domains, json).await
            }
            Command::Dns { domain } => {
                let store = settings.open_store().await?;
                commands::dns::run(&domain, &settings.config, &*store).await
            }
        };
        settings::close_stores().await;
        outcome
    });
    // blocking work still running (a password check) is not waited for
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    outcome
}
