//! The command line: every command and flag of PRODUCT.md, as clap
//! definitions. Parsing only; `commands/` does the work.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::ident::JobId;

const ABOUT: &str =
    "Runs RDO-style promotion pipelines on one machine: one binary, one SQLite file.";

const LONG_ABOUT: &str = "\
Runs RDO-style promotion pipelines on one machine: one binary, one SQLite file.

promoter keeps builds, CI votes and promotion history in one SQLite database,
moves named links (tripleo-ci-testing, current-tripleo, ...) in a DLRN trunk
when the required jobs have passed, and speaks the dlrnapi client's commands so
CI elsewhere can report results with the same flags.";

const AFTER_HELP: &str = "\
Examples:
  promoter -c master.yaml import                 record new hash directories
  promoter -c master.yaml repo-promote --commit-hash C --distro-hash D --promote-name current-tripleo
  promoter --db state/master.sqlite report-result --job-id periodic-fs001 \\
      --commit-hash C --distro-hash D --info-url https://logs/1 --timestamp 1700000000 --success true
  sqlite3 state/master.sqlite 'SELECT * FROM promotions_view ORDER BY id DESC LIMIT 5'

Exit codes: 0 done, 1 failed, 2 bad usage/config/input, 3 not found, 4 refused, 75 busy.";

/// What the command line asks for.
#[derive(Debug)]
pub enum Parsed {
    /// A command to run.
    Command(Box<Cli>),
    /// `promoter --version` alone: [`VERSION`] is the answer.
    Version,
}

/// What `--version` prints, as clap would.
pub const VERSION: &str = concat!("promoter ", env!("CARGO_PKG_VERSION"));

/// Parses the command line of this process.
///
/// Building every command's definition (their help texts are copied into
/// owned strings) costs more than the work of a hot command, and CI jobs
/// and cron call those by the thousand. So `--version` is answered and the
/// hot commands are parsed with only their own definition; anything that
/// path does not take as it is (help, an error, a flag it does not know)
/// goes through the whole tree, so what a user sees is never different.
pub fn parse() -> Result<Parsed, clap::Error> {
    let args: Vec<OsString> = std::env::args_os().collect();
    if matches!(&args[..], [_, flag] if flag == "--version" || flag == "-V") {
        return Ok(Parsed::Version);
    }
    let cli = match parse_hot(&args) {
        Some(cli) => cli,
        None => Cli::try_parse_from(args)?,
    };
    Ok(Parsed::Command(Box::new(cli)))
}

/// Adds one command's arguments to its definition (`Args::augment_args`).
type Define = fn(clap::Command) -> clap::Command;

/// The commands parsed with only their own definition, and how to build it.
const HOT: &[(&str, Define)] = &[
    ("report-result", ReportResult::augment_args),
    ("repo-status", RepoStatus::augment_args),
    ("agg-status", AggStatus::augment_args),
    ("promotion-get", PromotionGet::augment_args),
    ("repo-get", RepoGet::augment_args),
    ("repo-use", RepoUse::augment_args),
    ("repo-promote", RepoPromote::augment_args),
    ("run", Run::augment_args),
    ("why", Why::augment_args),
    ("status", Status::augment_args),
    ("import", std::convert::identity),
];

/// `args` parsed as the whole tree would, when they name a hot command
/// and parse cleanly; `None` sends them through the whole tree.
fn parse_hot(args: &[OsString]) -> Option<Cli> {
    use clap::FromArgMatches;
    let root = Global::augment_args(clap::Command::new("promoter"));
    // A global option that takes a value: what follows it is no command.
    let takes_value = |a: &str| {
        root.get_arguments().any(|g| {
            g.get_action().takes_values()
                && (a
                    .strip_prefix("--")
                    .is_some_and(|l| g.get_long() == Some(l))
                    || a.strip_prefix('-')
                        .is_some_and(|s| s.len() == 1 && g.get_short() == s.chars().next()))
        })
    };
    let mut name = None;
    let mut words = args.iter().skip(1);
    while let Some(a) = words.next() {
        let a = a.to_str()?;
        if ["-h", "--help", "-V", "--version", "help", "--"].contains(&a) {
            return None;
        }
        if name.is_some() {
            continue;
        }
        if takes_value(a) {
            words.next();
        } else if !a.starts_with('-') {
            name = Some(a);
        }
    }
    let (name, augment) = HOT.iter().find(|(n, _)| Some(*n) == name)?;
    let root = root
        .subcommand(augment(clap::Command::new(*name)))
        .subcommand_required(true);
    let matches = root.try_get_matches_from(args).ok()?;
    Cli::from_arg_matches(&matches).ok()
}

#[derive(Debug, Parser)]
#[command(
    name = "promoter",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = AFTER_HELP,
    propagate_version = true,
    term_width = 0
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes, before or after its name.
#[derive(Debug, Args, Clone, Default)]
pub struct Global {
    /// The release config [default: $PROMOTER_CONFIG, else ./promoter.yaml]
    #[arg(
        short = 'c',
        long,
        global = true,
        value_name = "FILE",
        help_heading = "Global options"
    )]
    pub config: Option<PathBuf>,
    /// The database, for the commands that need nothing else (overrides the config's)
    #[arg(
        long,
        global = true,
        value_name = "FILE",
        help_heading = "Global options"
    )]
    pub db: Option<PathBuf>,
    /// Machine-readable output where the default is a table
    #[arg(long, global = true, help_heading = "Global options")]
    pub json: bool,
    /// More detail on stderr
    #[arg(short = 'v', long, global = true, action = clap::ArgAction::Count, help_heading = "Global options")]
    pub verbose: u8,
    /// Only errors on stderr
    #[arg(short = 'q', long, global = true, help_heading = "Global options")]
    pub quiet: bool,
    /// Who is acting, recorded with votes and promotions [default: $DLRNAPI_USERNAME, else $USER]
    #[arg(
        short = 'u',
        long,
        global = true,
        value_name = "NAME",
        help_heading = "Global options"
    )]
    pub username: Option<String>,
    /// Accepted for dlrnapi compatibility and ignored: the database is local
    #[arg(long, global = true, hide = true, help_heading = "Global options")]
    pub url: Option<String>,
    /// Accepted for dlrnapi compatibility and ignored
    #[arg(
        short = 'p',
        long,
        global = true,
        hide = true,
        help_heading = "Global options"
    )]
    pub password: Option<String>,
    /// Accepted for dlrnapi compatibility and ignored
    #[arg(long, global = true, hide = true, help_heading = "Global options")]
    pub auth_method: Option<String>,
    /// Accepted for dlrnapi compatibility and ignored
    #[arg(long, global = true, hide = true, help_heading = "Global options")]
    pub server_principal: Option<String>,
    /// Accepted for dlrnapi compatibility and ignored
    #[arg(long, global = true, hide = true, help_heading = "Global options")]
    pub force_auth: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create or upgrade the database; safe to repeat
    #[command(after_help = "Example:\n  promoter -c master.yaml init")]
    Init,

    /// Work with the config file
    #[command(
        subcommand,
        after_help = "Example:\n  promoter -c master.yaml config check"
    )]
    Config(ConfigCommand),

    /// Record new hash directories of the trunk and the builder's links
    #[command(after_help = "\
Reads commit.yaml and versions.csv of every hash directory the database does not
have yet, records the build, and DLRN's 'consistent' vote when every package of
its versions.csv is SUCCESS. What the builder wrote wrong is skipped with a
warning; the rest is imported (exit 0).

Example:\n  promoter -c master.yaml import")]
    Import,

    /// Take over a DLRN database: its builds, votes, aggregates and promotions
    #[command(
        name = "import-dlrn-db",
        after_help = "\
Reads a DLRN database in DLRN's own schema (commits, civotes, civotes_agg,
promotions) and records here, in one transaction, every build (matched to the
trunk's hash directories, which are imported first; a build with none is kept
as purged), every vote with its user and time, every aggregate vote and the
promotion history in DLRN's order. Labels are adopted as they are on disk: a
label never moves back because the history remembers it elsewhere. Each DLRN
row is taken once: a second import adds nothing. The DLRN file is only read.
Exit 2 for a file that is not DLRN's database.

Example:
  promoter -c master.yaml import-dlrn-db /var/lib/dlrn/commits.sqlite"
    )]
    ImportDlrnDb(ImportDlrnDb),

    /// Record a CI job's result for a build or an aggregate (dlrnapi report-result)
    #[command(after_help = "\
Example:
  promoter report-result --job-id periodic-featureset001 \\
      --commit-hash 17234e9ab9dfab4cf5600f67f1d24db5064f1025 --distro-hash 024e24f0cf4366c2290c22f24e42de714d1addd1 \\
      --info-url https://logs.example.org/fs001/42 --timestamp 1700000000 --success true")]
    ReportResult(ReportResult),

    /// The votes of a build (dlrnapi repo-status)
    #[command(
        after_help = "Example:\n  promoter repo-status --commit-hash C --distro-hash D --success false"
    )]
    RepoStatus(RepoStatus),

    /// The votes of an aggregate (dlrnapi agg-status)
    #[command(
        after_help = "Example:\n  promoter agg-status --agg-hash 2a7a0e1f6c4cbbd2b4e6bbc1b0d87f4c"
    )]
    AggStatus(AggStatus),

    /// Promotions, newest first (dlrnapi promotion-get)
    #[command(
        after_help = "Example:\n  promoter promotion-get --promote-name current-tripleo --limit 5"
    )]
    PromotionGet(PromotionGet),

    /// Which build to test next: DLRN's last_tested_repo (dlrnapi repo-get)
    #[command(after_help = "\
The newest vote (within --max-age hours; 0 = any age) matching the filters picks
the build. Without a match for --job-id, any CI vote counts; without any CI vote,
the newest consistent build. In --sequential-mode only votes of --previous-job-id
count.

Example:\n  promoter repo-get --max-age 24 --job-id periodic-featureset001 --success true")]
    RepoGet(RepoGet),

    /// As repo-get, and record an in-progress vote for --reporting-job-id (dlrnapi repo-use)
    #[command(
        after_help = "Example:\n  promoter repo-use --max-age 0 --reporting-job-id periodic-featureset002"
    )]
    RepoUse(RepoUse),

    /// Promote one build by hand, moving the links (dlrnapi repo-promote)
    #[command(after_help = "\
Checks the build and the name, not the criteria: this is the forced path, and it
is recorded with the user. Writes previous-<name> then <name>, each atomically,
in the trunk and, when <images>/<full_hash> exists, in the image tree.

Example:
  promoter -c master.yaml repo-promote --commit-hash C --distro-hash D --promote-name current-tripleo")]
    RepoPromote(RepoPromote),

    /// Promote several component builds as one, all or nothing (dlrnapi repo-promote-batch)
    #[command(after_help = "\
Checks every build first, then moves each component's label; if any move
fails, the ones already moved are put back. Writes the aggregate of the label
(<trunk>/<name>/<xx>/<yy>/<md5>/delorean.repo) and records one history row per
build, all naming the aggregate.

Example:
  promoter -c master.yaml repo-promote-batch --promote-name tripleo-ci-testing \\
      --hash-pairs 17234e9ab9dfab4cf5600f67f1d24db5064f1025_024e24f0cf4366c2290c22f24e42de714d1addd1,06895641fb8a44caf4574919bd518f0de76cba3d_a971ec78bdb0978676e19ab31490c45ff3ae5410")]
    RepoPromoteBatch(RepoPromoteBatch),

    /// The cron entry: import, then decide and promote each promotion in order
    #[command(after_help = "\
Takes the release's lock (another run holding it: exit 75 at once) only while it
reads, decides and moves labels: imports what the builder added, then for each
promotion in config order decides on its newest candidates, starts the jobs they
still need, and, when one meets the criteria, runs the promotion's hooks, moves
the image links, the trunk links (previous-<name> first), and records the
history row. Each step is recorded: a run killed in the middle is completed by
the next run. Exit 0 whatever it decided.

A run never waits for a job. Each job runs under a supervisor of its own,
detached from the run: the run returning, a SIGTERM to it or cron restarting
does not stop the job; its supervisor enforces the timeout, records the vote and
frees the test environment, and the next run decides on it. A job already
running on a build is never started twice; the jobs of a build that can no
longer be promoted are stopped. --wait waits for the jobs it started (without
the lock), deciding again as each ends, so a chain cascades within one run.

Publishing holds each target's own lock, not the release's.

Examples:
  promoter -c master.yaml run
  promoter -c master.yaml run --wait
  promoter -c master.yaml run --promotion current-tripleo --dry-run
  * * * * *  promoter -q -c /etc/promoter/master.yaml run   (crontab)")]
    Run(Run),

    /// Why a candidate is or is not promoted, one screen per promotion
    #[command(after_help = "\
Examples:
  promoter -c master.yaml why
  promoter -c master.yaml why --promotion current-tripleo --hash df33351c756647861fb4a5a1b4e46179ee318f2e_0977dbe5
  promoter -c master.yaml why --json")]
    Why(Why),

    /// The promotion history, newest first
    #[command(
        after_help = "Example:\n  promoter -c master.yaml history --promotion current-tripleo --limit 5"
    )]
    History(History),

    /// Point a label back at an earlier build, as a new history row
    #[command(after_help = "\
Without --to, goes back to the build previous-<name> points at; afterwards
previous-<name> points at the build it rolled back from.

Example:
  promoter -c master.yaml rollback --promotion current-tripleo --reason 'breaks ovb deployments'")]
    Rollback(Rollback),

    /// Record an exception: a required job that need not pass
    #[command(after_help = "\
Example:
  promoter -c master.yaml waive --promotion current-tripleo \\
      --job-id periodic-tripleo-ci-centos-7-multinode-1ctlr-featureset005-master \\
      --reason 'infra outage, LP#1234' --expires 2d")]
    Waive(Waive),

    /// List waivers
    #[command(after_help = "Example:\n  promoter -c master.yaml waivers --all")]
    Waivers(Waivers),

    /// Publish a promoted build to a buildlogs-style tree, by hand
    #[command(after_help = "\
Without --hash, publishes the build of the newest promotion that names the
target. The target's dest then shows exactly that build's files (symlinks inside
the source root followed), a SHA256SUMS file covering every file, and the
sidecars the target asks for; the switch is atomic.

Example:
  promoter -c master.yaml publish --target tested-repo")]
    Publish(Publish),

    /// Check a published tree against its SHA256SUMS: every missing, extra or changed file
    #[command(after_help = "\
Exit 1 when anything differs. Works on any published tree, also one copied elsewhere.

Example:
  promoter verify buildlogs/centos/7/cloud/x86_64/rdo-trunk-master-tested")]
    Verify(Verify),

    /// The test-environment broker: exclusive, expiring leases by pool
    #[command(
        subcommand,
        after_help = "Examples:\n  promoter -c master.yaml testenv add ovb-1 --pool ovb --data ovb-1.json\n  promoter -c master.yaml testenv list"
    )]
    Testenv(TestenvCommand),

    /// Remove a waiver (recorded, not deleted)
    #[command(after_help = "Example:\n  promoter -c master.yaml unwaive 3")]
    Unwaive(Unwaive),

    /// Updates (rdopkg's): submit, list, show, withdraw
    #[command(
        subcommand,
        after_help = "\
An update names builds (NVRs) for Release/Dist combinations of the config's
updates: section. `run` takes it through phase 1 (its jobs on each enabled
combination), phase 2 (the pool of passed updates on production), stage and
production.

Examples:
  promoter -c juno.yaml update submit rdo-update/nova-2014.2.2.yml
  promoter -c juno.yaml update list --state ready
  promoter -c juno.yaml update show 3"
    )]
    Update(UpdateCommand),

    /// Take a Release/Dist combination out of the updates' flow for a time
    #[command(after_help = "\
A disabled combination is neither run nor required: an update passes phase 1
on its other combinations. Ends by itself after --expires, or with `enable`.

Example:
  promoter -c juno.yaml disable --release icehouse --dist fedora-20 --reason 'f20 images broken' --expires 1d")]
    Disable(Disable),

    /// Put a combination disabled by hand back into the updates' flow
    #[command(
        after_help = "Example:\n  promoter -c juno.yaml enable --release icehouse --dist fedora-20"
    )]
    Enable(Enable),

    /// Every disabled combination (by the config and by hand), with why and until when
    #[command(after_help = "Example:\n  promoter -c juno.yaml disabled")]
    Disabled,

    /// Packages whose update needs a freshly provisioned host
    #[command(
        subcommand,
        after_help = "\
A phase job of an update holding one of them gets PROMOTER_MUST_PROVISION=1;
every phase job gets the list in the file PROMOTER_MUST_PROVISION_FILE.

Examples:
  promoter -c juno.yaml must-provision add openstack-puppet-modules
  promoter -c juno.yaml must-provision list"
    )]
    MustProvision(MustProvisionCommand),

    /// Every label, its build and age, what blocks the next candidate, the last run
    #[command(after_help = "\
One line per label: the build it points at (full hash), how long ago it moved,
how many candidates wait behind it, and the newest one: promotable (the next run
moves the label) or blocked, with the first blocking jobs. Then the last run.
Colours only on a terminal, and not with NO_COLOR set. --json gives the same
facts.

With --html and/or --metrics, writes those files (each atomically: readers see
the old file or the new one) and prints nothing: a static, self-contained page
for a browser or any web server, and Prometheus text format for node_exporter's
textfile collector.

Examples:
  promoter -c master.yaml status
  promoter -c master.yaml status --json | jq '.labels[] | {label, build: .build.full_hash}'
  promoter -q -c master.yaml status --html /var/www/promoter/master.html \\
      --metrics /var/lib/prometheus/node-exporter/promoter-master.prom")]
    Status(Status),

    /// The promotion history as JSON lines, oldest first, for a mirror to replay
    #[command(after_help = "\
One JSON object per line and per history row: origin (this database's name),
id, label, component, commit_hash, distro_hash, extended_hash, full_hash,
previous_full_hash, aggregate_hash, kind, timestamp, user, reason. Needs only
the database.

Examples:
  promoter --db /var/lib/promoter/master.sqlite export > master-history.jsonl
  promoter --db /var/lib/promoter/master.sqlite export --since 1200")]
    Export(Export),

    /// Apply another database's exported history to this machine's trees and database
    #[command(after_help = "\
Imports what the trunk gained, then moves each exported label to its build here
(image links, trunk links with previous-<name> first, a history row of kind
'replay' with the source's user and reason). A row is applied once: replaying
the same file again changes nothing, even if a label moved on here since. A row
whose build this mirror lacks is skipped with a warning (exit 0) and tried again
by the next replay. Takes the run lock (exit 75 while a run holds it).

Examples:
  promoter -c mirror.yaml replay master-history.jsonl
  ssh promoter.example.org promoter --db /var/lib/promoter/master.sqlite export | promoter -c mirror.yaml replay -")]
    Replay(Replay),

    /// Print shell completions
    #[command(after_help = "\
Examples:
  promoter completions bash > /etc/bash_completion.d/promoter
  promoter completions zsh > /usr/local/share/zsh/site-functions/_promoter
  promoter completions fish > ~/.config/fish/completions/promoter.fish")]
    Completions(Completions),

    /// Print the man page, or write one page per command into a directory
    #[command(after_help = "\
Examples:
  promoter man | man -l -
  promoter man --dir /usr/local/share/man/man1 && mandb -q")]
    Man(Man),
}

#[derive(Debug, Args)]
pub struct Status {
    /// Write the status page (self-contained HTML) to FILE, atomically
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Write Prometheus text-format metrics to FILE, atomically
    #[arg(long, value_name = "FILE")]
    pub metrics: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct Export {
    /// Only history rows with an id greater than ID
    #[arg(long, value_name = "ID", default_value_t = 0, value_parser = clap::value_parser!(i64).range(0..))]
    pub since: i64,
}

#[derive(Debug, Args)]
pub struct Replay {
    /// The exported history (JSON lines); - reads stdin
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct Completions {
    /// The shell
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct Man {
    /// Write promoter.1 and one promoter-<command>.1 per command here instead
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args, Clone)]
pub struct Run {
    /// Only these promotions (repeat the flag for several), still in config order
    #[arg(long = "promotion", value_name = "NAME")]
    pub promotions: Vec<String>,
    /// Decide and print what would happen; run no job, change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Run this job (or job instance) again on the newest candidate, even if it voted already
    #[arg(long, value_name = "JOB")]
    pub rerun: Vec<String>,
    /// Wait for the jobs this run starts, and decide again as each ends
    #[arg(long, conflicts_with = "dry_run")]
    pub wait: bool,
    /// Run phase 2 of the updates now, whether or not `every` has passed
    #[arg(long)]
    pub phase2: bool,
}

#[derive(Debug, Args)]
pub struct Why {
    /// The promotion to explain [default: each]
    #[arg(long, value_name = "NAME")]
    pub promotion: Option<String>,
    /// The build to explain [default: the newest candidate]
    #[arg(long, value_name = "FULL_HASH")]
    pub hash: Option<String>,
}

#[derive(Debug, Args)]
pub struct History {
    /// Only this promotion (label)
    #[arg(long, value_name = "NAME")]
    pub promotion: Option<String>,
    /// At most this many rows
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub limit: i64,
    /// The container tags the promotions made (image, registry, tag,
    /// digest) instead of the label moves
    #[arg(long)]
    pub containers: bool,
}

#[derive(Debug, Args)]
pub struct Rollback {
    /// The label to point back
    #[arg(long, value_name = "NAME")]
    pub promotion: String,
    /// The build to point it at [default: the one previous-<name> points at]
    #[arg(long, value_name = "FULL_HASH")]
    pub to: Option<String>,
    /// Why, for the history
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
}

#[derive(Debug, Args)]
pub struct Waive {
    /// The promotion whose criteria the waiver relaxes
    #[arg(long, value_name = "NAME")]
    pub promotion: String,
    /// The required job that need not pass
    #[arg(long, value_name = "ID", value_parser = job_id)]
    pub job_id: JobId,
    /// Only for this build [default: every build]
    #[arg(long, value_name = "FULL_HASH")]
    pub hash: Option<String>,
    /// Why, for the record
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
    /// How long it lasts, such as 12h or 3d [default: until removed]
    #[arg(long, value_name = "DURATION")]
    pub expires: Option<String>,
}

#[derive(Debug, Args)]
pub struct Waivers {
    /// Also expired and removed waivers
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Subcommand)]
pub enum UpdateCommand {
    /// Record an update file (rdopkg's builds: [{id, repo, dist, source}])
    #[command(after_help = "\
Every RPM of each build's source directory is read: its name, version, release
and arch must be the build's. Exit 2 for a malformed file, a build without
RPMs, or a combination the config does not support; nothing is recorded then.

Example:
  promoter -c juno.yaml update submit nova-2014.2.2.yml")]
    Submit(UpdateSubmit),
    /// Every update, its state and combinations
    #[command(after_help = "Example:\n  promoter -c juno.yaml update list --state passed")]
    List(UpdateList),
    /// One update on one screen: its combinations, history, each job's result and the failing log tail
    #[command(after_help = "Example:\n  promoter -c juno.yaml update show 3")]
    Show(UpdateShow),
    /// Take an update out of the flow (recorded; its file leaves the updates directory)
    #[command(
        after_help = "Example:\n  promoter -c juno.yaml update withdraw 3 --reason 'superseded by 2014.2.3'"
    )]
    Withdraw(UpdateWithdraw),
}

#[derive(Debug, Args)]
pub struct UpdateSubmit {
    /// The update file
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct UpdateList {
    /// Only updates in this state (submitted, testing, passed, failed, pooled, ready, staged, released, withdrawn)
    #[arg(long, value_name = "STATE")]
    pub state: Option<String>,
}

#[derive(Debug, Args)]
pub struct UpdateShow {
    /// The update's id, as `update list` shows it
    pub id: i64,
}

#[derive(Debug, Args)]
pub struct UpdateWithdraw {
    /// The update's id, as `update list` shows it
    pub id: i64,
    /// Why, for the record
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
}

#[derive(Debug, Args)]
pub struct Disable {
    /// The release of the combination (as in updates.combinations)
    #[arg(long, value_name = "RELEASE")]
    pub release: String,
    /// The dist of the combination
    #[arg(long, value_name = "DIST")]
    pub dist: String,
    /// Why, shown wherever the combination is
    #[arg(long, value_name = "TEXT")]
    pub reason: String,
    /// How long, such as 1d [default: until enabled]
    #[arg(long, value_name = "DURATION")]
    pub expires: Option<String>,
}

#[derive(Debug, Args)]
pub struct Enable {
    /// The release of the combination
    #[arg(long, value_name = "RELEASE")]
    pub release: String,
    /// The dist of the combination
    #[arg(long, value_name = "DIST")]
    pub dist: String,
}

#[derive(Debug, Subcommand)]
pub enum MustProvisionCommand {
    /// Add a package (an RPM name)
    #[command(
        after_help = "Example:\n  promoter -c juno.yaml must-provision add openstack-puppet-modules"
    )]
    Add(MustProvisionPackage),
    /// Remove a package
    #[command(
        after_help = "Example:\n  promoter -c juno.yaml must-provision remove openstack-puppet-modules"
    )]
    Remove(MustProvisionPackage),
    /// Every package of the list
    #[command(after_help = "Example:\n  promoter -c juno.yaml must-provision list")]
    List,
}

#[derive(Debug, Args)]
pub struct MustProvisionPackage {
    /// The RPM name, such as openstack-puppet-modules
    pub package: String,
}

#[derive(Debug, Args)]
pub struct Unwaive {
    /// The waiver's id, as `waivers` lists it
    pub id: i64,
}

#[derive(Debug, Args)]
pub struct Publish {
    /// The publish target, as named under `publish:` in the config
    #[arg(long, value_name = "NAME")]
    pub target: String,
    /// The build to publish [default: that of the newest promotion that names the target]
    #[arg(long, value_name = "FULL_HASH")]
    pub hash: Option<String>,
}

#[derive(Debug, Args)]
pub struct Verify {
    /// The published tree (a target's dest, or a copy of it); with --remote, a remote dest
    pub dir: PathBuf,
    /// DIR is a remote tree (host:path, rsync://host/module/path): what it serves is fetched with rsync and checked
    #[arg(long)]
    pub remote: bool,
}

#[derive(Debug, Subcommand)]
pub enum TestenvCommand {
    /// Add an environment to a pool, with the JSON descriptor its holder gets
    #[command(
        after_help = "Example:\n  promoter -c master.yaml testenv add ovb-1 --pool ovb --data ovb-1.json"
    )]
    Add(TestenvAdd),
    /// Every environment, who holds it and since when
    #[command(after_help = "Example:\n  promoter -c master.yaml testenv list")]
    List,
    /// Lease a free environment (for CI running elsewhere); prints the lease id and the descriptor's path
    #[command(after_help = "\
Exit 75 when every environment of the pool is held (with --wait: still held
when the wait is over). With --json, the lease and the descriptor itself
(`descriptor`), so a job on another machine needs nothing of this host's files:

  ssh promoter-host promoter -c /etc/promoter/master.yaml testenv acquire \\
      --pool ovb --holder \"$JOB_URL\" --ttl 4h --wait 30m --json > lease.json

Example:
  read lease datafile < <(promoter -c master.yaml testenv acquire --pool ovb --holder \"$JOB_URL\" --ttl 4h)")]
    Acquire(TestenvAcquire),
    /// Extend a lease held with a ttl: it is taken back that long from now
    #[command(after_help = "\
A lease taken without --ttl (a job's own) lasts as long as its holder and is
refused (exit 4). An unknown or ended lease: exit 3.

Example:
  promoter -c master.yaml testenv renew 12 --ttl 2h")]
    Renew(TestenvRenew),
    /// End a lease
    #[command(after_help = "Example:\n  promoter -c master.yaml testenv release 12")]
    Release(TestenvRelease),
    /// Remove an environment nobody holds
    #[command(after_help = "Example:\n  promoter -c master.yaml testenv remove ovb-1")]
    Remove(TestenvRemove),
}

#[derive(Debug, Args)]
pub struct TestenvAdd {
    /// The environment's name
    pub name: String,
    /// The pool it belongs to (a job's `testenv:`)
    #[arg(long, value_name = "POOL")]
    pub pool: String,
    /// Its JSON descriptor (copied beside the database)
    #[arg(long, value_name = "FILE")]
    pub data: PathBuf,
}

#[derive(Debug, Args)]
pub struct TestenvAcquire {
    /// The pool to lease from
    #[arg(long, value_name = "POOL")]
    pub pool: String,
    /// Who holds it, shown by `testenv list`
    #[arg(long, value_name = "TEXT")]
    pub holder: String,
    /// Taken back after this long, such as 4h [default: when released]
    #[arg(long, value_name = "DURATION")]
    pub ttl: Option<String>,
    /// When every environment is held, wait up to this long for one, such as 30m
    #[arg(long, value_name = "DURATION")]
    pub wait: Option<String>,
}

#[derive(Debug, Args)]
pub struct TestenvRenew {
    /// The lease, as `testenv acquire` printed it
    pub lease: i64,
    /// Taken back this long from now, such as 2h
    #[arg(long, value_name = "DURATION")]
    pub ttl: String,
}

#[derive(Debug, Args)]
pub struct TestenvRelease {
    /// The lease id that `acquire` printed
    pub lease: i64,
}

#[derive(Debug, Args)]
pub struct TestenvRemove {
    /// The environment's name
    pub name: String,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the config and report every error at once
    #[command(after_help = "Example:\n  promoter -c master.yaml config check")]
    Check,
    /// Convert the old promoter's config (its YAML or older INI) to a promoter.yaml on stdout
    #[command(after_help = "\
Reads the per-release config of the old promoter: the YAML of ci-config's
dlrnapi_promoter (release, latest_hashes_count, promotions with candidate_label,
criteria and alternative_criteria) or the older INI ([main], [promote_from], and
one section of job names per target). Prints a promoter.yaml that `config check`
accepts: the promotions in dependency order, the candidate labels no promotion
moves declared in external_labels, and every key with no meaning here kept as a
comment saying why. Nothing is written but stdout.

Example:
  promoter config import promoter-config_CentOS-9_master.yaml \\
      --trunk /home/centos9-master/data/repos --images /var/www/images > master.yaml
  promoter -c master.yaml config check")]
    Import(ConfigImport),
}

#[derive(Debug, Args)]
pub struct ImportDlrnDb {
    /// DLRN's database (its commits.sqlite)
    #[arg(value_name = "DLRN.sqlite")]
    pub dlrn_db: PathBuf,
}

#[derive(Debug, Args)]
pub struct ConfigImport {
    /// The old promoter's config file (YAML or INI)
    #[arg(value_name = "OLD")]
    pub old: PathBuf,
    /// The trunk (the builder's repos directory) the new config names
    #[arg(long, value_name = "DIR")]
    pub trunk: Option<String>,
    /// The image tree the new config names
    #[arg(long, value_name = "DIR")]
    pub images: Option<String>,
    /// The database the new config names (default: state/<release>.sqlite)
    #[arg(long, value_name = "FILE")]
    pub database: Option<String>,
}

/// A build named by its hashes.
#[derive(Debug, Args, Clone)]
pub struct BuildHashes {
    /// Commit hash of the build
    #[arg(long, value_name = "HASH")]
    pub commit_hash: String,
    /// Distro hash of the build
    #[arg(long, value_name = "HASH")]
    pub distro_hash: String,
    /// Extended hash of the build ('None' means none)
    #[arg(long, value_name = "HASH")]
    pub extended_hash: Option<String>,
}

#[derive(Debug, Args)]
pub struct ReportResult {
    /// The CI job's id
    #[arg(long, value_name = "ID", value_parser = job_id)]
    pub job_id: JobId,
    /// Commit hash of the build (with --distro-hash)
    #[arg(
        long,
        value_name = "HASH",
        requires = "distro_hash",
        conflicts_with = "agg_hash"
    )]
    pub commit_hash: Option<String>,
    /// Distro hash of the build (with --commit-hash)
    #[arg(
        long,
        value_name = "HASH",
        requires = "commit_hash",
        conflicts_with = "agg_hash"
    )]
    pub distro_hash: Option<String>,
    /// Extended hash of the build
    #[arg(long, value_name = "HASH")]
    pub extended_hash: Option<String>,
    /// Aggregate hash, instead of a build
    #[arg(long, value_name = "HASH", required_unless_present = "commit_hash")]
    pub agg_hash: Option<String>,
    /// Where the job's logs are
    #[arg(long, value_name = "URL")]
    pub info_url: String,
    /// When the job ran, in seconds since the epoch
    #[arg(long, value_name = "SECONDS", allow_hyphen_values = true, value_parser = timestamp)]
    pub timestamp: i64,
    /// true or false
    #[arg(long, value_name = "BOOL", value_parser = boolean, action = clap::ArgAction::Set)]
    pub success: bool,
    /// Free text
    #[arg(long, value_name = "TEXT", default_value = "")]
    pub notes: String,
}

#[derive(Debug, Args)]
pub struct RepoStatus {
    #[command(flatten)]
    pub build: BuildHashes,
    /// Only successful (true) or failed (false) votes
    #[arg(long, value_name = "BOOL", value_parser = boolean)]
    pub success: Option<bool>,
}

#[derive(Debug, Args)]
pub struct AggStatus {
    /// The aggregate hash
    #[arg(long, value_name = "HASH")]
    pub agg_hash: String,
    /// Only successful (true) or failed (false) votes
    #[arg(long, value_name = "BOOL", value_parser = boolean)]
    pub success: Option<bool>,
}

#[derive(Debug, Args)]
pub struct PromotionGet {
    /// Only promotions to this label
    #[arg(long, value_name = "NAME")]
    pub promote_name: Option<String>,
    /// Only promotions of this build (with --distro-hash)
    #[arg(long, value_name = "HASH", requires = "distro_hash")]
    pub commit_hash: Option<String>,
    /// Only promotions of this build (with --commit-hash)
    #[arg(long, value_name = "HASH", requires = "commit_hash")]
    pub distro_hash: Option<String>,
    /// Extended hash of the build
    #[arg(long, value_name = "HASH")]
    pub extended_hash: Option<String>,
    /// Only promotions of this aggregate
    #[arg(long, value_name = "HASH")]
    pub agg_hash: Option<String>,
    /// Only promotions of this component
    #[arg(long, value_name = "NAME")]
    pub component: Option<String>,
    /// Skip the newest K promotions
    #[arg(long, value_name = "K", default_value_t = 0)]
    pub offset: i64,
    /// At most L promotions
    #[arg(long, value_name = "L", default_value_t = 100)]
    pub limit: i64,
}

#[derive(Debug, Args, Clone)]
pub struct RepoGet {
    /// Only votes newer than this many hours (0: any age)
    #[arg(long, value_name = "HOURS", default_value_t = 0)]
    pub max_age: u32,
    /// Only successful (true) or failed (false) votes
    #[arg(long, value_name = "BOOL", value_parser = boolean)]
    pub success: Option<bool>,
    /// Only votes of this job
    #[arg(long, value_name = "ID", value_parser = job_id)]
    pub job_id: Option<JobId>,
    /// Only votes of --previous-job-id, with no fallback
    #[arg(long, requires = "previous_job_id")]
    pub sequential_mode: bool,
    /// The job whose votes count in --sequential-mode
    #[arg(long, value_name = "ID", value_parser = job_id)]
    pub previous_job_id: Option<JobId>,
    /// Only builds of this component
    #[arg(long, value_name = "NAME")]
    pub component: Option<String>,
}

#[derive(Debug, Args)]
pub struct RepoUse {
    #[command(flatten)]
    pub query: RepoGet,
    /// The job that will test the build: gets an in-progress vote
    #[arg(long, value_name = "ID", value_parser = job_id)]
    pub reporting_job_id: JobId,
}

#[derive(Debug, Args)]
pub struct RepoPromoteBatch {
    /// Comma-separated commit_distro[_extended] hash groups
    #[arg(long, value_name = "PAIRS")]
    pub hash_pairs: String,
    /// The label to move
    #[arg(long, value_name = "NAME")]
    pub promote_name: String,
}

#[derive(Debug, Args)]
pub struct RepoPromote {
    #[command(flatten)]
    pub build: BuildHashes,
    /// The label to move
    #[arg(long, value_name = "NAME")]
    pub promote_name: String,
}

/// `--success`: a boolean as DLRN's `strtobool` reads one, checked while
/// the command line is parsed.
fn boolean(s: &str) -> Result<bool, String> {
    crate::ident::parse_bool(s).map_err(|e| e.to_string())
}

/// `--timestamp`: seconds since the epoch, in range.
fn timestamp(s: &str) -> Result<i64, String> {
    crate::ident::parse_timestamp(s).map_err(|e| e.to_string())
}

/// `--job-id` and its kin: a job id, checked once.
fn job_id(s: &str) -> Result<JobId, String> {
    s.parse().map_err(|e: crate::ident::IdError| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn every_hot_command_is_defined_as_the_whole_tree_defines_it() {
        let tree = Cli::command();
        for (name, augment) in HOT {
            let whole = tree
                .find_subcommand(name)
                .unwrap_or_else(|| panic!("{name} is a command"));
            let own = augment(clap::Command::new(*name));
            let args = |c: &clap::Command| -> Vec<String> {
                c.get_arguments().map(|a| format!("{a:?}")).collect()
            };
            assert_eq!(args(&own), args(whole), "{name}'s arguments");
            assert_eq!(
                own.get_groups()
                    .map(|g| format!("{g:?}"))
                    .collect::<Vec<_>>(),
                whole
                    .get_groups()
                    .map(|g| format!("{g:?}"))
                    .collect::<Vec<_>>(),
                "{name}'s argument groups"
            );
            assert_eq!(
                whole.get_subcommands().count(),
                0,
                "{name} has no subcommand"
            );
        }
    }

    fn argv(line: &str) -> Vec<OsString> {
        std::iter::once("promoter")
            .chain(line.split_whitespace())
            .map(OsString::from)
            .collect()
    }

    #[test]
    fn hot_commands_parse_alone_exactly_as_the_whole_tree_parses_them() {
        const C: &str = "--commit-hash 17234e9ab9dfab4cf5600f67f1d24db5064f1025 \
                         --distro-hash 024e24f0cf4366c2290c22f24e42de714d1addd1";
        let taken = [
            format!("report-result --job-id fs001 {C} --info-url https://l/1 --timestamp 1700000000 --success true"),
            format!("-c master.yaml report-result --job-id fs001 {C} --url x --info-url https://l/2 --timestamp 0 --success false --notes n"),
            format!("--db s.sqlite repo-status {C} --success true --json"),
            format!("repo-status {C} -q"),
            "agg-status --agg-hash 2a7a0e1f6c4cbbd2b4e6bbc1b0d87f4c".into(),
            "promotion-get --promote-name current-tripleo --limit 5".into(),
            "-u run promotion-get".into(),
            "repo-get --max-age 24 --job-id periodic-fs001 --success true".into(),
            "repo-use --max-age 0 --reporting-job-id periodic-fs002".into(),
            format!("repo-promote {C} --promote-name current-tripleo"),
            "-q -c /etc/promoter/master.yaml run".into(),
            "run --wait --promotion current-tripleo".into(),
            "run --dry-run".into(),
            "--json why --promotion current-tripleo".into(),
            "-c=master.yaml status --html www/index.html".into(),
            "-vv import".into(),
        ];
        for line in &taken {
            let args = argv(line);
            let whole = Cli::try_parse_from(&args).unwrap_or_else(|e| panic!("{line}: {e}"));
            let alone = parse_hot(&args).unwrap_or_else(|| panic!("{line} parsed alone"));
            assert_eq!(format!("{alone:?}"), format!("{whole:?}"), "{line}");
        }
        let refused_or_helped = [
            "report-result --job-id fs001",
            "repo-status --commit-hash c --distro-hash d --success maybe",
            "repo-status --no-such-flag",
            "repo-status --help",
            "help run",
            "run -h",
            "why extra",
            "history --limit 5",
            "run --wait --dry-run",
            "-c run",
            "",
        ];
        for line in refused_or_helped {
            assert!(
                parse_hot(&argv(line)).is_none(),
                "{line} goes to the whole tree"
            );
        }
    }
}
