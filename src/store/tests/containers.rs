//! `store::containers`: what the source registry held of a build's
//! images, and the tags promotions made.

use super::*;
use crate::store::containers::{Checked, NewTag};
use crate::store::promotions::Kind;
use crate::store::runs::NewAttempt;

const DIGEST: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000001";

#[test]
fn a_check_is_unknown_then_missing_then_found() {
    let mut s = store();
    let b = builds(&mut s, 1)[0];
    assert_eq!(
        s.container_check(b, "r:5000", "ns/nova").unwrap(),
        Checked::Unknown
    );
    s.remember_container_check(b, "r:5000", "ns/nova", None, 7)
        .unwrap();
    assert_eq!(
        s.container_check(b, "r:5000", "ns/nova").unwrap(),
        Checked::Missing { at: 7 }
    );
    s.remember_container_check(b, "r:5000", "ns/nova", Some(DIGEST), 8)
        .unwrap();
    assert_eq!(
        s.container_check(b, "r:5000", "ns/nova").unwrap(),
        Checked::Found {
            digest: DIGEST.into()
        }
    );
}

#[test]
fn tags_are_recorded_per_attempt_and_read_newest_first() {
    let mut s = store();
    let b = builds(&mut s, 1)[0];
    let a = s
        .new_attempt(
            &NewAttempt {
                run_id: None,
                name: "current-tripleo",
                build_id: b,
                previous_repo_dir: None,
                previous_image: None,
                kind: Kind::Manual,
                user: Some("me"),
                reason: "",
                aggregate_hash: None,
                aggregate: false,
                members: &[],
            },
            1,
        )
        .unwrap();
    let tag = |tag| NewTag {
        registry: "r:5000",
        repository: "ns/nova",
        tag,
        digest: DIGEST,
    };
    s.record_container_tags(a.id, "current-tripleo", b, "nova", &[tag("x"), tag("y")], 5)
        .unwrap();
    let rows = s.container_tags(Some("current-tripleo"), 10).unwrap();
    assert_eq!(
        rows.iter().map(|r| r.tag.as_str()).collect::<Vec<_>>(),
        ["y", "x"]
    );
    assert!(s.container_tags(Some("other"), 10).unwrap().is_empty());
    let bad = NewTag {
        digest: "md5:1",
        ..tag("z")
    };
    assert!(s
        .record_container_tags(a.id, "current-tripleo", b, "nova", &[tag("w"), bad], 6)
        .is_err());
    assert_eq!(
        s.container_tags(None, 10).unwrap().len(),
        2,
        "all or nothing"
    );
}
