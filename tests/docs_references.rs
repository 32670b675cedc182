//! Every repository path that README.md and docs/ mention exists in the repository: paths under
//! the repository's own folders (`src/…`, `docs/…`, `tests/…`, `tools/…`, `scripts/…`,
//! `bench/…`, `results/…`, `.ci/…`) and every Markdown file named on its own (`SPEC.md`, which
//! must then be at the root or in docs/). Patterns (`var_*`, `{train,test}`, `<name>`, and
//! placeholders such as `var_V/data_seed_S`) are not paths and are skipped, and so are the
//! checkpoints that commands name, which are never committed.

use std::path::Path;

const ROOTS: [&str; 8] = [
    "src/", "docs/", "tests/", "tools/", "scripts/", "bench/", "results/", ".ci/",
];

/// The words of `text` that name a repository path.
fn referenced_paths(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || "`()[]<>\"',;|".contains(c))
        .map(|word| word.trim_end_matches(['.', ':', '!', '?']))
        .filter(|word| !word.contains(['*', '{', '…', '$', '%']))
        .filter(|word| !word.split('/').any(is_placeholder))
        .filter(|word| !word.ends_with("checkpoint.safetensors"))
        .filter(|word| {
            ROOTS.iter().any(|root| word.starts_with(root))
                || (word.ends_with(".md") && !word.contains('/'))
        })
        .map(|word| word.split('#').next().unwrap_or(word).to_string())
        .collect()
}

/// A path component that stands for values, such as `var_V` or `seed_S`: it ends in `_` and one
/// capital letter.
fn is_placeholder(component: &str) -> bool {
    let mut tail = component.chars().rev();
    matches!((tail.next(), tail.next()), (Some(c), Some('_')) if c.is_ascii_uppercase())
}

fn exists(root: &Path, path: &str) -> bool {
    if path.contains('/') {
        root.join(path).exists()
    } else {
        root.join(path).exists() || root.join("docs").join(path).exists()
    }
}

#[test]
fn every_path_the_docs_mention_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md")];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
    let mut dangling = Vec::new();
    let mut checked = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for path in referenced_paths(&text) {
            checked += 1;
            if !exists(root, &path) {
                dangling.push(format!("{}: {path}", file.display()));
            }
        }
    }
    assert!(
        checked > 50,
        "only {checked} references found: the scan is broken"
    );
    assert!(
        dangling.is_empty(),
        "paths that are not in the repository:\n{}",
        dangling.join("\n")
    );
}

#[test]
fn the_scan_finds_paths_and_skips_patterns() {
    let text = "See docs/SPEC.md §3, (`src/engine/conv/`) and SPEC.md; not runs/fast, \
                `results/fast/var_*/lntl`, results/fast/var_V/lntl/seed_0, \
                results/a/checkpoint.safetensors or `{train,valid}/images.npy`.";
    assert_eq!(
        referenced_paths(text),
        ["docs/SPEC.md", "src/engine/conv/", "SPEC.md"]
    );
}
