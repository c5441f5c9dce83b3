//! `docs/architecture.md` stays true: its map names every crate of the repository and
//! every source file of each (`src/**/*.rs`), and nothing that does not exist. A module
//! added, moved or removed without the map following fails here, naming the difference.
//!
//! The map's format: a heading "### `DIR`" per crate (DIR relative to the repository's
//! root, holding a Cargo.toml), followed by a table whose rows start with "| `PATH` |",
//! PATH relative to that crate's `src/`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The crates of the repository: every directory under `crates/`, and `fuzz/`.
fn crates_on_disk() -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for entry in std::fs::read_dir(root().join("crates")).expect("crates/") {
        let entry = entry.expect("entry");
        if entry.path().join("Cargo.toml").exists() {
            found.insert(format!("crates/{}", entry.file_name().to_string_lossy()));
        }
    }
    if root().join("fuzz/Cargo.toml").exists() {
        found.insert("fuzz".into());
    }
    found
}

/// `src/**/*.rs` of one crate, relative to `src/`.
fn sources(dir: &Path) -> BTreeSet<String> {
    let src = dir.join("src");
    let mut found = BTreeSet::new();
    let mut pending = vec![src.clone()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).expect("source directory") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(&src).expect("under src");
                found.insert(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    found
}

/// The crates and files the map names.
fn map() -> Vec<(String, BTreeSet<String>)> {
    let page = std::fs::read_to_string(root().join("docs/architecture.md")).expect("page");
    let mut map: Vec<(String, BTreeSet<String>)> = Vec::new();
    for line in page.lines() {
        if let Some(rest) = line.strip_prefix("### `") {
            let dir = rest
                .split('`')
                .next()
                .unwrap_or_default()
                .trim_end_matches('/');
            map.push((dir.to_string(), BTreeSet::new()));
        } else if let Some(rest) = line.strip_prefix("| `")
            && let Some((path, _)) = rest.split_once('`')
            && path.ends_with(".rs")
            && let Some((_, files)) = map.last_mut()
        {
            files.insert(path.to_string());
        }
    }
    map
}

#[test]
fn the_map_names_every_crate_and_module_and_nothing_else() {
    let map = map();
    let named: BTreeSet<String> = map.iter().map(|(d, _)| d.clone()).collect();
    let on_disk = crates_on_disk();
    let mut problems = Vec::new();
    for missing in on_disk.difference(&named) {
        problems.push(format!("crate {missing} is not on the map"));
    }
    for extra in named.difference(&on_disk) {
        problems.push(format!("the map names crate {extra}, which does not exist"));
    }
    for (dir, files) in &map {
        if !on_disk.contains(dir) {
            continue;
        }
        let real = sources(&root().join(dir));
        for missing in real.difference(files) {
            problems.push(format!("{dir}/src/{missing} is not on the map"));
        }
        for extra in files.difference(&real) {
            problems.push(format!(
                "the map names {dir}/src/{extra}, which does not exist"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "docs/architecture.md is out of date:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn the_map_is_read_as_the_test_expects() {
    // a map that parsed to nothing would make the test above vacuous
    let map = map();
    assert!(map.len() >= 10, "crates on the map: {}", map.len());
    let smtp = map
        .iter()
        .find(|(d, _)| d == "crates/smtp")
        .expect("crates/smtp on the map");
    assert!(smtp.1.contains("inbound/session.rs"));
}
