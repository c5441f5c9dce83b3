//! `estafeta export USER --maildir DIR` or `--mbox DIR`: a user's folders written out, in
//! the forms `estafeta import` and other servers read. Maildir: Dovecot's Maildir++
//! layout (INBOX in DIR, `Name/Sub` as `.Name.Sub`), each message a file whose name
//! carries its flags (`:2,` with `D F R S T` and keyword letters listed in the folder's
//! `dovecot-keywords`) and whose modification time is its INTERNALDATE. mbox: one file per
//! folder (`Name/Sub` → `Name.Sub.mbox`), `From ` lines with the INTERNALDATE, mboxrd
//! escaping, flags as `Status:` and `X-Status:`. Line ends are LF, as files on Unix have
//! them. The target must not exist or be empty. Folders are read in batches of
//! [`BATCH`] messages; progress is drawn on a terminal as for import.

use std::io::Write;
use std::path::{Path, PathBuf};

use estafeta_store::Store;

use crate::failure::{CommandResult, Failure};

/// Messages read from the store at a time.
pub const BATCH: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Maildir,
    Mbox,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> Failure + '_ {
    move |e| Failure::new(format!("cannot write {}: {e}", path.display()))
}

/// LF line ends.
fn lf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// `Mon Jan  1 10:00:00 2024` for a From_ line.
fn asctime(unix: i64) -> String {
    let (y, m, d) = estafeta_net::dates::civil_from_days(unix.div_euclid(86_400));
    let secs = unix.rem_euclid(86_400);
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]
        [unix.div_euclid(86_400).rem_euclid(7) as usize];
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][(m - 1).clamp(0, 11) as usize];
    format!(
        "{weekday} {month} {d:>2} {:02}:{:02}:{:02} {y}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// One message as an mbox entry: From_ line, Status/X-Status, mboxrd-escaped body.
pub fn mbox_entry(message: &[u8], flags: &[&str], date: i64) -> Vec<u8> {
    let mut out = format!("From MAILER-DAEMON {}\n", asctime(date)).into_bytes();
    let has = |f: &str| flags.iter().any(|x| x.eq_ignore_ascii_case(f));
    let mut status = String::from("O");
    if has("\\Seen") {
        status.insert(0, 'R');
    }
    out.extend_from_slice(format!("Status: {status}\n").as_bytes());
    let x: String = [
        ("\\Answered", 'A'),
        ("\\Flagged", 'F'),
        ("\\Draft", 'T'),
        ("\\Deleted", 'D'),
    ]
    .iter()
    .filter(|(f, _)| has(f))
    .map(|(_, c)| *c)
    .collect();
    if !x.is_empty() {
        out.extend_from_slice(format!("X-Status: {x}\n").as_bytes());
    }
    let body = lf(message);
    for line in body.split_inclusive(|&b| b == b'\n') {
        let quoted = line
            .iter()
            .position(|&b| b != b'>')
            .is_some_and(|i| line[i..].starts_with(b"From "));
        if quoted {
            out.push(b'>');
        }
        out.extend_from_slice(line);
    }
    if !out.ends_with(b"\n") {
        out.push(b'\n');
    }
    out.push(b'\n');
    out
}

/// A Maildir file name's info for `flags`, keywords given letters from `keywords` (which
/// grows as new ones are met; at most 26, as Dovecot allows).
fn maildir_info(flags: &[&str], keywords: &mut Vec<String>) -> String {
    let mut letters: Vec<char> = Vec::new();
    for (flag, c) in [
        ("\\Draft", 'D'),
        ("\\Flagged", 'F'),
        ("\\Answered", 'R'),
        ("\\Seen", 'S'),
        ("\\Deleted", 'T'),
    ] {
        if flags.iter().any(|f| f.eq_ignore_ascii_case(flag)) {
            letters.push(c);
        }
    }
    for f in flags.iter().filter(|f| !f.starts_with('\\')) {
        let index = match keywords.iter().position(|k| k == f) {
            Some(i) => Some(i),
            None if keywords.len() < 26 => {
                keywords.push(f.to_string());
                Some(keywords.len() - 1)
            }
            None => None,
        };
        if let Some(i) = index {
            letters.push((b'a' + i as u8) as char);
        }
    }
    letters.sort_unstable();
    format!(":2,{}", letters.into_iter().collect::<String>())
}

pub async fn run(store: &dyn Store, user: &str, target: &Path, form: Form) -> CommandResult {
    let found = store
        .get_user(user)
        .await?
        .ok_or_else(|| Failure::new(format!("user {user} does not exist")))?;
    if target.exists()
        && std::fs::read_dir(target)
            .map_err(io(target))?
            .next()
            .is_some()
    {
        return Err(Failure::new(format!(
            "{} is not empty: export into a new or empty directory",
            target.display()
        )));
    }
    std::fs::create_dir_all(target).map_err(io(target))?;
    let mailboxes = store.list_mailboxes(found.id).await?;
    let mut lists = Vec::new();
    for mb in &mailboxes {
        lists.push((mb, store.list_messages(mb.id).await?));
    }
    let total: u64 = lists.iter().map(|(_, l)| l.len() as u64).sum();
    let bar = crate::commands::import_mail::progress(total);
    let mut written = 0u64;
    for (mb, entries) in lists {
        let mut keywords = Vec::new();
        let (dir, mut mbox): (PathBuf, Option<std::io::BufWriter<std::fs::File>>) = match form {
            Form::Maildir => {
                let dir = match mb.name.as_str() {
                    "INBOX" => target.to_path_buf(),
                    name => target.join(format!(".{}", name.replace('/', "."))),
                };
                for sub in ["cur", "new", "tmp"] {
                    std::fs::create_dir_all(dir.join(sub)).map_err(io(&dir))?;
                }
                (dir, None)
            }
            Form::Mbox => {
                let file = target.join(format!("{}.mbox", mb.name.replace('/', ".")));
                let f = std::fs::File::create(&file).map_err(io(&file))?;
                (file, Some(std::io::BufWriter::new(f)))
            }
        };
        for chunk in entries.chunks(BATCH) {
            let (first, last) = (chunk[0].uid, chunk[chunk.len() - 1].uid);
            let bodies = store.read_messages(mb.id, first, last).await?;
            for (uid, bytes) in bodies {
                let Some(entry) = chunk.iter().find(|e| e.uid == uid) else {
                    continue;
                };
                let flags: Vec<&str> = entry.flags.iter().collect();
                match mbox.as_mut() {
                    Some(out) => out
                        .write_all(&mbox_entry(&bytes, &flags, entry.internal_date))
                        .map_err(io(&dir))?,
                    None => {
                        let name = format!(
                            "{}.M{uid}P{}.estafeta{}",
                            entry.internal_date,
                            mb.uidvalidity,
                            maildir_info(&flags, &mut keywords)
                        );
                        let path = dir.join("cur").join(name);
                        std::fs::write(&path, lf(&bytes)).map_err(io(&path))?;
                        let at = std::time::UNIX_EPOCH
                            + std::time::Duration::from_secs(entry.internal_date.max(0) as u64);
                        let _ = std::fs::File::options()
                            .write(true)
                            .open(&path)
                            .and_then(|f| f.set_modified(at));
                    }
                }
                written += 1;
                bar.inc(1);
            }
        }
        if let Some(mut out) = mbox {
            out.flush().map_err(io(&dir))?;
        }
        if form == Form::Maildir && !keywords.is_empty() {
            let text: String = keywords
                .iter()
                .enumerate()
                .map(|(i, k)| format!("{i} {k}\n"))
                .collect();
            std::fs::write(dir.join("dovecot-keywords"), text).map_err(io(&dir))?;
        }
    }
    bar.finish_and_clear();
    println!(
        "{written} message(s) in {} folder(s) written to {}",
        mailboxes.len(),
        target.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mbox_entries_escape_and_carry_flags() {
        let e = mbox_entry(
            b"Subject: x\r\n\r\nFrom here\r\n>From there\r\nend",
            &["\\Seen", "\\Flagged"],
            1_704_103_200,
        );
        let text = String::from_utf8(e).unwrap();
        assert_eq!(
            text,
            "From MAILER-DAEMON Mon Jan  1 10:00:00 2024\nStatus: RO\nX-Status: F\nSubject: x\n\n>From here\n>>From there\nend\n\n"
        );
    }

    #[test]
    fn maildir_names_carry_flags_and_keywords() {
        let mut kw = Vec::new();
        assert_eq!(
            maildir_info(&["\\Seen", "\\Answered", "Work"], &mut kw),
            ":2,RSa"
        );
        assert_eq!(maildir_info(&["Later", "Work"], &mut kw), ":2,ab");
        assert_eq!(kw, ["Work", "Later"]);
        assert_eq!(maildir_info(&[], &mut kw), ":2,");
    }
}
