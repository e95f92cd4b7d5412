//! A directory of release configs (`-c /etc/promoter/`, one `*.yaml` per
//! release): `status` shows every release at once (one table, one page,
//! one metrics file), `run` runs each in turn under its own lock, and
//! `config check` checks every file and what they must agree on. Every
//! other command works on one release: it names one file.

use std::path::{Path, PathBuf};

use super::status::{self as status_cmd, Colours};
use super::{Ctx, Level};
use crate::cli::{Cli, Command, ConfigCommand, Global};
use crate::config::Config;
use crate::error::{exit, Error, IoContext, Result};
use crate::report::{html, metrics};

/// The release configs of `dir`: its `*.yaml` files, by name.
pub fn configs(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .at("read the config directory", dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml") && p.is_file())
        .collect();
    out.sort();
    if out.is_empty() {
        return Err(Error::Invalid(format!(
            "{} holds no release config (*.yaml)",
            dir.display()
        )));
    }
    Ok(out)
}

/// One release's context: the global options with its config.
fn release(global: &Global, config: &Path) -> Ctx {
    Ctx::new(Global {
        config: Some(config.to_path_buf()),
        ..global.clone()
    })
}

/// Runs a command over the release configs of `dir`.
pub fn run(cli: Cli, dir: &Path) -> Result<u8> {
    if cli.global.db.is_some() {
        return Err(Error::Invalid(format!(
            "--db names one database, and {} holds several releases: give one config file with -c",
            dir.display()
        )));
    }
    let files = configs(dir)?;
    let g = &cli.global;
    match cli.command {
        Command::Status(a) => status(g, &files, a),
        Command::Run(a) => run_each(g, &files, a),
        Command::Config(ConfigCommand::Check) => check(g, dir, &files),
        other => Err(Error::Invalid(format!(
            "{} holds {} release configs; `{}` works on one release: give its file (-c {})",
            dir.display(),
            files.len(),
            command_name(&other),
            files[0].display()
        ))),
    }
}

fn command_name(c: &Command) -> String {
    let debug = format!("{c:?}");
    let name = debug
        .split(['(', ' ', '{'])
        .next()
        .unwrap_or("")
        .to_string();
    // `RepoStatus` → `repo-status`, as the command line spells it.
    let mut out = String::new();
    for (i, ch) in name.chars().enumerate() {
        if ch.is_uppercase() && i > 0 {
            out.push('-');
        }
        out.push(ch.to_ascii_lowercase());
    }
    out
}

/// `status` of every release: one table (or JSON list), one page, one
/// metrics file. A release that cannot be read is an error of its own,
/// reported; the others are shown.
fn status(g: &Global, files: &[PathBuf], a: crate::cli::Status) -> Result<u8> {
    let page = a.html.is_some();
    let mut pages = Vec::new();
    let mut failed = false;
    let out = Ctx::new(g.clone());
    for f in files {
        let ctx = release(g, f);
        match status_cmd::gather(&ctx, page) {
            Ok(p) => {
                for w in &p.status.warnings {
                    out.log(Level::Warn, &format!("{}: {w}", p.status.release));
                }
                pages.push(p);
            }
            Err(e) => {
                out.log(Level::Error, &format!("{}: {e}", f.display()));
                failed = true;
            }
        }
    }
    let all: Vec<&crate::report::status::Status> = pages.iter().map(|p| &p.status).collect();
    if a.html.is_none() && a.metrics.is_none() {
        let text = if g.json {
            serde_json::to_string_pretty(&serde_json::json!({ "releases": all }))
                .expect("a status serializes")
        } else {
            status_cmd::render_releases(&all, Colours::for_stdout())
        };
        out.print(&text)?;
    }
    if let Some(path) = &a.html {
        let releases: Vec<html::Release> = pages
            .iter()
            .map(|p| html::Release {
                status: &p.status,
                grids: &p.grids,
                timeline: &p.timeline,
            })
            .collect();
        crate::atomic::write(path, html::render_all(&releases).as_bytes())?;
        out.log(Level::Info, &format!("wrote {}", path.display()));
    }
    if let Some(path) = &a.metrics {
        let texts: Vec<String> = all.iter().map(|s| metrics::render(s)).collect();
        crate::atomic::write(path, metrics::merge(&texts).as_bytes())?;
        out.log(Level::Info, &format!("wrote {}", path.display()));
    }
    Ok(if failed { exit::FAILED } else { exit::OK })
}

/// `run` over every release, in turn, each under its own lock: a busy or
/// failing release is reported and skipped, the others go on. Exit 1 when
/// any failed, else 75 when any was busy, else 0.
fn run_each(g: &Global, files: &[PathBuf], a: crate::cli::Run) -> Result<u8> {
    let out = Ctx::new(g.clone());
    let (mut failed, mut busy) = (Vec::new(), Vec::new());
    for f in files {
        let ctx = release(g, f);
        let name = ctx
            .config()
            .map(|c| c.release.clone())
            .unwrap_or_else(|_| f.display().to_string());
        match super::run::run(&ctx, a.clone()) {
            Ok(exit::OK) => {}
            Ok(code) => {
                out.log(
                    Level::Error,
                    &format!("{name}: the run ended with exit status {code}"),
                );
                failed.push(name);
            }
            Err(Error::Busy(m)) => {
                out.log(Level::Warn, &format!("{name}: skipped: {m}"));
                busy.push(name);
            }
            Err(e) => {
                out.log(Level::Error, &format!("{name}: {e}"));
                failed.push(name);
            }
        }
    }
    let ran = files.len() - failed.len() - busy.len();
    out.log(
        Level::Info,
        &format!(
            "{} releases: {ran} ran{}{}",
            files.len(),
            if busy.is_empty() {
                String::new()
            } else {
                format!(", busy: {}", busy.join(", "))
            },
            if failed.is_empty() {
                String::new()
            } else {
                format!(", failed: {}", failed.join(", "))
            },
        ),
    );
    Ok(match (failed.is_empty(), busy.is_empty()) {
        (false, _) => exit::FAILED,
        (true, false) => exit::BUSY,
        (true, true) => exit::OK,
    })
}

/// `config check` of every file, then what the releases must agree on:
/// each its own release name and database, and one `testenv_db` for all
/// that name one.
fn check(g: &Global, dir: &Path, files: &[PathBuf]) -> Result<u8> {
    let out = Ctx::new(g.clone());
    let mut problems: Vec<String> = Vec::new();
    let mut configs: Vec<Config> = Vec::new();
    for f in files {
        match Config::load(f) {
            Ok(c) => {
                for w in &c.warnings {
                    out.log(Level::Warn, &w.to_string());
                }
                if !g.quiet {
                    out.print(&format!(
                        "{}: ok: release {}, {} promotions",
                        f.display(),
                        c.release,
                        c.promotions.len()
                    ))?;
                }
                configs.push(c);
            }
            Err(errors) => problems.extend(errors.0.iter().map(|e| e.to_string())),
        }
    }
    for (i, a) in configs.iter().enumerate() {
        for b in &configs[i + 1..] {
            let (pa, pb) = (a.path.display(), b.path.display());
            if a.release == b.release && a.distro == b.distro {
                problems.push(format!(
                    "{pa} and {pb} are both release {}: one config per release",
                    a.release
                ));
            }
            if a.database == b.database {
                problems.push(format!(
                    "{pa} and {pb} name the same database {}: a database belongs to one release",
                    a.database.display()
                ));
            }
            if a.trunk == b.trunk {
                problems.push(format!(
                    "{pa} and {pb} name the same trunk {}: each release has its own",
                    a.trunk.display()
                ));
            }
        }
    }
    let brokers: Vec<&Config> = configs.iter().filter(|c| c.testenv_db.is_some()).collect();
    if let Some(first) = brokers.first() {
        for c in &brokers[1..] {
            if c.testenv_db != first.testenv_db {
                problems.push(format!(
                    "{} and {} name different testenv_db files: the releases share one broker",
                    first.path.display(),
                    c.path.display()
                ));
            }
        }
        for c in configs.iter().filter(|c| c.testenv_db.is_none()) {
            out.log(
                Level::Warn,
                &format!(
                    "{} has no testenv_db while {} shares {}: its test environments are its own",
                    c.path.display(),
                    first.path.display(),
                    first
                        .testenv_db
                        .as_ref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default()
                ),
            );
        }
    }
    if problems.is_empty() {
        if !g.quiet {
            out.print(&format!(
                "{}: ok: {} releases agree",
                dir.display(),
                configs.len()
            ))?;
        }
        return Ok(exit::OK);
    }
    Err(Error::Config(crate::config::ConfigErrors(
        problems
            .into_iter()
            .map(|message| crate::config::ConfigError {
                file: dir.to_path_buf(),
                line: None,
                key: String::new(),
                message,
            })
            .collect(),
    )))
}
