//! The local pump (S3 notifications → register-release) handling events concurrently: a burst
//! with repeated uploads registers every release exactly once, events that keep failing reach
//! the failures queue once each after Lambda's three attempts, and stop ends it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::QueueAttributeName;
use ferry_local::pump;
use ferry_local::stack::{self, Clients, Queues, StackNames};
use ferry_shared::model::ComponentName;
use ferry_shared::store::Store;
use ferry_tests::{moto, sha256_hex, zips, GetBytes, TestEnv};
use futures::StreamExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// One stack's resources on the shared moto, and its pump running in this test.
struct Pumped {
    /// The stack's bucket and table, for uploads (with the SHA-256 S3 verifies, but no
    /// If-None-Match, so a key can be written again) and the store.
    world: TestEnv,
    sqs: aws_sdk_sqs::Client,
    queues: Queues,
    stop: watch::Sender<bool>,
    pump: JoinHandle<anyhow::Result<()>>,
}

impl Pumped {
    /// Creates the stack's resources; `before_pump` runs before the pump starts (to break things).
    async fn start(before_pump: impl AsyncFnOnce(&Clients, &StackNames)) -> Self {
        ferry_tests::init_log();
        let sdk = ferry_shared::aws::local_sdk_config(moto()).await;
        let clients = Clients::new(&sdk);
        let names = StackNames::unique("pump");
        let queues = stack::create(&clients, &names).await.expect("stack");
        before_pump(&clients, &names).await;
        let world = TestEnv {
            endpoint: moto().to_owned(),
            store: Store::new(clients.dynamodb.clone(), &names.table),
            bucket: names.bucket,
            table: names.table,
            s3: clients.s3,
            dynamodb: clients.dynamodb,
            get_bytes: GetBytes::default(),
        };
        let (stop, stop_rx) = watch::channel(false);
        let pump = tokio::spawn(pump::run(
            clients.sqs.clone(),
            queues.clone(),
            world.deps(),
            stop_rx,
        ));
        Self {
            world,
            sqs: clients.sqs,
            queues,
            stop,
            pump,
        }
    }

    /// Events waiting in, or being handled from, the events queue.
    async fn events_left(&self) -> u64 {
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(&self.queues.events)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .expect("queue attributes");
        out.attributes()
            .into_iter()
            .flat_map(|a| a.values())
            .filter_map(|n| n.parse::<u64>().ok())
            .sum()
    }

    async fn failures(&self) -> Vec<ferry_shared::failures::RegistrationFailure> {
        ferry_shared::failures::list(&self.sqs, &self.queues.failures)
            .await
            .expect("failures queue")
    }

    /// Stops the idle pump and insists it returns promptly (its long poll is cut short).
    async fn stop(self) {
        self.stop.send(true).expect("pump listening");
        tokio::time::timeout(Duration::from_secs(5), self.pump)
            .await
            .expect("the pump stops within 5 s")
            .expect("pump task")
            .expect("pump result");
    }
}

/// Polls `check` until it holds; fails with `what` after `timeout`.
async fn wait_until(what: &str, timeout: Duration, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_with_repeated_uploads_registers_each_release_exactly_once() {
    let stack = Pumped::start(async |_: &Clients, _: &StackNames| {}).await;
    // 90 releases (9 components × 10 versions) and 10 of them uploaded a second time, the
    // same bytes to the same key, all at once.
    let releases: Vec<(String, String)> = (0..90)
        .map(|i| (format!("burst-{}", i % 9), format!("1.0.{}", i / 9)))
        .collect();
    let uploads: Vec<&(String, String)> = releases
        .iter()
        .chain(releases.iter().step_by(9).take(10))
        .collect();
    assert_eq!(uploads.len(), 100);
    let mut first_version: BTreeMap<String, Option<String>> = BTreeMap::new();
    let s = &stack;
    let mut acked = futures::stream::iter(uploads)
        .map(|(c, v)| async move {
            let key = format!("releases/{c}/{v}.zip");
            let id = s.world.upload(&key, zips::release(c, v)).await.version_id;
            (key, id)
        })
        .buffered(16);
    // `buffered` yields in upload order, and each key's first upload was issued first.
    while let Some((key, id)) = acked.next().await {
        first_version.entry(key).or_insert(id);
    }
    drop(acked);
    assert!(
        first_version.values().all(Option::is_some),
        "{first_version:#?}"
    );

    wait_until(
        "every event handled",
        Duration::from_secs(120),
        async || stack.events_left().await == 0,
    )
    .await;

    let store = &stack.world.store;
    let mut registered = 0;
    for component in (0..9).map(|i| format!("burst-{i}")) {
        let name = ComponentName::parse(&component).expect("component");
        let listed = store.list_releases(&name).await.expect("releases");
        assert_eq!(listed.len(), 10, "{component}: {listed:#?}");
        for r in &listed {
            let version = r.version.to_string();
            assert_eq!(
                r.sha256,
                sha256_hex(&zips::release(&component, &version)),
                "{component} {version}"
            );
            assert_eq!(
                Some(&r.version_id),
                first_version.get(&r.s3_key),
                "{} is its first upload",
                r.s3_key
            );
        }
        registered += listed.len();
        let rejected = store.list_rejections(&component).await.expect("rejections");
        assert!(rejected.is_empty(), "{rejected:#?}");
    }
    assert_eq!(registered, 90);
    // Nothing else was written: no second record, no rejection anywhere.
    let items = stack
        .world
        .dynamodb
        .scan()
        .table_name(&stack.world.table)
        .select(aws_sdk_dynamodb::types::Select::Count)
        .send()
        .await
        .expect("scan");
    assert_eq!(items.count(), 90);
    assert_eq!(stack.failures().await, vec![]);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_that_keep_failing_reach_the_failures_queue_once_after_three_attempts() {
    // The fault: the table registration writes to is gone, so every attempt fails.
    let stack = Pumped::start(async |clients: &Clients, names: &StackNames| {
        clients
            .dynamodb
            .delete_table()
            .table_name(&names.table)
            .send()
            .await
            .expect("delete table");
    })
    .await;
    let keys: Vec<String> = (0..5)
        .map(|i| format!("releases/faulty-{i}/1.0.0.zip"))
        .collect();
    futures::future::join_all(keys.iter().enumerate().map(|(i, key)| {
        stack
            .world
            .upload(key, zips::release(&format!("faulty-{i}"), "1.0.0"))
    }))
    .await;

    // Retried like Lambda's asynchronous invocations, then recorded, then deleted.
    wait_until("every event settled", Duration::from_secs(60), async || {
        stack.events_left().await == 0
    })
    .await;
    let mut failures = stack.failures().await;
    failures.sort_by(|a, b| a.keys.cmp(&b.keys));
    assert_eq!(
        failures.iter().map(|f| f.keys.clone()).collect::<Vec<_>>(),
        keys.iter().map(|k| vec![k.clone()]).collect::<Vec<_>>(),
        "{failures:#?}"
    );
    for f in &failures {
        assert_eq!(f.attempts, Some(3), "{f:#?}");
        assert!(f.error.starts_with("Ferry.Transient"), "{f:#?}");
    }
    stack.stop().await;
}
