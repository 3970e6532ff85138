//! The definition document as serde reads it: one struct per state type, each with
//! `deny_unknown_fields`, so the structs are the list of fields a state type accepts.
//!
//! Fields named `_…` are accepted and ignored (Comment, Credentials, Label, …).
//!
//! Fields use [`present`]: absent is `None`, but a present `null` must still have the field's
//! type (plain `Option` would read `"Next": null` as absent). Fields whose `null` means
//! something (`InputPath`, `ResultPath`, `Result`, …) are kept as raw [`Value`]s.

use serde::de::IgnoredAny;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};
use serde_path_to_error::Segment;

/// Absent → `None`; present (even `null`) → must deserialize as `T`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// The top-level document.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "PascalCase",
    expecting = "a state machine definition object"
)]
pub struct TopDoc {
    pub start_at: String,
    pub states: Map<String, Value>,
    #[serde(default, rename = "Comment")]
    _comment: Option<IgnoredAny>,
    #[serde(default, rename = "Version")]
    _version: Option<IgnoredAny>,
    #[serde(default, deserialize_with = "present")]
    pub timeout_seconds: Option<u64>,
    #[serde(default)]
    pub query_language: Option<Value>,
}

/// A Parallel branch or a Map's ItemProcessor/Iterator.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "PascalCase",
    expecting = "a state machine object (StartAt, States)"
)]
pub struct BranchDoc {
    pub start_at: String,
    pub states: Map<String, Value>,
    #[serde(default, rename = "Comment")]
    _comment: Option<IgnoredAny>,
    #[serde(default, rename = "ProcessorConfig")]
    _processor_config: Option<IgnoredAny>,
}

/// One state, by its `Type`.
///
/// Not `#[serde(tag = "Type")]`: an internally tagged enum buffers the state before picking
/// the variant, which loses the field path that validation errors name (`End: invalid type…`).
/// [`StateDoc::parse`] reads `Type` and deserializes the variant's struct directly instead.
#[derive(Debug)]
pub enum StateDoc {
    Pass(PassDoc),
    Task(TaskDoc),
    Choice(ChoiceDoc),
    Wait(WaitDoc),
    Succeed(SucceedDoc),
    Fail(FailDoc),
    Parallel(ParallelDoc),
    Map(MapDoc),
}

impl StateDoc {
    /// Reads a state object; the error names the field at fault.
    pub fn parse(state: &Map<String, Value>) -> Result<Self, String> {
        const TYPES: &str = "The field 'Type' should have one of these values: [Task, Wait, Pass, Succeed, Fail, Choice, Parallel, Map]\u{1}Type";
        let ty = match state.get("Type") {
            None => return Err("These fields are required: [Type]".into()),
            Some(Value::String(t)) => t.as_str(),
            Some(_) => return Err(TYPES.into()),
        };
        let mut fields = state.clone();
        fields.remove("Type");
        let fields = Value::Object(fields);
        let context = format!("by state type '{ty}'");
        Ok(match ty {
            "Pass" => Self::Pass(read(fields, &context)?),
            "Task" => Self::Task(read(fields, &context)?),
            "Choice" => Self::Choice(read(fields, &context)?),
            "Wait" => Self::Wait(read(fields, &context)?),
            "Succeed" => Self::Succeed(read(fields, &context)?),
            "Fail" => Self::Fail(read(fields, &context)?),
            "Parallel" => Self::Parallel(read(fields, &context)?),
            "Map" => Self::Map(read(fields, &context)?),
            _ => return Err(TYPES.into()),
        })
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Pass(_) => "Pass",
            Self::Task(_) => "Task",
            Self::Choice(_) => "Choice",
            Self::Wait(_) => "Wait",
            Self::Succeed(_) => "Succeed",
            Self::Fail(_) => "Fail",
            Self::Parallel(_) => "Parallel",
            Self::Map(_) => "Map",
        }
    }
}

/// Deserializes `doc` as `T`, turning serde's message into one that names the field at fault.
/// An unknown field is "not supported" `context` when it sits at the document's root (e.g.
/// "by state type 'Pass'"), else in the member the error's path names.
pub fn read<T: for<'de> Deserialize<'de>>(doc: Value, context: &str) -> Result<T, String> {
    serde_path_to_error::deserialize(doc).map_err(|e| {
        let segments: Vec<&Segment> = e.path().iter().collect();
        let msg = e.inner().to_string();
        if msg.starts_with("unknown field") {
            // The path ends at the unknown field itself, which the message already names.
            let parent = render(&segments[..segments.len().saturating_sub(1)]);
            let at = if parent.is_empty() { context } else { "here" };
            let msg = match msg.split_once(", expected") {
                Some((head, tail)) => format!("{head} is not supported {at}; expected{tail}"),
                None => format!("{msg}: not supported {at}"),
            };
            return if parent.is_empty() {
                msg
            } else {
                format!("{parent}: {msg}")
            };
        }
        match render(&segments) {
            path if path.is_empty() => msg,
            path => format!("{path}: {msg}"),
        }
    })
}

/// A path as `Retry[0].ErrorEquals`.
fn render(segments: &[&Segment]) -> String {
    let mut out = String::new();
    for s in segments {
        match s {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Unknown => out.push('?'),
        }
    }
    out
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "PascalCase",
    expecting = "a Pass state object"
)]
pub struct PassDoc {
    #[serde(default, rename = "Comment")]
    _comment: Option<IgnoredAny>,
    #[serde(default, deserialize_with = "present")]
    pub next: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub end: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    pub input_path: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    pub output_path: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    pub result_path: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    pub parameters: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    pub result: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "PascalCase",
    expecting = "a Task state object"
)]
pub struct TaskDoc {
    #[serde(default, rename = "Comment")]
    _comment: Option<IgnoredAny>,
    #[serde(default, deserialize_with = "present")]
    pub next: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub end: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    pub input_path: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    pub output_path: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    pub result_path: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    pub parameters: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    pub result_selector: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    pub retry: Option<Vec<RetrierDoc>>,
    #[serde(default, deserialize_with = "present")]
    pub catch: Option<Vec<CatcherDoc>>,
    pub resource: String,
    #[serde(default, deserialize_with = "present")]
    pub timeout_seconds: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    pub timeout_seconds_path: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub heartbeat_seconds: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    pub heartbeat_seconds_path: Option<String>,
    #[serde(default, rename = "Credentials")]
    _credentials: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "PascalCase",
    expecting = "a Choice state object"
)]
pub struct ChoiceDoc {
    #[serde(default, rename = "Comment")]
    _comment: Option<IgnoredAny>,
    #[serde(default, deserialize_with = "present")]
    pub input_path: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    pub output_path: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    pub choices: Option<Vec<Map<String, Value>>>,
    #[serde(default, deserialize_with = "present")]
    pub default: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "PascalCase",
    expecting = "a Wait state object"
)]
pub struct WaitDoc {
    #[serde(default, rename = "Comment")]
    _comment: Option<IgnoredAny>,
    #[serde(default, deserialize_with = "present")]
    pub next: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub end: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    pub input_path: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    pub output_path: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    pub seconds: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    pub seconds_path: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub timestamp: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub timestamp_path: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "PascalCase",
    expecting = "a Succeed state object"
)]
pub struct SucceedDoc {
    #[serde(default, rename = "Comment")]
    _comment: Option<IgnoredAny>,
    #[serde(default, deserialize_with = "present")]
    pub input_path: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    pub output_path: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "PascalCase",
    expecting = "a Fail state object"
)]
pub struct FailDoc {
    #[serde(default, rename = "Comment")]
    _comment: Option<IgnoredAny>,
    #[serde(default, deserialize_with = "present")]
    pub error: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub error_path: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub cause: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub cause_path: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "PascalCase",
    expecting = "a Parallel state object"
)]
pub struct ParallelDoc {
    #[serde(default, rename = "Comment")]
    _comment: Option<IgnoredAny>,
    #[serde(default, deserialize_with = "present")]
    pub next: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub end: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    pub input_path: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    pub output_path: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    pub result_path: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    pub parameters: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    pub result_selector: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    pub retry: Option<Vec<RetrierDoc>>,
    #[serde(default, deserialize_with = "present")]
    pub catch: Option<Vec<CatcherDoc>>,
    #[serde(default, deserialize_with = "present")]
    pub branches: Option<Vec<BranchDoc>>,
}

/// `Iterator` is the older name of `ItemProcessor`; `Parameters` of `ItemSelector`.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "PascalCase",
    expecting = "a Map state object"
)]
pub struct MapDoc {
    #[serde(default, rename = "Comment")]
    _comment: Option<IgnoredAny>,
    #[serde(default, deserialize_with = "present")]
    pub next: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub end: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    pub input_path: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    pub output_path: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    pub result_path: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    pub parameters: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    pub result_selector: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    pub retry: Option<Vec<RetrierDoc>>,
    #[serde(default, deserialize_with = "present")]
    pub catch: Option<Vec<CatcherDoc>>,
    #[serde(default, deserialize_with = "present")]
    pub item_selector: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    pub items_path: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub item_processor: Option<BranchDoc>,
    #[serde(default, deserialize_with = "present")]
    pub iterator: Option<BranchDoc>,
    #[serde(default, deserialize_with = "present")]
    pub max_concurrency: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    pub max_concurrency_path: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub tolerated_failure_count: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    pub tolerated_failure_count_path: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub tolerated_failure_percentage: Option<f64>,
    #[serde(default, deserialize_with = "present")]
    pub tolerated_failure_percentage_path: Option<String>,
    #[serde(default, rename = "Label")]
    _label: Option<IgnoredAny>,
    #[serde(default, rename = "ItemBatcher")]
    _item_batcher: Option<IgnoredAny>,
    #[serde(default, rename = "ResultWriter")]
    _result_writer: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "PascalCase",
    expecting = "a retrier object"
)]
pub struct RetrierDoc {
    #[serde(default, rename = "Comment")]
    _comment: Option<IgnoredAny>,
    pub error_equals: Vec<String>,
    #[serde(default, deserialize_with = "present")]
    pub interval_seconds: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    pub max_attempts: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    pub backoff_rate: Option<f64>,
    #[serde(default, deserialize_with = "present")]
    pub max_delay_seconds: Option<u64>,
    #[serde(default, deserialize_with = "present")]
    pub jitter_strategy: Option<Jitter>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Jitter {
    Full,
    None,
}

#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "PascalCase",
    expecting = "a catcher object"
)]
pub struct CatcherDoc {
    #[serde(default, rename = "Comment")]
    _comment: Option<IgnoredAny>,
    pub error_equals: Vec<String>,
    pub next: String,
    #[serde(default, deserialize_with = "present")]
    pub result_path: Option<Value>,
}
