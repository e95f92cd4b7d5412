//! A tool that teaches itself: help with an example on every command,
//! shell completions and man pages generated from the same definitions.

use std::process::Command;

use clap::CommandFactory;

use crate::util::*;

/// Every command path: ["init"], ["testenv", "add"], …
fn command_paths() -> Vec<Vec<String>> {
    fn walk(cmd: &clap::Command, path: Vec<String>, out: &mut Vec<Vec<String>>) {
        for sub in cmd.get_subcommands() {
            let mut p = path.clone();
            p.push(sub.get_name().to_string());
            out.push(p.clone());
            walk(sub, p, out);
        }
    }
    let mut out = Vec::new();
    walk(&promoter::cli::Cli::command(), Vec::new(), &mut out);
    out
}

fn promoter(args: &[&str]) -> Run {
    let out = Command::new(BIN)
        .args(args)
        .env_remove("PROMOTER_CONFIG")
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn every_command_has_help_with_an_example() {
    let paths = command_paths();
    assert!(paths.len() > 20, "{paths:?}");
    let mut without = Vec::new();
    for p in &paths {
        let mut args: Vec<&str> = p.iter().map(String::as_str).collect();
        args.push("--help");
        let r = promoter(&args);
        r.ok();
        if !r.stdout.contains("Example") {
            without.push(p.join(" "));
        }
    }
    assert!(without.is_empty(), "no example in --help of: {without:?}");
    let top = promoter(&["--help"]);
    top.ok();
    assert!(top.stdout.contains("Examples:"));
    for new in ["status", "export", "replay", "completions", "man"] {
        assert!(
            top.stdout.contains(&format!("  {new} ")),
            "{new} listed:\n{}",
            top.stdout
        );
    }
}

#[test]
fn bash_completions_name_every_command_and_are_valid_bash() {
    let r = promoter(&["completions", "bash"]);
    r.ok();
    for p in command_paths() {
        let last = p.last().unwrap();
        assert!(
            r.stdout.contains(last.as_str()),
            "{last} in the completions"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("promoter.bash");
    std::fs::write(&file, &r.stdout).unwrap();
    let check = Command::new("bash")
        .arg("-c")
        .arg(format!("source {} && complete -p promoter", file.display()))
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(String::from_utf8_lossy(&check.stdout).contains("promoter"));
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let r = promoter(&["completions", shell]);
        r.ok();
        assert!(r.stdout.contains("promoter"), "{shell}");
    }
    promoter(&["completions", "tcsh"]).code(2);
}

#[test]
fn the_man_page_is_roff_and_names_every_command() {
    let r = promoter(&["man"]);
    r.ok();
    assert!(
        r.stdout.starts_with(".ie \\n(.g .ds Aq"),
        "roff: {}",
        &r.stdout[..80]
    );
    assert!(r.stdout.contains(".TH promoter 1"), "{}", &r.stdout[..300]);
    for p in command_paths().iter().filter(|p| p.len() == 1) {
        // roff escapes the hyphen.
        let name = p[0].replace('-', "\\-");
        assert!(r.stdout.contains(&name), "{name} in the man page");
    }
}

#[test]
fn man_dir_writes_one_page_per_command() {
    let dir = tempfile::tempdir().unwrap();
    let r = promoter(&["man", "--dir", dir.path().to_str().unwrap()]);
    r.ok();
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let mut want: Vec<String> = command_paths()
        .iter()
        .filter(|p| p.last().unwrap() != "help")
        .map(|p| format!("promoter-{}.1", p.join("-")))
        .chain(["promoter.1".to_string()])
        .collect();
    want.sort();
    assert_eq!(names, want);
    let status = std::fs::read_to_string(dir.path().join("promoter-status.1")).unwrap();
    assert!(status.contains(".TH promoter-status 1"), "{status}");
    assert!(status.contains("\\-\\-metrics"), "{status}");
}
