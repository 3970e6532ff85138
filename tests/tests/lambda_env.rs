//! What a Lambda bootstrap builds from its environment, against real servers: the SDK
//! configuration `ferry_lambda::sdk_config` reads from Lambda's variables (against moto), and
//! the HTTPS client under it (`ferry_shared::aws::https_client`, rustls on ring) against moto
//! serving TLS with a certificate of its own — which the Lambdas' trust (the AWS roots built
//! in) must refuse and the system store that `SSL_CERT_FILE` names must accept, so the whole
//! TLS path works and the escape hatch the docs name is real. The tests set process
//! environment variables, one at a time (ENV); only the TLS test may load the system store.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::BehaviorVersion;
use ferry_shared::aws::{https_client, Trust, LOCAL_REGION};
use ferry_tests::{free_port, moto, moto_program};

static ENV: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test]
async fn the_lambda_sdk_config_comes_from_the_variables_lambda_sets() {
    let _env = ENV.lock().await;
    // Lambda sets no SSL_CERT_FILE (a machine may): with one, the client would load the system
    // store, which rustls-native-certs reads once per process — before the TLS test names its CA.
    std::env::remove_var("SSL_CERT_FILE");
    std::env::remove_var("SSL_CERT_DIR");
    for (k, v) in [
        ("AWS_REGION", LOCAL_REGION),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_SESSION_TOKEN", "lambda-session"),
        ("AWS_ENDPOINT_URL", moto()),
    ] {
        std::env::set_var(k, v);
    }
    let sdk = ferry_lambda::sdk_config();
    assert_eq!(sdk.region().map(|r| r.as_ref()), Some(LOCAL_REGION));
    assert_eq!(sdk.endpoint_url(), Some(moto()));
    let s3 = ferry_shared::aws::s3_client(&sdk);
    s3.create_bucket()
        .bucket("lambda-env")
        .send()
        .await
        .expect("S3 through the Lambda configuration");
    let listed = s3.list_buckets().send().await.expect("list buckets");
    assert!(listed
        .buckets()
        .iter()
        .any(|b| b.name() == Some("lambda-env")));
    ferry_shared::aws::dynamodb_client(&sdk)
        .list_tables()
        .send()
        .await
        .expect("DynamoDB through the Lambda configuration");

    // Without credentials a call fails with the SDK's credentials error, never unsigned.
    std::env::remove_var("AWS_ACCESS_KEY_ID");
    let err = ferry_shared::aws::s3_client(&ferry_lambda::sdk_config())
        .list_buckets()
        .send()
        .await
        .expect_err("no credentials");
    assert!(
        chain(&err).contains("environment variable not set"),
        "{}",
        chain(&err)
    );
    for k in [
        "AWS_REGION",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
    ] {
        std::env::remove_var(k);
    }
}

fn openssl(args: &[&str], dir: &Path) {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl (apt-get install openssl)");
    assert!(status.success(), "openssl {args:?} failed");
}

/// A test CA and a server certificate it signed for localhost and 127.0.0.1 (openssl), as the
/// paths of (CA, server certificate, server key).
fn certificates(dir: &Path) -> (String, String, String) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let ca = [
        &["req", "-x509"][..],
        &ec,
        &["-days", "1", "-subj", "/CN=ferry test CA"],
    ];
    openssl(
        &[ca.concat(), vec!["-keyout", "ca.key", "-out", "ca.pem"]].concat(),
        dir,
    );
    let csr = [&["req"][..], &ec, &["-subj", "/CN=localhost"]];
    openssl(
        &[
            csr.concat(),
            vec!["-keyout", "key.pem", "-out", "server.csr"],
        ]
        .concat(),
        dir,
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         extendedKeyUsage=serverAuth\n",
    )
    .expect("write server.ext");
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "server.ext",
            "-out",
            "cert.pem",
        ],
        dir,
    );
    let path = |f: &str| dir.join(f).to_string_lossy().into_owned();
    (path("ca.pem"), path("cert.pem"), path("key.pem"))
}

/// moto_server over TLS on a free port; killed with this process.
fn moto_tls(cert: &str, key: &str) -> (std::process::Child, u16) {
    use std::os::unix::process::CommandExt;
    let port = free_port();
    let mut cmd = Command::new(moto_program());
    cmd.args([
        "-H",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-s",
        "-c",
        cert,
        "-k",
        key,
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    // SAFETY: prctl is async-signal-safe and touches no shared state.
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                .map_err(std::io::Error::from)
        });
    }
    let child = cmd
        .spawn()
        .expect("moto_server (bash scripts/setup.sh installs it)");
    (child, port)
}

async fn s3(trust: Trust, endpoint: &str) -> aws_sdk_s3::Client {
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client(trust))
        .endpoint_url(endpoint)
        .region(aws_config::Region::new(LOCAL_REGION))
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .load()
        .await;
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    )
}

/// The error and its sources, one string.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[tokio::test]
async fn lambdas_trust_only_aws_roots_and_ssl_cert_file_switches_to_the_system_store() {
    let _env = ENV.lock().await;
    std::env::remove_var("SSL_CERT_FILE");
    std::env::remove_var("SSL_CERT_DIR");
    let dir = tempfile::tempdir().expect("temp dir");
    let (ca, cert, key) = certificates(dir.path());
    let (mut moto, port) = moto_tls(&cert, &key);
    let endpoint = format!("https://localhost:{port}");
    let lambda = s3(Trust::AwsRoots, &endpoint).await;

    // The system store is read once per process: name the test's CA before it is.
    std::env::set_var("SSL_CERT_FILE", &ca);
    let cli = s3(Trust::System, &endpoint).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match cli.list_buckets().send().await {
            Ok(_) => break,
            Err(e) => {
                assert!(
                    Instant::now() < deadline,
                    "moto over TLS never answered a client trusting its certificate: {}",
                    chain(&e)
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    cli.create_bucket()
        .bucket("tls-check")
        .send()
        .await
        .expect("create a bucket over TLS");

    let refused = lambda
        .list_buckets()
        .send()
        .await
        .expect_err("a Lambda client must not trust a certificate outside the AWS roots");
    let why = chain(&refused);
    assert!(
        why.to_lowercase().contains("certificate") || why.contains("UnknownIssuer"),
        "refused for another reason than the certificate: {why}"
    );
    let _ = moto.kill();
}
