//! The command line, as clap sees it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "estafeta",
    version,
    about = "estafeta mail server: SMTP, IMAP and POP3 in one binary",
    after_help = "Without a configuration file every setting has its default (see `estafeta config example`)."
)]
pub struct Cli {
    /// Configuration file (default: /etc/estafeta/estafeta.toml if it exists, else built-in defaults).
    #[arg(
        long,
        short = 'c',
        global = true,
        env = "ESTAFETA_CONFIG",
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,
    /// Data directory (database, TLS certificate); overrides `data_dir` in the file.
    #[arg(long, global = true, env = "ESTAFETA_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server: every listener of the configuration, until SIGINT or SIGTERM.
    Serve,
    /// Check or print configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Domains whose mail this server keeps.
    #[command(subcommand)]
    Domain(DomainCommand),
    /// Mailbox users.
    #[command(subcommand)]
    User(UserCommand),
    /// Aliases (`@example.com` is a domain's catch-all).
    #[command(subcommand)]
    Alias(AliasCommand),
    /// The outbound queue.
    #[command(subcommand)]
    Queue(QueueCommand),
    /// Per-domain suppression lists: remote addresses that hard-bounced.
    #[command(subcommand)]
    Suppression(SuppressionCommand),
    /// Users' Sieve filters (run at delivery; also managed over ManageSieve, port 4190).
    #[command(subcommand)]
    Sieve(SieveCommand),
    /// DKIM keys that sign our domains' mail, and the DNS records that publish them.
    #[command(subcommand)]
    Dkim(DkimCommand),
    /// Every DNS record DOMAIN needs for mail through this server, in zone-file form.
    Dns { domain: String },
    /// Check the configuration, the data directory, the store, the queue, each listener
    /// and its TLS, the DNS records of our domains (all of them, or those named), the DNS
    /// blocklists, and that we are no open relay; each failure with its fix.
    Doctor {
        domains: Vec<String>,
        /// One JSON object, for monitoring.
        #[arg(long)]
        json: bool,
    },
    /// A consistent copy of the SQLite store, taken while the server runs (PostgreSQL:
    /// use pg_dump).
    Backup {
        /// The backup file to write (it must not exist yet).
        file: PathBuf,
    },
    /// Write a user's folders out as Maildir (Dovecot's Maildir++) or mbox files.
    #[command(group(clap::ArgGroup::new("form").required(true).args(["maildir", "mbox"])))]
    Export {
        user: String,
        /// A new or empty directory to write the Maildir into.
        #[arg(long, value_name = "DIR")]
        maildir: Option<PathBuf>,
        /// A new or empty directory to write one mbox file per folder into.
        #[arg(long, value_name = "DIR")]
        mbox: Option<PathBuf>,
    },
    /// Move users in from another server.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Hand a message on standard input to the running server, as sendmail does
    /// (`-t`, `-f`, `-F`, `-i`, `-bs`, `-bp`, `-v`; see docs/operations.md). The binary
    /// called `sendmail`, `mailq` or `newaliases` (a symlink) does the same.
    #[command(disable_help_flag = true, disable_version_flag = true)]
    Sendmail {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Put a backup in place of the SQLite store; the server must be stopped. The store
    /// it replaces is kept beside it.
    Restore {
        /// A file `estafeta backup` wrote.
        file: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum DkimCommand {
    /// Make signing keys for DOMAIN (by default one RSA-2048 and one Ed25519; they sign
    /// at once) and print the DNS records to publish.
    Generate {
        domain: String,
        /// The selector; with both algorithms, SELECTOR-rsa and SELECTOR-ed25519.
        /// Default: rsa-YYYYMMDD and ed25519-YYYYMMDD.
        #[arg(long)]
        selector: Option<String>,
        /// Only this kind of key.
        #[arg(long, value_enum)]
        algorithm: Option<KeyAlgorithm>,
    },
    /// Keys of one domain or all, each with its DNS record.
    List { domain: Option<String> },
    /// New keys (of the kinds now signing) replace the signing ones, which are kept
    /// listed, retired, until removed.
    Rotate { domain: String },
    /// Delete a key (once its DNS record is no longer needed).
    Remove { domain: String, selector: String },
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyAlgorithm {
    Ed25519,
    Rsa,
}

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Validate a configuration file (default: the one in use) and say what is wrong.
    Check { file: Option<PathBuf> },
    /// Print a fully commented example configuration with every default.
    Example,
}

#[derive(Subcommand, Debug)]
pub enum ImportCommand {
    /// Users of a Dovecot passwd-file, with their password hashes ({SHA512-CRYPT},
    /// {SHA256-CRYPT}, {BLF-CRYPT}, {ARGON2ID}, {PLAIN}); each is replaced by argon2id at
    /// the user's first login. Existing users are left alone.
    PasswdFile {
        file: PathBuf,
        /// The domain of lines whose user has no @.
        #[arg(long)]
        domain: Option<String>,
    },
    /// A user's Maildir (Dovecot's Maildir++: INBOX and its .Folders), flags and dates
    /// kept; what is already there is skipped.
    Maildir {
        dir: PathBuf,
        #[arg(long)]
        user: String,
    },
    /// An mbox file into one folder, flags (Status:, X-Status:) and dates kept.
    Mbox {
        file: PathBuf,
        #[arg(long)]
        user: String,
        /// The folder it goes to.
        #[arg(long, default_value = "INBOX")]
        folder: String,
    },
    /// A mailbox on another IMAP server (the old one, while it still runs): every
    /// folder, flags and dates kept; what is already here is skipped, so it can run
    /// again just before the switch. The password is asked, or read with
    /// --password-stdin.
    Imap {
        /// The old server: HOST, HOST:PORT or [IPv6]:PORT (port 993, or 143 with
        /// --starttls or --plaintext).
        server: String,
        /// The login name there.
        #[arg(long)]
        login: String,
        /// The user here the mail goes to.
        #[arg(long)]
        user: String,
        /// STARTTLS on port 143 instead of TLS on 993.
        #[arg(long, conflicts_with = "plaintext")]
        starttls: bool,
        /// No TLS at all (loopback or a trusted network only).
        #[arg(long)]
        plaintext: bool,
        /// The CA certificate(s) the server's certificate must chain to, PEM (default:
        /// the system's roots).
        #[arg(long, conflicts_with = "insecure")]
        ca_file: Option<PathBuf>,
        /// Accept any certificate (an old server with a self-signed one).
        #[arg(long)]
        insecure: bool,
        /// Read the password from standard input (one line).
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum DomainCommand {
    /// Serve a domain here.
    Add { name: String },
    /// List served domains.
    List,
    /// Stop serving a domain (it must have no users or aliases left).
    Remove { name: String },
    /// Open and click tracking of the HTML mail the domain's users send: on or off
    /// (off by default; needs an http or https listener for the links to reach).
    Tracking { name: String, state: OnOff },
}

#[derive(Args, Debug)]
pub struct PasswordSource {
    /// Read the password from standard input (one line) instead of prompting.
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user with the default folders (INBOX, Sent, Drafts, Junk, Trash, Archive).
    Add {
        address: String,
        #[command(flatten)]
        password: PasswordSource,
        /// Storage limit, e.g. 500M, 2G; 0 means none.
        #[arg(long, value_parser = parse_size, default_value = "0")]
        quota: i64,
        /// POP3 deletes messages once downloaded (default: they stay unless the client deletes them).
        #[arg(long)]
        pop3_delete: bool,
        /// May use the web admin pages (an `https` listener's /admin).
        #[arg(long)]
        admin: bool,
    },
    /// List users, of one domain or all.
    List { domain: Option<String> },
    /// Delete a user with all their folders and messages.
    Remove { address: String },
    /// Change a user's password.
    Passwd {
        address: String,
        #[command(flatten)]
        password: PasswordSource,
    },
    /// Change a user's settings.
    Set {
        address: String,
        /// Storage limit, e.g. 500M, 2G; 0 means none.
        #[arg(long, value_parser = parse_size)]
        quota: Option<i64>,
        /// POP3 leaves downloaded messages on the server.
        #[arg(long, conflicts_with = "pop3_delete")]
        pop3_keep: bool,
        /// POP3 deletes messages once downloaded.
        #[arg(long)]
        pop3_delete: bool,
        /// May use the web admin pages.
        #[arg(long, conflicts_with = "no_admin")]
        admin: bool,
        /// May not use the web admin pages.
        #[arg(long)]
        no_admin: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum AliasCommand {
    /// Send mail for ADDRESS to one or more TARGETS (local users, other aliases, outside addresses).
    Add {
        /// `name@example.com`, or `@example.com` for the domain's catch-all.
        address: String,
        #[arg(required = true)]
        targets: Vec<String>,
    },
    /// List aliases, of one domain or all.
    List { domain: Option<String> },
    /// Remove an alias, or only one of its targets.
    Remove {
        address: String,
        target: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum SuppressionCommand {
    /// Addresses on the lists, of one domain or all, with why they are there.
    List {
        #[arg(long)]
        domain: Option<String>,
    },
    /// Put ADDRESS on DOMAIN's list by hand.
    Add {
        address: String,
        #[arg(long)]
        domain: String,
        #[arg(long, default_value = "added by hand")]
        reason: String,
    },
    /// Take ADDRESS off DOMAIN's list, so that its users may write to it again.
    Remove {
        address: String,
        #[arg(long)]
        domain: String,
    },
    /// Refuse (on) or allow (off) RCPT to listed addresses for DOMAIN's users.
    Enforce { domain: String, state: OnOff },
}

#[derive(Subcommand, Debug)]
pub enum SieveCommand {
    /// USER's scripts: name, size, which one is active, the last error a run met.
    List { user: String },
    /// Store a script for USER from FILE (`-` for standard input); it must compile.
    Put {
        user: String,
        /// The script's name.
        name: String,
        file: PathBuf,
        /// Make it the active script too.
        #[arg(long)]
        activate: bool,
    },
    /// Print one of USER's scripts.
    Get { user: String, name: String },
    /// Make NAME USER's active script (`--none`: no script runs).
    #[command(group(clap::ArgGroup::new("which").required(true).args(["name", "none"])))]
    Activate {
        user: String,
        name: Option<String>,
        #[arg(long)]
        none: bool,
    },
    /// Remove one of USER's scripts (not the active one).
    Delete { user: String, name: String },
    /// Check that FILE compiles, as delivery and ManageSieve would.
    Check { file: PathBuf },
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnOff {
    On,
    Off,
}

#[derive(Subcommand, Debug)]
pub enum QueueCommand {
    /// Messages waiting for delivery, with each recipient's state.
    List,
    /// One message in detail: every recipient's state, attempts, last reply and host,
    /// and when the next attempt is.
    Show { id: String },
    /// Make waiting recipients due now: of one message, or of every message with --all.
    #[command(arg_required_else_help = true)]
    Retry {
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<String>,
        /// Every waiting recipient of every message.
        #[arg(long)]
        all: bool,
    },
    /// Remove a message from the queue; its sender gets no report.
    Delete { id: String },
    /// Make everything due now and wait until the running server has tried it.
    Flush {
        /// Seconds to wait for the attempts.
        #[arg(long, default_value_t = 60)]
        wait: u64,
    },
}

/// `0`, `1048576`, `512K`, `500M`, `2G`, `1T` (powers of 1024).
pub fn parse_size(s: &str) -> Result<i64, String> {
    let t = s.trim();
    let (digits, unit) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => (&t[..i], t[i..].trim()),
        None => (t, ""),
    };
    let n: i64 = digits
        .parse()
        .map_err(|_| format!("{s:?} is not a size: use bytes or a number with K, M, G or T"))?;
    let mult: i64 = match unit.to_ascii_uppercase().trim_end_matches(['B', 'I']) {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        _ => {
            return Err(format!(
                "{s:?} is not a size: use bytes or a number with K, M, G or T"
            ));
        }
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("{s:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("512K"), Ok(512 << 10));
        assert_eq!(parse_size("2G"), Ok(2 << 30));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("5X").is_err());
    }
}
