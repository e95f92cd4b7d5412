//! `init`: create or upgrade the database (and the state and log
//! directories); safe to repeat.

use super::{Ctx, Level};
use crate::error::{IoContext, Result};

pub fn run(ctx: &Ctx) -> Result<u8> {
    let store = ctx.store()?;
    if ctx.global.db.is_none() {
        let c = ctx.config()?;
        std::fs::create_dir_all(&c.logs).at("create the log directory", &c.logs)?;
    }
    ctx.log(
        Level::Info,
        &format!(
            "database {} is at schema version {}",
            store.path().display(),
            store.schema_version()?
        ),
    );
    Ok(0)
}
