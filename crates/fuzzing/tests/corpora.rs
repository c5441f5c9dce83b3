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

fn run(target: &'static str, f: fn(&[u8]), kind: &str) -> usize {
    let files = inputs(&fuzz_dir().join(kind).join(target));
    let count = files.len();
    for file in files {
        let data = std::fs::read(&file).expect("readable input");
        let name = file.display().to_string();
        let handle = std::thread::Builder::new()
            .name(name.clone())
            .stack_size(256 * 1024)
            .spawn(move || f(&data))
            .expect("thread");
        if handle.join().is_err() {
            panic!("{target}: {name} fails");
        }
    }
    count
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
    for &(target, f) in estafeta_fuzzing::TARGETS {
        run(target, f, "corpus");
    }
}

#[test]
fn regressions_pass() {
    let mut total = 0;
    for &(target, f) in estafeta_fuzzing::TARGETS {
        total += run(target, f, "regressions");
    }
    eprintln!("{total} regression inputs");
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
