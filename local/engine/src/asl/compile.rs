//! From the definition document to a [`Definition`]: everything a running execution needs is
//! checked here, once, at CreateStateMachine — transitions, terminal rules, reachability,
//! paths, payload templates, intrinsic functions, Choice rules, Retry/Catch.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::asl::ast::{
    read, BranchDoc, CatcherDoc, ChoiceDoc, FailDoc, Jitter, MapDoc, RetrierDoc, StateDoc, TaskDoc,
    TopDoc, WaitDoc,
};
use crate::asl::choice::{parse_rule, parse_timestamp};
use crate::asl::definition::{
    Catcher, Definition, Kind, MapSpec, Retrier, Seconds, Setting, State, Task, Text, WaitFor,
};
use crate::asl::paths::{IoPath, Path, ResultPath};
use crate::asl::resources::resource_recognised;
use crate::asl::template::Template;
use crate::error::names;

/// Separates a message from the place in the state it is about (`Parameters`), so errors
/// read as AWS's do: `SCHEMA_VALIDATION_FAILED: <message> at /States/<name>/<field>`.
const AT: char = '\u{1}';

/// A message about `field` of the current state.
fn located(field: &str, msg: impl std::fmt::Display) -> String {
    format!("{msg}{AT}{field}")
}

/// Parses and validates a definition document; the error is the reason AWS would give.
pub fn parse(src: &str) -> Result<Arc<Definition>, String> {
    let doc: Value =
        serde_json::from_str(src).map_err(|e| format!("INVALID_JSON_DESCRIPTION: {e}"))?;
    let Value::Object(fields) = &doc else {
        return Err("SCHEMA_VALIDATION_FAILED: Definition must be a valid JSON object".into());
    };
    let missing: Vec<&str> = ["States", "StartAt"]
        .into_iter()
        .filter(|f| !fields.contains_key(*f))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "SCHEMA_VALIDATION_FAILED: These fields are required: [{}] at /",
            missing.join(", ")
        ));
    }
    let top: TopDoc =
        read(doc, "here").map_err(|e| format!("SCHEMA_VALIDATION_FAILED: {e} at the top level"))?;
    if let Some(q) = &top.query_language {
        if q != "JSONPath" {
            return Err(format!("SCHEMA_VALIDATION_FAILED: QueryLanguage {q} is not supported by the local engine (JSONPath only)"));
        }
    }
    if top.timeout_seconds == Some(0) {
        return Err("TimeoutSeconds must be a positive integer".into());
    }
    let mut seen = HashSet::new();
    let def = machine(
        &top.start_at,
        &top.states,
        top.timeout_seconds,
        "",
        &mut seen,
    )?;
    Ok(Arc::new(def))
}

/// A machine at `at` (empty for the top level); `seen` holds every state name so far, since
/// names must be unique across branches too.
fn machine(
    start_at: &str,
    states_doc: &Map<String, Value>,
    timeout_seconds: Option<u64>,
    at: &str,
    seen: &mut HashSet<String>,
) -> Result<Definition, String> {
    if states_doc.is_empty() {
        return Err(format!(
            "SCHEMA_VALIDATION_FAILED: 'States' must not be empty at {}",
            where_(at)
        ));
    }
    let mut states = HashMap::new();
    for (name, v) in states_doc {
        if name.is_empty() || name.chars().count() > 80 {
            return Err(format!(
                "SCHEMA_VALIDATION_FAILED: state name '{name}' must be 1..80 characters"
            ));
        }
        if !seen.insert(name.clone()) {
            return Err(format!(
                "SCHEMA_VALIDATION_FAILED: duplicate state name '{name}'"
            ));
        }
        let Value::Object(s) = v else {
            return Err(format!(
                "SCHEMA_VALIDATION_FAILED: state '{name}' must be an object"
            ));
        };
        let state = state(name, s, seen).map_err(|e| {
            if e.starts_with("SCHEMA_VALIDATION_FAILED")
                || e.contains("_TARGET:")
                || e.starts_with("UNREACHABLE_STATE")
            {
                // Already placed (a nested branch's own error).
                return e;
            }
            match e.split_once(AT) {
                Some((msg, "")) => format!("SCHEMA_VALIDATION_FAILED: {msg} at {at}/States/{name}"),
                Some((msg, field)) => {
                    format!("SCHEMA_VALIDATION_FAILED: {msg} at {at}/States/{name}/{field}")
                }
                None => format!("SCHEMA_VALIDATION_FAILED: {e} at {at}/States/{name}"),
            }
        })?;
        states.insert(name.clone(), Arc::new(state));
    }
    if !states.contains_key(start_at) {
        return Err(format!(
            "MISSING_TRANSITION_TARGET: Missing 'StartAt' target '{start_at}' at {}",
            where_(at)
        ));
    }
    // Every transition must land on a state of the same scope.
    for s in states.values() {
        for target in transitions(s) {
            if !states.contains_key(target) {
                return Err(format!(
                    "MISSING_TRANSITION_TARGET: State '{}' transitions to missing state '{target}'",
                    s.name
                ));
            }
        }
    }
    let mut reachable = HashSet::new();
    let mut stack = vec![start_at];
    while let Some(n) = stack.pop() {
        if reachable.insert(n) {
            if let Some(s) = states.get(n) {
                stack.extend(transitions(s));
            }
        }
    }
    let mut unreachable: Vec<&String> = states
        .keys()
        .filter(|n| !reachable.contains(n.as_str()))
        .collect();
    unreachable.sort();
    if let Some(n) = unreachable.first() {
        return Err(format!("UNREACHABLE_STATE: State '{n}' is not reachable"));
    }
    Ok(Definition {
        start_at: start_at.to_string(),
        states,
        timeout_seconds,
    })
}

fn branch(doc: &BranchDoc, at: &str, seen: &mut HashSet<String>) -> Result<Definition, String> {
    machine(&doc.start_at, &doc.states, None, at, seen)
}

fn where_(at: &str) -> String {
    if at.is_empty() {
        "the top level".to_string()
    } else {
        at.to_string()
    }
}

fn transitions(s: &State) -> Vec<&str> {
    let mut out: Vec<&str> = s.next.iter().map(String::as_str).collect();
    if let Kind::Choice { choices, default } = &s.kind {
        out.extend(choices.iter().map(|(_, n)| n.as_str()));
        out.extend(default.iter().map(String::as_str));
    }
    out.extend(s.catch.iter().map(|c| c.next.as_str()));
    out
}

/// The fields most state types share, borrowed from whichever document declared them.
#[derive(Default)]
struct Common<'a> {
    next: Option<&'a String>,
    end: Option<bool>,
    input_path: Option<&'a Value>,
    output_path: Option<&'a Value>,
    result_path: Option<&'a Value>,
    parameters: Option<&'a Value>,
    result_selector: Option<&'a Value>,
    retry: &'a [RetrierDoc],
    catch: &'a [CatcherDoc],
}

/// Builds a [`Common`] from a state document that has the named groups of fields:
/// `flow` (Next/End), `io` (InputPath/OutputPath), `result` (ResultPath … Catch).
macro_rules! common {
    ($d:expr, flow, io, result) => {
        Common {
            result_path: $d.result_path.as_ref(),
            parameters: $d.parameters.as_ref(),
            result_selector: $d.result_selector.as_ref(),
            retry: $d.retry.as_deref().unwrap_or_default(),
            catch: $d.catch.as_deref().unwrap_or_default(),
            ..common!($d, flow, io)
        }
    };
    ($d:expr, flow, io) => {
        Common {
            next: $d.next.as_ref(),
            end: $d.end,
            ..common!($d, io)
        }
    };
    ($d:expr, io) => {
        Common {
            input_path: $d.input_path.as_ref(),
            output_path: $d.output_path.as_ref(),
            ..Common::default()
        }
    };
}

fn state(
    name: &str,
    obj: &Map<String, Value>,
    seen: &mut HashSet<String>,
) -> Result<State, String> {
    let doc = StateDoc::parse(obj)?;
    let ty = doc.type_name();
    let (common, kind) = match &doc {
        StateDoc::Pass(d) => {
            let mut c = common!(d, flow, io);
            c.result_path = d.result_path.as_ref();
            c.parameters = d.parameters.as_ref();
            (
                c,
                Kind::Pass {
                    result: d.result.clone(),
                },
            )
        }
        StateDoc::Task(d) => (common!(d, flow, io, result), Kind::Task(task(d)?)),
        StateDoc::Choice(d) => (common!(d, io), choice(d)?),
        StateDoc::Wait(d) => (common!(d, flow, io), Kind::Wait(wait(d)?)),
        StateDoc::Succeed(d) => (common!(d, io), Kind::Succeed),
        StateDoc::Fail(d) => (Common::default(), fail(d)?),
        StateDoc::Parallel(d) => {
            let docs = match d.branches.as_deref() {
                None => return Err(located("", "These fields are required: [Branches]")),
                Some([]) => return Err(located("Branches", "Value cannot be empty")),
                Some(b) => b,
            };
            let mut branches = Vec::new();
            for (i, b) in docs.iter().enumerate() {
                let at = format!("/States/{name}/Branches/{i}");
                branches.push(Arc::new(branch(b, &at, seen)?));
            }
            (common!(d, flow, io, result), Kind::Parallel { branches })
        }
        StateDoc::Map(d) => (common!(d, flow, io, result), Kind::Map(map(name, d, seen)?)),
    };
    let next = common.next.cloned();
    let end = common.end.unwrap_or(false);
    // Choice transitions through its rules and Succeed/Fail end the machine: their documents
    // have no Next/End at all, so only the other types are checked here.
    let flows = !matches!(ty, "Choice" | "Succeed" | "Fail");
    if flows && next.is_some() == end {
        return Err("Exactly one of 'Next' or 'End: true' is required".into());
    }
    // Map's Parameters are its ItemSelector (read in `map`), not a state-level template.
    let parameters = match (&doc, common.parameters) {
        (StateDoc::Map(_), _) | (_, None) => None,
        (_, Some(p)) => Some(Template::compile(p).map_err(|e| located("Parameters", e))?),
    };
    Ok(State {
        name: name.to_string(),
        next,
        input_path: IoPath::from_field(common.input_path, "InputPath")?,
        output_path: IoPath::from_field(common.output_path, "OutputPath")?,
        result_path: ResultPath::from_field(common.result_path)?,
        parameters,
        result_selector: common
            .result_selector
            .map(|v| object_template(v, "ResultSelector"))
            .transpose()
            .map_err(|e| located("ResultSelector", e))?,
        retry: retriers(common.retry)?,
        catch: catchers(common.catch)?,
        kind,
    })
}

fn object_template(v: &Value, field: &str) -> Result<Template, String> {
    if !v.is_object() {
        return Err(format!("{field} must be an object"));
    }
    Template::compile(v)
}

fn path(p: Option<&String>) -> Result<Option<Path>, String> {
    p.map(|p| Path::parse(p)).transpose()
}

fn positive(n: u64, field: &str) -> Result<u64, String> {
    if n == 0 {
        return Err(format!("{field} must be a positive integer"));
    }
    Ok(n)
}

/// A duration given literally (`lit`) or by a path (`path`), never both.
fn seconds(
    lit: Option<u64>,
    path_field: Option<&String>,
    names: (&str, &str),
) -> Result<Option<Seconds>, String> {
    match (lit, path(path_field)?) {
        (Some(_), Some(_)) => Err(format!(
            "'{}' and '{}' are mutually exclusive",
            names.0, names.1
        )),
        (Some(n), None) => Ok(Some(Seconds::Fixed(positive(n, names.0)?))),
        (None, Some(p)) => Ok(Some(Seconds::Path(p))),
        (None, None) => Ok(None),
    }
}

/// A Map setting given literally or by its `…Path` field, never both.
fn setting<T>(
    lit: Option<T>,
    path_field: Option<&String>,
    names: (&str, &str),
) -> Result<Option<Setting<T>>, String> {
    match (lit, path(path_field)?) {
        (Some(_), Some(_)) => Err(format!(
            "'{}' and '{}' are mutually exclusive",
            names.0, names.1
        )),
        (Some(n), None) => Ok(Some(Setting::Fixed(n))),
        (None, Some(p)) => Ok(Some(Setting::Path(p))),
        (None, None) => Ok(None),
    }
}

fn task(d: &TaskDoc) -> Result<Task, String> {
    if !resource_recognised(&d.resource) {
        return Err(located(
            "Resource",
            format!("The resource provided {} is not recognized. The value is not a valid resource ARN, or the resource is not available in this region.", d.resource),
        ));
    }
    let timeout = seconds(
        d.timeout_seconds,
        d.timeout_seconds_path.as_ref(),
        ("TimeoutSeconds", "TimeoutSecondsPath"),
    )?;
    let heartbeat = seconds(
        d.heartbeat_seconds,
        d.heartbeat_seconds_path.as_ref(),
        ("HeartbeatSeconds", "HeartbeatSecondsPath"),
    )?;
    if let (Some(Seconds::Fixed(t)), Some(Seconds::Fixed(h))) = (&timeout, &heartbeat) {
        if h >= t {
            return Err("HeartbeatSeconds must be smaller than TimeoutSeconds".into());
        }
    }
    Ok(Task {
        resource: d.resource.clone(),
        timeout,
        heartbeat,
    })
}

fn wait(d: &WaitDoc) -> Result<WaitFor, String> {
    Ok(
        match (&d.seconds, &d.seconds_path, &d.timestamp, &d.timestamp_path) {
            (Some(n), None, None, None) => WaitFor::Seconds(*n),
            (None, Some(p), None, None) => WaitFor::SecondsPath(Path::parse(p)?),
            (None, None, Some(raw), None) => {
                WaitFor::Timestamp(parse_timestamp(raw).ok_or_else(|| {
                    located("Timestamp", "String does not match RFC3339 timestamp")
                })?)
            }
            (None, None, None, Some(p)) => WaitFor::TimestampPath(Path::parse(p)?),
            _ => return Err(
                "A Wait state needs exactly one of Seconds, SecondsPath, Timestamp, TimestampPath"
                    .into(),
            ),
        },
    )
}

fn fail(d: &FailDoc) -> Result<Kind, String> {
    let text = |lit: &Option<String>, path: &Option<String>, names: (&str, &str)| match (lit, path)
    {
        (Some(_), Some(_)) => Err(format!(
            "'{}' and '{}' are mutually exclusive",
            names.0, names.1
        )),
        (Some(v), None) => Ok(Some(Text::Literal(v.clone()))),
        (None, Some(p)) => Template::compile_expression(p).map(|t| Some(Text::Dynamic(t))),
        (None, None) => Ok(None),
    };
    Ok(Kind::Fail {
        error: text(&d.error, &d.error_path, ("Error", "ErrorPath"))?,
        cause: text(&d.cause, &d.cause_path, ("Cause", "CausePath"))?,
    })
}

fn choice(d: &ChoiceDoc) -> Result<Kind, String> {
    let list = d
        .choices
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or("A Choice state needs a non-empty 'Choices' array")?;
    let mut choices = Vec::new();
    for rule in list {
        let next = match rule.get("Next") {
            None => return Err("each top-level choice rule needs 'Next'".into()),
            Some(Value::String(n)) => n.clone(),
            Some(_) => return Err("Next must be a string".into()),
        };
        choices.push((parse_rule(rule, true)?, next));
    }
    Ok(Kind::Choice {
        choices,
        default: d.default.clone(),
    })
}

fn map(name: &str, d: &MapDoc, seen: &mut HashSet<String>) -> Result<MapSpec, String> {
    let (processor, field) = match (&d.item_processor, &d.iterator) {
        (Some(p), None) => (p, "ItemProcessor"),
        (None, Some(p)) => (p, "Iterator"),
        _ => return Err("A Map state needs exactly one of 'ItemProcessor' or 'Iterator'".into()),
    };
    let processor = branch(processor, &format!("/States/{name}/{field}"), seen)?;
    let item_selector = match (&d.item_selector, &d.parameters) {
        (Some(_), Some(_)) => {
            return Err("'ItemSelector' and 'Parameters' are mutually exclusive".into())
        }
        (Some(t), None) => {
            Some(object_template(t, "ItemSelector").map_err(|e| located("ItemSelector", e))?)
        }
        (None, Some(p)) => Some(Template::compile(p).map_err(|e| located("Parameters", e))?),
        (None, None) => None,
    };
    let max_concurrency = setting(
        d.max_concurrency,
        d.max_concurrency_path.as_ref(),
        ("MaxConcurrency", "MaxConcurrencyPath"),
    )?;
    let tolerated_count = setting(
        d.tolerated_failure_count,
        d.tolerated_failure_count_path.as_ref(),
        ("ToleratedFailureCount", "ToleratedFailureCountPath"),
    )?;
    if let Some(p) = d.tolerated_failure_percentage {
        if !(0.0..=100.0).contains(&p) {
            return Err(located(
                "ToleratedFailurePercentage",
                "ToleratedFailurePercentage must be between 0 and 100",
            ));
        }
    }
    let tolerated_percentage = setting(
        d.tolerated_failure_percentage,
        d.tolerated_failure_percentage_path.as_ref(),
        (
            "ToleratedFailurePercentage",
            "ToleratedFailurePercentagePath",
        ),
    )?;
    Ok(MapSpec {
        items_path: path(d.items_path.as_ref())?,
        item_selector,
        processor: Arc::new(processor),
        max_concurrency,
        tolerated_count,
        tolerated_percentage,
    })
}

fn error_list(list: &[String], what: &str) -> Result<Vec<String>, String> {
    if list.is_empty() {
        return Err(format!("each {what} needs a non-empty 'ErrorEquals'"));
    }
    if list.iter().any(|e| e == names::ALL) && list.len() > 1 {
        return Err("States.ALL must appear alone in ErrorEquals".into());
    }
    Ok(list.to_vec())
}

fn last_all_check<'a>(
    lists: impl Iterator<Item = &'a Vec<String>>,
    what: &str,
) -> Result<(), String> {
    let lists: Vec<_> = lists.collect();
    for (i, l) in lists.iter().enumerate() {
        if l.iter().any(|e| e == names::ALL) && i + 1 != lists.len() {
            return Err(format!("a {what} with States.ALL must be the last one"));
        }
    }
    Ok(())
}

fn retriers(docs: &[RetrierDoc]) -> Result<Vec<Retrier>, String> {
    let mut out = Vec::new();
    for r in docs {
        let backoff_rate = match r.backoff_rate {
            None => 2.0,
            Some(b) if b >= 1.0 => b,
            Some(_) => return Err("BackoffRate must be a number >= 1.0".into()),
        };
        out.push(Retrier {
            error_equals: error_list(&r.error_equals, "retrier")?,
            interval_seconds: r
                .interval_seconds
                .map(|n| positive(n, "IntervalSeconds"))
                .transpose()?
                .unwrap_or(1),
            max_attempts: r
                .max_attempts
                .map_or(3, |n| u32::try_from(n).unwrap_or(u32::MAX)),
            backoff_rate,
            max_delay_seconds: r
                .max_delay_seconds
                .map(|n| positive(n, "MaxDelaySeconds"))
                .transpose()?,
            full_jitter: r.jitter_strategy == Some(Jitter::Full),
        });
    }
    last_all_check(out.iter().map(|r| &r.error_equals), "retrier")?;
    Ok(out)
}

fn catchers(docs: &[CatcherDoc]) -> Result<Vec<Catcher>, String> {
    let mut out = Vec::new();
    for c in docs {
        out.push(Catcher {
            error_equals: error_list(&c.error_equals, "catcher")?,
            next: c.next.clone(),
            result_path: ResultPath::from_field(c.result_path.as_ref())?,
        });
    }
    last_all_check(out.iter().map(|c| &c.error_equals), "catcher")?;
    Ok(out)
}

#[cfg(test)]
mod tests;
