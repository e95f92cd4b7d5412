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
        TestenvCommand::Renew(a) => renew(ctx, a),
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
    // Keep a copy beside the broker's database: the job gets it as
    // TE_DATAFILE.
    let dir = store
        .leases()
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

/// How often a waiting `acquire` looks again.
const ACQUIRE_TICK: std::time::Duration = std::time::Duration::from_millis(500);

fn acquire(ctx: &Ctx, a: cli::TestenvAcquire) -> Result<u8> {
    name("pool", &a.pool)?;
    if a.holder.trim().is_empty() || a.holder.chars().any(char::is_control) {
        return Err(Error::Invalid(
            "--holder is empty or has control characters".into(),
        ));
    }
    let ttl = match &a.ttl {
        Some(t) => Some(parse_duration(t).map_err(|e| Error::Invalid(format!("--ttl: {e}")))?),
        None => None,
    };
    let wait = match &a.wait {
        Some(w) => parse_duration(w).map_err(|e| Error::Invalid(format!("--wait: {e}")))?,
        None => std::time::Duration::ZERO,
    };
    let mut store = ctx.store()?;
    let deadline = std::time::Instant::now() + wait;
    let lease = loop {
        let now = clock::now();
        let holder = Holder {
            name: &a.holder,
            pid: None,
            expires_at: ttl.map(|t| now + t.as_secs() as i64),
        };
        if let Some(l) = store.acquire_testenv(&a.pool, &holder, now)? {
            break l;
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            let waited = match &a.wait {
                Some(w) => format!(" (waited {w})"),
                None => String::new(),
            };
            return Err(Error::Busy(format!(
                "every test environment of pool {} is held{waited}; try again later",
                a.pool
            )));
        }
        std::thread::sleep(left.min(ACQUIRE_TICK));
    };
    if ctx.global.json {
        // The descriptor itself: a holder on another machine needs no file
        // of this host.
        let descriptor = crate::input::read(std::path::Path::new(&lease.data_file), MAX_DESCRIPTOR)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
        let mut v = json!(lease);
        v["descriptor"] = descriptor.unwrap_or(serde_json::Value::Null);
        ctx.print(&serde_json::to_string_pretty(&v).expect("JSON"))?;
    } else {
        ctx.print(&format!("{} {}", lease.id, lease.data_file))?;
    }
    Ok(0)
}

fn renew(ctx: &Ctx, a: cli::TestenvRenew) -> Result<u8> {
    let ttl = parse_duration(&a.ttl).map_err(|e| Error::Invalid(format!("--ttl: {e}")))?;
    let mut store = ctx.store()?;
    let now = clock::now();
    let until = now + ttl.as_secs() as i64;
    let env = store.renew_lease(a.lease, until, now)?;
    if ctx.global.json {
        let v = json!({"lease": a.lease, "testenv": env, "expires_at": until});
        ctx.print(&serde_json::to_string_pretty(&v).expect("JSON"))?;
    } else {
        ctx.print(&format!(
            "renewed lease {} on {env} until {}",
            a.lease,
            clock::short(until)
        ))?;
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
