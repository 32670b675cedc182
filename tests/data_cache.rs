//! `lntl data cache` lists what the cache holds and `--clean` deletes only the generated
//! datasets, keeping the fetched MNIST.

use std::process::Command;

#[test]
fn data_cache_lists_and_cleans_generated_files() {
    let cache = tempfile::tempdir().unwrap();
    let generated = cache
        .path()
        .join("colored-mnist/colored_mnist_var_0.020_seed_0_reflect.safetensors");
    let fetched = cache.path().join("mnist/digits.safetensors");
    for (path, size) in [(&generated, 3_000_000), (&fetched, 1_000_000)] {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, vec![0u8; size]).unwrap();
    }
    let run = |clean: bool| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lntl"));
        cmd.arg("--cache-dir")
            .arg(cache.path())
            .args(["data", "cache"]);
        if clean {
            cmd.arg("--clean");
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let listing = run(false);
    assert!(listing.contains("3.0 MB  generated"), "{listing}");
    assert!(listing.contains("1.0 MB  fetched"), "{listing}");
    assert!(
        listing.contains("4.0 MB  in all (3.0 MB generated"),
        "{listing}"
    );
    assert!(generated.exists(), "listing deletes nothing");
    let cleaned = run(true);
    assert!(cleaned.contains("deleted 3.0 MB"), "{cleaned}");
    assert!(!generated.exists());
    assert!(fetched.exists(), "the fetched MNIST stays");
}
