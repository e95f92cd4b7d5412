//! The parsers of what builders and users write (`commit.yaml`,
//! `versions.csv`, `delorean.repo`, the config) fed random and mutated
//! input: each returns a value or an error, never panics. CI runs a short
//! bounded loop; `scripts/fuzz.sh` runs libFuzzer (`fuzz/`) where cargo-fuzz
//! and a nightly toolchain can be had, else the long loop here
//! (`--ignored`, `PROMOTER_FUZZ_SECONDS`, `PROMOTER_FUZZ_TARGETS`).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::harness::*;
use crate::util::*;

/// A parser under test: its name (as the cargo-fuzz target) and a call.
struct Target {
    name: &'static str,
    seeds: Vec<Vec<u8>>,
    parse: fn(&[u8]),
}

fn text(bytes: &[u8]) -> Option<&str> {
    std::str::from_utf8(bytes).ok()
}

fn commit_yaml(bytes: &[u8]) {
    if let Some(t) = text(bytes) {
        if let Ok(rows) = promoter::trunk::commit_yaml::parse(t) {
            for r in rows {
                let _ = (r.repo_dir(), r.purged());
            }
        }
    }
}

fn versions_csv(bytes: &[u8]) {
    if let Some(t) = text(bytes) {
        if let Ok(rows) = promoter::trunk::versions_csv::parse(t) {
            for r in &rows {
                for i in 0..10 {
                    let _ = r.field(i);
                }
            }
            let _ = promoter::trunk::versions_csv::is_consistent(&rows);
        }
    }
}

fn delorean_repo(bytes: &[u8]) {
    if let Some(t) = text(bytes) {
        if let Ok(sections) = promoter::trunk::delorean_repo::parse(t) {
            for s in sections {
                let _ = s.points_at("ab/cd/abcd_12345678");
            }
        }
    }
}

fn config(bytes: &[u8]) {
    if let Some(t) = text(bytes) {
        if let Ok(c) = promoter::config::Config::parse(Path::new("/nonexistent/promoter.yaml"), t) {
            for p in &c.promotions {
                let _ = c.required_jobs(p);
            }
            for j in &c.jobs {
                let _ = j.instances();
            }
        }
    }
}

fn files_named(dir: &Path, name: &str, out: &mut Vec<Vec<u8>>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        let t = e.file_type().unwrap();
        if t.is_dir() {
            files_named(&e.path(), name, out);
        } else if t.is_file() && e.file_name() == name {
            out.push(std::fs::read(e.path()).unwrap());
        }
    }
}

fn targets() -> Vec<Target> {
    let f = fixtures();
    let read = |p: &str| std::fs::read(f.join(p)).unwrap();
    let mut commits = vec![read("dlrn/generated-commit.yaml")];
    files_named(&f.join("trunk"), "commit.yaml", &mut commits);
    commits.truncate(6);
    let mut repos = vec![read("dlrn/generated-delorean.repo")];
    files_named(&f.join("trunk"), "delorean.repo", &mut repos);
    repos.truncate(4);
    vec![
        Target {
            name: "commit_yaml",
            seeds: commits,
            parse: commit_yaml,
        },
        Target {
            name: "versions_csv",
            seeds: vec![
                read("dlrn/versions.csv"),
                read("dlrn/generated-versions.csv"),
            ],
            parse: versions_csv,
        },
        Target {
            name: "delorean_repo",
            seeds: repos,
            parse: delorean_repo,
        },
        Target {
            name: "config",
            seeds: vec![
                read("promoter.yaml"),
                read("dlrn/promoter-config_CentOS-9_master.yaml"),
            ],
            parse: config,
        },
    ]
}

/// Fragments that parsers of these formats trip on.
const TOKENS: &[&str] = &[
    "\n",
    "\r\n",
    "'",
    "''",
    "\"",
    ":",
    ": ",
    "- ",
    "  ",
    "\t",
    "[",
    "]",
    "{",
    "}",
    "&a ",
    "*a",
    "!!binary ",
    "|",
    ">",
    "#",
    ",",
    "=",
    "None",
    "-1",
    "1e400",
    "NaN",
    "0x1f",
    "..",
    "/",
    "\\",
    "\0",
    "é",
    "\u{202e}",
    "commits:",
    "[delorean]",
    "baseurl=",
    "SUCCESS",
    "matrix:",
    "candidate_label: ",
    "criteria: []",
    "promotions:",
    "jobs:",
    "---\n",
    "...\n",
];

/// One input: a seed, mutated a few times.
fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut v = if rng.chance(20) {
        let n = rng.below(256) as usize;
        rng.bytes(n)
    } else {
        rng.pick(seeds).clone()
    };
    for _ in 0..rng.range(1, 8) {
        let at = rng.below(v.len() as u64 + 1) as usize;
        match rng.below(8) {
            0 if !v.is_empty() => {
                let i = at.min(v.len() - 1);
                v[i] ^= 1 << rng.below(8);
            }
            1 => v.insert(at, rng.next_u64() as u8),
            2 => {
                let end = (at + rng.range(1, 64) as usize).min(v.len());
                v.drain(at..end);
            }
            3 => {
                let end = (at + rng.range(1, 128) as usize).min(v.len());
                let chunk = v[at..end].to_vec();
                let to = rng.below(v.len() as u64 + 1) as usize;
                v.splice(to..to, chunk);
            }
            4 => {
                let other = rng.pick(seeds);
                let from = rng.below(other.len() as u64 + 1) as usize;
                let end = (from + rng.range(1, 256) as usize).min(other.len());
                v.splice(at..at, other[from..end].iter().copied());
            }
            5 => v.truncate(at),
            _ => {
                let t = rng.pick(TOKENS).as_bytes();
                v.splice(at..at, t.iter().copied());
            }
        }
    }
    v
}

/// Feeds `target` inputs until `budget` runs out; panics with the input
/// that made a parser panic.
fn fuzz(target: &Target, rng: &mut Rng, budget: Budget) -> usize {
    let started = Instant::now();
    let mut n = 0;
    loop {
        match budget {
            Budget::Inputs(max) if n >= max => break,
            Budget::Time(t) if started.elapsed() >= t => break,
            _ => {}
        }
        let input = mutate(rng, &target.seeds);
        if catch_unwind(AssertUnwindSafe(|| (target.parse)(&input))).is_err() {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("fuzz/artifacts")
                .join(target.name);
            let _ = std::fs::create_dir_all(&dir);
            let file = dir.join(format!("crash-{n}"));
            let _ = std::fs::write(&file, &input);
            panic!(
                "{}: input {n} panicked (saved to {}): {:?}",
                target.name,
                file.display(),
                String::from_utf8_lossy(&input)
            );
        }
        n += 1;
    }
    n
}

#[derive(Clone, Copy)]
enum Budget {
    Inputs(usize),
    Time(Duration),
}

#[test]
fn parsers_return_errors_not_panics_on_mutated_input() {
    let mut rng = Rng::new(seed("fuzz::short"));
    let per_target = knob("PROMOTER_FUZZ_INPUTS", 5_000);
    let started = Instant::now();
    let mut total = 0;
    for t in targets() {
        total += fuzz(&t, &mut rng, Budget::Inputs(per_target));
    }
    eprintln!(
        "fuzz::short: {total} inputs through 4 parsers in {:?}",
        started.elapsed()
    );
}

#[test]
#[ignore = "long: scripts/fuzz.sh runs it where cargo-fuzz cannot"]
fn parsers_return_errors_not_panics_for_a_while() {
    let secs = knob("PROMOTER_FUZZ_SECONDS", 60) as u64;
    let only = std::env::var("PROMOTER_FUZZ_TARGETS").unwrap_or_default();
    let mut rng = Rng::new(seed("fuzz::long"));
    for t in targets() {
        if !only.is_empty() && !only.split_whitespace().any(|o| o == t.name) {
            continue;
        }
        let n = fuzz(&t, &mut rng, Budget::Time(Duration::from_secs(secs)));
        eprintln!("fuzz::long: {}: {n} inputs in {secs}s, no panic", t.name);
    }
}
