//! Signed approval links against a real moto_server: KMS HMAC keys (GenerateMac/VerifyMac) and
//! the single-use record in DynamoDB. moto is started here (ferry-tests depends on this crate,
//! so its harness cannot be used) on a free port, or taken from `MOTO_ENDPOINT`.

use std::sync::OnceLock;
use std::time::{Duration as StdDuration, Instant};

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeySpec, KeyUsageType, MacAlgorithmSpec};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use ferry_shared::aws::local_sdk_config;
use ferry_shared::links::{
    new_nonce, LinkClaims, LinkError, LinkKey, LinkPurpose, SignedLink, MAX_TOKEN_LEN,
};
use ferry_shared::model::{ComponentName, EnvironmentName};
use ferry_shared::store::{create_table, Store};

static MOTO: OnceLock<String> = OnceLock::new();

fn moto_program() -> String {
    if let Ok(p) = std::env::var("FERRY_MOTO_SERVER") {
        return p;
    }
    let venv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/moto_server");
    if venv.exists() {
        return venv.to_string_lossy().into_owned();
    }
    "moto_server".into()
}

/// The moto endpoint for this test binary: `MOTO_ENDPOINT`, or one moto_server on a free port
/// that dies with the test process.
fn moto() -> &'static str {
    MOTO.get_or_init(|| {
        if let Ok(e) = std::env::var("MOTO_ENDPOINT") {
            return e;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("no free loopback port");
        let program = moto_program();
        let (tx, rx) = std::sync::mpsc::channel();
        // The spawning thread lives as long as the process, so PR_SET_PDEATHSIG (which fires
        // when the spawning *thread* exits) kills moto only when the test process ends.
        std::thread::spawn(move || {
            use std::os::unix::process::CommandExt;
            let mut cmd = std::process::Command::new(&program);
            cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null());
            // SAFETY: prctl is async-signal-safe and touches no shared state.
            unsafe {
                cmd.pre_exec(|| {
                    nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                        .map_err(std::io::Error::from)
                });
            }
            let child = cmd.spawn();
            let ok = child.is_ok();
            let _ = tx.send(child.map(|_| ()).map_err(|e| e.to_string()));
            if ok {
                loop {
                    std::thread::park();
                }
            }
        });
        if let Ok(Err(e)) = rx.recv() {
            panic!(
                "cannot start {}: {e}. Install it with `bash scripts/setup.sh` \
                 (pip install 'moto[server]==5.2.5')",
                moto_program()
            );
        }
        wait_for_moto(&format!("127.0.0.1:{port}"), StdDuration::from_secs(60));
        format!("http://127.0.0.1:{port}")
    })
}

fn wait_for_moto(addr: &str, timeout: StdDuration) {
    use std::io::{Read, Write};
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(mut s) = std::net::TcpStream::connect(addr) {
            let _ = s.set_read_timeout(Some(StdDuration::from_secs(2)));
            let req = format!("GET /moto-api/data.json HTTP/1.0\r\nHost: {addr}\r\n\r\n");
            let mut buf = [0u8; 12];
            if s.write_all(req.as_bytes()).is_ok()
                && s.read_exact(&mut buf).is_ok()
                && &buf[9..12] == b"200"
            {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "moto_server did not answer on {addr}"
        );
        std::thread::sleep(StdDuration::from_millis(50));
    }
}

async fn kms() -> aws_sdk_kms::Client {
    aws_sdk_kms::Client::new(&local_sdk_config(moto()).await)
}

/// A fresh HMAC_256 key (GENERATE_VERIFY_MAC), as template.yaml would declare it.
async fn hmac_key(kms: &aws_sdk_kms::Client) -> String {
    kms.create_key()
        .key_spec(KeySpec::Hmac256)
        .key_usage(KeyUsageType::GenerateVerifyMac)
        .description("ferry link key (test)")
        .send()
        .await
        .expect("CreateKey HMAC_256")
        .key_metadata
        .expect("key metadata")
        .key_id
}

async fn link_key() -> LinkKey {
    let kms = kms().await;
    let id = hmac_key(&kms).await;
    LinkKey::new(kms, id)
}

async fn store() -> Store {
    let sdk = local_sdk_config(moto()).await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let table = format!("ferry-links-{}", uuid::Uuid::new_v4().simple());
    create_table(&client, &table).await.expect("create table");
    Store::new(client, table)
}

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap()
}

fn claims(purpose: LinkPurpose) -> LinkClaims {
    LinkClaims {
        purpose,
        component: ComponentName::parse("hello-service").unwrap(),
        deployment_id: format!("hello-service-1-4-2-{}", &new_nonce()[..12]),
        environment: EnvironmentName::parse("prod").unwrap(),
        approver: purpose
            .decides()
            .then(|| "arn:aws:iam::123456789012:user/alice".to_owned()),
        plan_sha256: "3f".repeat(32),
        expires_at: now() + Duration::hours(1),
        nonce: new_nonce(),
    }
}

/// The token with its payload's byte `at` flipped, re-encoded so it still parses.
fn tamper(link: &SignedLink, at: usize) -> String {
    let token = link.expose_for_url();
    let (payload, mac) = token["f1.".len()..].split_once('.').unwrap();
    let mut bytes = URL_SAFE_NO_PAD.decode(payload).unwrap();
    bytes[at] ^= 0x01;
    format!("f1.{}.{mac}", URL_SAFE_NO_PAD.encode(bytes))
}

fn assert_bad_signature(res: Result<LinkClaims, LinkError>) {
    match res {
        Err(LinkError::BadSignature) => {}
        other => panic!("expected BadSignature, got {other:?}"),
    }
}

fn assert_malformed(res: Result<LinkClaims, LinkError>, what: &str) {
    match res {
        Err(LinkError::Malformed(_)) => {}
        other => panic!("{what}: expected Malformed, got {other:?}"),
    }
}

/// moto's VerifyMac recomputes the HMAC and compares: a wrong MAC is KMSInvalidMacException,
/// as in AWS. The link tests below rely on that.
#[tokio::test]
async fn moto_verify_mac_rejects_a_wrong_mac() {
    let kms = kms().await;
    let key = hmac_key(&kms).await;
    let mac = kms
        .generate_mac()
        .key_id(&key)
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .message(Blob::new(b"hello".to_vec()))
        .send()
        .await
        .unwrap()
        .mac
        .unwrap();
    assert_eq!(mac.as_ref().len(), 32);
    let verify = |msg: &'static [u8], mac: Vec<u8>| {
        kms.verify_mac()
            .key_id(&key)
            .mac_algorithm(MacAlgorithmSpec::HmacSha256)
            .message(Blob::new(msg.to_vec()))
            .mac(Blob::new(mac))
            .send()
    };
    assert!(
        verify(b"hello", mac.as_ref().to_vec())
            .await
            .unwrap()
            .mac_valid
    );
    let mut wrong = mac.as_ref().to_vec();
    wrong[0] ^= 1;
    for res in [
        verify(b"hello", wrong).await,
        verify(b"hellp", mac.as_ref().to_vec()).await,
    ] {
        let err = res.expect_err("moto accepted a wrong MAC");
        assert!(
            err.as_service_error()
                .is_some_and(|e| e.is_kms_invalid_mac_exception()),
            "{err:?}"
        );
    }
}

#[tokio::test]
async fn decision_and_view_links_round_trip() {
    let key = link_key().await;
    for purpose in [LinkPurpose::Decide, LinkPurpose::View] {
        let c = claims(purpose);
        let link = key.mint(&c).await.unwrap();
        let token = link.expose_for_url();
        assert!(token.starts_with("f1."), "{purpose}");
        assert!(token.len() <= MAX_TOKEN_LEN && token.len() < 600);
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)),
            "not URL-safe"
        );
        assert_eq!(key.verify(token, now()).await.unwrap(), c);
    }
}

#[tokio::test]
async fn tampered_claims_do_not_verify() {
    let key = link_key().await;
    let link = key.mint(&claims(LinkPurpose::Decide)).await.unwrap();
    // The payload: purpose (0), expiry (1..9), plan hash (9..41), nonce (41..57), then names.
    // Each flip keeps the payload parseable, so only the MAC can catch it.
    for at in [8, 9, 40, 41, 56, 58, 60] {
        assert_bad_signature(key.verify(&tamper(&link, at), now()).await);
    }
    // The payload of one link under the MAC of another.
    let other = key.mint(&claims(LinkPurpose::Decide)).await.unwrap();
    let (payload, _) = link.expose_for_url().rsplit_once('.').unwrap();
    let (_, mac) = other.expose_for_url().rsplit_once('.').unwrap();
    assert_bad_signature(key.verify(&format!("{payload}.{mac}"), now()).await);
}

#[tokio::test]
async fn a_link_from_another_key_does_not_verify() {
    let key = link_key().await;
    let other = link_key().await;
    let c = claims(LinkPurpose::Decide);
    let foreign = other.mint(&c).await.unwrap();
    assert_bad_signature(key.verify(foreign.expose_for_url(), now()).await);
    assert_eq!(
        other.verify(foreign.expose_for_url(), now()).await.unwrap(),
        c
    );
}

#[tokio::test]
async fn expired_links_are_refused() {
    let key = link_key().await;
    let mut c = claims(LinkPurpose::View);
    c.expires_at = now() - Duration::seconds(1);
    let link = key.mint(&c).await.unwrap();
    assert!(matches!(
        key.verify(link.expose_for_url(), now()).await,
        Err(LinkError::Expired)
    ));
    // Expiry is exclusive: at the instant itself the link is dead.
    let c = claims(LinkPurpose::Decide);
    let link = key.mint(&c).await.unwrap();
    assert!(matches!(
        key.verify(link.expose_for_url(), c.expires_at).await,
        Err(LinkError::Expired)
    ));
    let just_before = c.expires_at - Duration::seconds(1);
    assert!(key.verify(link.expose_for_url(), just_before).await.is_ok());
}

#[tokio::test]
async fn garbage_oversized_and_truncated_tokens_are_malformed() {
    let key = link_key().await;
    let link = key.mint(&claims(LinkPurpose::Decide)).await.unwrap();
    let token = link.expose_for_url();
    for n in 0..token.len() {
        assert_malformed(
            key.verify(&token[..n], now()).await,
            &format!("first {n} chars"),
        );
    }
    let dot = token.rfind('.').unwrap();
    let cases = [
        "garbage".to_owned(),
        "f1..".to_owned(),
        "f1.!!!!.????".to_owned(),
        format!("f2.{}", &token[3..]),
        format!("{token}.extra"),
        format!("{token}A"),
        format!("{token}="),
        format!(" {token}"),
        format!("{}{}", &token[..dot], &token[dot + 1..]),
        format!("f1.{}.{}", "A".repeat(MAX_TOKEN_LEN), &token[dot + 1..]),
        "f1.".to_owned() + &"A".repeat(10_000_000),
        format!(
            "f1.{}.{}",
            URL_SAFE_NO_PAD.encode([0u8; 200]),
            &token[dot + 1..]
        ),
        format!(
            "f1.{}.{}",
            URL_SAFE_NO_PAD.encode([0xffu8; 57 + 4]),
            &token[dot + 1..]
        ),
        format!(
            "f1.{}.{}",
            URL_SAFE_NO_PAD.encode([0u8; 0]),
            &token[dot + 1..]
        ),
        "f1.é.ü".to_owned(),
    ];
    for t in &cases {
        assert_malformed(
            key.verify(t, now()).await,
            &t.chars().take(40).collect::<String>(),
        );
    }
    // A payload claiming an expiry chrono cannot represent.
    let (payload, mac) = token["f1.".len()..].split_once('.').unwrap();
    let mut bytes = URL_SAFE_NO_PAD.decode(payload).unwrap();
    bytes[1..9].copy_from_slice(&i64::MAX.to_be_bytes());
    let huge = format!("f1.{}.{mac}", URL_SAFE_NO_PAD.encode(&bytes));
    assert_malformed(key.verify(&huge, now()).await, "expiry out of range");
    // A name length running past the end.
    let mut bytes = URL_SAFE_NO_PAD.decode(payload).unwrap();
    bytes[57] = 255;
    let long = format!("f1.{}.{mac}", URL_SAFE_NO_PAD.encode(&bytes));
    assert_malformed(key.verify(&long, now()).await, "length past the end");
}

#[tokio::test]
async fn a_link_is_used_once() {
    let store = store().await;
    let c = claims(LinkPurpose::Decide);
    assert!(store.use_link(&c).await.unwrap());
    assert!(!store.use_link(&c).await.unwrap());
    // Another link to the same gate is its own.
    let mut again = c.clone();
    again.nonce = new_nonce();
    assert!(store.use_link(&again).await.unwrap());
    // The record keeps the nonce's hash and who, never the token or the nonce.
    let items = store
        .client()
        .scan()
        .table_name(store.table())
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default();
    assert_eq!(items.len(), 2);
    let item = items
        .iter()
        .find(|i| i["sk"].as_s().unwrap().ends_with(&c.nonce_hash()))
        .expect("the first link's record");
    assert_eq!(item["pk"].as_s().unwrap(), "COMPONENT#hello-service");
    assert_eq!(
        item["approver"].as_s().unwrap(),
        "arn:aws:iam::123456789012:user/alice"
    );
    assert_eq!(item["purpose"].as_s().unwrap(), "decide");
    assert_eq!(item["deployment_id"].as_s().unwrap(), &c.deployment_id);
    assert_eq!(item["environment"].as_s().unwrap(), "prod");
    assert!(item.contains_key("used_at"));
    // DynamoDB's TTL removes it a week after the link expired.
    assert_eq!(
        item["ttl_epoch"].as_n().unwrap(),
        &(c.expires_at + chrono::Duration::days(7))
            .timestamp()
            .to_string()
    );
    assert!(!format!("{item:?}").contains(&c.nonce));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_uses_of_one_link_have_one_winner() {
    let store = store().await;
    let c = claims(LinkPurpose::Decide);
    let uses = (0..10).map(|_| {
        let store = store.clone();
        let c = c.clone();
        tokio::spawn(async move { store.use_link(&c).await })
    });
    let results = futures::future::join_all(uses).await;
    let wins = results
        .into_iter()
        .map(|r| r.unwrap().unwrap())
        .filter(|won| *won)
        .count();
    assert_eq!(wins, 1);
}

#[tokio::test]
async fn minted_links_never_show_in_debug_or_display() {
    let key = link_key().await;
    let link = key.mint(&claims(LinkPurpose::Decide)).await.unwrap();
    let token = link.expose_for_url().to_owned();
    let (payload, mac) = token["f1.".len()..].split_once('.').unwrap();
    for shown in [
        format!("{link:?}"),
        format!("{link:#?}"),
        link.to_string(),
        format!("{:?}", Ok::<_, LinkError>(link.clone())),
    ] {
        assert!(!shown.contains(payload) && !shown.contains(mac), "{shown}");
        assert!(shown.contains("redacted"), "{shown}");
    }
    // Errors name what is wrong, never the token.
    let err = key.verify(&tamper(&link, 20), now()).await.unwrap_err();
    assert!(!err.to_string().contains(payload), "{err}");
    assert!(!format!("{err:?}").contains(payload), "{err:?}");
}
