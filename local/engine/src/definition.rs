//! Parsing and validation of Amazon States Language definitions (JSONPath query language).
//!
//! Everything a running execution needs is checked and compiled here, once, at
//! CreateStateMachine: transitions, terminal rules, reachability, field names per state type,
//! paths, payload templates, intrinsic functions, Choice rules, Retry/Catch.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, FixedOffset};
use serde_json::{Map, Value};

use crate::error::names;
use crate::paths::{IoPath, Path, ResultPath, Template};

/// A compiled state machine (or a Parallel branch / Map processor).
#[derive(Debug)]
pub struct Definition {
    pub start_at: String,
    pub states: HashMap<String, Arc<State>>,
    pub timeout_seconds: Option<u64>,
}

#[derive(Debug)]
pub struct State {
    pub name: String,
    pub kind: Kind,
    pub next: Option<String>,
    pub input_path: IoPath,
    pub output_path: IoPath,
    pub result_path: ResultPath,
    pub parameters: Option<Template>,
    pub result_selector: Option<Template>,
    pub retry: Vec<Retrier>,
    pub catch: Vec<Catcher>,
}

#[derive(Debug)]
pub enum Kind {
    Pass {
        result: Option<Value>,
    },
    Task(Task),
    Choice {
        choices: Vec<(Rule, String)>,
        default: Option<String>,
    },
    Wait(WaitFor),
    Succeed,
    Fail {
        error: Option<Text>,
        cause: Option<Text>,
    },
    Parallel {
        branches: Vec<Arc<Definition>>,
    },
    Map(MapSpec),
}

impl Kind {
    /// The prefix of this state's history events (`PassStateEntered`, …).
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Pass { .. } => "Pass",
            Self::Task(_) => "Task",
            Self::Choice { .. } => "Choice",
            Self::Wait(_) => "Wait",
            Self::Succeed => "Succeed",
            Self::Fail { .. } => "Fail",
            Self::Parallel { .. } => "Parallel",
            Self::Map(_) => "Map",
        }
    }
}

#[derive(Debug)]
pub struct Task {
    pub resource: String,
    pub timeout: Option<Seconds>,
    pub heartbeat: Option<Seconds>,
}

/// A duration given literally or by a path into the effective input.
#[derive(Debug)]
pub enum Seconds {
    Fixed(u64),
    Path(Path),
}

#[derive(Debug)]
pub enum WaitFor {
    Seconds(u64),
    SecondsPath(Path),
    Timestamp(DateTime<FixedOffset>),
    TimestampPath(Path),
}

/// Fail's Error/Cause: a literal, or (ErrorPath/CausePath) a path or intrinsic function.
#[derive(Debug)]
pub enum Text {
    Literal(String),
    Dynamic(Template),
}

#[derive(Debug)]
pub struct MapSpec {
    pub items_path: Option<Path>,
    pub item_selector: Option<Template>,
    pub processor: Arc<Definition>,
    pub max_concurrency: Option<Seconds>,
    pub tolerated_count: Option<u64>,
    pub tolerated_percentage: Option<f64>,
}

#[derive(Debug)]
pub struct Retrier {
    pub error_equals: Vec<String>,
    pub interval_seconds: u64,
    pub max_attempts: u32,
    pub backoff_rate: f64,
    pub max_delay_seconds: Option<u64>,
    pub full_jitter: bool,
}

#[derive(Debug)]
pub struct Catcher {
    pub error_equals: Vec<String>,
    pub next: String,
    pub result_path: ResultPath,
}

/// A Choice rule.
#[derive(Debug)]
pub enum Rule {
    And(Vec<Rule>),
    Or(Vec<Rule>),
    Not(Box<Rule>),
    Test {
        variable: Path,
        op: Op,
        operand: Operand,
    },
}

#[derive(Debug)]
pub enum Operand {
    Value(Value),
    Path(Path),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Lt,
    Gt,
    Le,
    Ge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    String(Cmp),
    StringMatches,
    Numeric(Cmp),
    Boolean,
    Timestamp(Cmp),
    IsNull,
    IsPresent,
    IsNumeric,
    IsString,
    IsBoolean,
    IsTimestamp,
}

/// True when `error` is handled by a Retry/Catch list, with AWS's wildcard rules.
pub fn error_matches(list: &[String], error: &str) -> bool {
    // States.Runtime is never retried or caught, even by States.ALL.
    if error == names::RUNTIME {
        return false;
    }
    let is_timeout = error == names::TIMEOUT || error == names::HEARTBEAT_TIMEOUT;
    list.iter().any(|e| {
        e == error
            || e == names::ALL
            || (e == names::TASK_FAILED && !is_timeout)
            || (e == names::TIMEOUT && is_timeout)
    })
}

/// Parses a timestamp the way ASL requires (RFC 3339, with an offset).
pub fn parse_timestamp(s: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(s).ok()
}

const COMMON: &[&str] = &["Type", "Comment"];
const IO: &[&str] = &["InputPath", "OutputPath"];

fn allowed_fields(ty: &str) -> Option<Vec<&'static str>> {
    let extra: &[&str] = match ty {
        "Pass" => &[
            "Next",
            "End",
            "InputPath",
            "OutputPath",
            "ResultPath",
            "Parameters",
            "Result",
        ],
        "Task" => &[
            "Next",
            "End",
            "InputPath",
            "OutputPath",
            "ResultPath",
            "Parameters",
            "ResultSelector",
            "Retry",
            "Catch",
            "Resource",
            "TimeoutSeconds",
            "TimeoutSecondsPath",
            "HeartbeatSeconds",
            "HeartbeatSecondsPath",
            "Credentials",
        ],
        "Choice" => &["InputPath", "OutputPath", "Choices", "Default"],
        "Wait" => &[
            "Next",
            "End",
            "InputPath",
            "OutputPath",
            "Seconds",
            "SecondsPath",
            "Timestamp",
            "TimestampPath",
        ],
        "Succeed" => IO,
        "Fail" => &["Error", "ErrorPath", "Cause", "CausePath"],
        "Parallel" => &[
            "Next",
            "End",
            "InputPath",
            "OutputPath",
            "ResultPath",
            "Parameters",
            "ResultSelector",
            "Retry",
            "Catch",
            "Branches",
        ],
        "Map" => &[
            "Next",
            "End",
            "InputPath",
            "OutputPath",
            "ResultPath",
            "Parameters",
            "ItemSelector",
            "ResultSelector",
            "Retry",
            "Catch",
            "ItemsPath",
            "ItemProcessor",
            "Iterator",
            "MaxConcurrency",
            "MaxConcurrencyPath",
            "ToleratedFailureCount",
            "ToleratedFailurePercentage",
            "Label",
            "ItemBatcher",
            "ResultWriter",
        ],
        _ => return None,
    };
    Some(COMMON.iter().chain(extra).copied().collect())
}

/// Parses and validates a definition document; the error is the reason AWS would give.
pub fn parse(src: &str) -> Result<Arc<Definition>, String> {
    let doc: Value =
        serde_json::from_str(src).map_err(|e| format!("INVALID_JSON_DESCRIPTION: {e}"))?;
    let Value::Object(obj) = &doc else {
        return Err("SCHEMA_VALIDATION_FAILED: the definition must be a JSON object".into());
    };
    if let Some(q) = obj.get("QueryLanguage") {
        if q != "JSONPath" {
            return Err(format!("SCHEMA_VALIDATION_FAILED: QueryLanguage {q} is not supported by the local engine (JSONPath only)"));
        }
    }
    let mut names_seen = HashSet::new();
    let def = parse_machine(obj, "", true, &mut names_seen)?;
    Ok(Arc::new(def))
}

fn parse_machine(
    obj: &Map<String, Value>,
    at: &str,
    top: bool,
    seen: &mut HashSet<String>,
) -> Result<Definition, String> {
    for k in obj.keys() {
        let ok = matches!(k.as_str(), "StartAt" | "States" | "Comment")
            || (top && matches!(k.as_str(), "Version" | "TimeoutSeconds" | "QueryLanguage"))
            || (!top && k == "ProcessorConfig");
        if !ok {
            return Err(format!(
                "SCHEMA_VALIDATION_FAILED: Field '{k}' is not supported at {}",
                where_(at)
            ));
        }
    }
    let start_at = obj
        .get("StartAt")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            format!(
                "SCHEMA_VALIDATION_FAILED: The field 'StartAt' is required at {}",
                where_(at)
            )
        })?
        .to_string();
    let states_obj = obj
        .get("States")
        .and_then(Value::as_object)
        .ok_or_else(|| {
            format!(
                "SCHEMA_VALIDATION_FAILED: The field 'States' is required at {}",
                where_(at)
            )
        })?;
    if states_obj.is_empty() {
        return Err(format!(
            "SCHEMA_VALIDATION_FAILED: 'States' must not be empty at {}",
            where_(at)
        ));
    }
    let timeout_seconds = match obj.get("TimeoutSeconds") {
        None => None,
        Some(v) => Some(positive_int(v, "TimeoutSeconds")?),
    };
    let mut states = HashMap::new();
    for (name, v) in states_obj {
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
        let state = parse_state(name, s, seen)
            .map_err(|e| format!("SCHEMA_VALIDATION_FAILED: {e} at /States/{name}"))?;
        states.insert(name.clone(), Arc::new(state));
    }
    if !states.contains_key(&start_at) {
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
    let mut stack = vec![start_at.as_str()];
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
        start_at,
        states,
        timeout_seconds,
    })
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

fn positive_int(v: &Value, field: &str) -> Result<u64, String> {
    v.as_u64()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("{field} must be a positive integer"))
}

fn non_negative_int(v: &Value, field: &str) -> Result<u64, String> {
    v.as_u64()
        .ok_or_else(|| format!("{field} must be a non-negative integer"))
}

fn string_field<'a>(s: &'a Map<String, Value>, field: &str) -> Result<Option<&'a str>, String> {
    match s.get(field) {
        None => Ok(None),
        Some(Value::String(v)) => Ok(Some(v)),
        Some(_) => Err(format!("{field} must be a string")),
    }
}

fn path_field(s: &Map<String, Value>, field: &str) -> Result<Option<Path>, String> {
    string_field(s, field)?.map(Path::parse).transpose()
}

fn template_field(s: &Map<String, Value>, field: &str) -> Result<Option<Template>, String> {
    s.get(field)
        .map(|v| {
            if !v.is_object() && field != "Parameters" {
                return Err(format!("{field} must be an object"));
            }
            Template::compile(v).map_err(|e| format!("{field}: {e}"))
        })
        .transpose()
}

fn parse_state(
    name: &str,
    s: &Map<String, Value>,
    seen: &mut HashSet<String>,
) -> Result<State, String> {
    let ty = s
        .get("Type")
        .and_then(Value::as_str)
        .ok_or_else(|| "The field 'Type' is required".to_string())?;
    let allowed = allowed_fields(ty).ok_or_else(|| format!("Unknown state type '{ty}'"))?;
    if let Some(k) = s.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(format!("Field '{k}' is not supported by state type '{ty}'"));
    }
    let next = string_field(s, "Next")?.map(str::to_string);
    let end = match s.get("End") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err("End must be a boolean".into()),
    };
    let terminal = matches!(ty, "Succeed" | "Fail");
    if ty == "Choice" || terminal {
        // Choice transitions through its rules; Succeed and Fail end the machine.
        if next.is_some() || s.contains_key("End") {
            return Err(format!("A {ty} state must not have 'Next' or 'End'"));
        }
    } else if next.is_some() == end {
        return Err("Exactly one of 'Next' or 'End: true' is required".into());
    }
    let kind = match ty {
        "Pass" => Kind::Pass {
            result: s.get("Result").cloned(),
        },
        "Task" => Kind::Task(parse_task(s)?),
        "Choice" => parse_choice(s)?,
        "Wait" => Kind::Wait(parse_wait(s)?),
        "Succeed" => Kind::Succeed,
        "Fail" => parse_fail(s)?,
        "Parallel" => {
            let branches = s
                .get("Branches")
                .and_then(Value::as_array)
                .filter(|b| !b.is_empty())
                .ok_or("Parallel needs a non-empty 'Branches' array")?;
            let mut out = Vec::new();
            for (i, b) in branches.iter().enumerate() {
                let obj = b.as_object().ok_or("each branch must be an object")?;
                out.push(Arc::new(parse_machine(
                    obj,
                    &format!("/States/{name}/Branches/{i}"),
                    false,
                    seen,
                )?));
            }
            Kind::Parallel { branches: out }
        }
        "Map" => Kind::Map(parse_map(name, s, seen)?),
        _ => return Err(format!("Unknown state type '{ty}'")),
    };
    let has_parameters = matches!(ty, "Pass" | "Task" | "Parallel");
    let parameters = if has_parameters {
        template_field(s, "Parameters")?
    } else {
        None
    };
    Ok(State {
        name: name.to_string(),
        next,
        input_path: IoPath::from_field(s.get("InputPath"), "InputPath")?,
        output_path: IoPath::from_field(s.get("OutputPath"), "OutputPath")?,
        result_path: ResultPath::from_field(s.get("ResultPath"))?,
        parameters,
        result_selector: template_field(s, "ResultSelector")?,
        retry: parse_retry(s)?,
        catch: parse_catch(s)?,
        kind,
    })
}

fn parse_task(s: &Map<String, Value>) -> Result<Task, String> {
    let resource = string_field(s, "Resource")?.ok_or("A Task state needs 'Resource'")?;
    if !resource.starts_with("arn:") {
        return Err(format!("Resource '{resource}' is not an ARN"));
    }
    let seconds = |lit: &str, path: &str| -> Result<Option<Seconds>, String> {
        match (s.get(lit), path_field(s, path)?) {
            (Some(_), Some(_)) => Err(format!("'{lit}' and '{path}' are mutually exclusive")),
            (Some(v), None) => Ok(Some(Seconds::Fixed(positive_int(v, lit)?))),
            (None, Some(p)) => Ok(Some(Seconds::Path(p))),
            (None, None) => Ok(None),
        }
    };
    let timeout = seconds("TimeoutSeconds", "TimeoutSecondsPath")?;
    let heartbeat = seconds("HeartbeatSeconds", "HeartbeatSecondsPath")?;
    if let (Some(Seconds::Fixed(t)), Some(Seconds::Fixed(h))) = (&timeout, &heartbeat) {
        if h >= t {
            return Err("HeartbeatSeconds must be smaller than TimeoutSeconds".into());
        }
    }
    Ok(Task {
        resource: resource.to_string(),
        timeout,
        heartbeat,
    })
}

fn parse_wait(s: &Map<String, Value>) -> Result<WaitFor, String> {
    let fields = ["Seconds", "SecondsPath", "Timestamp", "TimestampPath"];
    let present: Vec<&str> = fields
        .iter()
        .copied()
        .filter(|f| s.contains_key(*f))
        .collect();
    if present.len() != 1 {
        return Err(
            "A Wait state needs exactly one of Seconds, SecondsPath, Timestamp, TimestampPath"
                .into(),
        );
    }
    Ok(match present[0] {
        "Seconds" => WaitFor::Seconds(non_negative_int(&s["Seconds"], "Seconds")?),
        "SecondsPath" => {
            WaitFor::SecondsPath(path_field(s, "SecondsPath")?.ok_or("SecondsPath must be a path")?)
        }
        "Timestamp" => {
            let raw = string_field(s, "Timestamp")?.ok_or("Timestamp must be a string")?;
            WaitFor::Timestamp(
                parse_timestamp(raw).ok_or_else(|| format!("Timestamp '{raw}' is not RFC 3339"))?,
            )
        }
        _ => WaitFor::TimestampPath(
            path_field(s, "TimestampPath")?.ok_or("TimestampPath must be a path")?,
        ),
    })
}

fn parse_fail(s: &Map<String, Value>) -> Result<Kind, String> {
    let text = |lit: &str, path: &str| -> Result<Option<Text>, String> {
        match (string_field(s, lit)?, string_field(s, path)?) {
            (Some(_), Some(_)) => Err(format!("'{lit}' and '{path}' are mutually exclusive")),
            (Some(v), None) => Ok(Some(Text::Literal(v.to_string()))),
            (None, Some(p)) => Template::compile_expression(p).map(|t| Some(Text::Dynamic(t))),
            (None, None) => Ok(None),
        }
    };
    Ok(Kind::Fail {
        error: text("Error", "ErrorPath")?,
        cause: text("Cause", "CausePath")?,
    })
}

fn parse_map(
    name: &str,
    s: &Map<String, Value>,
    seen: &mut HashSet<String>,
) -> Result<MapSpec, String> {
    let (processor, field) = match (s.get("ItemProcessor"), s.get("Iterator")) {
        (Some(p), None) => (p, "ItemProcessor"),
        (None, Some(p)) => (p, "Iterator"),
        _ => return Err("A Map state needs exactly one of 'ItemProcessor' or 'Iterator'".into()),
    };
    let obj = processor
        .as_object()
        .ok_or_else(|| format!("{field} must be an object"))?;
    let processor = parse_machine(obj, &format!("/States/{name}/{field}"), false, seen)?;
    let item_selector = match (template_field(s, "ItemSelector")?, s.get("Parameters")) {
        (Some(_), Some(_)) => {
            return Err("'ItemSelector' and 'Parameters' are mutually exclusive".into())
        }
        (Some(t), None) => Some(t),
        (None, Some(p)) => Some(Template::compile(p).map_err(|e| format!("Parameters: {e}"))?),
        (None, None) => None,
    };
    let max_concurrency = match (
        s.get("MaxConcurrency"),
        path_field(s, "MaxConcurrencyPath")?,
    ) {
        (Some(_), Some(_)) => {
            return Err("'MaxConcurrency' and 'MaxConcurrencyPath' are mutually exclusive".into())
        }
        (Some(v), None) => Some(Seconds::Fixed(non_negative_int(v, "MaxConcurrency")?)),
        (None, Some(p)) => Some(Seconds::Path(p)),
        (None, None) => None,
    };
    let tolerated_percentage = match s.get("ToleratedFailurePercentage") {
        None => None,
        Some(v) => Some(
            v.as_f64()
                .filter(|p| (0.0..=100.0).contains(p))
                .ok_or("ToleratedFailurePercentage must be 0..100")?,
        ),
    };
    Ok(MapSpec {
        items_path: path_field(s, "ItemsPath")?,
        item_selector,
        processor: Arc::new(processor),
        max_concurrency,
        tolerated_count: s
            .get("ToleratedFailureCount")
            .map(|v| non_negative_int(v, "ToleratedFailureCount"))
            .transpose()?,
        tolerated_percentage,
    })
}

fn error_list(obj: &Map<String, Value>, what: &str) -> Result<Vec<String>, String> {
    let list = obj
        .get("ErrorEquals")
        .and_then(Value::as_array)
        .filter(|l| !l.is_empty())
        .ok_or_else(|| format!("each {what} needs a non-empty 'ErrorEquals'"))?;
    let out: Vec<String> = list
        .iter()
        .map(|v| {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| "ErrorEquals entries must be strings".to_string())
        })
        .collect::<Result<_, _>>()?;
    if out.iter().any(|e| e == names::ALL) && out.len() > 1 {
        return Err("States.ALL must appear alone in ErrorEquals".into());
    }
    Ok(out)
}

fn last_all_check(lists: &[&Vec<String>], what: &str) -> Result<(), String> {
    for (i, l) in lists.iter().enumerate() {
        if l.iter().any(|e| e == names::ALL) && i + 1 != lists.len() {
            return Err(format!("a {what} with States.ALL must be the last one"));
        }
    }
    Ok(())
}

fn parse_retry(s: &Map<String, Value>) -> Result<Vec<Retrier>, String> {
    let Some(v) = s.get("Retry") else {
        return Ok(Vec::new());
    };
    let list = v.as_array().ok_or("Retry must be an array")?;
    let mut out = Vec::new();
    for r in list {
        let r = r.as_object().ok_or("each retrier must be an object")?;
        if let Some(k) = r.keys().find(|k| {
            !matches!(
                k.as_str(),
                "ErrorEquals"
                    | "IntervalSeconds"
                    | "MaxAttempts"
                    | "BackoffRate"
                    | "MaxDelaySeconds"
                    | "JitterStrategy"
                    | "Comment"
            )
        }) {
            return Err(format!("Field '{k}' is not supported in a retrier"));
        }
        let backoff_rate = match r.get("BackoffRate") {
            None => 2.0,
            Some(v) => v
                .as_f64()
                .filter(|b| *b >= 1.0)
                .ok_or("BackoffRate must be a number >= 1.0")?,
        };
        let full_jitter = match r.get("JitterStrategy").map(|v| v.as_str()) {
            None | Some(Some("NONE")) => false,
            Some(Some("FULL")) => true,
            _ => return Err("JitterStrategy must be FULL or NONE".into()),
        };
        out.push(Retrier {
            error_equals: error_list(r, "retrier")?,
            interval_seconds: r
                .get("IntervalSeconds")
                .map(|v| positive_int(v, "IntervalSeconds"))
                .transpose()?
                .unwrap_or(1),
            max_attempts: r
                .get("MaxAttempts")
                .map(|v| non_negative_int(v, "MaxAttempts"))
                .transpose()?
                .map_or(3, |n| u32::try_from(n).unwrap_or(u32::MAX)),
            backoff_rate,
            max_delay_seconds: r
                .get("MaxDelaySeconds")
                .map(|v| positive_int(v, "MaxDelaySeconds"))
                .transpose()?,
            full_jitter,
        });
    }
    last_all_check(
        &out.iter().map(|r| &r.error_equals).collect::<Vec<_>>(),
        "retrier",
    )?;
    Ok(out)
}

fn parse_catch(s: &Map<String, Value>) -> Result<Vec<Catcher>, String> {
    let Some(v) = s.get("Catch") else {
        return Ok(Vec::new());
    };
    let list = v.as_array().ok_or("Catch must be an array")?;
    let mut out = Vec::new();
    for c in list {
        let c = c.as_object().ok_or("each catcher must be an object")?;
        if let Some(k) = c.keys().find(|k| {
            !matches!(
                k.as_str(),
                "ErrorEquals" | "Next" | "ResultPath" | "Comment"
            )
        }) {
            return Err(format!("Field '{k}' is not supported in a catcher"));
        }
        out.push(Catcher {
            error_equals: error_list(c, "catcher")?,
            next: string_field(c, "Next")?
                .ok_or("each catcher needs 'Next'")?
                .to_string(),
            result_path: ResultPath::from_field(c.get("ResultPath"))?,
        });
    }
    last_all_check(
        &out.iter().map(|c| &c.error_equals).collect::<Vec<_>>(),
        "catcher",
    )?;
    Ok(out)
}

fn parse_choice(s: &Map<String, Value>) -> Result<Kind, String> {
    let list = s
        .get("Choices")
        .and_then(Value::as_array)
        .filter(|c| !c.is_empty())
        .ok_or("A Choice state needs a non-empty 'Choices' array")?;
    let mut choices = Vec::new();
    for c in list {
        let obj = c.as_object().ok_or("each choice rule must be an object")?;
        let next = string_field(obj, "Next")?.ok_or("each top-level choice rule needs 'Next'")?;
        choices.push((parse_rule(obj, true)?, next.to_string()));
    }
    Ok(Kind::Choice {
        choices,
        default: string_field(s, "Default")?.map(str::to_string),
    })
}

fn parse_rule(obj: &Map<String, Value>, top: bool) -> Result<Rule, String> {
    if !top && obj.contains_key("Next") {
        return Err("nested choice rules must not have 'Next'".into());
    }
    let ops: Vec<(&String, &Value)> = obj
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "Next" | "Comment" | "Variable"))
        .collect();
    let [(op_name, operand)] = ops.as_slice() else {
        return Err(
            "each choice rule needs exactly one comparison operator (or And/Or/Not)".into(),
        );
    };
    let sub_rules = |v: &Value| -> Result<Vec<Rule>, String> {
        v.as_array()
            .filter(|l| !l.is_empty())
            .ok_or_else(|| format!("{op_name} needs a non-empty array of rules"))?
            .iter()
            .map(|r| parse_rule(r.as_object().ok_or("choice rules must be objects")?, false))
            .collect()
    };
    match op_name.as_str() {
        "And" | "Or" | "Not" if obj.contains_key("Variable") => {
            Err(format!("{op_name} must not have 'Variable'"))
        }
        "And" => Ok(Rule::And(sub_rules(operand)?)),
        "Or" => Ok(Rule::Or(sub_rules(operand)?)),
        "Not" => {
            let inner = operand
                .as_object()
                .ok_or("Not needs a single rule object")?;
            Ok(Rule::Not(Box::new(parse_rule(inner, false)?)))
        }
        name => {
            let variable =
                path_field(obj, "Variable")?.ok_or_else(|| format!("{name} needs 'Variable'"))?;
            let (base, is_path) = match name.strip_suffix("Path") {
                Some(b) if b != "Is" && !name.starts_with("Is") && name != "StringMatchesPath" => {
                    (b, true)
                }
                _ => (name, false),
            };
            let cmp = |suffix: &str| -> Option<Cmp> {
                Some(match suffix {
                    "Equals" => Cmp::Eq,
                    "LessThan" => Cmp::Lt,
                    "GreaterThan" => Cmp::Gt,
                    "LessThanEquals" => Cmp::Le,
                    "GreaterThanEquals" => Cmp::Ge,
                    _ => return None,
                })
            };
            let op = if let Some(c) = base.strip_prefix("String").and_then(cmp) {
                Op::String(c)
            } else if base == "StringMatches" {
                Op::StringMatches
            } else if let Some(c) = base.strip_prefix("Numeric").and_then(cmp) {
                Op::Numeric(c)
            } else if base == "BooleanEquals" {
                Op::Boolean
            } else if let Some(c) = base.strip_prefix("Timestamp").and_then(cmp) {
                Op::Timestamp(c)
            } else {
                match base {
                    "IsNull" => Op::IsNull,
                    "IsPresent" => Op::IsPresent,
                    "IsNumeric" => Op::IsNumeric,
                    "IsString" => Op::IsString,
                    "IsBoolean" => Op::IsBoolean,
                    "IsTimestamp" => Op::IsTimestamp,
                    _ => return Err(format!("unknown choice operator '{name}'")),
                }
            };
            let operand = if is_path {
                let p = operand
                    .as_str()
                    .ok_or_else(|| format!("{name} needs a path string"))?;
                Operand::Path(Path::parse(p)?)
            } else {
                let ok = match op {
                    Op::String(_) | Op::StringMatches => operand.is_string(),
                    Op::Numeric(_) => operand.is_number(),
                    Op::Timestamp(_) => operand.as_str().and_then(parse_timestamp).is_some(),
                    _ => operand.is_boolean(),
                };
                if !ok {
                    return Err(format!(
                        "{name} has an operand of the wrong type: {operand}"
                    ));
                }
                Operand::Value((*operand).clone())
            };
            Ok(Rule::Test {
                variable,
                op,
                operand,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_common_mistakes() {
        let cases = [
            (r#"{"States":{"A":{"Type":"Pass","End":true}}}"#, "StartAt"),
            (
                r#"{"StartAt":"B","States":{"A":{"Type":"Pass","End":true}}}"#,
                "MISSING_TRANSITION_TARGET",
            ),
            (
                r#"{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"C"}}}"#,
                "missing state",
            ),
            (
                r#"{"StartAt":"A","States":{"A":{"Type":"Pass","End":true},"B":{"Type":"Pass","End":true}}}"#,
                "not reachable",
            ),
            (r#"{"StartAt":"A","States":{"A":{"End":true}}}"#, "Type"),
            (
                r#"{"StartAt":"A","States":{"A":{"Type":"Choice"}}}"#,
                "Choices",
            ),
            (
                r#"{"StartAt":"A","States":{"A":{"Type":"Fail","End":true}}}"#,
                "not supported",
            ),
            (
                r#"{"StartAt":"A","States":{"A":{"Type":"Pass","InputPath":"$.a[","End":true}}}"#,
                "JSONPath",
            ),
            (
                r#"{"StartAt":"A","States":{"A":{"Type":"Pass","Resource":"x","End":true}}}"#,
                "not supported",
            ),
        ];
        for (src, want) in cases {
            let err = parse(src).unwrap_err();
            assert!(err.contains(want), "{src}: {err}");
        }
    }

    #[test]
    fn matching_rules() {
        let l = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(error_matches(&l(&["States.ALL"]), "Ferry.Transient"));
        assert!(!error_matches(&l(&["States.ALL"]), "States.Runtime"));
        assert!(error_matches(
            &l(&["States.TaskFailed"]),
            "Lambda.ServiceException"
        ));
        assert!(!error_matches(&l(&["States.TaskFailed"]), "States.Timeout"));
        assert!(error_matches(
            &l(&["States.Timeout"]),
            "States.HeartbeatTimeout"
        ));
    }
}
