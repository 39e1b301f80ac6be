//! Replays the fuzz targets' checked-in inputs through the same harness `cargo fuzz` runs:
//! every seed of `fuzz/corpus/<target>` and every crash input kept in
//! `fuzz/regressions/<target>` (each a bug once found; see BENCHMARKS.md, fuzzing).

use gateway_tests::fixtures;
use gateway_tests::fuzzing::{self, Target};
use std::path::{Path, PathBuf};

fn dir(kind: &str, target: Target) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz")
        .join(kind)
        .join(target.name())
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.is_file() && p.file_name().is_some_and(|n| n != "README.md"));
    files.sort();
    files
}

#[test]
fn the_seed_corpora_are_the_committed_samples() {
    for target in Target::ALL {
        let seeds = target.seeds();
        assert!(!seeds.is_empty(), "{} has seeds", target.name());
        for (name, bytes) in seeds {
            let path = dir("corpus", target).join(&name);
            let committed = std::fs::read(&path)
                .unwrap_or_else(|_| panic!("{} is missing: run `make generate`", path.display()));
            assert!(
                committed == bytes,
                "{} is stale: run `make generate`",
                path.display()
            );
        }
    }
}

#[test]
fn the_seeds_reach_the_normalisers() {
    // Signed at the harness's clock, the samples get the answers the served tests expect: the
    // fuzzer starts from inputs that get past the signature check, not ones refused at the door.
    let samples = fixtures::all_events_at(fixtures::COMMITTED_AT, fixtures::COMMITTED_STANDIN_URL);
    let mut stored = 0;
    for sample in &samples {
        let delivered =
            fuzzing::run(Target::Providers, &fuzzing::encode(sample)).expect("a seed decodes");
        // The harness points AssemblyAI's API at a closed port (a 502), and allows SNS
        // certificates only from there, so the samples' certificate URLs are refused (a 401):
        // the fuzzer reaches SES's normaliser through the harness's direct call only.
        let refused = match sample.provider {
            "assemblyai" if sample.expect.messages > 0 => Some(502),
            "ses" if sample.expect.status == 200 => Some(401),
            _ => None,
        };
        // One input is one request: a session's stop event arrives without its utterances,
        // so it has nothing to assemble and stores nothing.
        if !fixtures::session_before(&samples, sample).is_empty() {
            assert_eq!(
                (delivered.status, delivered.stored),
                (200, 0),
                "{}",
                sample.file_name()
            );
            continue;
        }
        if let Some(status) = refused {
            assert_eq!(delivered.status, status, "{}", sample.file_name());
            continue;
        }
        assert_eq!(
            (delivered.status, delivered.stored),
            (sample.expect.status, sample.expect.messages),
            "{}/{}",
            sample.channel,
            sample.file_name()
        );
        stored += delivered.stored;
    }
    assert!(stored > 50, "only {stored} messages stored by the seeds");
}

#[test]
fn every_checked_in_input_keeps_the_promises() {
    let mut replayed = 0;
    for target in Target::ALL {
        for kind in ["corpus", "regressions"] {
            for path in files(&dir(kind, target)) {
                let data = std::fs::read(&path).expect("readable");
                let outcome = std::panic::catch_unwind(|| fuzzing::run(target, &data));
                assert!(outcome.is_ok(), "{} broke a promise", path.display());
                replayed += 1;
            }
        }
    }
    assert!(replayed > 100, "only {replayed} inputs replayed");
}
