//! `completions`: shell completions, generated from the clap definitions.

use clap::CommandFactory;

use super::Ctx;
use crate::cli::{self, Cli};
use crate::error::Result;

pub fn run(ctx: &Ctx, a: cli::Completions) -> Result<u8> {
    let mut out = Vec::new();
    clap_complete::generate(a.shell, &mut Cli::command(), "promoter", &mut out);
    ctx.print(&String::from_utf8_lossy(&out))?;
    Ok(0)
}
