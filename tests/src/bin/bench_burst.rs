//! Bench: a burst of release uploads through the local stack's pump (S3 notification → SQS →
//! register-release), with a tenth of them the same bytes uploaded again to the same key. For
//! each pump concurrency it starts a fresh moto_server, creates the local stack's resources as
//! `ferry local up` does and runs the real pump on a thread of its own, uploads the burst, waits
//! until every event is handled, checks the table holds exactly the releases uploaded (each
//! once, as its first upload, no rejections, nothing in the failures queue) and prints:
//! events/s end to end, CPU per event on the pump's thread (the handler's own cost) and in
//! moto, and what one ListObjectVersions costs moto on the filled bucket. Concurrency 1 is the
//! old one-event-at-a-time pump; moto's CPU per event, not the pump, sets the pace on moto.
//! Run: `cargo run -p ferry-tests --release --bin bench_burst [-- --uploads 1000 --concurrency 1,16]`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use aws_sdk_sqs::types::QueueAttributeName;
use ferry_local::moto::Moto;
use ferry_local::pump;
use ferry_local::stack::{self, Clients, Queues, StackNames};
use ferry_shared::model::{ComponentName, ReleaseKey};
use ferry_shared::store::Store;
use ferry_tests::{free_port, moto_program, sha256_hex, zips, GetBytes, TestEnv};
use futures::StreamExt;
use tokio::sync::watch;

const USAGE: &str = "usage: bench_burst [--uploads N] [--concurrency N[,N…]] [--deadline-secs N]";
/// Every tenth upload repeats an earlier one.
const REPEAT_EVERY: usize = 10;
/// Components the releases are spread over.
const COMPONENTS: usize = 100;
/// Uploads in flight at once: a burst, not a trickle.
const UPLOADERS: usize = 8;

struct Opts {
    uploads: usize,
    concurrency: Vec<usize>,
    deadline: Duration,
}

impl Opts {
    fn parse() -> Result<Self> {
        let mut o = Opts {
            uploads: 1000,
            concurrency: vec![1, pump::CONCURRENCY],
            deadline: Duration::from_secs(900),
        };
        let mut args = std::env::args().skip(1);
        while let Some(flag) = args.next() {
            if flag == "-h" || flag == "--help" {
                println!("{USAGE}");
                std::process::exit(0);
            }
            let value = args
                .next()
                .with_context(|| format!("{flag} needs a value\n{USAGE}"))?;
            let num = |v: &str| {
                v.parse::<usize>()
                    .with_context(|| format!("{flag} {v}: not a number"))
            };
            match flag.as_str() {
                "--uploads" => o.uploads = num(&value)?,
                "--concurrency" => {
                    o.concurrency = value.split(',').map(num).collect::<Result<_>>()?
                }
                "--deadline-secs" => o.deadline = Duration::from_secs(num(&value)? as u64),
                _ => bail!("unknown argument {flag}\n{USAGE}"),
            }
        }
        ensure!(
            o.uploads >= REPEAT_EVERY && o.uploads.is_multiple_of(REPEAT_EVERY),
            "--uploads must be a multiple of {REPEAT_EVERY}"
        );
        ensure!(
            o.concurrency.iter().all(|&c| c > 0),
            "--concurrency must be at least 1"
        );
        Ok(o)
    }
}

/// The burst in upload order: (component, version). Each group of ten is nine new releases,
/// then the group's first release again (same bytes, same key).
fn burst(uploads: usize) -> Vec<(String, String)> {
    let fresh = REPEAT_EVERY - 1;
    let mut out = Vec::with_capacity(uploads);
    for group in 0..uploads / REPEAT_EVERY {
        let release = |i: usize| {
            let n = group * fresh + i;
            (
                format!("burst-{:02}", n % COMPONENTS),
                format!("1.0.{}", n / COMPONENTS),
            )
        };
        out.extend((0..fresh).map(release));
        out.push(release(0));
    }
    out
}

fn key(component: &str, version: &str) -> String {
    format!("releases/{component}/{version}.zip")
}

/// CPU time of the calling thread, from the scheduler's own nanosecond count.
fn thread_cpu() -> Result<Duration> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat")
        .context("reading /proc/thread-self/schedstat")?;
    let ns = s
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .context("schedstat without a run time")?;
    Ok(Duration::from_nanos(ns))
}

/// CPU time (user + system, all threads) of process `pid`.
fn process_cpu(pid: u32) -> Result<Duration> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = s.rsplit_once(')').context("odd /proc stat")?.1;
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|n| n.parse().ok())
        .collect();
    ensure!(f.len() == 2, "no CPU times in /proc/{pid}/stat");
    // Clock ticks: USER_HZ, 100 on Linux.
    Ok(Duration::from_millis((f[0] + f[1]) * 10))
}

/// The moto_server this process started (its only child running moto_server).
fn moto_pid() -> Result<u32> {
    let me = std::process::id().to_string();
    for entry in std::fs::read_dir("/proc")? {
        let Ok(pid) = entry?.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let (Ok(stat), Ok(cmd)) = (
            std::fs::read_to_string(format!("/proc/{pid}/stat")),
            std::fs::read(format!("/proc/{pid}/cmdline")),
        ) else {
            continue;
        };
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, r)| r.split_whitespace().nth(1));
        if ppid == Some(me.as_str()) && String::from_utf8_lossy(&cmd).contains("moto_server") {
            return Ok(pid);
        }
    }
    bail!("no moto_server child found")
}

/// The pump on a thread and runtime of its own, so its CPU time is the pump's and handler's
/// alone; returns that time when stopped.
fn spawn_pump(
    endpoint: String,
    queues: Queues,
    table: String,
    concurrency: usize,
    stop: watch::Receiver<bool>,
) -> std::thread::JoinHandle<Result<Duration>> {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(async {
            let sdk = ferry_shared::aws::local_sdk_config(&endpoint).await;
            let clients = Clients::new(&sdk);
            let deps = register_release::Deps {
                s3: clients.s3.clone(),
                store: Store::new(clients.dynamodb.clone(), &table),
            };
            pump::run_bounded(clients.sqs, queues, deps, stop, concurrency).await
        })?;
        thread_cpu()
    })
}

/// Events waiting in, or being handled from, the events queue.
async fn events_left(sqs: &aws_sdk_sqs::Client, queue: &str) -> Result<u64> {
    let out = sqs
        .get_queue_attributes()
        .queue_url(queue)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await?;
    Ok(out
        .attributes()
        .into_iter()
        .flat_map(|a| a.values())
        .filter_map(|n| n.parse::<u64>().ok())
        .sum())
}

/// Waits until every event is handled. Asking the queue for its length all along would load
/// moto itself (its GetQueueAttributes walks every message: ~70 ms of moto's CPU with 1,000
/// queued), so this first waits for each release with a GetItem (~2 ms), then for the events
/// still in flight (repeats) with the queue's length, which is short by then.
async fn wait_handled(
    clients: &Clients,
    names: &StackNames,
    queues: &Queues,
    first_upload: &BTreeMap<String, String>,
    pump: &std::thread::JoinHandle<Result<Duration>>,
    start: Instant,
    opts: &Opts,
) -> Result<()> {
    let store = Store::new(clients.dynamodb.clone(), &names.table);
    let releases = first_upload
        .keys()
        .map(|k| ReleaseKey::parse(k))
        .collect::<Result<Vec<_>, _>>()?;
    let mut registered = 0;
    loop {
        ensure!(
            start.elapsed() < opts.deadline,
            "not every event was handled within {:?}",
            opts.deadline
        );
        ensure!(!pump.is_finished(), "the pump stopped early");
        if let Some(k) = releases.get(registered) {
            if store.get_release(&k.component, &k.version).await?.is_some() {
                registered += 1;
                continue;
            }
        } else if events_left(&clients.sqs, &queues.events).await? == 0 {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every release registered once, as its first upload; nothing else in the table; nothing
/// failed. Returns the number of releases.
async fn verify(
    clients: &Clients,
    names: &StackNames,
    queues: &Queues,
    first_upload: &BTreeMap<String, String>,
) -> Result<usize> {
    let store = Store::new(clients.dynamodb.clone(), &names.table);
    let mut registered = 0;
    let components: std::collections::BTreeSet<&str> = first_upload
        .keys()
        .filter_map(|k| k.split('/').nth(1))
        .collect();
    for component in components {
        for r in store
            .list_releases(&ComponentName::parse(component)?)
            .await?
        {
            let version = r.version.to_string();
            ensure!(
                r.sha256 == sha256_hex(&zips::release(component, &version)),
                "{component} {version}: wrong SHA-256"
            );
            ensure!(
                r.version_id.as_ref() == first_upload.get(&r.s3_key),
                "{} registered {:?}, not its first upload",
                r.s3_key,
                r.version_id
            );
            registered += 1;
        }
        let rejected = store.list_rejections(component).await?;
        ensure!(rejected.is_empty(), "rejections: {rejected:#?}");
    }
    ensure!(
        registered == first_upload.len(),
        "{registered} releases registered, {} uploaded",
        first_upload.len()
    );
    // A second record or a rejection anywhere would show in the item count.
    let (mut items, mut start) = (0, None);
    loop {
        let page = clients
            .dynamodb
            .scan()
            .table_name(&names.table)
            .select(aws_sdk_dynamodb::types::Select::Count)
            .set_exclusive_start_key(start)
            .send()
            .await?;
        items += usize::try_from(page.count())?;
        start = page.last_evaluated_key;
        if start.is_none() {
            break;
        }
    }
    ensure!(
        items == registered,
        "{items} items in the table, {registered} releases"
    );
    let failed = ferry_shared::failures::list(&clients.sqs, &queues.failures).await?;
    ensure!(failed.is_empty(), "failed registrations: {failed:#?}");
    Ok(registered)
}

/// Mean time of `calls` sequential requests.
async fn mean<F: std::future::Future<Output = Result<()>>>(
    calls: u32,
    mut call: impl FnMut() -> F,
) -> Result<Duration> {
    let start = Instant::now();
    for _ in 0..calls {
        call().await?;
    }
    Ok(start.elapsed() / calls)
}

struct Row {
    concurrency: usize,
    uploads: usize,
    releases: usize,
    uploading: Duration,
    wall: Duration,
    pump_cpu: Duration,
    moto_cpu: Duration,
    list: Duration,
    head: Duration,
}

async fn run_once(opts: &Opts, concurrency: usize) -> Result<Row> {
    let dir = tempfile::tempdir()?;
    let moto = Moto::start(&moto_program(), free_port(), &dir.path().join("moto.log")).await?;
    let moto_pid = moto_pid()?;
    let sdk = ferry_shared::aws::local_sdk_config(&moto.endpoint).await;
    let clients = Clients::new(&sdk);
    let names = StackNames::unique("burst");
    let queues = stack::create(&clients, &names).await?;
    // The stack's bucket and table as a test world: uploads with the SHA-256 S3 verifies, as
    // `ferry release` sends them, but without If-None-Match, so a key can be written again.
    let world = TestEnv {
        endpoint: moto.endpoint.clone(),
        bucket: names.bucket.clone(),
        table: names.table.clone(),
        s3: clients.s3.clone(),
        dynamodb: clients.dynamodb.clone(),
        store: Store::new(clients.dynamodb.clone(), &names.table),
        get_bytes: GetBytes::default(),
    };
    let (stop, stop_rx) = watch::channel(false);
    let pump = spawn_pump(
        moto.endpoint.clone(),
        queues.clone(),
        names.table.clone(),
        concurrency,
        stop_rx,
    );
    let zips: Vec<(String, Vec<u8>)> = burst(opts.uploads)
        .iter()
        .map(|(c, v)| (key(c, v), zips::release(c, v)))
        .collect();

    let moto_before = process_cpu(moto_pid)?;
    let start = Instant::now();
    // `buffered` yields in upload order and starts an upload only once the one UPLOADERS + 1
    // places before it finished, so each key's first upload is acknowledged first.
    let mut acked = futures::stream::iter(zips)
        .map(|(key, body)| {
            let world = &world;
            async move { (world.upload(&key, body).await.version_id, key) }
        })
        .buffered(UPLOADERS);
    let mut first_upload = BTreeMap::new();
    while let Some((version_id, key)) = acked.next().await {
        let version_id = version_id.context("a versioned bucket returns a VersionId")?;
        first_upload.entry(key).or_insert(version_id);
    }
    drop(acked);
    let uploading = start.elapsed();
    let waited = wait_handled(&clients, &names, &queues, &first_upload, &pump, start, opts);
    if let Err(e) = waited.await {
        let _ = stop.send(true);
        bail!("{e:#} (the pump ended with {:?})", pump.join());
    }
    let wall = start.elapsed();
    let moto_cpu = process_cpu(moto_pid)? - moto_before;
    let _ = stop.send(true);
    let pump_cpu = pump
        .join()
        .map_err(|_| anyhow::anyhow!("the pump thread panicked"))??;
    let releases = verify(&clients, &names, &queues, &first_upload).await?;

    // What registration's one listing per event costs moto now that the bucket is full,
    // beside a HEAD of the same key.
    let some_key = key("burst-00", "1.0.0");
    let s3 = &clients.s3;
    let list = mean(50, || async {
        s3.list_object_versions()
            .bucket(&names.bucket)
            .prefix(&some_key)
            .send()
            .await?;
        Ok(())
    })
    .await?;
    let head = mean(50, || async {
        s3.head_object()
            .bucket(&names.bucket)
            .key(&some_key)
            .send()
            .await?;
        Ok(())
    })
    .await?;
    moto.stop().await?;
    Ok(Row {
        concurrency,
        uploads: opts.uploads,
        releases,
        uploading,
        wall,
        pump_cpu,
        moto_cpu,
        list,
        head,
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> Result<()> {
    let opts = Opts::parse()?;
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    println!(
        "burst of {} uploads ({} releases, every {REPEAT_EVERY}th upload a repeat), {profile} build",
        opts.uploads,
        opts.uploads / REPEAT_EVERY * (REPEAT_EVERY - 1)
    );
    // events/s of every run, by concurrency
    let mut rates: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
    for &c in &opts.concurrency {
        let row = run_once(&opts, c).await?;
        let per = |d: Duration| ms(d) / row.uploads as f64;
        let rate = row.uploads as f64 / row.wall.as_secs_f64();
        println!(
            "concurrency {:>3}: {} events in {:.1}s (uploads took {:.1}s) = {rate:.1} events/s; \
             {} releases exact; CPU per event: pump+handler {:.2} ms, moto {:.1} ms with its uploads \
             (moto busy {:.0}% of the wall); on the full bucket ListObjectVersions {:.1} ms, \
             HeadObject {:.1} ms",
            row.concurrency,
            row.uploads,
            row.wall.as_secs_f64(),
            row.uploading.as_secs_f64(),
            row.releases,
            per(row.pump_cpu),
            per(row.moto_cpu),
            100.0 * row.moto_cpu.as_secs_f64() / row.wall.as_secs_f64(),
            ms(row.list),
            ms(row.head),
        );
        rates.entry(c).or_default().push(rate);
    }
    let median = |v: &Vec<f64>| {
        let mut v = v.clone();
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    if let (Some((lo, slow)), Some((hi, fast))) = (rates.first_key_value(), rates.last_key_value())
    {
        if lo != hi {
            println!(
                "median events/s: concurrency {hi} {:.1}, concurrency {lo} {:.1}: {:.2}×",
                median(fast),
                median(slow),
                median(fast) / median(slow)
            );
        }
    }
    Ok(())
}
