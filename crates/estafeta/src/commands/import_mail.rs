//! `estafeta import maildir DIR --user ADDRESS` and `estafeta import mbox FILE --user
//! ADDRESS [--folder NAME]`: mail moved in from Dovecot (Maildir++) or any mbox, into the
//! user's folders with flags and dates kept. Maildir: the directory itself is INBOX, each
//! `.Name.Sub` beside `cur/` is the folder `Name/Sub`; a file's flags come from its `:2,`
//! suffix (`S` seen, `R` answered, `F` flagged, `T` deleted, `D` draft, `a`–`z` the
//! keywords of `dovecot-keywords`), its date from its modification time. mbox: messages
//! start at `From ` lines (mboxrd: `>From ` unescaped), the date is the `From ` line's,
//! flags come from `Status:` (`R` seen) and `X-Status:` (`A` answered, `F` flagged, `T`
//! draft, `D` deleted). Line ends become CRLF.
//!
//! A message already in the folder is skipped — the same `Message-ID:`, or without one
//! the same octets — so an interrupted import runs again from the start and adds only
//! what is missing. Progress (messages, rate, time left) is drawn on standard error when
//! it is a terminal, and nothing but the summary otherwise. Messages are written
//! [`BATCH_MESSAGES`] at a time in one transaction (one durable commit); a batch the
//! store refuses (over quota) is retried one message at a time, so what fits is kept
//! and each refusal told. Bounds: messages over [`MAX_MESSAGE`] octets are skipped and
//! reported; an mbox is read line by line on a blocking thread and handed over four
//! messages at a time; a batch holds at most [`BATCH_BYTES`] octets.

use std::collections::HashSet;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use estafeta_mime::mailfiles::{crlf, maildir_flags, mbox_flags, message_key as key, read_mbox};
use estafeta_store::{Flags, NewMessage, Store};

pub use estafeta_mime::mailfiles::MAX_MESSAGE;

use crate::failure::{CommandResult, Failure};

/// One message to import.
pub struct Item {
    pub folder: String,
    pub bytes: Vec<u8>,
    pub flags: Vec<String>,
    pub date: i64,
}

/// The folders of a Maildir++ tree: (our name, the maildir).
pub fn maildir_folders(root: &Path) -> std::io::Result<Vec<(String, PathBuf)>> {
    let mut out = vec![("INBOX".to_string(), root.to_path_buf())];
    let mut subs = Vec::new();
    for entry in std::fs::read_dir(root)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(folder) = name.strip_prefix('.')
            && !folder.is_empty()
            && entry.path().join("cur").is_dir()
        {
            let ours = folder.replace('.', "/");
            let ours = if ours.eq_ignore_ascii_case("inbox") {
                "INBOX".to_string()
            } else {
                ours
            };
            subs.push((ours, entry.path()));
        }
    }
    subs.sort();
    out.extend(subs);
    Ok(out)
}

/// The keywords of a maildir's `dovecot-keywords` file, by letter (`0` is `a`).
fn keywords(maildir: &Path) -> Vec<Option<String>> {
    let mut out = vec![None; 26];
    if let Ok(text) = std::fs::read_to_string(maildir.join("dovecot-keywords")) {
        for line in text.lines() {
            if let Some((n, word)) = line.split_once(' ')
                && let Ok(n) = n.parse::<usize>()
                && n < 26
                && !word.trim().is_empty()
            {
                out[n] = Some(word.trim().to_string());
            }
        }
    }
    out
}

/// The messages of one maildir (`cur/` and `new/`), oldest name first.
pub fn maildir_files(maildir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for sub in ["cur", "new"] {
        if let Ok(entries) = std::fs::read_dir(maildir.join(sub)) {
            files.extend(entries.flatten().map(|e| e.path()).filter(|p| p.is_file()));
        }
    }
    files.sort();
    files
}

/// The keys of what a folder holds, read in batches.
async fn existing(store: &dyn Store, mailbox_id: i64) -> Result<HashSet<String>, Failure> {
    let mut keys = HashSet::new();
    let entries = store.list_messages(mailbox_id).await?;
    for chunk in entries.chunks(500) {
        let (first, last) = (chunk[0].uid, chunk[chunk.len() - 1].uid);
        for (_, bytes) in store.read_messages(mailbox_id, first, last).await? {
            keys.insert(key(&bytes));
        }
    }
    Ok(keys)
}

/// Where a run stands, drawn when standard error is a terminal.
pub fn progress(total: u64) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total);
    let style = indicatif::ProgressStyle::with_template(
        "{bar:30} {pos}/{len} messages, {per_sec}, {eta} left",
    )
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}

/// The counts of one run.
#[derive(Default)]
pub struct Tally {
    pub imported: u64,
    pub existing: u64,
    pub failed: u64,
}

/// Messages written in one transaction (one durable commit), and the most octets held
/// for one: a first import of 100,000 messages committed each alone ran at 157 a second.
const BATCH_MESSAGES: usize = 200;
const BATCH_BYTES: usize = 32 * 1024 * 1024;

/// Puts messages into a user's folders, in batches, skipping what is there already.
pub struct Importer<'a> {
    store: &'a dyn Store,
    user_id: i64,
    folders: std::collections::HashMap<String, (i64, HashSet<String>)>,
    /// Messages waiting to be written: all for `batch_folder`.
    batch: Vec<Item>,
    batch_folder: Option<i64>,
    batch_bytes: usize,
    pub tally: Tally,
}

impl Importer<'_> {
    /// The folder's id and the keys of what it holds, the folder made if missing.
    async fn open_folder(&mut self, folder: &str) -> Result<(), Failure> {
        if !self.folders.contains_key(folder) {
            let mailbox = match self.store.get_mailbox(self.user_id, folder).await? {
                Some(m) => m,
                None => {
                    self.store
                        .create_mailbox(self.user_id, folder, None)
                        .await?
                }
            };
            let keys = existing(self.store, mailbox.id).await?;
            self.folders.insert(folder.to_string(), (mailbox.id, keys));
        }
        Ok(())
    }

    /// Whether a message with this key ([`key`]) is in the folder or on its way there.
    pub async fn knows(&mut self, folder: &str, key: &str) -> Result<bool, Failure> {
        self.open_folder(folder).await?;
        Ok(self
            .folders
            .get(folder)
            .is_some_and(|(_, keys)| keys.contains(key)))
    }

    pub async fn put(&mut self, item: Item, bar: &indicatif::ProgressBar) -> Result<(), Failure> {
        self.open_folder(&item.folder).await?;
        let Some((mailbox_id, keys)) = self.folders.get_mut(&item.folder) else {
            return Ok(());
        };
        let mailbox_id = *mailbox_id;
        // a key is taken when queued, so a message twice in one run is imported once
        if !keys.insert(key(&item.bytes)) {
            self.tally.existing += 1;
            return Ok(());
        }
        if self.batch_folder != Some(mailbox_id)
            || self.batch.len() >= BATCH_MESSAGES
            || self.batch_bytes + item.bytes.len() > BATCH_BYTES
        {
            self.flush(bar).await;
        }
        self.batch_folder = Some(mailbox_id);
        self.batch_bytes += item.bytes.len();
        self.batch.push(item);
        Ok(())
    }

    /// Writes the waiting messages in one transaction; when that is refused (over
    /// quota, say), one at a time, so that each failure is told and the rest kept.
    pub async fn flush(&mut self, bar: &indicatif::ProgressBar) {
        let batch = std::mem::take(&mut self.batch);
        self.batch_bytes = 0;
        let Some(mailbox_id) = self.batch_folder.take() else {
            return;
        };
        if batch.is_empty() {
            return;
        }
        let flags: Vec<Flags> = batch
            .iter()
            .map(|i| Flags::new(i.flags.iter().map(String::as_str)))
            .collect();
        let all: Vec<NewMessage<'_>> = batch
            .iter()
            .zip(&flags)
            .map(|(i, f)| NewMessage {
                message: &i.bytes,
                flags: f,
                internal_date: i.date,
            })
            .collect();
        if self.store.append_many(mailbox_id, &all).await.is_ok() {
            self.tally.imported += all.len() as u64;
            return;
        }
        for (one, item) in all.iter().zip(&batch) {
            match self
                .store
                .append_many(mailbox_id, std::slice::from_ref(one))
                .await
            {
                Ok(_) => self.tally.imported += 1,
                Err(e) => {
                    bar.suspend(|| eprintln!("{}: {e}", item.folder));
                    self.tally.failed += 1;
                    if let Some((_, keys)) = self.folders.get_mut(&item.folder) {
                        keys.remove(&key(&item.bytes));
                    }
                }
            }
        }
    }
}

pub async fn importer<'a>(store: &'a dyn Store, user: &str) -> Result<Importer<'a>, Failure> {
    let found = store.get_user(user).await?.ok_or_else(|| {
        Failure::new(format!(
            "user {user} does not exist: add it first (`estafeta user add {user}`)"
        ))
    })?;
    Ok(Importer {
        store,
        user_id: found.id,
        folders: Default::default(),
        batch: Vec::new(),
        batch_folder: None,
        batch_bytes: 0,
        tally: Tally::default(),
    })
}

pub fn summary(t: &Tally, skipped: u64) -> CommandResult {
    println!(
        "{} imported, {} already there, {} failed, {} too large",
        t.imported, t.existing, t.failed, skipped
    );
    if t.failed > 0 {
        return Err(Failure::new(format!(
            "{} message(s) could not be imported (see above)",
            t.failed
        )));
    }
    Ok(())
}

pub async fn maildir(store: &dyn Store, root: &Path, user: &str) -> CommandResult {
    if !root.join("cur").is_dir() {
        return Err(Failure::new(format!(
            "{} is not a Maildir (no cur/ in it): give the user's Maildir, e.g. /var/mail/vhosts/example.com/bob/Maildir",
            root.display()
        )));
    }
    let mut importer = importer(store, user).await?;
    let folders = maildir_folders(root)
        .map_err(|e| Failure::new(format!("cannot read {}: {e}", root.display())))?;
    let plan: Vec<(String, Vec<Option<String>>, Vec<PathBuf>)> = folders
        .into_iter()
        .map(|(name, dir)| (name, keywords(&dir), maildir_files(&dir)))
        .collect();
    let total: u64 = plan.iter().map(|(_, _, files)| files.len() as u64).sum();
    let bar = progress(total);
    let mut skipped = 0;
    for (folder, keywords, files) in plan {
        for file in files {
            bar.inc(1);
            let Ok(meta) = std::fs::metadata(&file) else {
                continue;
            };
            if meta.len() as usize > MAX_MESSAGE {
                skipped += 1;
                bar.suspend(|| {
                    eprintln!(
                        "{}: larger than {MAX_MESSAGE} octets, skipped",
                        file.display()
                    )
                });
                continue;
            }
            let bytes = match std::fs::read(&file) {
                Ok(b) => crlf(&b),
                Err(e) => {
                    bar.suspend(|| eprintln!("{}: {e}", file.display()));
                    importer.tally.failed += 1;
                    continue;
                }
            };
            let date = meta
                .modified()
                .ok()
                .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or_else(estafeta_store::now, |d| d.as_secs() as i64);
            let name = file
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let item = Item {
                folder: folder.clone(),
                bytes,
                flags: maildir_flags(&name, &keywords),
                date,
            };
            importer.put(item, &bar).await?;
        }
    }
    importer.flush(&bar).await;
    bar.finish_and_clear();
    summary(&importer.tally, skipped)
}

pub async fn mbox(store: &dyn Store, file: &Path, user: &str, folder: &str) -> CommandResult {
    let opened = std::fs::File::open(file)
        .map_err(|e| Failure::new(format!("cannot read {}: {e}", file.display())))?;
    let size = opened.metadata().map(|m| m.len()).unwrap_or(0);
    let mut importer = importer(store, user).await?;
    let bar = progress(size);
    if std::io::stderr().is_terminal() {
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:30} {bytes}/{total_bytes}, {bytes_per_sec}, {eta} left",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
    }
    // the file is read on a blocking thread and handed over a few messages at a time:
    // an mbox of any size is never held whole
    let (tx, mut rx) = tokio::sync::mpsc::channel::<(Vec<u8>, Option<i64>)>(4);
    let reader = std::io::BufReader::new(bar.wrap_read(opened));
    let reading = tokio::task::spawn_blocking(move || {
        read_mbox(reader, |bytes, date| {
            // a closed channel means the import stopped: so does the reading
            tx.blocking_send((bytes, date)).is_ok()
        })
    });
    while let Some((bytes, date)) = rx.recv().await {
        let flags = mbox_flags(&bytes);
        let item = Item {
            folder: folder.to_string(),
            bytes,
            flags,
            date: date.unwrap_or_else(estafeta_store::now),
        };
        importer.put(item, &bar).await?;
    }
    importer.flush(&bar).await;
    let skipped = reading
        .await
        .map_err(|e| Failure::new(format!("reading {} failed: {e}", file.display())))?
        .map_err(|e| Failure::new(format!("cannot read {}: {e}", file.display())))?;
    bar.finish_and_clear();
    summary(&importer.tally, skipped as u64)
}
