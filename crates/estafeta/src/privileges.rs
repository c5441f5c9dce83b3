//! Who the server runs as, and who may read its files.
//!
//! Started as root, `serve` binds its ports and reads its keys as root, then gives the data
//! directory to the `run_as` user (default: `estafeta`, when the machine has one) and
//! becomes that user for good (groups, gid, uid, in that order). Without such a user it
//! goes on as root and says how to fix that at every start. Started as another user, it
//! stays that user; `run_as` naming someone else is then an error, since only root can
//! switch.
//!
//! Files: the process's umask is 077, so everything estafeta creates (the database and its
//! WAL/SHM, the generated key, spooled messages) is 0600 and directories 0700; an existing
//! data directory or file that others can read is reported at start with the `chmod` that
//! fixes it.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use estafeta_config::{Config, ConfigError};
use nix::unistd::{Gid, Uid, User};

use crate::failure::Failure;

/// The user created by packages and by the documented `useradd`.
const DEFAULT_USER: &str = "estafeta";

/// Bounds the walk that gives the data directory to the `run_as` user: it holds a few
/// files and two small directories, never anything this deep or large.
const MAX_CHOWN_DEPTH: usize = 16;
const MAX_CHOWN_ENTRIES: usize = 100_000;

/// What `serve` will do about its identity.
pub enum Identity {
    /// Keep running as the user that started it.
    Stay,
    /// Started as root, and no user to become: keep running as root, and say so.
    RootWithoutUser,
    /// Started as root: become this user after binding.
    Become(User),
}

/// Everything estafeta creates is private to its user.
pub fn private_umask() {
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
}

fn create_the_user(name: &str) -> String {
    format!(
        "create it with `useradd --system --user-group --home-dir /var/lib/estafeta \
         --shell /usr/sbin/nologin {name}`"
    )
}

/// Decides the identity from the configuration and who we are; a `run_as` that names no
/// user of this machine, or one that a non-root process cannot become, is a config error.
pub fn plan(config: &Config) -> Result<Identity, Failure> {
    let me = Uid::effective();
    let wanted = match run_as_user(config)? {
        Some(user) => Some(user),
        None if me.is_root() => User::from_name(DEFAULT_USER).ok().flatten(),
        None => None,
    };
    match wanted {
        Some(user) if user.uid == me => Ok(Identity::Stay),
        Some(user) if me.is_root() => Ok(Identity::Become(user)),
        Some(user) => Err(Failure::config(ConfigError::invalid(
            "run_as",
            format!("{:?}", user.name),
            &format!(
                "estafeta runs as uid {me} and only root can switch users: start it as root \
                 (it switches after binding its ports), or remove run_as to keep running as \
                 uid {me}"
            ),
        ))),
        None if me.is_root() => Ok(Identity::RootWithoutUser),
        None => Ok(Identity::Stay),
    }
}

/// The user `run_as` names; an error when the machine has no such user.
pub fn run_as_user(config: &Config) -> Result<Option<User>, Failure> {
    let Some(name) = &config.run_as else {
        return Ok(None);
    };
    match User::from_name(name) {
        Ok(Some(user)) => Ok(Some(user)),
        Ok(None) => Err(Failure::config(ConfigError::invalid(
            "run_as",
            format!("{name:?}"),
            &format!(
                "there is no such user on this machine: {}, or remove run_as",
                create_the_user(name)
            ),
        ))),
        Err(e) => Err(Failure::new(format!(
            "run_as = {name:?}: cannot look the user up: {e}"
        ))),
    }
}

/// Carries the plan out: after this, the process is `run_as` and owns the data directory.
/// Called once the listeners are bound and the TLS keys read, before the store is opened.
pub fn assume(identity: &Identity, data_dir: &Path) -> Result<(), Failure> {
    match identity {
        Identity::Stay => Ok(()),
        Identity::RootWithoutUser => {
            tracing::warn!(
                "running as root: there is no {DEFAULT_USER:?} user to switch to after binding \
                 the ports; {}, or set run_as to an existing user",
                create_the_user(DEFAULT_USER)
            );
            Ok(())
        }
        Identity::Become(user) => {
            give(data_dir, user.uid, user.gid)?;
            become_user(user)?;
            tracing::info!(
                user = %user.name,
                uid = user.uid.as_raw(),
                gid = user.gid.as_raw(),
                "privileges dropped: running as {}",
                user.name
            );
            Ok(())
        }
    }
}

fn become_user(user: &User) -> Result<(), Failure> {
    let fail = |what: &str, e: nix::Error| {
        Failure::new(format!(
            "cannot become user {:?} ({what}): {e}; estafeta does not run on as root when \
             run_as asks otherwise",
            user.name
        ))
    };
    nix::unistd::setgroups(&[user.gid]).map_err(|e| fail("setgroups", e))?;
    nix::unistd::setgid(user.gid).map_err(|e| fail("setgid", e))?;
    nix::unistd::setuid(user.uid).map_err(|e| fail("setuid", e))?;
    // the switch must be for good: root must be out of reach
    if user.uid.as_raw() != 0 && nix::unistd::setuid(Uid::from_raw(0)).is_ok() {
        return Err(Failure::new(format!(
            "became user {:?} but could get root back; refusing to run like that",
            user.name
        )));
    }
    Ok(())
}

/// Gives the data directory and everything in it to `uid:gid` (symbolic links themselves,
/// never what they point to). Iterative and bounded (see `MAX_CHOWN_*`).
fn give(data_dir: &Path, uid: Uid, gid: Gid) -> Result<(), Failure> {
    let cannot = |p: &Path, e: std::io::Error| {
        Failure::new(format!(
            "cannot give {} to the run_as user (uid {uid}): {e}; fix its owner with \
             `chown -R {uid}:{gid} {}`",
            p.display(),
            data_dir.display()
        ))
    };
    let mut stack: Vec<(PathBuf, usize)> = vec![(data_dir.to_path_buf(), 0)];
    let mut seen = 0usize;
    while let Some((path, depth)) = stack.pop() {
        seen += 1;
        if seen > MAX_CHOWN_ENTRIES {
            return Err(Failure::new(format!(
                "the data directory {} holds more than {MAX_CHOWN_ENTRIES} entries: it is not \
                 estafeta's alone; choose another with --data-dir",
                data_dir.display()
            )));
        }
        let meta = std::fs::symlink_metadata(&path).map_err(|e| cannot(&path, e))?;
        if meta.uid() != uid.as_raw() || meta.gid() != gid.as_raw() {
            std::os::unix::fs::lchown(&path, Some(uid.as_raw()), Some(gid.as_raw()))
                .map_err(|e| cannot(&path, e))?;
        }
        if meta.is_dir() && depth < MAX_CHOWN_DEPTH {
            for entry in std::fs::read_dir(&path).map_err(|e| cannot(&path, e))? {
                let entry = entry.map_err(|e| cannot(&path, e))?;
                stack.push((entry.path(), depth + 1));
            }
        }
    }
    Ok(())
}

/// A file or directory of ours that people other than its owner can reach.
pub struct ModeProblem {
    pub path: PathBuf,
    /// Its permission bits.
    pub mode: u32,
    /// The mode to `chmod` it to.
    pub wanted: u32,
    pub is_dir: bool,
}

/// The data directory, the database and the TLS keys that people other than their owner
/// can read, with the mode each should have.
pub fn mode_problems(data_dir: &Path, config: &Config) -> Vec<ModeProblem> {
    let mut files: Vec<(PathBuf, u32)> = vec![(data_dir.to_path_buf(), 0o700)];
    for name in ["estafeta.db", "estafeta.db-wal", "estafeta.db-shm"] {
        files.push((data_dir.join(name), 0o600));
    }
    let tls = data_dir.join("tls");
    if let Ok(entries) = std::fs::read_dir(&tls) {
        files.push((tls.clone(), 0o700));
        for entry in entries.flatten().take(100) {
            if entry.file_name().to_string_lossy().ends_with(".key") {
                files.push((entry.path(), 0o600));
            }
        }
    }
    if let Some(key) = &config.tls.private_key {
        files.push((key.clone(), 0o600));
    }
    let mut problems = Vec::new();
    for (path, wanted) in files {
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            problems.push(ModeProblem {
                path,
                mode,
                wanted,
                is_dir: meta.is_dir(),
            });
        }
    }
    problems
}

/// Warns about the data directory, the database and the TLS key when people other than
/// their owner can read them, with the command that fixes it.
pub fn check_modes(data_dir: &Path, config: &Config) {
    for p in mode_problems(data_dir, config) {
        let what = if p.is_dir {
            "the data directory holds all mail and password hashes"
        } else {
            "it holds mail, password hashes or a private key"
        };
        tracing::warn!(
            path = %p.path.display(),
            mode = format!("{:o}", p.mode),
            "{} can be read by other users ({what}); fix with: chmod {:o} {}",
            p.path.display(),
            p.wanted,
            p.path.display()
        );
    }
}
