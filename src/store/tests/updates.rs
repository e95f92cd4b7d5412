//! `store::updates`: updates, their history, their phase jobs, the
//! combinations disabled by hand and the must-provision list.

use super::*;
use crate::config::Combination;
use crate::store::updates::*;

fn combo() -> Combination {
    Combination {
        release: "juno".into(),
        dist: "epel-7".into(),
    }
}

/// The one build of update `nova-1`, for juno/epel-7.
fn nova_build() -> [UpdateBuild; 1] {
    [UpdateBuild {
        nvr: "nova-1-1.el7".into(),
        release: "juno".into(),
        dist: "epel-7".into(),
        source: "/src".into(),
    }]
}

#[test]
fn an_update_keeps_its_rpms_and_every_state_change() {
    let mut s = store();
    let rpm = Rpm {
        name: "nova".into(),
        epoch: 0,
        version: "1".into(),
        release: "1.el7".into(),
        arch: "noarch".into(),
        path: "/x/nova-1-1.el7.noarch.rpm".into(),
    };
    let builds = nova_build();
    let id = s
        .add_update(
            &NewUpdate {
                name: "nova-1",
                file_text: "builds: []",
                builds: &builds,
                rpms: &[(combo(), rpm.clone())],
            },
            "me",
            10,
        )
        .unwrap();
    assert_eq!(s.live_update_named("nova-1").unwrap(), Some(id));
    s.set_update_states(&[id], UpdateState::Passed, "phase 1 passed", None, "me", 20)
        .unwrap();
    let u = s.update(id).unwrap().unwrap();
    assert_eq!((u.state, u.passed_at), (UpdateState::Passed, Some(20)));
    assert_eq!(s.update_rpms(id, &combo()).unwrap(), vec![rpm]);
    let states: Vec<_> = s
        .update_history(id)
        .unwrap()
        .iter()
        .map(|h| h.state)
        .collect();
    assert_eq!(states, [UpdateState::Submitted, UpdateState::Passed]);
    s.set_update_states(&[id], UpdateState::Failed, "x", Some("why"), "me", 30)
        .unwrap();
    assert_eq!(s.live_update_named("nova-1").unwrap(), None);
}

#[test]
fn a_pool_run_belongs_to_each_update_of_its_pool() {
    let mut s = store();
    let c = combo();
    let j = s
        .start_phase_job(
            &NewPhaseJob {
                phase: Phase::Phase2,
                update_id: None,
                pool: &[3, 12],
                combination: &c,
                job_id: "aio-juno-epel-7",
                log: "/l",
            },
            5,
        )
        .unwrap();
    assert_eq!(s.phase_jobs_of(12).unwrap().len(), 1);
    assert_eq!(s.phase_jobs_of(3).unwrap()[0].id, j);
    assert!(s.phase_jobs_of(1).unwrap().is_empty());
    assert!(s.phase_jobs_of(2).unwrap().is_empty());
    assert_eq!(s.last_phase2().unwrap(), Some(5));
}

#[test]
fn a_disabled_combination_expires_and_can_be_enabled() {
    let mut s = store();
    s.disable_combination(&combo(), "red", Some(100), "me", 0)
        .unwrap();
    assert_eq!(s.disabled_combinations(50).unwrap().len(), 1);
    assert!(s.disabled_combinations(100).unwrap().is_empty());
    assert_eq!(s.enable_combination(&combo(), "me", 50).unwrap(), 1);
    assert!(s.disabled_combinations(60).unwrap().is_empty());
}

#[test]
fn a_withdrawn_update_stays_withdrawn_whatever_a_run_had_in_hand() {
    let mut s = store();
    let builds = nova_build();
    let id = s
        .add_update(
            &NewUpdate {
                name: "nova-1",
                file_text: "builds: []",
                builds: &builds,
                rpms: &[],
            },
            "me",
            10,
        )
        .unwrap();
    s.set_update_states(&[id], UpdateState::Testing, "phase 1", None, "run", 20)
        .unwrap();
    s.set_update_states(
        &[id],
        UpdateState::Withdrawn,
        "broken",
        Some("broken"),
        "me",
        30,
    )
    .unwrap();
    let history = |s: &Store| s.update_history(id).unwrap().len();
    let before = history(&s);
    // The run that had it in phase 1 ends, later.
    s.set_update_states(
        &[id],
        UpdateState::Passed,
        "phase 1 passed",
        None,
        "run",
        40,
    )
    .unwrap();
    s.set_update_states(&[id], UpdateState::Released, "published", None, "run", 50)
        .unwrap();
    assert_eq!(s.update(id).unwrap().unwrap().state, UpdateState::Withdrawn);
    assert_eq!(
        history(&s),
        before,
        "no history row for a change that did not happen"
    );
}
