//! What follows from a checked config: the job ids a matrix job expands
//! to, the required jobs of a promotion, the labels the promotions use.

use super::{Config, JobDef, JobInstance, PromotionDef, Requirement};
use crate::ident::{JobId, RESERVED_LABELS};

impl JobDef {
    /// The job ids this job stands for: itself, or one per combination.
    pub fn instances(&self) -> Vec<JobInstance> {
        self.combinations()
            .into_iter()
            .map(|combo| JobInstance {
                id: JobId::from_valid(self.instance_id(&combo)),
                job: self.name.clone(),
                disabled: self.disabled_reason(&combo),
                matrix: combo,
            })
            .collect()
    }

    /// Why the combination is disabled: the first entry all of whose axis
    /// values it has.
    fn disabled_reason(&self, combo: &[(String, String)]) -> Option<String> {
        self.disabled
            .iter()
            .find(|d| {
                d.combination
                    .iter()
                    .all(|(a, v)| combo.iter().any(|(ca, cv)| ca == a && cv == v))
            })
            .map(|d| d.reason.clone())
    }

    /// `<job>-<value>[-<value>…]`, not yet checked: long values make an
    /// id longer than a job id may be, which the config reader reports.
    pub(super) fn instance_id(&self, combo: &[(String, String)]) -> String {
        let mut id = self.name.clone();
        for (_, v) in combo {
            id.push('-');
            id.push_str(v);
        }
        id
    }

    /// How many combinations the matrix has, without listing them (one for
    /// a job without a matrix).
    pub(super) fn combination_count(&self) -> usize {
        self.matrix
            .iter()
            .fold(1usize, |n, (_, values)| n.saturating_mul(values.len()))
    }

    /// Every combination of the matrix axes, in axis order.
    pub(super) fn combinations(&self) -> Vec<Vec<(String, String)>> {
        let mut combos: Vec<Vec<(String, String)>> = vec![vec![]];
        for (axis, values) in &self.matrix {
            let mut next = Vec::new();
            for combo in &combos {
                for v in values {
                    let mut c = combo.clone();
                    c.push((axis.clone(), v.clone()));
                    next.push(c);
                }
            }
            combos = next;
        }
        combos
    }
}

impl Config {
    /// The job definition a job instance id (`<job>` or a matrix
    /// combination's) comes from.
    pub fn job_of_instance(&self, id: &str) -> Option<&JobDef> {
        self.jobs
            .iter()
            .find(|j| j.instances().iter().any(|i| i.id.as_str() == id))
    }

    /// What `promotion` asks of its build's images: the files of the
    /// top-level and its own `images_required`; and whether a build without
    /// an image directory is blocked: yes for an images promotion (one that
    /// publishes an images target, or requires image files), unless it
    /// says `images: optional`; `images: required` makes any promotion one.
    pub fn images_rule(&self, promotion: &PromotionDef) -> super::ImagesRule {
        let mut files = self.images_required.clone();
        for f in &promotion.images_required {
            if !files.contains(f) {
                files.push(f.clone());
            }
        }
        let publishes_images = promotion.publish.iter().any(|t| {
            self.publish
                .iter()
                .any(|p| &p.name == t && p.source == super::Source::Images)
        });
        let dir_required = match promotion.images {
            Some(super::Images::Required) => true,
            Some(super::Images::Optional) => false,
            None => publishes_images || !files.is_empty(),
        };
        super::ImagesRule {
            dir_required,
            files,
        }
    }

    /// The criteria of a promotion with matrix jobs expanded and disabled
    /// combinations marked, in the order written.
    pub fn required_jobs(&self, promotion: &PromotionDef) -> Vec<Requirement> {
        let mut out: Vec<Requirement> = Vec::new();
        for c in &promotion.criteria {
            let alternatives = promotion
                .alternative_criteria
                .get(c)
                .cloned()
                .unwrap_or_default();
            let expanded: Vec<Requirement> = match self.job(c.as_str()) {
                Some(job) if !job.matrix.is_empty() => job
                    .instances()
                    .into_iter()
                    .map(|inst| Requirement {
                        id: inst.id,
                        alternatives: alternatives.clone(),
                        disabled: inst.disabled,
                    })
                    .collect(),
                _ => vec![Requirement {
                    id: c.clone(),
                    alternatives,
                    disabled: None,
                }],
            };
            for r in expanded {
                if out.iter().all(|o| o.id != r.id) {
                    out.push(r);
                }
            }
        }
        out
    }
}

/// The labels the promotions name and the builder's own: a publish dest
/// must not be one of them in the trunk or the image tree.
pub(super) fn labels_in_use(promotions: &[PromotionDef]) -> Vec<String> {
    RESERVED_LABELS
        .iter()
        .map(|l| l.to_string())
        .chain(promotions.iter().flat_map(|p| {
            [
                p.name.to_string(),
                p.name.previous(),
                p.candidate_label.to_string(),
            ]
        }))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::*;
    use crate::config::Disabled;
    use crate::ident::Label;

    fn job(name: &str, matrix: &[(&str, &[&str])], disabled: &[(&[(&str, &str)], &str)]) -> JobDef {
        JobDef {
            name: name.into(),
            command: vec!["true".into()],
            timeout: Duration::from_secs(60),
            env: BTreeMap::new(),
            testenv: None,
            retries: 0,
            executor: None,
            matrix: matrix
                .iter()
                .map(|(a, vs)| (a.to_string(), vs.iter().map(|v| v.to_string()).collect()))
                .collect(),
            disabled: disabled
                .iter()
                .map(|(combo, reason)| Disabled {
                    combination: combo
                        .iter()
                        .map(|(a, v)| (a.to_string(), v.to_string()))
                        .collect(),
                    reason: reason.to_string(),
                })
                .collect(),
        }
    }

    fn ids(instances: &[JobInstance]) -> Vec<&str> {
        instances.iter().map(|i| i.id.as_str()).collect()
    }

    fn id(s: &str) -> JobId {
        s.parse().unwrap()
    }

    fn config(jobs: Vec<JobDef>) -> Config {
        Config {
            path: "/etc/promoter/r.yaml".into(),
            dir: "/etc/promoter".into(),
            release: "r".into(),
            distro: None,
            database: "/state/r.sqlite".into(),
            trunk: "/trunk".into(),
            trunk_url: None,
            images: "/images".into(),
            logs: "/logs".into(),
            logs_url: None,
            latest_hashes_count: 10,
            max_parallel_jobs: 2,
            kill_grace: Duration::from_secs(10),
            testenv_wait: Duration::from_secs(3600),
            hook_timeout: Duration::from_secs(1800),
            push_timeout: Duration::from_secs(7200),
            executors: Vec::new(),
            images_required: Vec::new(),
            external_labels: Vec::new(),
            testenv_db: None,
            missing_tools: Vec::new(),
            warnings: Vec::new(),
            remote_images: None,
            containers: None,
            text_hash: 0,
            updates: None,
            ssh: vec!["ssh".into()],
            jobs,
            promotions: Vec::new(),
            publish: Vec::new(),
        }
    }

    fn promotion(criteria: &[&str], alternatives: &[(&str, &[&str])]) -> PromotionDef {
        PromotionDef {
            name: Label::promotable("tested").unwrap(),
            candidate_label: Label::any("consistent").unwrap(),
            jobs: Vec::new(),
            criteria: criteria.iter().map(|c| id(c)).collect(),
            alternative_criteria: alternatives
                .iter()
                .map(|(c, alts)| (id(c), alts.iter().map(|a| id(a)).collect()))
                .collect(),
            publish: Vec::new(),
            hooks: Vec::new(),
            images: None,
            images_required: Vec::new(),
            containers: false,
        }
    }

    #[test]
    fn a_job_without_a_matrix_is_one_instance_of_its_own_name() {
        let instances = job("lint", &[], &[]).instances();
        assert_eq!(
            instances,
            [JobInstance {
                id: id("lint"),
                job: "lint".into(),
                matrix: vec![],
                disabled: None,
            }]
        );
    }

    #[test]
    fn a_matrix_expands_to_every_combination_in_axis_order() {
        let j = job(
            "deploy",
            &[("dist", &["el9", "el10"]), ("net", &["v4", "v6", "dual"])],
            &[],
        );
        let instances = j.instances();
        assert_eq!(
            ids(&instances),
            [
                "deploy-el9-v4",
                "deploy-el9-v6",
                "deploy-el9-dual",
                "deploy-el10-v4",
                "deploy-el10-v6",
                "deploy-el10-dual",
            ]
        );
        assert_eq!(j.combination_count(), 6);
        assert_eq!(
            instances[4].matrix,
            [
                ("dist".to_string(), "el10".to_string()),
                ("net".to_string(), "v6".to_string())
            ]
        );
        assert!(instances.iter().all(|i| i.job == "deploy"));
    }

    #[test]
    fn a_disabled_entry_takes_out_every_combination_with_its_values() {
        let j = job(
            "deploy",
            &[("dist", &["el9", "el10"]), ("net", &["v4", "v6"])],
            &[
                (&[("net", "v6")], "no IPv6 in the lab"),
                (&[("dist", "el10"), ("net", "v4")], "el10 images broken"),
            ],
        );
        let disabled: Vec<_> = j
            .instances()
            .into_iter()
            .map(|i| (i.id.to_string(), i.disabled))
            .collect();
        assert_eq!(
            disabled,
            [
                ("deploy-el9-v4".into(), None),
                ("deploy-el9-v6".into(), Some("no IPv6 in the lab".into())),
                ("deploy-el10-v4".into(), Some("el10 images broken".into())),
                ("deploy-el10-v6".into(), Some("no IPv6 in the lab".into())),
            ]
        );
    }

    #[test]
    fn the_combination_count_saturates_instead_of_overflowing() {
        let values: Vec<&str> = vec!["v"; 1 << 16];
        let axes: Vec<(&str, &[&str])> = ["a", "b", "c", "d", "e"]
            .iter()
            .map(|a| (*a, values.as_slice()))
            .collect();
        assert_eq!(job("j", &axes, &[]).combination_count(), usize::MAX);
    }

    #[test]
    fn required_jobs_expand_matrix_criteria_and_keep_plain_ones() {
        let cfg = config(vec![
            job(
                "deploy",
                &[("dist", &["el9", "el10"])],
                &[(&[("dist", "el10")], "broken")],
            ),
            job("lint", &[], &[]),
        ]);
        let p = promotion(
            &["lint", "deploy", "external"],
            &[("deploy", &["deploy-manual"])],
        );
        let req = cfg.required_jobs(&p);
        let manual = vec![id("deploy-manual")];
        assert_eq!(
            req,
            [
                Requirement {
                    id: id("lint"),
                    alternatives: vec![],
                    disabled: None
                },
                Requirement {
                    id: id("deploy-el9"),
                    alternatives: manual.clone(),
                    disabled: None
                },
                Requirement {
                    id: id("deploy-el10"),
                    alternatives: manual,
                    disabled: Some("broken".into())
                },
                Requirement {
                    id: id("external"),
                    alternatives: vec![],
                    disabled: None
                },
            ]
        );
    }

    #[test]
    fn required_jobs_name_each_job_id_once_in_the_order_first_written() {
        let cfg = config(vec![job("deploy", &[("dist", &["el9", "el10"])], &[])]);
        let p = promotion(&["deploy-el10", "lint", "deploy", "lint"], &[]);
        let req: Vec<String> = cfg
            .required_jobs(&p)
            .into_iter()
            .map(|r| r.id.to_string())
            .collect();
        assert_eq!(req, ["deploy-el10", "lint", "deploy-el9"]);
    }

    #[test]
    fn labels_in_use_are_the_builders_and_each_promotions_own_previous_and_candidate() {
        let labels = labels_in_use(&[promotion(&["lint"], &[])]);
        for l in RESERVED_LABELS {
            assert!(labels.iter().any(|x| x == l), "{l} in {labels:?}");
        }
        let tested = Label::promotable("tested").unwrap();
        for l in ["tested", tested.previous().as_str(), "consistent"] {
            assert!(labels.iter().any(|x| x == l), "{l} in {labels:?}");
        }
    }
}
