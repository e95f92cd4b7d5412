//! What `status` and the page show of updates: how many are in each state,
//! over all and per combination, and which combinations are disabled.

use serde::Serialize;

use crate::config::{Combination, Config};
use crate::error::Result;
use crate::store::updates::UpdateState;
use crate::store::Store;

/// The updates of a release, by state and combination.
#[derive(Debug, Clone, Serialize)]
pub struct UpdatesStatus {
    /// States with at least one update, in the order of the flow.
    pub by_state: Vec<StateCount>,
    /// Every configured combination.
    pub combinations: Vec<CombinationStatus>,
    /// The newest publish of each stage and production repo.
    pub publications: Vec<crate::store::updates::UpdatePublication>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StateCount {
    pub state: UpdateState,
    pub count: usize,
    /// The updates, by id (at most [`SHOWN`]).
    pub ids: Vec<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CombinationStatus {
    #[serde(flatten)]
    pub combination: Combination,
    /// Why it is disabled now, and until when, if it is.
    pub disabled: Option<String>,
    pub by_state: Vec<StateCount>,
}

/// Ids listed per state.
const SHOWN: usize = 20;

/// The updates' status, when the config has updates.
pub fn gather(store: &Store, cfg: &Config, now: i64) -> Result<Option<UpdatesStatus>> {
    let Some(u) = &cfg.updates else {
        return Ok(None);
    };
    let all = store.updates_in(&[])?;
    let mut combos = Vec::new();
    for u in &all {
        combos.push((u.id, u.state, store.update_combinations(u.id)?));
    }
    let count = |keep: &dyn Fn(&[Combination]) -> bool| -> Vec<StateCount> {
        UpdateState::ALL
            .iter()
            .filter_map(|s| {
                let ids: Vec<i64> = combos
                    .iter()
                    .filter(|(_, st, c)| st == s && keep(c))
                    .map(|(id, _, _)| *id)
                    .collect();
                (!ids.is_empty()).then(|| StateCount {
                    state: *s,
                    count: ids.len(),
                    ids: ids.into_iter().take(SHOWN).collect(),
                })
            })
            .collect()
    };
    let mut combinations = Vec::new();
    for c in &u.combinations {
        let disabled = crate::updates::disabled(u, store, c, now)?
            .map(|(r, until)| crate::updates::describe_disabled(&r, until));
        combinations.push(CombinationStatus {
            combination: c.clone(),
            disabled,
            by_state: count(&|cs: &[Combination]| cs.contains(c)),
        });
    }
    Ok(Some(UpdatesStatus {
        by_state: count(&|_| true),
        combinations,
        publications: store.last_update_publications()?,
    }))
}

/// "2 submitted, 1 ready", or "none".
pub fn counts(by_state: &[StateCount]) -> String {
    if by_state.is_empty() {
        return "none".into();
    }
    by_state
        .iter()
        .map(|s| format!("{} {}", s.count, s.state.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The lines `status` prints.
pub fn render(u: &UpdatesStatus) -> String {
    let mut out = format!("updates: {}\n", counts(&u.by_state));
    for c in &u.combinations {
        out.push_str(&format!(
            "  {}: {}{}\n",
            c.combination,
            counts(&c.by_state),
            c.disabled
                .as_ref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default()
        ));
    }
    for p in &u.publications {
        out.push_str(&publication_line(p));
        out.push('\n');
    }
    out
}

/// "published repo-… of juno/epel-7 to production at 2026-… UTC (updates 1, 2)".
pub fn publication_line(p: &crate::store::updates::UpdatePublication) -> String {
    let ids: Vec<String> = p.updates.iter().map(i64::to_string).collect();
    crate::terminal::escaped(&format!(
        "published {} of {} to {} at {} UTC (updates {})",
        p.version,
        p.combination,
        p.target,
        crate::clock::short(p.published_at),
        ids.join(", ")
    ))
    .into_owned()
}
