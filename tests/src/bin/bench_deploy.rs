//! Bench: the local loop, upload → registered → dev+prod planned, auto-approved and applied,
//! timed wall-clock, and the state transitions one 2-environment deploy takes, counted from the
//! local engine's execution history. Run: `cargo run -p ferry-tests --bin bench_deploy [runs]`.

use std::time::{Duration, Instant};

use ferry_tests::repo_root;
use ferry_tests::stack::Stack;

fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(3);
    let stack = Stack::up();
    stack.ok(&["env", "put", "dev", "--order", "1", "--approval", "none"]);
    stack.ok(&["env", "put", "prod", "--order", "2", "--approval", "none"]);
    let example = repo_root().join("examples/hello-service");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let sfn = rt.block_on(async {
        let sdk = ferry_shared::aws::local_sdk_config(
            stack.var("AWS_ENDPOINT_URL_SFN").expect("sfn endpoint"),
        )
        .await;
        aws_sdk_sfn::Client::new(&sdk)
    });

    let mut walls = Vec::new();
    let mut transitions = Vec::new();
    for run in 0..runs {
        let version = format!("1.0.{run}");
        let start = Instant::now();
        stack.release_dir(&example, &version);
        let registered = start.elapsed();
        let id = stack
            .ok(&["deploy", "hello-service", &version, "--to", "dev,prod"])
            .trim()
            .to_owned();
        let d = stack.wait_finished(&id);
        let wall = start.elapsed();
        assert_eq!(d["status"], "succeeded", "{d:#}");
        let arn = d["execution_arn"]
            .as_str()
            .expect("execution arn")
            .to_owned();
        let (entered, events) = rt.block_on(async {
            let mut entered = 0;
            let mut events = 0;
            let mut token = None;
            loop {
                let page = sfn
                    .get_execution_history()
                    .execution_arn(&arn)
                    .set_next_token(token)
                    .max_results(1000)
                    .send()
                    .await
                    .expect("history");
                for e in page.events() {
                    events += 1;
                    if e.r#type().as_str().ends_with("StateEntered") {
                        entered += 1;
                    }
                }
                token = page.next_token().map(str::to_owned);
                if token.is_none() {
                    break (entered, events);
                }
            }
        });
        println!(
            "run {run}: registered in {:.2}s, dev+prod applied {:.2}s after upload; {entered} state transitions ({events} history events)",
            registered.as_secs_f64(),
            wall.as_secs_f64()
        );
        walls.push(wall);
        transitions.push(entered);
    }
    walls.sort();
    let median: Duration = walls[walls.len() / 2];
    println!(
        "median upload → dev+prod applied: {:.2}s over {runs} runs; state transitions per 2-environment deploy: {:?}",
        median.as_secs_f64(),
        transitions
    );
}
