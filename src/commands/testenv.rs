//! `testenv add|list|acquire|release|remove`: the test-environment broker.

use serde_json::json;

use super::Ctx;
use crate::cli::{self, TestenvCommand};
use crate::clock;
use crate::duration::parse_duration;
use crate::error::{Error, IoContext, Result};
use crate::ident::Label;
use crate::input::InputError;
use crate::store::testenvs::Holder;

/// Largest test-environment descriptor read: they are a few lines of JSON.
const MAX_DESCRIPTOR: u64 = 16 << 20;

pub fn run(ctx: &Ctx, c: TestenvCommand) -> Result<u8> {
    match c {
        TestenvCommand::Add(a) => add(ctx, a),
        TestenvCommand::List => list(ctx),
        TestenvCommand::Acquire(a) => acquire(ctx, a),
        TestenvCommand::Release(a) => release(ctx, a),
        TestenvCommand::Remove(a) => remove(ctx, a),
    }
}

fn name(kind: &str, s: &str) -> Result<()> {
    Label::any(s)
        .map(|_| ())
        .map_err(|e| Error::Invalid(e.to_string().replacen("label", kind, 1)))
}

fn add(ctx: &Ctx, a: cli::TestenvAdd) -> Result<u8> {
    name("test environment", &a.name)?;
    name("pool", &a.pool)?;
    let bytes = crate::input::read(&a.data, MAX_DESCRIPTOR).map_err(|e| match e {
        InputError::NotFound(_) => Error::NotFound(format!("no file {}", a.data.display())),
        InputError::Io(e) => Error::io(format!("failed to read {}", a.data.display()), e),
        e => Error::Invalid(format!(
            "cannot read the test-environment descriptor {}: {e}",
            a.data.display()
        )),
    })?;
    serde_json::from_slice::<serde_json::Value>(&bytes).map_err(|e| {
        Error::Invalid(format!(
            "{} is not a JSON descriptor: {e}",
            a.data.display()
        ))
    })?;
    let mut store = ctx.store()?;
    // Keep a copy beside the database: the job gets it as TE_DATAFILE.
    let dir = store
        .path()
        .parent()
        .map(|p| p.join("testenvs"))
        .unwrap_or_else(|| "testenvs".into());
    std::fs::create_dir_all(&dir).at("create", &dir)?;
    let dir = std::fs::canonicalize(&dir).at("resolve", &dir)?;
    let dest = dir.join(format!("{}.json", a.name));
    if store.testenvs()?.iter().any(|t| t.name == a.name) {
        return Err(Error::Refused(format!(
            "a test environment named {:?} exists already",
            a.name
        )));
    }
    let tmp = dir.join(format!(".{}.json.tmp", a.name));
    std::fs::write(&tmp, &bytes).at("write", &tmp)?;
    std::fs::rename(&tmp, &dest).at("write", &dest)?;
    store.add_testenv(&a.name, &a.pool, &dest.display().to_string(), clock::now())?;
    ctx.print(&format!(
        "added {} to pool {} ({})",
        a.name,
        a.pool,
        dest.display()
    ))?;
    Ok(0)
}

fn list(ctx: &Ctx) -> Result<u8> {
    let mut store = ctx.store()?;
    let now = clock::now();
    store.reclaim_leases(now)?;
    let rows = store.testenvs()?;
    if ctx.global.json {
        return ctx
            .print(&serde_json::to_string_pretty(&rows).expect("JSON"))
            .map(|_| 0);
    }
    if rows.is_empty() {
        ctx.print(
            "no test environments; add one with `promoter testenv add NAME --pool P --data FILE`",
        )?;
        return Ok(0);
    }
    let mut out = format!(
        "{:<20}  {:<12}  {:<6}  {:<16}  {:<16}  {}\n",
        "NAME", "POOL", "LEASE", "SINCE", "EXPIRES", "HOLDER"
    );
    for t in rows {
        let row = match t.lease {
            Some(l) => format!(
                "{:<20}  {:<12}  {:<6}  {:<16}  {:<16}  {}",
                t.name,
                t.pool,
                l.id,
                clock::short(l.acquired_at),
                l.expires_at.map(clock::short).unwrap_or_else(|| "-".into()),
                l.holder
            ),
            None => format!(
                "{:<20}  {:<12}  {:<6}  {:<16}  {:<16}  {}",
                t.name, t.pool, "-", "-", "-", "(free)"
            ),
        };
        // A holder comes from outside: escaped, one row a line.
        out.push_str(&crate::terminal::escaped(&row));
        out.push('\n');
    }
    ctx.print(&out)?;
    Ok(0)
}

fn acquire(ctx: &Ctx, a: cli::TestenvAcquire) -> Result<u8> {
    name("pool", &a.pool)?;
    if a.holder.trim().is_empty() || a.holder.chars().any(char::is_control) {
        return Err(Error::Invalid(
            "--holder is empty or has control characters".into(),
        ));
    }
    let now = clock::now();
    let expires_at = match &a.ttl {
        Some(t) => Some(now + parse_duration(t).map_err(Error::Invalid)?.as_secs() as i64),
        None => None,
    };
    let mut store = ctx.store()?;
    let lease = store
        .acquire_testenv(
            &a.pool,
            &Holder {
                name: &a.holder,
                pid: None,
                expires_at,
            },
            now,
        )?
        .ok_or_else(|| {
            Error::Busy(format!(
                "every test environment of pool {} is held; try again later",
                a.pool
            ))
        })?;
    if ctx.global.json {
        ctx.print(&serde_json::to_string_pretty(&json!(lease)).expect("JSON"))?;
    } else {
        ctx.print(&format!("{} {}", lease.id, lease.data_file))?;
    }
    Ok(0)
}

fn release(ctx: &Ctx, a: cli::TestenvRelease) -> Result<u8> {
    let mut store = ctx.store()?;
    let env = store.release_lease(
        a.lease,
        &format!("released by {}", ctx.user()),
        clock::now(),
    )?;
    ctx.print(&format!("released lease {} on {env}", a.lease))?;
    Ok(0)
}

fn remove(ctx: &Ctx, a: cli::TestenvRemove) -> Result<u8> {
    let mut store = ctx.store()?;
    let file = store.remove_testenv(&a.name, clock::now())?;
    let _ = std::fs::remove_file(&file);
    ctx.print(&format!("removed {}", a.name))?;
    Ok(0)
}
