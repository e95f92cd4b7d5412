use std::io::Write;
use std::process::ExitCode;

use promoter::cli::Parsed;
use promoter::error::exit;

fn main() -> ExitCode {
    // A job's supervisor, started by `run`: its order comes on stdin.
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == promoter::jobs::supervisor::COMMAND)
    {
        return ExitCode::from(promoter::jobs::supervisor::main());
    }
    // The command tree is freed once parsed (not left to the exit): the
    // database's pages then reuse its memory instead of faulting in new
    // pages, which costs more than the frees.
    let cli = match promoter::cli::parse() {
        Ok(Parsed::Command(cli)) => *cli,
        Ok(Parsed::Version) => {
            // A closed stdout is not worth a panic.
            let _ = writeln!(std::io::stdout(), "{}", promoter::cli::VERSION);
            return ExitCode::SUCCESS;
        }
        // A value the command line refuses (a timestamp, a boolean) is a
        // failure like any other: one line that says what and why.
        Err(e) if e.kind() == clap::error::ErrorKind::ValueValidation => {
            use clap::error::ContextKind;
            let arg = e.get(ContextKind::InvalidArg).map(|a| a.to_string());
            let why = std::error::Error::source(&e).map(|s| s.to_string());
            let arg = arg.unwrap_or_default();
            let line = format!("invalid value for {arg}: {}", why.unwrap_or_default());
            eprintln!("promoter: error: {}", promoter::terminal::escaped(&line));
            return ExitCode::from(exit::USAGE);
        }
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    // One command per process: SQLite tuned for that, and the database left
    // to the exit to close.
    promoter::store::one_command_per_process();
    match promoter::commands::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("promoter: error: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                eprintln!("caused by: {s}");
                source = s.source();
            }
            ExitCode::from(e.code())
        }
    }
}
