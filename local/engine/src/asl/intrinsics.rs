//! Intrinsic functions (`States.Format(…)`, `States.Array(…)`, …): parsed once when the
//! definition is created, evaluated against the state input and context object.

use base64::Engine as _;
use rand::Rng;
use serde_json::{Map, Number, Value};
use sha2::Digest;

use crate::asl::context::Context;
use crate::asl::paths::Path;
use crate::error::{names, TaskError};

/// A parsed intrinsic function call.
#[derive(Debug, Clone)]
pub struct Intrinsic {
    name: Func,
    args: Vec<Arg>,
}

#[derive(Debug, Clone)]
enum Arg {
    Literal(Value),
    Path(Path),
    Call(Intrinsic),
}

/// Private-use stand-ins for `\{` and `\}` in string literals.
const OPEN_BRACE: char = '\u{E000}';
const CLOSE_BRACE: char = '\u{E001}';

fn unmark(s: &str) -> String {
    s.replace(OPEN_BRACE, "{").replace(CLOSE_BRACE, "}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Func {
    Format,
    StringToJson,
    JsonToString,
    Array,
    ArrayPartition,
    ArrayContains,
    ArrayRange,
    ArrayGetItem,
    ArrayLength,
    ArrayUnique,
    Base64Encode,
    Base64Decode,
    Hash,
    JsonMerge,
    MathRandom,
    MathAdd,
    StringSplit,
    Uuid,
}

impl Func {
    fn lookup(name: &str) -> Option<(Self, usize, Option<usize>)> {
        // (function, minimum arguments, maximum arguments)
        Some(match name {
            "States.Format" => (Self::Format, 1, None),
            "States.StringToJson" => (Self::StringToJson, 1, Some(1)),
            "States.JsonToString" => (Self::JsonToString, 1, Some(1)),
            "States.Array" => (Self::Array, 0, None),
            "States.ArrayPartition" => (Self::ArrayPartition, 2, Some(2)),
            "States.ArrayContains" => (Self::ArrayContains, 2, Some(2)),
            "States.ArrayRange" => (Self::ArrayRange, 3, Some(3)),
            "States.ArrayGetItem" => (Self::ArrayGetItem, 2, Some(2)),
            "States.ArrayLength" => (Self::ArrayLength, 1, Some(1)),
            "States.ArrayUnique" => (Self::ArrayUnique, 1, Some(1)),
            "States.Base64Encode" => (Self::Base64Encode, 1, Some(1)),
            "States.Base64Decode" => (Self::Base64Decode, 1, Some(1)),
            "States.Hash" => (Self::Hash, 2, Some(2)),
            "States.JsonMerge" => (Self::JsonMerge, 3, Some(3)),
            "States.MathRandom" => (Self::MathRandom, 2, Some(3)),
            "States.MathAdd" => (Self::MathAdd, 2, Some(2)),
            "States.StringSplit" => (Self::StringSplit, 2, Some(2)),
            "States.UUID" => (Self::Uuid, 0, Some(0)),
            _ => return None,
        })
    }
}

impl Intrinsic {
    /// Parses `States.Name(arg, …)`; arguments are string literals in single quotes,
    /// numbers, booleans, null, paths, or nested calls.
    pub fn parse(src: &str) -> Result<Self, String> {
        let chars: Vec<char> = src.trim().chars().collect();
        let mut p = Parser { chars, pos: 0 };
        let call = p.call()?;
        p.skip_ws();
        if p.pos != p.chars.len() {
            return Err(format!(
                "unexpected text after intrinsic function in '{src}'"
            ));
        }
        Ok(call)
    }

    pub fn eval(&self, input: &Value, ctx: &Context<'_>) -> Result<Value, TaskError> {
        let args = self
            .args
            .iter()
            .enumerate()
            .map(|(i, a)| match a {
                Arg::Literal(Value::String(s)) if !(self.name == Func::Format && i == 0) => {
                    Ok(Value::String(unmark(s)))
                }
                Arg::Literal(v) => Ok(v.clone()),
                Arg::Path(p) => p.select(input, ctx, "intrinsic function argument"),
                Arg::Call(c) => c.eval(input, ctx),
            })
            .collect::<Result<Vec<_>, _>>()?;
        apply(self.name, args)
    }
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn skip_ws(&mut self) {
        while self.chars.get(self.pos).is_some_and(|c| c.is_whitespace()) {
            self.pos += 1;
        }
    }

    fn call(&mut self) -> Result<Intrinsic, String> {
        self.skip_ws();
        let start = self.pos;
        while self
            .chars
            .get(self.pos)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '.')
        {
            self.pos += 1;
        }
        let name: String = self.chars[start..self.pos].iter().collect();
        let (func, min, max) =
            Func::lookup(&name).ok_or_else(|| format!("unknown intrinsic function '{name}'"))?;
        self.skip_ws();
        if self.chars.get(self.pos) != Some(&'(') {
            return Err(format!("expected '(' after {name}"));
        }
        self.pos += 1;
        let mut args = Vec::new();
        self.skip_ws();
        if self.chars.get(self.pos) == Some(&')') {
            self.pos += 1;
        } else {
            loop {
                args.push(self.arg()?);
                self.skip_ws();
                match self.chars.get(self.pos) {
                    Some(',') => self.pos += 1,
                    Some(')') => {
                        self.pos += 1;
                        break;
                    }
                    _ => return Err(format!("expected ',' or ')' in the arguments of {name}")),
                }
            }
        }
        if args.len() < min || max.is_some_and(|m| args.len() > m) {
            return Err(format!(
                "{name} takes {min}..{} arguments, got {}",
                max.map_or("n".to_string(), |m| m.to_string()),
                args.len()
            ));
        }
        Ok(Intrinsic { name: func, args })
    }

    fn arg(&mut self) -> Result<Arg, String> {
        self.skip_ws();
        match self.chars.get(self.pos) {
            Some('\'') => {
                self.pos += 1;
                let mut s = String::new();
                loop {
                    match self.chars.get(self.pos) {
                        None => return Err("unterminated string literal".into()),
                        Some('\\') => {
                            let c = self
                                .chars
                                .get(self.pos + 1)
                                .ok_or("dangling escape in string literal")?;
                            // AWS's grammar escapes only its reserved characters (' { } \);
                            // anything else (`\"`, `\n`) is refused at CreateStateMachine.
                            // Escaped braces must stay literal inside States.Format templates.
                            s.push(match c {
                                '{' => OPEN_BRACE,
                                '}' => CLOSE_BRACE,
                                '\'' | '\\' => *c,
                                c => {
                                    return Err(format!(
                                        "invalid escape '\\{c}' in a string literal"
                                    ))
                                }
                            });
                            self.pos += 2;
                        }
                        Some('\'') => {
                            self.pos += 1;
                            break;
                        }
                        Some(c) => {
                            s.push(*c);
                            self.pos += 1;
                        }
                    }
                }
                Ok(Arg::Literal(Value::String(s)))
            }
            Some('$') => {
                // A path runs to the next top-level ',' or ')', skipping brackets and quotes.
                let start = self.pos;
                let mut depth = 0i32;
                let mut quote: Option<char> = None;
                while let Some(&c) = self.chars.get(self.pos) {
                    match quote {
                        Some(q) if c == q => quote = None,
                        Some(_) => {}
                        None => match c {
                            '\'' | '"' => quote = Some(c),
                            '[' | '(' => depth += 1,
                            ']' => depth -= 1,
                            ')' if depth == 0 => break,
                            ')' => depth -= 1,
                            ',' if depth == 0 => break,
                            _ => {}
                        },
                    }
                    self.pos += 1;
                }
                let raw: String = self.chars[start..self.pos].iter().collect();
                Path::parse(raw.trim()).map(Arg::Path)
            }
            Some(c) if c.is_ascii_alphabetic() => {
                let rest: String = self.chars[self.pos..].iter().collect();
                for (word, v) in [
                    ("true", Value::Bool(true)),
                    ("false", Value::Bool(false)),
                    ("null", Value::Null),
                ] {
                    if rest.starts_with(word)
                        && !rest[word.len()..]
                            .starts_with(|c: char| c.is_ascii_alphanumeric() || c == '.')
                    {
                        self.pos += word.len();
                        return Ok(Arg::Literal(v));
                    }
                }
                self.call().map(Arg::Call)
            }
            Some(c) if c.is_ascii_digit() || *c == '-' => {
                let start = self.pos;
                while self
                    .chars
                    .get(self.pos)
                    .is_some_and(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'))
                {
                    self.pos += 1;
                }
                let raw: String = self.chars[start..self.pos].iter().collect();
                let v: Value =
                    serde_json::from_str(&raw).map_err(|_| format!("invalid number '{raw}'"))?;
                Ok(Arg::Literal(v))
            }
            _ => Err("expected an argument".into()),
        }
    }
}

fn fail(msg: impl Into<String>) -> TaskError {
    TaskError::new(names::INTRINSIC_FAILURE, msg)
}

fn as_str(v: &Value, f: &str) -> Result<String, TaskError> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| fail(format!("{f}: expected a string argument, got {v}")))
}

fn as_int(v: &Value, f: &str) -> Result<i64, TaskError> {
    v.as_i64()
        .or_else(|| v.as_f64().filter(|x| x.fract() == 0.0).map(|x| x as i64))
        .ok_or_else(|| fail(format!("{f}: expected an integer argument, got {v}")))
}

/// A number as AWS's math functions read it: rounded half up like Java's `Math.round`
/// (1.49 → 1, 1.5 → 2, -1.5 → -1), so `States.MathAdd(1.49, 1.5)` is 3.
fn as_rounded(v: &Value, f: &str) -> Result<i64, TaskError> {
    if let Some(n) = v.as_i64() {
        return Ok(n);
    }
    v.as_f64()
        .map(|x| (x + 0.5).floor())
        .filter(|x| x.is_finite() && *x >= i64::MIN as f64 && *x < i64::MAX as f64)
        .map(|x| x as i64)
        .ok_or_else(|| fail(format!("{f}: expected a number argument, got {v}")))
}

/// A value as `States.Format` prints it: strings bare, objects and arrays the way Java's
/// `Map`/`List` `toString` does (`{Arg1=1, Arg2=[]}`), as AWS renders them.
fn format_arg(v: &Value, out: &mut String) {
    match v {
        Value::String(s) => out.push_str(s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                format_arg(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(k);
                out.push('=');
                format_arg(item, out);
            }
            out.push('}');
        }
        other => out.push_str(&other.to_string()),
    }
}

fn as_array<'a>(v: &'a Value, f: &str) -> Result<&'a Vec<Value>, TaskError> {
    v.as_array()
        .ok_or_else(|| fail(format!("{f}: expected an array argument, got {v}")))
}

fn apply(func: Func, args: Vec<Value>) -> Result<Value, TaskError> {
    let a = |i: usize| args.get(i).unwrap_or(&Value::Null);
    Ok(match func {
        Func::Format => {
            let template = as_str(a(0), "States.Format")?;
            let mut out = String::new();
            let mut rest = args.iter().skip(1);
            let mut chars = template.chars().peekable();
            while let Some(c) = chars.next() {
                if c == '{' && chars.peek() == Some(&'}') {
                    chars.next();
                    let v = rest
                        .next()
                        .ok_or_else(|| fail("States.Format: more '{}' than arguments"))?;
                    format_arg(v, &mut out);
                } else {
                    out.push(match c {
                        OPEN_BRACE => '{',
                        CLOSE_BRACE => '}',
                        c => c,
                    });
                }
            }
            if rest.next().is_some() {
                return Err(fail("States.Format: more arguments than '{}'"));
            }
            Value::String(out)
        }
        Func::StringToJson => {
            let s = as_str(a(0), "States.StringToJson")?;
            match s.trim() {
                // AWS reads a blank string as null, and `-0` as the integer 0 (Jackson), where
                // serde_json would give the float -0.0.
                "" => Value::Null,
                "-0" => Value::from(0),
                _ => serde_json::from_str(&s)
                    .map_err(|e| fail(format!("States.StringToJson: {e}")))?,
            }
        }
        Func::JsonToString => Value::String(a(0).to_string()),
        Func::Array => Value::Array(args),
        Func::ArrayPartition => {
            let arr = as_array(a(0), "States.ArrayPartition")?;
            let size = as_int(a(1), "States.ArrayPartition")?;
            if size <= 0 {
                return Err(fail("States.ArrayPartition: chunk size must be positive"));
            }
            Value::Array(
                arr.chunks(size as usize)
                    .map(|c| Value::Array(c.to_vec()))
                    .collect(),
            )
        }
        Func::ArrayContains => Value::Bool(as_array(a(0), "States.ArrayContains")?.contains(a(1))),
        Func::ArrayRange => {
            let (start, end, step) = (
                as_int(a(0), "States.ArrayRange")?,
                as_int(a(1), "States.ArrayRange")?,
                as_int(a(2), "States.ArrayRange")?,
            );
            if step == 0 {
                return Err(fail("States.ArrayRange: step must not be 0"));
            }
            let mut out = Vec::new();
            let mut i = start;
            while (step > 0 && i <= end) || (step < 0 && i >= end) {
                out.push(Value::from(i));
                if out.len() > 1000 {
                    return Err(fail("States.ArrayRange: more than 1000 items"));
                }
                i += step;
            }
            Value::Array(out)
        }
        Func::ArrayGetItem => {
            let arr = as_array(a(0), "States.ArrayGetItem")?;
            let i = as_int(a(1), "States.ArrayGetItem")?;
            usize::try_from(i)
                .ok()
                .and_then(|i| arr.get(i))
                .cloned()
                .ok_or_else(|| fail(format!("States.ArrayGetItem: index {i} out of bounds")))?
        }
        Func::ArrayLength => Value::from(as_array(a(0), "States.ArrayLength")?.len()),
        Func::ArrayUnique => {
            let mut out: Vec<Value> = Vec::new();
            for v in as_array(a(0), "States.ArrayUnique")? {
                if !out.contains(v) {
                    out.push(v.clone());
                }
            }
            Value::Array(out)
        }
        Func::Base64Encode => Value::String(
            base64::engine::general_purpose::STANDARD.encode(as_str(a(0), "States.Base64Encode")?),
        ),
        Func::Base64Decode => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(as_str(a(0), "States.Base64Decode")?)
                .map_err(|e| fail(format!("States.Base64Decode: {e}")))?;
            Value::String(
                String::from_utf8(bytes).map_err(|e| fail(format!("States.Base64Decode: {e}")))?,
            )
        }
        Func::Hash => {
            let data = match a(0) {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let algo = as_str(a(1), "States.Hash")?;
            let d = data.as_bytes();
            Value::String(match algo.as_str() {
                "MD5" => hex::encode(md5::Md5::digest(d)),
                "SHA-1" => hex::encode(sha1::Sha1::digest(d)),
                "SHA-256" => hex::encode(sha2::Sha256::digest(d)),
                "SHA-384" => hex::encode(sha2::Sha384::digest(d)),
                "SHA-512" => hex::encode(sha2::Sha512::digest(d)),
                other => {
                    return Err(fail(format!(
                        "States.Hash: unsupported algorithm '{other}'"
                    )))
                }
            })
        }
        Func::JsonMerge => {
            let (Value::Object(left), Value::Object(right)) = (a(0), a(1)) else {
                return Err(fail("States.JsonMerge: both arguments must be objects"));
            };
            if a(2) != &Value::Bool(false) {
                return Err(fail(
                    "States.JsonMerge: only shallow merges (false) are supported",
                ));
            }
            let mut out: Map<String, Value> = left.clone();
            out.extend(right.iter().map(|(k, v)| (k.clone(), v.clone())));
            Value::Object(out)
        }
        Func::MathRandom => {
            let (start, end) = (
                as_rounded(a(0), "States.MathRandom")?,
                as_rounded(a(1), "States.MathRandom")?,
            );
            if end <= start {
                return Err(fail("States.MathRandom: end must be greater than start"));
            }
            let n = match args.get(2) {
                Some(seed) => {
                    use rand::SeedableRng;
                    let seed = as_rounded(seed, "States.MathRandom")?;
                    rand::rngs::StdRng::seed_from_u64(seed as u64).gen_range(start..end)
                }
                None => rand::thread_rng().gen_range(start..end),
            };
            Value::from(n)
        }
        Func::MathAdd => {
            let (x, y) = (
                as_rounded(a(0), "States.MathAdd")?,
                as_rounded(a(1), "States.MathAdd")?,
            );
            Value::Number(Number::from(
                x.checked_add(y)
                    .ok_or_else(|| fail("States.MathAdd: overflow"))?,
            ))
        }
        Func::StringSplit => {
            let s = as_str(a(0), "States.StringSplit")?;
            let delims = as_str(a(1), "States.StringSplit")?;
            Value::Array(
                s.split(|c| delims.contains(c))
                    .filter(|p| !p.is_empty())
                    .map(|p| Value::String(p.to_string()))
                    .collect(),
            )
        }
        Func::Uuid => Value::String(uuid::Uuid::new_v4().to_string()),
    })
}

#[cfg(test)]
mod tests;
