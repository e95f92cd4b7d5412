//! The `updates` section: the Release/Dist combinations an update may name,
//! the jobs of phase 1, phase 2 and stage, the production repos, the
//! publish targets of stage and production, and the combinations taken out
//! for a time.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_yaml::{Mapping, Value};

use super::validate::Reader;
use super::{Combination, DisabledCombination, JobDef, PublishTarget, Source, UpdatesDef};

const UPDATES_KEYS: &[&str] = &[
    "dir",
    "combinations",
    "phase1",
    "phase2",
    "stage",
    "production",
    "disabled",
];

impl Reader<'_> {
    pub(super) fn updates(
        &mut self,
        v: &Value,
        base: &Path,
        jobs: &[JobDef],
        publish: &[PublishTarget],
    ) -> Option<UpdatesDef> {
        let top = ["updates"];
        let m = self.mapping(v, &top)?;
        self.check_keys(m, UPDATES_KEYS, &top);
        let dir = match m.get("dir") {
            Some(v) => self.string(v, &["updates", "dir"]).map(|d| base.join(d)),
            None => {
                self.err(
                    &["updates", "dir"],
                    "missing: the directory of updates/, ready/ and failed/",
                );
                None
            }
        };
        let combinations = self.combinations(m.get("combinations"));
        let mut phase_jobs = |key: &'static str, with_every: bool| -> (Vec<String>, Duration) {
            let mut every = Duration::from_secs(86400);
            let Some(v) = m.get(key) else {
                return (Vec::new(), every);
            };
            let Some(pm) = self.mapping(v, &["updates", key]) else {
                return (Vec::new(), every);
            };
            let keys: &[&str] = match (with_every, key) {
                (true, _) => &["jobs", "every"],
                (false, "stage") => &["jobs", "publish"],
                _ => &["jobs"],
            };
            self.check_keys(pm, keys, &["updates", key]);
            let jobs_here = match pm.get("jobs") {
                Some(v) => self.string_list(v, &["updates", key, "jobs"]),
                None => Vec::new(),
            };
            if let Some(e) = pm.get("every") {
                every = self.duration(e, &["updates", key, "every"], every);
            }
            (jobs_here, every)
        };
        let (phase1_jobs, _) = phase_jobs("phase1", false);
        let (phase2_jobs, phase2_every) = phase_jobs("phase2", true);
        let (stage_jobs, _) = phase_jobs("stage", false);
        for (key, list) in [
            ("phase1", &phase1_jobs),
            ("phase2", &phase2_jobs),
            ("stage", &stage_jobs),
        ] {
            for j in list {
                match jobs.iter().find(|d| &d.name == j) {
                    None => self.err(&["updates", key, "jobs"], format!("no job {j:?} under jobs")),
                    Some(d) if d.executor.as_deref().is_some_and(|e| e != "local") => self.err(
                        &["updates", key, "jobs"],
                        format!("job {j:?} runs on executor {:?}: phase jobs run on this host", d.executor.as_deref().unwrap_or("")),
                    ),
                    Some(d) if !d.matrix.is_empty() => self.err(
                        &["updates", key, "jobs"],
                        format!("job {j:?} has a matrix: a phase job runs once per combination, as <job>-<release>-<dist>"),
                    ),
                    Some(_) => {}
                }
            }
        }
        let stage_publish = m
            .get("stage")
            .and_then(Value::as_mapping)
            .and_then(|s| s.get("publish"))
            .and_then(|v| self.string(v, &["updates", "stage", "publish"]));
        let (production_repos, production_publish) =
            self.production(m.get("production"), &combinations);
        for (key, target) in [
            ("stage", &stage_publish),
            ("production", &production_publish),
        ] {
            let Some(t) = target else { continue };
            match publish.iter().find(|p| &p.name == t) {
                None => self.err(
                    &["updates", key, "publish"],
                    format!("no publish target {t:?} under publish"),
                ),
                Some(p) if p.source != Source::Updates => self.err(
                    &["updates", key, "publish"],
                    format!(
                        "publish target {t:?} has source {}, not updates",
                        p.source.as_str()
                    ),
                ),
                Some(_) => {}
            }
        }
        // What stage publishes is production plus the updates: production
        // must be a local tree of every combination for it to be read.
        if stage_publish.is_some() {
            for c in &combinations {
                match production_repos.get(c) {
                    None => self.err(
                        &["updates", "production", "repos"],
                        format!("{c} has no production repo: stage publishes what production has plus the updates, so each combination needs one (a local directory)"),
                    ),
                    Some(r) if r.contains("://") => self.err(
                        &["updates", "production", "repos", &c.to_string()],
                        format!("{r} is a URL: stage publishes what production has plus the updates, so it must be read here: give a local directory"),
                    ),
                    Some(_) => {}
                }
            }
        }
        let disabled = self.disabled_combinations(m.get("disabled"), &combinations);
        Some(UpdatesDef {
            dir: dir?,
            combinations,
            phase1_jobs,
            phase2_jobs,
            phase2_every,
            stage_jobs,
            stage_publish,
            production_repos,
            production_publish,
            disabled,
        })
    }

    fn combinations(&mut self, v: Option<&Value>) -> Vec<Combination> {
        let path = ["updates", "combinations"];
        let Some(v) = v else {
            self.err(&path, "missing: the Release/Dist pairs updates may name");
            return Vec::new();
        };
        let Some(m) = self.mapping(v, &path) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (k, dists) in m {
            let Some(release) = self.string(k, &path) else {
                continue;
            };
            let p = ["updates", "combinations", release.as_str()];
            if !self.name(&release, &p, "release") {
                continue;
            }
            for dist in self.string_list(dists, &p) {
                if self.name(&dist, &p, "dist") {
                    out.push(Combination {
                        release: release.clone(),
                        dist,
                    });
                }
            }
        }
        out
    }

    fn production(
        &mut self,
        v: Option<&Value>,
        combinations: &[Combination],
    ) -> (BTreeMap<Combination, String>, Option<String>) {
        let mut repos = BTreeMap::new();
        let Some(v) = v else {
            return (repos, None);
        };
        let Some(m) = self.mapping(v, &["updates", "production"]) else {
            return (repos, None);
        };
        self.check_keys(m, &["repos", "publish"], &["updates", "production"]);
        if let Some(r) = m.get("repos") {
            let path = ["updates", "production", "repos"];
            if let Some(rm) = self.mapping(r, &path) {
                for (k, v) in rm {
                    let (Some(k), Some(repo)) = (self.string(k, &path), self.string(v, &path))
                    else {
                        continue;
                    };
                    match combination_of(&k, combinations) {
                        Some(c) => {
                            repos.insert(c, repo);
                        }
                        None => self.err(
                            &["updates", "production", "repos", k.as_str()],
                            format!("{k:?} is not one of the combinations (release/dist)"),
                        ),
                    }
                }
            }
        }
        let publish = m
            .get("publish")
            .and_then(|v| self.string(v, &["updates", "production", "publish"]));
        (repos, publish)
    }

    fn disabled_combinations(
        &mut self,
        v: Option<&Value>,
        combinations: &[Combination],
    ) -> Vec<DisabledCombination> {
        let path = ["updates", "disabled"];
        let Some(Value::Sequence(items)) = v else {
            if let Some(v) = v.filter(|v| !v.is_null()) {
                let _ = v;
                self.err(&path, "expected a list of {release, dist, reason, until}");
            }
            return Vec::new();
        };
        let mut out = Vec::new();
        for item in items {
            let Some(m) = self.mapping(item, &path) else {
                continue;
            };
            self.check_keys(m, &["release", "dist", "reason", "until"], &path);
            let field = |r: &mut Self, m: &Mapping, k: &str| match m.get(k) {
                Some(v) => r.string(v, &path),
                None => {
                    r.err(&path, format!("an entry needs {k}"));
                    None
                }
            };
            let (release, dist, reason) = (
                field(self, m, "release"),
                field(self, m, "dist"),
                field(self, m, "reason"),
            );
            let until = match m.get("until") {
                Some(v) => match self.string(v, &path).map(|s| parse_until(&s)) {
                    Some(Ok(t)) => Some(t),
                    Some(Err(e)) => {
                        self.err(&path, e);
                        None
                    }
                    None => None,
                },
                None => None,
            };
            let (Some(release), Some(dist), Some(reason)) = (release, dist, reason) else {
                continue;
            };
            let c = Combination { release, dist };
            if !combinations.contains(&c) {
                self.err(&path, format!("{c} is not one of the combinations"));
                continue;
            }
            out.push(DisabledCombination {
                combination: c,
                reason,
                until,
            });
        }
        out
    }
}

/// `release/dist` among `combinations`.
fn combination_of(s: &str, combinations: &[Combination]) -> Option<Combination> {
    let (release, dist) = s.split_once('/')?;
    combinations
        .iter()
        .find(|c| c.release == release && c.dist == dist)
        .cloned()
}

/// `until:` as seconds since the epoch: a day (`2015-02-03`, the end of it
/// is not waited for: the combination is back at its start) or seconds.
pub(super) fn parse_until(s: &str) -> Result<i64, String> {
    if let Ok(n) = s.parse::<i64>() {
        return Ok(n);
    }
    let bad = || format!("until: {s:?} is not a day (YYYY-MM-DD)");
    let day = s.split('T').next().unwrap_or(s);
    let parts: Vec<&str> = day.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return Err(bad());
    };
    let (y, m, d): (i64, i64, i64) = (
        y.parse().map_err(|_| bad())?,
        m.parse().map_err(|_| bad())?,
        d.parse().map_err(|_| bad())?,
    );
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return Err(bad());
    }
    // Days from the civil date (the inverse of clock's).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Ok((era * 146_097 + doe - 719_468) * 86400)
}

#[cfg(test)]
mod tests {
    use super::parse_until;

    #[test]
    fn until_reads_a_day_as_its_first_second() {
        assert_eq!(parse_until("1970-01-01"), Ok(0));
        assert_eq!(
            crate::clock::iso(parse_until("2015-02-03").unwrap()),
            "2015-02-03T00:00:00Z"
        );
        assert_eq!(
            crate::clock::iso(parse_until("2000-02-29").unwrap()),
            "2000-02-29T00:00:00Z"
        );
        assert!(parse_until("2015-13-01").is_err());
        assert!(parse_until("soon").is_err());
    }
}
