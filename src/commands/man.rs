//! `man`: the man page, generated from the clap definitions: `promoter(1)`
//! to stdout, or one page per command into a directory.

use std::path::Path;

use clap::CommandFactory;

use super::{Ctx, Level};
use crate::cli::{self, Cli};
use crate::error::{IoContext, Result};

pub fn run(ctx: &Ctx, a: cli::Man) -> Result<u8> {
    let mut cmd = Cli::command();
    cmd.build();
    match &a.dir {
        None => ctx.print(&page(&cmd)?)?,
        Some(dir) => {
            let mut written = 0;
            write_pages(&cmd, dir, &mut written)?;
            ctx.log(
                Level::Info,
                &format!("wrote {written} man pages into {}", dir.display()),
            );
        }
    }
    Ok(0)
}

fn page(cmd: &clap::Command) -> Result<String> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut out)
        .context(|| "failed to render the man page".into())?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// `promoter.1`, `promoter-run.1`, `promoter-testenv-add.1`, … (a built
/// command names its subcommands `<parent>-<name>`).
fn write_pages(cmd: &clap::Command, dir: &Path, written: &mut usize) -> Result<()> {
    let name = cmd.get_display_name().unwrap_or_else(|| cmd.get_name());
    let path = dir.join(format!("{name}.1"));
    crate::atomic::write(&path, page(cmd)?.as_bytes())?;
    *written += 1;
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        write_pages(sub, dir, written)?;
    }
    Ok(())
}
