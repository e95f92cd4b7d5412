//! One file per subcommand, each a short script over the domain modules.

use std::cell::OnceCell;
use std::io::Write;

use crate::cli::{BuildHashes, Cli, Command, ConfigCommand, Global};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::ident::{CommitHash, DistroHash, ExtendedHash};
use crate::promote::Trees;
use crate::store::builds::Build;
use crate::store::Store;

mod completions;
mod config_check;
mod dlrn;
mod export;
mod history;
mod import;
mod init;
mod man;
mod publish;
mod releases;
mod replay;
mod rollback;
mod run;
mod status;
mod testenv;
mod updates;
mod waive;
mod why;

/// What every command gets: the global options, and the config and store
/// opened on first use.
/// How long a command that moves a label by hand waits for the lock.
const LABEL_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(600);

pub struct Ctx {
    pub global: Global,
    config: OnceCell<Config>,
}

impl Ctx {
    pub fn new(global: Global) -> Ctx {
        Ctx {
            global,
            config: OnceCell::new(),
        }
    }

    /// The release config, loaded and validated once.
    pub fn config(&self) -> Result<&Config> {
        if let Some(c) = self.config.get() {
            return Ok(c);
        }
        let path = Config::locate(self.global.config.as_deref());
        let cfg = Config::load(&path)?;
        Ok(self.config.get_or_init(|| cfg))
    }

    /// The database: `--db`, else the config's.
    pub fn store(&self) -> Result<Store> {
        self.open_store(&self.db_path()?)
    }

    /// Opens the database at `path`; the config's database must be the
    /// config's release's (recorded at first use), and is refused (exit 2,
    /// nothing written) when another release's. `--db` alone, as CI
    /// elsewhere uses it, names the file and no release.
    pub fn open_store(&self, path: &std::path::Path) -> Result<Store> {
        let mut store = Store::open(path)?;
        if self.global.db.is_none() {
            let c = self.config()?;
            store.belongs_to(&c.release, c.distro.as_deref())?;
            if let Some(b) = &c.testenv_db {
                return store.with_broker(b);
            }
        }
        Ok(store)
    }

    /// The database file: `--db`, else the config's.
    pub fn db_path(&self) -> Result<std::path::PathBuf> {
        match &self.global.db {
            Some(p) => Ok(p.clone()),
            None => Ok(self.config()?.database.clone()),
        }
    }

    /// For a command that moves a label: takes the release's lock (waiting
    /// for a run or another command that holds it), opens the store, and
    /// completes what an earlier command left unfinished, so that every
    /// label move goes through the same recorded steps, one at a time.
    pub(crate) fn moving_labels(&self) -> Result<(crate::store::lock::RunLock, Store)> {
        let db = self.db_path()?;
        let lock = crate::store::lock::RunLock::acquire_waiting(&db, LABEL_LOCK_WAIT)?;
        let mut store = self.open_store(&db)?;
        let trees = self.trees()?;
        let user = self.user();
        let c = self.carry(&trees, &user)?;
        for done in crate::promote::complete_open_attempts(&mut store, &c)? {
            let what = format!(
                "the unfinished promotion of {} to {}",
                done.build
                    .as_ref()
                    .map(|b| b.full_hash.as_str())
                    .unwrap_or("?"),
                done.attempt.name
            );
            match done.result {
                Ok(crate::promote::Carried::Done { .. }) => {
                    self.log(Level::Info, &format!("completed {what}"))
                }
                Ok(crate::promote::Carried::Stopped { reason }) => {
                    self.log(Level::Warn, &format!("stopped {what}: {reason}"))
                }
                Err(e) => self.log(Level::Error, &format!("stopped {what}: {e}")),
            }
        }
        Ok((lock, store))
    }

    /// What carrying out a promotion by hand needs.
    pub(crate) fn carry<'a>(
        &'a self,
        trees: &'a Trees,
        user: &'a str,
    ) -> Result<crate::promote::Carry<'a>> {
        let cfg = self.config()?;
        Ok(crate::promote::Carry {
            cfg,
            trees,
            log_dir: cfg.logs.join("hooks"),
            user,
        })
    }

    pub fn trees(&self) -> Result<Trees> {
        let c = self.config()?;
        Ok(Trees {
            trunk: c.trunk.clone(),
            layout: crate::trunk::Layout::detect(&c.trunk),
            images: c.images.clone(),
            remote_images: c.remote_images.as_ref().map(|(host, port, path)| {
                crate::promote::remote_images::SshTree {
                    ssh: c.ssh.clone(),
                    host: host.clone(),
                    port: *port,
                    path: path.clone(),
                    timeout: c.push_timeout,
                    grace: c.kill_grace,
                }
            }),
        })
    }

    /// Who is acting: `--username`, else `$DLRNAPI_USERNAME`, else `$USER`.
    pub fn user(&self) -> String {
        self.global
            .username
            .clone()
            .or_else(|| std::env::var("DLRNAPI_USERNAME").ok())
            .or_else(|| std::env::var("USER").ok())
            .filter(|u| !u.is_empty())
            .or_else(login_name)
            .unwrap_or_else(|| "unknown".to_string())
    }

    /// Writes data to stdout; a closed pipe is not an error.
    pub fn print(&self, text: &str) -> Result<()> {
        let mut out = std::io::stdout().lock();
        let r = out
            .write_all(text.as_bytes())
            .and_then(|_| {
                if text.ends_with('\n') {
                    Ok(())
                } else {
                    out.write_all(b"\n")
                }
            })
            .and_then(|_| out.flush());
        match r {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                Err(Error::io("failed to write to stdout", e))
            }
            _ => Ok(()),
        }
    }

    /// A diagnostic line on stderr, with time and level, unless `-q`.
    pub fn log(&self, level: Level, msg: &str) {
        if self.global.quiet && level != Level::Error {
            return;
        }
        if level == Level::Debug && self.global.verbose == 0 {
            return;
        }
        // One record, one line, whatever names the message quotes.
        let msg = crate::terminal::escaped(msg);
        eprintln!(
            "{} {:<5} {msg}",
            crate::clock::iso(crate::clock::now()),
            level.as_str()
        );
    }

    /// The configured promotion called `name`, or "not found".
    pub fn promotion(&self, name: &str) -> Result<&crate::config::PromotionDef> {
        let cfg = self.config()?;
        cfg.promotion(name).ok_or_else(|| {
            let known: Vec<&str> = cfg.promotions.iter().map(|p| p.name.as_str()).collect();
            Error::NotFound(format!(
                "no promotion {name:?} in {} (it has: {})",
                cfg.path.display(),
                known.join(", ")
            ))
        })
    }

    /// The build with this full hash (the newest, if several), or "not found".
    pub fn build_by_full_hash(&self, store: &Store, hash: &str) -> Result<Build> {
        // A hash directory's name (with the extended hash) picks one build
        // among those sharing a full hash.
        if hash.matches('_').count() >= 2
            && hash.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return store.build_by_dir_name(hash)?.ok_or_else(|| {
                Error::NotFound(format!("no build whose hash directory is named {hash}"))
            });
        }
        let full: crate::ident::FullHash = hash.parse()?;
        store
            .builds_by_full_hash(&full)?
            .into_iter()
            .next()
            .ok_or_else(|| Error::NotFound(format!("no build with full hash {full}")))
    }

    /// The build a dlrnapi command names by its hashes, found as DLRN's
    /// `_get_commit` finds it: only a SUCCESS build answers. A build that
    /// exists but is FAILED or RETRY is refused (exit 4), an unknown one is
    /// not found (exit 3); both say what DLRN says.
    pub fn build_by_hashes(&self, store: &Store, h: &BuildHashes) -> Result<Build> {
        const DLRN_SAYS: &str = "commit_hash+distro_hash+extended_hash combination not found";
        let commit: CommitHash = h.commit_hash.parse()?;
        let distro: DistroHash = h.distro_hash.parse()?;
        let extended = extended_hash(h.extended_hash.as_deref())?;
        let build = store.find_build(
            commit.as_str(),
            distro.as_str(),
            extended.as_ref().map(|e| e.as_str()),
        )?;
        match build {
            Some(b) if b.succeeded() => Ok(b),
            Some(b) => Err(Error::Refused(format!(
                "{DLRN_SAYS}: build {} is {} (DLRN answers only for SUCCESS builds)",
                b.repo_dir, b.status
            ))),
            None => Err(Error::NotFound(format!(
                "{DLRN_SAYS}: no build with commit hash {commit} and distro hash {distro}{}",
                extended
                    .map(|e| format!(" and extended hash {e}"))
                    .unwrap_or_default()
            ))),
        }
    }
}

/// The login name of this process's user, from the password database.
fn login_name() -> Option<String> {
    // SAFETY: getpwuid returns a pointer into static storage or null; the
    // name is copied out at once, before any other call could reuse it.
    unsafe {
        let pw = libc::getpwuid(libc::getuid());
        if pw.is_null() || (*pw).pw_name.is_null() {
            return None;
        }
        std::ffi::CStr::from_ptr((*pw).pw_name)
            .to_str()
            .ok()
            .map(String::from)
    }
}

/// An `--extended-hash` value: empty or `None` mean none, as in dlrnapi.
pub fn extended_hash(s: Option<&str>) -> Result<Option<ExtendedHash>> {
    match s {
        None | Some("") | Some("None") => Ok(None),
        Some(e) => Ok(Some(e.parse()?)),
    }
}

/// The `--reason` and `--expires` of a recorded exception (a waiver, a
/// combination disabled by hand): the reason must say something; the
/// expiry, a duration from `now`, becomes a time.
pub fn exception_expiry(reason: &str, expires: Option<&str>, now: i64) -> Result<Option<i64>> {
    if reason.trim().is_empty() {
        return Err(Error::Invalid(
            "--reason is empty: say why, for the record".into(),
        ));
    }
    match expires {
        Some(d) => {
            let d = crate::duration::parse_duration(d).map_err(Error::Invalid)?;
            Ok(Some(now + d.as_secs() as i64))
        }
        None => Ok(None),
    }
}

pub use crate::usecase::Level;

impl crate::usecase::Sink for Ctx {
    fn log(&self, level: Level, msg: &str) {
        Ctx::log(self, level, msg)
    }

    fn print(&self, text: &str) -> Result<()> {
        Ctx::print(self, text)
    }

    fn progress(&self) -> bool {
        use std::io::IsTerminal;
        !self.global.quiet && std::io::stderr().is_terminal()
    }
}

/// Runs the parsed command line; the exit status on success.
pub fn run(cli: Cli) -> Result<u8> {
    // `-c DIR` (or $PROMOTER_CONFIG naming a directory): every release in it.
    let located = Config::locate(cli.global.config.as_deref());
    if located.is_dir() && !matches!(cli.command, Command::Completions(_) | Command::Man(_)) {
        return releases::run(cli, &located);
    }
    let ctx = Ctx::new(cli.global);
    match cli.command {
        Command::Init => init::run(&ctx),
        Command::Config(ConfigCommand::Check) => config_check::run(&ctx),
        Command::Config(ConfigCommand::Import(a)) => config_check::import(&ctx, a),
        Command::Import => import::run(&ctx),
        Command::ImportDlrnDb(a) => import::dlrn_db(&ctx, a),
        Command::ReportResult(a) => dlrn::report_result(&ctx, a),
        Command::RepoStatus(a) => dlrn::repo_status(&ctx, a),
        Command::AggStatus(a) => dlrn::agg_status(&ctx, a),
        Command::PromotionGet(a) => dlrn::promotion_get(&ctx, a),
        Command::RepoGet(a) => dlrn::repo_get(&ctx, a, None),
        Command::RepoUse(a) => dlrn::repo_get(&ctx, a.query, Some(a.reporting_job_id)),
        Command::RepoPromote(a) => dlrn::repo_promote(&ctx, a),
        Command::RepoPromoteBatch(a) => dlrn::repo_promote_batch(&ctx, a),
        Command::Run(a) => run::run(&ctx, a),
        Command::Why(a) => why::run(&ctx, a),
        Command::History(a) => history::run(&ctx, a),
        Command::Rollback(a) => rollback::run(&ctx, a),
        Command::Waive(a) => waive::waive(&ctx, a),
        Command::Waivers(a) => waive::list(&ctx, a),
        Command::Unwaive(a) => waive::unwaive(&ctx, a),
        Command::Testenv(c) => testenv::run(&ctx, c),
        Command::Update(c) => updates::update(&ctx, c),
        Command::Disable(a) => updates::disable(&ctx, a),
        Command::Enable(a) => updates::enable(&ctx, a),
        Command::Disabled => updates::disabled(&ctx),
        Command::MustProvision(c) => updates::must_provision(&ctx, c),
        Command::Publish(a) => publish::publish(&ctx, a),
        Command::Verify(a) => publish::verify(&ctx, a),
        Command::Status(a) => status::run(&ctx, a),
        Command::Export(a) => export::run(&ctx, a),
        Command::Replay(a) => replay::run(&ctx, a),
        Command::Completions(a) => completions::run(&ctx, a),
        Command::Man(a) => man::run(&ctx, a),
    }
}
