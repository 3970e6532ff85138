//! register-release against a real moto_server with real zip files.

use ferry_shared::model::{ComponentName, RejectionKind, Version};
use ferry_tests::zips::{self, manifest, zip_of, MAIN_TF};
use ferry_tests::TestEnv;
use register_release::OutcomeKind;
use zip::CompressionMethod::{Deflated, Stored};

async fn assert_registered(env: &TestEnv, key: &str, sha: &str) {
    let out = env.register(key).await;
    assert_eq!(out.outcome, OutcomeKind::Registered, "{out:?}");
    let k = ferry_shared::model::ReleaseKey::parse(key).unwrap();
    let r = env
        .store
        .get_release(&k.component, &k.version)
        .await
        .unwrap()
        .expect("release recorded");
    assert_eq!(r.sha256, sha);
    assert_eq!(r.s3_key, key);
    assert_eq!(r.manifest.component, k.component);
}

async fn assert_rejected(env: &TestEnv, key: &str, kind: RejectionKind, reason_has: &str) {
    let out = env.register(key).await;
    assert_eq!(out.outcome, OutcomeKind::Rejected, "{out:?}");
    let segment = ferry_shared::model::ReleaseKey::component_segment(key);
    let rejections = env.store.list_rejections(segment).await.unwrap();
    let r = rejections
        .iter()
        .find(|r| r.s3_key == key)
        .unwrap_or_else(|| panic!("no rejection recorded for {key}: {rejections:?}"));
    assert_eq!(r.kind, kind, "{r:?}");
    assert!(
        r.reason.contains(reason_has),
        "reason {:?} lacks {reason_has:?}",
        r.reason
    );
    if let (Ok(k), false) = (
        ferry_shared::model::ReleaseKey::parse(key),
        kind == RejectionKind::Conflict,
    ) {
        assert!(env
            .store
            .get_release(&k.component, &k.version)
            .await
            .unwrap()
            .is_none());
    }
}

#[tokio::test]
async fn stored_and_deflated_manifests_first_or_last_register() {
    let env = TestEnv::new().await;
    let m = manifest("web", "1.0.0");
    let cases = [
        (
            "1.0.0",
            vec![("ferry.json", &m[..]), ("main.tf", MAIN_TF)],
            Stored,
        ),
        (
            "1.0.1",
            vec![("main.tf", MAIN_TF), ("ferry.json", &m[..])],
            Stored,
        ),
        (
            "1.0.2",
            vec![("ferry.json", &m[..]), ("main.tf", MAIN_TF)],
            Deflated,
        ),
        (
            "1.0.3",
            vec![("main.tf", MAIN_TF), ("ferry.json", &m[..])],
            Deflated,
        ),
    ];
    for (version, entries, method) in cases {
        let m = manifest("web", version);
        let entries: Vec<(&str, &[u8])> = entries
            .into_iter()
            .map(|(n, b)| {
                if n == "ferry.json" {
                    (n, &m[..])
                } else {
                    (n, b)
                }
            })
            .collect();
        let key = format!("releases/web/{version}.zip");
        let sha = env.put_zip(&key, zip_of(&entries, method)).await;
        assert_registered(&env, &key, &sha).await;
    }
}

#[tokio::test]
async fn zip64_with_manifest_last_reads_the_central_directory() {
    let env = TestEnv::new().await;
    // More entries than the classic EOCD can count forces zip64 records.
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let names: Vec<String> = (0..65_540).map(|i| format!("m/{i}.tf")).collect();
    let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b""[..])).collect();
    zips::write_entries(&mut w, &entries, Stored);
    let m = manifest("big", "2.0.0");
    zips::write_entries(&mut w, &[("ferry.json", &m)], Deflated);
    let bytes = w.finish().unwrap().into_inner();
    assert!(
        bytes.windows(4).any(|s| s == [0x50, 0x4b, 0x06, 0x06]),
        "no zip64 EOCD written"
    );
    let key = "releases/big/2.0.0.zip";
    let sha = env.put_zip(key, bytes).await;
    assert_registered(&env, key, &sha).await;
}

#[tokio::test]
async fn large_zip_reads_a_small_bounded_number_of_bytes() {
    let env = TestEnv::new().await;
    // 200 MiB laid out as `ferry package` writes it: ferry.json first, then a generated (not
    // committed) stored payload and 2,000 modules, so the central directory (read whole, to
    // refuse duplicate names) outgrows the 64 KiB tail and costs one more ranged read.
    let m = manifest("large", "1.0.0");
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::with_capacity(210 << 20)));
    zips::write_entries(&mut w, &[("ferry.json", &m)], Deflated);
    let payload: Vec<u8> = (0..200u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    zips::write_entries(&mut w, &[("payload.bin", &payload)], Stored);
    drop(payload);
    let modules: Vec<String> = (0..2000)
        .map(|i| format!("modules/module-{i:04}/main.tf"))
        .collect();
    let entries: Vec<(&str, &[u8])> = modules.iter().map(|n| (n.as_str(), MAIN_TF)).collect();
    zips::write_entries(&mut w, &entries, Deflated);
    let bytes = w.finish().unwrap().into_inner();
    let size = bytes.len() as u64;
    assert!(size > 200 << 20);
    let key = "releases/large/1.0.0.zip";
    let sha = env.put_zip(key, bytes).await;
    let before = env.get_bytes.get();
    let out = env.register(key).await;
    let read = env.get_bytes.get() - before;
    assert_eq!(out.outcome, OutcomeKind::Registered);
    eprintln!("registration read {read} bytes of a {size}-byte zip");
    assert!(read <= 256 * 1024, "read {read} bytes of a {size}-byte zip");
    assert_eq!(
        out.bytes_read, read,
        "handler's own count disagrees with the wire"
    );
    let r = env
        .store
        .get_release(
            &ComponentName::parse("large").unwrap(),
            &Version::parse("1.0.0").unwrap(),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!((r.sha256, r.size), (sha, size));
}

#[tokio::test]
async fn bad_uploads_become_rejection_records() {
    let env = TestEnv::new().await;
    let good = zips::release("bad", "1.0.0");
    let mut truncated = zips::release("bad", "1.0.1");
    truncated.truncate(truncated.len() - 40);
    let big = format!(
        r#"{{"schema_version":1,"component":"bad","version":"1.0.8","metadata":{{"pad":"{}"}}}}"#,
        " ".repeat(70 * 1024)
    );
    let cases: Vec<(&str, Vec<u8>, RejectionKind, &str)> = vec![
        (
            "releases/bad/0.0.1.zip",
            b"definitely not a zip".to_vec(),
            RejectionKind::NotAZip,
            "not a zip",
        ),
        (
            "releases/bad/1.0.1.zip",
            truncated,
            RejectionKind::TruncatedZip,
            "truncated",
        ),
        (
            "releases/bad/1.0.2.zip",
            zip_of(&[("main.tf", MAIN_TF)], Deflated),
            RejectionKind::MissingManifest,
            "no ferry.json",
        ),
        (
            "releases/bad/1.0.3.zip",
            zip_of(&[("ferry.json", b"{not json")], Deflated),
            RejectionKind::InvalidJson,
            "not valid JSON",
        ),
        (
            "releases/bad/1.0.4.zip",
            zip_of(
                &[(
                    "ferry.json",
                    br#"{"schema_version":9,"component":"bad","version":"1.0.4"}"#,
                )],
                Deflated,
            ),
            RejectionKind::UnsupportedSchema,
            "schema_version 9",
        ),
        (
            "releases/bad/1.0.5.zip",
            zip_of(
                &[(
                    "ferry.json",
                    br#"{"schema_version":1,"component":"Bad_Name","version":"1.0.5"}"#,
                )],
                Deflated,
            ),
            RejectionKind::InvalidManifest,
            "invalid component name",
        ),
        (
            "releases/bad/1.0.6.zip",
            zip_of(
                &[(
                    "ferry.json",
                    br#"{"schema_version":1,"component":"bad","version":"one"}"#,
                )],
                Deflated,
            ),
            RejectionKind::InvalidManifest,
            "invalid version",
        ),
        (
            "releases/bad/1.0.7.zip",
            good.clone(),
            RejectionKind::KeyMismatch,
            "ferry.json says bad 1.0.0",
        ),
        (
            "releases/bad/1.0.8.zip",
            zip_of(&[("ferry.json", big.as_bytes())], Deflated),
            RejectionKind::ManifestTooLarge,
            "larger than",
        ),
        (
            "releases/bad/not-semver.zip",
            good.clone(),
            RejectionKind::InvalidKey,
            "not a semantic version",
        ),
        (
            "releases/Bad/1.0.0.zip",
            good.clone(),
            RejectionKind::InvalidKey,
            "invalid component name",
        ),
    ];
    for (key, body, kind, reason) in cases {
        env.put_zip(key, body).await;
        assert_rejected(&env, key, kind, reason).await;
    }
    // Uploaded without a checksum: nothing S3 verified to record.
    env.s3
        .put_object()
        .bucket(&env.bucket)
        .key("releases/bad/2.0.0.zip")
        .body(zips::release("bad", "2.0.0").into())
        .send()
        .await
        .unwrap();
    assert_rejected(
        &env,
        "releases/bad/2.0.0.zip",
        RejectionKind::MissingChecksum,
        "SHA-256",
    )
    .await;
}

#[tokio::test]
async fn duplicate_entries_are_rejected() {
    let env = TestEnv::new().await;
    // unzip takes the last ferry.json (9.9.9); registration used to take the first (2.0.8).
    let key = "releases/dup/2.0.8.zip";
    let zip = zips::duplicate_manifests(&manifest("dup", "2.0.8"), &manifest("dup", "9.9.9"));
    env.put_zip(key, zip).await;
    assert_rejected(&env, key, RejectionKind::DuplicateEntry, "more than once").await;
}

#[tokio::test]
async fn a_ghost_local_header_is_rejected_as_inconsistent() {
    let env = TestEnv::new().await;
    let key = "releases/ghost/9.9.9.zip";
    let zip = zips::ghost_manifest(&manifest("ghost", "2.0.8"), &manifest("ghost", "9.9.9"));
    env.put_zip(key, zip).await;
    assert_rejected(&env, key, RejectionKind::InconsistentZip, "not listed").await;

    // Listed at offset 0, but the local header's CRC differs from the directory's.
    let key = "releases/ghost/1.0.0.zip";
    let mut zip = zips::release("ghost", "1.0.0");
    zip[14] ^= 0xFF;
    env.put_zip(key, zip).await;
    assert_rejected(&env, key, RejectionKind::InconsistentZip, "disagrees").await;
}

#[tokio::test]
async fn crafted_zip64_offsets_are_rejected_without_panicking() {
    let env = TestEnv::new().await;
    let key = "releases/crafted/1.0.0.zip";
    let zip = zips::zip64_end_at(zips::release("crafted", "1.0.0"), u64::MAX - 8);
    env.put_zip(key, zip).await;
    assert_rejected(&env, key, RejectionKind::TruncatedZip, "zip64 end record").await;
}

#[tokio::test]
async fn repeated_event_is_a_no_op_and_conflicting_bytes_are_refused() {
    let env = TestEnv::new().await;
    let key = "releases/svc/1.2.0.zip";
    let sha = env.put_zip(key, zips::release("svc", "1.2.0")).await;
    let event = env.event_for(key).await;
    assert_registered(&env, key, &sha).await;
    let again = register_release::handle(&env.deps(), event).await.unwrap();
    assert_eq!(again[0].outcome, OutcomeKind::Duplicate);
    let svc = ComponentName::parse("svc").unwrap();
    assert_eq!(env.store.list_releases(&svc).await.unwrap().len(), 1);
    assert!(env.store.list_rejections("svc").await.unwrap().is_empty());

    // Same version, other bytes (a different commit in the manifest).
    let other = zip_of(
        &[
            (
                "ferry.json",
                br#"{"schema_version":1,"component":"svc","version":"1.2.0","commit":"ffff"}"#,
            ),
            ("main.tf", MAIN_TF),
        ],
        Deflated,
    );
    let other_sha = env.put_zip(key, other).await;
    assert_rejected(&env, key, RejectionKind::Conflict, "already registered").await;
    let releases = env.store.list_releases(&svc).await.unwrap();
    assert_eq!(releases.len(), 1);
    assert_eq!(releases[0].sha256, sha, "registered release changed");
    let rej = env.store.list_rejections("svc").await.unwrap();
    assert_eq!(rej.len(), 1);
    assert_eq!(rej[0].sha256.as_deref(), Some(other_sha.as_str()));
}

#[tokio::test]
async fn twenty_concurrent_duplicate_events_make_one_record() {
    let env = TestEnv::new().await;
    let key = "releases/race/3.1.4.zip";
    env.put_zip(key, zips::release("race", "3.1.4")).await;
    let event = env.event_for(key).await;
    let deps = env.deps();
    let runs = (0..20).map(|_| {
        let deps = deps.clone();
        let event = event.clone();
        tokio::spawn(async move { register_release::handle(&deps, event).await })
    });
    let outcomes: Vec<_> = futures::future::join_all(runs)
        .await
        .into_iter()
        .map(|r| r.unwrap().unwrap().remove(0).outcome)
        .collect();
    let registered = outcomes
        .iter()
        .filter(|o| **o == OutcomeKind::Registered)
        .count();
    let duplicates = outcomes
        .iter()
        .filter(|o| **o == OutcomeKind::Duplicate)
        .count();
    assert_eq!((registered, duplicates), (1, 19), "{outcomes:?}");
    let race = ComponentName::parse("race").unwrap();
    assert_eq!(env.store.list_releases(&race).await.unwrap().len(), 1);
}

#[tokio::test]
async fn several_records_and_encoded_keys_in_one_event() {
    let env = TestEnv::new().await;
    let a = "releases/multi/1.0.0.zip";
    let b = "releases/multi/1.1.0-rc.1.zip";
    env.put_zip(a, zips::release("multi", "1.0.0")).await;
    env.put_zip(b, zips::release("multi", "1.1.0-rc.1")).await;
    let mut event = env.event_for(a).await;
    let second = env.event_for(b).await;
    event.records.extend(second.records);
    // Some emulators encode '/' as %2F; S3 itself sends '+' for spaces. Both must decode.
    event.records[0].s3.object.key = Some("releases%2Fmulti%2F1.0.0.zip".into());
    let out = register_release::handle(&env.deps(), event).await.unwrap();
    assert_eq!(out.len(), 2);
    assert!(
        out.iter().all(|o| o.outcome == OutcomeKind::Registered),
        "{out:?}"
    );
    let listed = env
        .store
        .list_releases(&ComponentName::parse("multi").unwrap())
        .await
        .unwrap();
    let versions: Vec<String> = listed.iter().map(|r| r.version.to_string()).collect();
    assert_eq!(versions, ["1.1.0-rc.1", "1.0.0"]);
}

/// Without versioning there is no way to read replaced bytes: the stale event registers nothing.
#[tokio::test]
async fn unversioned_object_replaced_after_the_event_is_skipped_not_misregistered() {
    let env = TestEnv::unversioned().await;
    let key = "releases/moving/1.0.0.zip";
    env.put_zip(key, zips::release("moving", "1.0.0")).await;
    let stale = env.event_for(key).await;
    // Replace the object: the stale event's ETag no longer matches.
    let m = br#"{"schema_version":1,"component":"moving","version":"1.0.0","commit":"new"}"#;
    env.put_zip(key, zip_of(&[("ferry.json", m)], Deflated))
        .await;
    let out = register_release::handle(&env.deps(), stale).await.unwrap();
    assert_eq!(out[0].outcome, OutcomeKind::Skipped, "{out:?}");
    assert!(env
        .store
        .list_releases(&ComponentName::parse("moving").unwrap())
        .await
        .unwrap()
        .is_empty());
}

/// A DynamoDB endpoint that throttles every request: moto cannot produce throttling.
async fn throttling_dynamodb() -> String {
    use axum::http::StatusCode;
    let app = axum::Router::new().fallback(|| async {
        (
            StatusCode::BAD_REQUEST,
            [("content-type", "application/x-amz-json-1.0")],
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate of requests exceeds the allowed throughput."}"#,
        )
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

#[tokio::test]
async fn transient_faults_fail_the_invocation_and_record_nothing() {
    let env = TestEnv::new().await;
    let key = "releases/flaky/1.0.0.zip";
    env.put_zip(key, zips::release("flaky", "1.0.0")).await;
    let event = env.event_for(key).await;

    // Throttled DynamoDB: the handler fails (Lambda retries), typed as transient.
    let throttled = ferry_shared::aws::local_sdk_config(&throttling_dynamodb().await).await;
    let deps = register_release::Deps {
        s3: env.s3.clone(),
        store: ferry_shared::store::Store::new(
            aws_sdk_dynamodb::Client::new(&throttled),
            &env.table,
        ),
    };
    let err = register_release::handle(&deps, event.clone())
        .await
        .unwrap_err();
    let diag = ferry_lambda::diagnostic(err);
    assert_eq!(diag.error_type, "Ferry.Transient");
    assert!(
        diag.error_message.contains("Throttling"),
        "{}",
        diag.error_message
    );

    // S3 unreachable (nothing listens there): transient too, and no rejection is recorded.
    let closed = format!("http://127.0.0.1:{}", ferry_tests::free_port());
    let unreachable = ferry_shared::aws::local_sdk_config(&closed).await;
    let deps = register_release::Deps {
        s3: ferry_shared::aws::s3_client(&unreachable),
        store: env.store.clone(),
    };
    let err = register_release::handle(&deps, event.clone())
        .await
        .unwrap_err();
    assert_eq!(ferry_lambda::diagnostic(err).error_type, "Ferry.Transient");
    assert!(env.store.list_rejections("flaky").await.unwrap().is_empty());

    // Once the fault clears, the retried event registers.
    let out = register_release::handle(&env.deps(), event).await.unwrap();
    assert_eq!(out[0].outcome, OutcomeKind::Registered);
}

/// A conflicting upload (same key, other bytes) in AWS is refused by the bucket policy; here it
/// bypasses that, as a writer with a broader policy could, and lands before the first upload's
/// event is handled. Each event is judged by its own version: the first upload is the release.
#[tokio::test]
async fn a_replacement_landing_before_the_first_event_is_a_conflict_not_the_release() {
    for with_version in [true, false] {
        let env = TestEnv::new().await;
        let key = "releases/early/1.0.0.zip";
        let first_zip = zips::release("early", "1.0.0");
        let first_len = first_zip.len() as i64;
        let first = env.upload(key, first_zip).await;
        let m = br#"{"schema_version":1,"component":"early","version":"1.0.0","commit":"ffff"}"#;
        let second_zip = zip_of(&[("ferry.json", m), ("main.tf", MAIN_TF)], Deflated);
        let second_len = second_zip.len() as i64;
        let second = env.upload(key, second_zip).await;
        assert_ne!(first.version_id, second.version_id);

        // The replacement's event arrives first.
        let out = register_release::handle(
            &env.deps(),
            env.event_for_upload(key, second_len, &second, with_version),
        )
        .await
        .unwrap();
        assert_eq!(out[0].outcome, OutcomeKind::Rejected, "{out:?}");
        let early = ComponentName::parse("early").unwrap();
        let releases = env.store.list_releases(&early).await.unwrap();
        assert_eq!(releases.len(), 1, "{releases:?}");
        assert_eq!(
            releases[0].sha256, first.sha256,
            "the first upload is the release"
        );
        assert_eq!(releases[0].version_id, first.version_id);
        let rejections = env.store.list_rejections("early").await.unwrap();
        assert_eq!(rejections.len(), 1, "{rejections:?}");
        assert_eq!(rejections[0].kind, RejectionKind::Conflict);
        assert_eq!(
            rejections[0].sha256.as_deref(),
            Some(second.sha256.as_str())
        );
        assert_eq!(rejections[0].version_id, second.version_id);

        // Then the first upload's own event: already judged, nothing changes.
        let out = register_release::handle(
            &env.deps(),
            env.event_for_upload(key, first_len, &first, with_version),
        )
        .await
        .unwrap();
        assert_eq!(out[0].outcome, OutcomeKind::Duplicate, "{out:?}");
        assert_eq!(env.store.list_rejections("early").await.unwrap().len(), 1);
        // The registered version still serves the registered bytes.
        let bytes = env
            .get_version(key, releases[0].version_id.as_deref().unwrap())
            .await;
        assert_eq!(ferry_tests::sha256_hex(&bytes), first.sha256);
    }
}

/// 1,000 uploads, 5% of them followed by conflicting bytes under the same key; the events arrive
/// shuffled, some twice, half with a VersionId (AWS) and half without (moto's notifications),
/// handled 16 at a time.
#[tokio::test]
async fn a_burst_of_1000_uploads_with_conflicts_registers_every_first_version() {
    use futures::StreamExt;
    const UPLOADS: usize = 1000;
    const CONFLICT_EVERY: usize = 20; // 5%
    let env = TestEnv::new().await;
    let key_of = |i: usize| format!("releases/burst{}/1.{}.0.zip", i % 10, i / 10);

    struct Key {
        key: String,
        first: ferry_tests::Uploaded,
        conflict: Option<ferry_tests::Uploaded>,
    }
    let mut keys = Vec::with_capacity(UPLOADS);
    let mut events = Vec::new();
    for i in 0..UPLOADS {
        let key = key_of(i);
        let k = ReleaseKeyParts::of(&key);
        let zip = zips::release(&k.0, &k.1);
        let len = zip.len() as i64;
        let first = env.upload(&key, zip).await;
        events.push(env.event_for_upload(&key, len, &first, i % 2 == 0));
        let conflict = if i % CONFLICT_EVERY == 7 {
            let m = format!(
                r#"{{"schema_version":1,"component":"{}","version":"{}","commit":"conflict{i}"}}"#,
                k.0, k.1
            );
            let zip = zip_of(
                &[("ferry.json", m.as_bytes()), ("main.tf", MAIN_TF)],
                Deflated,
            );
            let len = zip.len() as i64;
            let up = env.upload(&key, zip).await;
            events.push(env.event_for_upload(&key, len, &up, i % 2 == 1));
            Some(up)
        } else {
            None
        };
        keys.push(Key {
            key,
            first,
            conflict,
        });
    }
    let conflicts = keys.iter().filter(|k| k.conflict.is_some()).count();
    assert_eq!(conflicts, UPLOADS / CONFLICT_EVERY);
    // Every 10th event is delivered twice (at-least-once delivery), then all are shuffled with a
    // fixed-seed permutation so a failure reproduces.
    let again: Vec<_> = events.iter().step_by(10).cloned().collect();
    events.extend(again);
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for i in (1..events.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        events.swap(i, (state % (i as u64 + 1)) as usize);
    }
    let deps = env.deps();
    let outcomes: Vec<_> = futures::stream::iter(events)
        .map(|e| {
            let deps = deps.clone();
            async move { register_release::handle(&deps, e).await.expect("handler") }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    assert!(outcomes
        .iter()
        .flatten()
        .all(|o| o.outcome != OutcomeKind::Skipped));

    let mut registered = 0;
    let mut conflicts_recorded = 0;
    for c in 0..10 {
        let component = format!("burst{c}");
        let releases = env
            .store
            .list_releases(&ComponentName::parse(&component).unwrap())
            .await
            .unwrap();
        let rejections = env.store.list_rejections(&component).await.unwrap();
        for k in keys
            .iter()
            .filter(|k| k.key.starts_with(&format!("releases/{component}/")))
        {
            let r = releases
                .iter()
                .find(|r| r.s3_key == k.key)
                .unwrap_or_else(|| panic!("{} not registered", k.key));
            assert_eq!(
                r.sha256, k.first.sha256,
                "{}: not the first upload's bytes",
                k.key
            );
            assert_eq!(r.version_id, k.first.version_id, "{}", k.key);
            // Deployable: the recorded version serves exactly the recorded bytes.
            let bytes = env
                .get_version(&k.key, r.version_id.as_deref().unwrap())
                .await;
            assert_eq!(ferry_tests::sha256_hex(&bytes), r.sha256, "{}", k.key);
            registered += 1;
            let mine: Vec<_> = rejections.iter().filter(|x| x.s3_key == k.key).collect();
            match &k.conflict {
                Some(up) => {
                    assert_eq!(mine.len(), 1, "{}: {mine:?}", k.key);
                    assert_eq!(mine[0].kind, RejectionKind::Conflict);
                    assert_eq!(mine[0].version_id, up.version_id, "{}", k.key);
                    assert_eq!(mine[0].sha256.as_deref(), Some(up.sha256.as_str()));
                    conflicts_recorded += 1;
                }
                None => assert!(mine.is_empty(), "{}: {mine:?}", k.key),
            }
        }
        assert_eq!(releases.len(), UPLOADS / 10, "{component}");
    }
    assert_eq!((registered, conflicts_recorded), (UPLOADS, conflicts));
}

/// The component and version a `releases/<c>/<v>.zip` key names.
struct ReleaseKeyParts(String, String);
impl ReleaseKeyParts {
    fn of(key: &str) -> Self {
        let k = ferry_shared::model::ReleaseKey::parse(key).unwrap();
        Self(k.component.to_string(), k.version.to_string())
    }
}
