use super::*;
use crate::model::{ApprovalPolicy, PlanSummary};

fn claims(purpose: LinkPurpose) -> LinkClaims {
    LinkClaims {
        purpose,
        component: ComponentName::parse("web").unwrap(),
        deployment_id: "web-1-0-0-20260101000000-abc123".into(),
        environment: EnvironmentName::parse("prod").unwrap(),
        approver: purpose
            .decides()
            .then(|| "arn:aws:iam::123456789012:user/alice".into()),
        plan_sha256: "ab".repeat(32),
        expires_at: DateTime::from_timestamp(1_900_000_000, 0).unwrap(),
        nonce: new_nonce(),
    }
}

/// Built from its stored JSON, so fields added to `Approval` later keep their defaults.
fn approval(now: DateTime<Utc>) -> Approval {
    serde_json::from_value(serde_json::json!({
        "deployment_id": "web-1-0-0-20260101000000-abc123",
        "component": "web",
        "version": "1.0.0",
        "environment": "prod",
        "requester": "arn:aws:iam::123456789012:user/bob",
        "status": "pending",
        "plan_sha256": "cd".repeat(32),
        "plan_summary": PlanSummary::default(),
        "requested_at": now,
        "expires_at": now + Duration::hours(2),
    }))
    .unwrap()
}

fn env() -> Environment {
    Environment {
        name: EnvironmentName::parse("prod").unwrap(),
        order: 2,
        approval: ApprovalPolicy::Required,
        approvers: vec!["alice".into(), "bob".into()],
        four_eyes: true,
        trusted_session_roles: vec![],
        approval_timeout_secs: 7200,
        confirm_name: false,
        required_approvals: 1,
        destroy_approvals: None,
        freeze: None,
        drift_check_secs: None,
        updated_at: Utc::now(),
    }
}

#[test]
fn payload_round_trips_and_stays_short() {
    for p in LinkPurpose::ALL {
        let c = claims(*p);
        let bytes = encode(&c).unwrap();
        assert_eq!(decode(&bytes).unwrap(), c);
    }
}

#[test]
fn every_truncation_and_extension_is_refused() {
    let bytes = encode(&claims(LinkPurpose::Decide)).unwrap();
    for n in 0..bytes.len() {
        assert!(decode(&bytes[..n]).is_err(), "prefix of {n} bytes parsed");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert_eq!(decode(&longer), Err("trailing bytes after the payload"));
}

#[test]
fn claims_that_cannot_be_links_are_refused() {
    let bad = |f: fn(&mut LinkClaims)| {
        let mut c = claims(LinkPurpose::Decide);
        f(&mut c);
        assert!(
            matches!(encode(&c), Err(LinkError::InvalidClaims(_))),
            "{c:?}"
        );
    };
    bad(|c| c.approver = None);
    bad(|c| c.approver = Some(String::new()));
    bad(|c| c.approver = Some("a".repeat(256)));
    bad(|c| {
        c.deployment_id = "d".repeat(80);
        c.approver = Some("a".repeat(255));
    });
    bad(|c| c.purpose = LinkPurpose::View);
    bad(|c| c.plan_sha256 = "AB".repeat(32));
    bad(|c| c.plan_sha256 = "ab".into());
    bad(|c| c.nonce = "00".into());
    bad(|c| c.deployment_id = "a/b".into());
    bad(|c| c.deployment_id = "a".repeat(81));
}

#[test]
fn links_expire_with_their_gate_and_only_reach_allowed_deciders() {
    let now = DateTime::from_timestamp(1_800_000_000, 123).unwrap();
    let a = approval(now);
    let e = env();
    let c = LinkClaims::decide(
        &a,
        &e,
        "arn:aws:iam::123456789012:user/alice",
        Duration::days(7),
        now,
    )
    .unwrap();
    assert_eq!(c.expires_at, a.expires_at - Duration::nanoseconds(123));
    assert_eq!(c.plan_sha256, a.plan_sha256);
    assert_eq!(c.nonce.len(), 32);
    let short = LinkClaims::view(&a, Duration::minutes(10), now).unwrap();
    assert_eq!(
        short.expires_at,
        whole_seconds(now + Duration::minutes(10)).unwrap()
    );
    assert_eq!(short.approver, None);
    // The requester of a four-eyes environment, and someone not on the list.
    for who in ["arn:aws:iam::123456789012:user/bob", "local:mallory"] {
        let err = LinkClaims::decide(&a, &e, who, Duration::hours(1), now).unwrap_err();
        assert!(matches!(err, LinkError::NotAllowed(_)), "{who}: {err}");
    }
    let mut closed = a.clone();
    closed.status = ApprovalStatus::Closed;
    assert!(LinkClaims::view(&closed, Duration::hours(1), now).is_err());
    assert!(LinkClaims::view(&a, Duration::hours(1), a.expires_at).is_err());
    assert_ne!(
        c.nonce,
        LinkClaims::view(&a, Duration::hours(1), now).unwrap().nonce
    );
}

#[test]
fn callers_links_follow_the_same_rules_and_say_how_they_came() {
    let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    let a = approval(now);
    let alice = "arn:aws:iam::123456789012:user/alice";
    let c = LinkClaims::decide_as_caller(&a, &env(), alice, Duration::minutes(15), now).unwrap();
    assert_eq!(c.purpose, LinkPurpose::DecideAsCaller);
    assert!(c.purpose.decides() && !LinkPurpose::View.decides());
    assert_eq!(c.purpose.via(), "ferry approve --browser");
    assert_eq!(LinkPurpose::Decide.via(), "email link");
    assert_eq!(c.expires_at, now + Duration::minutes(15));
    let bob = "arn:aws:iam::123456789012:user/bob";
    let err = LinkClaims::decide_as_caller(&a, &env(), bob, Duration::minutes(15), now);
    assert!(matches!(err, Err(LinkError::NotAllowed(_))));
}

#[test]
fn the_consoles_link_is_view_only_and_ends_with_the_gate() {
    let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    let a = approval(now);
    let plan = "AB".repeat(32);
    let c = LinkClaims::view_of_plan(
        &a.component,
        &a.deployment_id,
        &a.environment,
        &plan,
        now + Duration::hours(1),
        now,
    )
    .unwrap();
    assert_eq!(
        (c.purpose, c.approver.as_deref()),
        (LinkPurpose::View, None)
    );
    assert_eq!(c.plan_sha256, "ab".repeat(32));
    assert!(LinkClaims::view_of_plan(
        &a.component,
        &a.deployment_id,
        &a.environment,
        &plan,
        now,
        now
    )
    .is_err());
    assert!(LinkClaims::view_of_plan(
        &a.component,
        &a.deployment_id,
        &a.environment,
        "nothex",
        now + Duration::hours(1),
        now
    )
    .is_err());
}

#[test]
fn a_new_plan_or_a_decided_gate_ends_the_link() {
    let now = Utc::now();
    let a = approval(now);
    let c = LinkClaims::view(&a, Duration::hours(1), now).unwrap();
    assert!(c.check_gate(&a).is_ok());
    let mut replanned = a.clone();
    replanned.plan_sha256 = "ef".repeat(32);
    assert!(matches!(c.check_gate(&replanned), Err(LinkError::Stale(_))));
    let mut decided = a.clone();
    decided.status = ApprovalStatus::Approved;
    assert!(matches!(c.check_gate(&decided), Err(LinkError::Stale(_))));
    let mut other = a;
    other.deployment_id = "another".into();
    assert!(matches!(c.check_gate(&other), Err(LinkError::Stale(_))));
}

#[test]
fn signed_links_are_redacted() {
    let l = SignedLink("f1.secret.mac".into());
    assert_eq!(format!("{l:?}"), "SignedLink(…redacted…)");
    assert!(!l.to_string().contains("secret"));
    assert!(!format!("{:#?}", Some(&l)).contains("secret"));
    assert_eq!(l.expose_for_url(), "f1.secret.mac");
}

#[test]
fn nonce_hashes_are_sha256_hex() {
    assert_eq!(
        nonce_hash("abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

#[test]
fn split_refuses_anything_but_the_exact_form() {
    for t in [
        "",
        "f1.",
        "f2.AA.AA",
        "f1.AA",
        "f1.AA=.AA",
        "f1.A A.AA",
        "f1.AA.AA",
    ] {
        assert!(matches!(split(t), Err(LinkError::Malformed(_))), "{t:?}");
    }
    let long = format!("f1.{}.{}", "A".repeat(MAX_TOKEN_LEN), "A".repeat(43));
    assert!(matches!(
        split(&long),
        Err(LinkError::Malformed("too long"))
    ));
}
