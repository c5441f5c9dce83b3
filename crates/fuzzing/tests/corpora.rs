//! Every kept fuzz input, run through its target: the seed corpora
//! (`fuzz/corpus/<target>/`) and every crash or hang the fuzzers found
//! (`fuzz/regressions/<target>/`), so that a bug fixed once stays fixed. Each target runs
//! on a thread with a small stack (256 KiB), as a hostile input must not need a deep one.

use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .filter(|p| {
            // afl's bookkeeping and notes kept beside the inputs
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            !name.starts_with('.') && name != "README.txt" && !name.ends_with(".md")
        })
        .collect();
    files.sort();
    files
}

/// Runs every input of `kind` for `target`; the names of those that fail.
fn run(target: &'static str, f: fn(&[u8]), kind: &str) -> (usize, Vec<String>) {
    let files = inputs(&fuzz_dir().join(kind).join(target));
    let count = files.len();
    let mut failed = Vec::new();
    for file in files {
        let data = std::fs::read(&file).expect("readable input");
        let name = format!(
            "fuzz/{kind}/{target}/{}",
            file.file_name().unwrap().display()
        );
        let handle = std::thread::Builder::new()
            .name(name.clone())
            .stack_size(256 * 1024)
            .spawn(move || f(&data))
            .expect("thread");
        if handle.join().is_err() {
            failed.push(name);
        }
    }
    (count, failed)
}

fn run_all(kind: &str) -> usize {
    let mut total = 0;
    let mut failed = Vec::new();
    for &(target, f) in estafeta_fuzzing::TARGETS {
        let (count, mut f) = run(target, f, kind);
        total += count;
        failed.append(&mut f);
    }
    assert!(
        failed.is_empty(),
        "these inputs fail:\n{}",
        failed.join("\n")
    );
    total
}

#[test]
fn every_target_has_a_seed_corpus() {
    for (target, _) in estafeta_fuzzing::TARGETS {
        assert!(
            !inputs(&fuzz_dir().join("corpus").join(target)).is_empty(),
            "no seeds in fuzz/corpus/{target}"
        );
    }
}

#[test]
fn seed_corpora_pass() {
    run_all("corpus");
}

#[test]
fn regressions_pass() {
    let total = run_all("regressions");
    eprintln!("{total} regression inputs pass");
}

#[test]
fn imap_data_checker() {
    use estafeta_fuzzing::imap_data;
    assert!(imap_data(b"(\"a\" NIL (\"b\\\"\" {3}\r\n)(( 1))").is_ok());
    assert!(imap_data(b"(\"a\"").is_err());
    assert!(imap_data(b"(\"a)").is_err());
    assert!(imap_data(b"(a))(").is_err());
    assert!(imap_data(b"({9}\r\nab)").is_err());
    assert!(imap_data(b"(a\r\nb)").is_err());
}
