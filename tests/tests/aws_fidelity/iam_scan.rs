//! Which IAM actions a function needs: the SDK operations its own code calls, plus those of
//! every library function it reaches in the workspace crates it depends on (`ferry-shared` and
//! any other path dependency, read recursively from their `src/`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

use crate::rust_scan::{self, Body, Call, FnItem};
use crate::{root, run_ok};

/// `cargo metadata` for the workspace, as the Lambda target resolves it.
fn metadata() -> &'static Value {
    static META: OnceLock<Value> = OnceLock::new();
    META.get_or_init(|| {
        let out = run_ok(Command::new(env!("CARGO")).args([
            "metadata",
            "--format-version",
            "1",
            "--offline",
            // Only packages that build for the Lambda target need to be present.
            "--filter-platform",
            "x86_64-unknown-linux-gnu",
        ]));
        let json_start = out.find('{').expect("cargo metadata json");
        serde_json::Deserializer::from_str(&out[json_start..])
            .into_iter::<Value>()
            .next()
            .expect("metadata")
            .expect("metadata json")
    })
}

fn packages() -> &'static [Value] {
    metadata()["packages"].as_array().expect("packages")
}

fn package_dir(p: &Value) -> PathBuf {
    Path::new(p["manifest_path"].as_str().expect("manifest_path"))
        .parent()
        .expect("manifest dir")
        .to_path_buf()
}

/// The workspace package whose manifest is in `dir`.
fn package_at(dir: &Path) -> &'static Value {
    let dir = dir
        .canonicalize()
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    packages()
        .iter()
        .find(|p| package_dir(p).canonicalize().is_ok_and(|d| d == dir))
        .unwrap_or_else(|| panic!("{}: not a workspace package", dir.display()))
}

/// A package's normal (not dev or build) dependencies.
fn normal_deps(p: &Value) -> impl Iterator<Item = &Value> {
    p["dependencies"]
        .as_array()
        .expect("dependencies")
        .iter()
        .filter(|d| d["kind"].is_null())
}

/// AWS SDK crates a package depends on directly.
fn sdk_deps(p: &Value) -> Vec<String> {
    normal_deps(p)
        .filter_map(|d| d["name"].as_str())
        .filter(|n| n.starts_with("aws-sdk-"))
        .map(str::to_owned)
        .collect()
}

/// Operation names of the AWS SDK crates (their `src/operation/<op>` modules), by crate name.
fn sdk_operations() -> &'static BTreeMap<String, BTreeSet<String>> {
    static OPS: OnceLock<BTreeMap<String, BTreeSet<String>>> = OnceLock::new();
    OPS.get_or_init(|| {
        let mut ops = BTreeMap::new();
        for p in packages() {
            let name = p["name"].as_str().unwrap();
            if !name.starts_with("aws-sdk-") {
                continue;
            }
            let dir = package_dir(p).join("src/operation");
            let set: BTreeSet<String> = std::fs::read_dir(&dir)
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .filter_map(Result::ok)
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            ops.insert(name.to_owned(), set);
        }
        ops
    })
}

/// The IAM action(s) an SDK operation needs.
fn iam_for(sdk_crate: &str, op: &str) -> Vec<String> {
    let service = match sdk_crate {
        "aws-sdk-dynamodb" => "dynamodb",
        "aws-sdk-s3" => "s3",
        "aws-sdk-sfn" => "states",
        "aws-sdk-sns" => "sns",
        "aws-sdk-sqs" => "sqs",
        "aws-sdk-codebuild" => "codebuild",
        "aws-sdk-kms" => "kms",
        other => panic!("no IAM service prefix known for {other}: add it to iam_for"),
    };
    // Operations authorized by an action of another name (Service Authorization Reference).
    let special: &[(&str, &[&str])] = &[
        ("s3:head_object", &["GetObject"]),
        (
            "s3:get_object_attributes",
            &["GetObject", "GetObjectAttributes"],
        ),
        ("s3:list_objects", &["ListBucket"]),
        ("s3:list_objects_v2", &["ListBucket"]),
        ("s3:head_bucket", &["ListBucket"]),
        ("s3:list_object_versions", &["ListBucketVersions"]),
        ("s3:create_multipart_upload", &["PutObject"]),
        ("s3:upload_part", &["PutObject"]),
        ("s3:complete_multipart_upload", &["PutObject"]),
        ("s3:copy_object", &["GetObject", "PutObject"]),
        (
            "s3:put_bucket_notification_configuration",
            &["PutBucketNotification"],
        ),
        (
            "s3:get_bucket_notification_configuration",
            &["GetBucketNotification"],
        ),
    ];
    let key = format!("{service}:{op}");
    if let Some((_, actions)) = special.iter().find(|(k, _)| *k == key) {
        return actions.iter().map(|a| format!("{service}:{a}")).collect();
    }
    assert!(
        !op.starts_with("transact_") && !op.starts_with("batch_"),
        "{key}: batch/transaction operations need the per-item actions; map them in iam_for"
    );
    let pascal: String = op
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect();
    vec![format!("{service}:{pascal}")]
}

/// IAM actions the SDK calls in `body` need, each with the call that needs it.
fn sdk_actions(
    body: &Body,
    sdks: &[String],
    site: &str,
    out: &mut BTreeMap<String, BTreeSet<String>>,
) {
    for call in &body.calls {
        let Call::EmptyMethod(op) = call else {
            continue;
        };
        let owners: Vec<&String> = sdks
            .iter()
            .filter(|s| sdk_operations().get(*s).is_some_and(|ops| ops.contains(op)))
            .collect();
        assert!(
            owners.len() <= 1,
            "{site}: .{op}() is an operation of several SDKs ({owners:?})"
        );
        if let Some(sdk) = owners.first() {
            for a in iam_for(sdk, op) {
                out.entry(a).or_default().insert(format!("{site}: .{op}()"));
            }
            // Reading a named object version is its own action (Service Authorization Reference:
            // GetObject/HeadObject with versionId need s3:GetObjectVersion).
            let versioned = body.calls.iter().any(|c| {
                matches!(c, Call::Method(m) | Call::OnSelf(m) if m == "version_id" || m == "set_version_id")
            });
            if sdk.as_str() == "aws-sdk-s3"
                && versioned
                && matches!(op.as_str(), "get_object" | "head_object")
            {
                out.entry("s3:GetObjectVersion".into())
                    .or_default()
                    .insert(format!("{site}: .{op}().version_id(…)"));
            }
        }
    }
}

/// Code the scanner reads: a crate's `src/` (sites say `{site}/{file}`), the AWS SDK crates it
/// depends on, and its functions.
pub struct Crate {
    pub site: String,
    pub sdks: Vec<String>,
    pub files: Vec<(String, syn::File)>,
}

impl Crate {
    pub fn read(dir: &Path, site: &str, sdks: Vec<String>) -> Self {
        Crate {
            site: site.to_owned(),
            sdks,
            files: rust_scan::read_src(&dir.join("src")),
        }
    }

    fn items(&self) -> Vec<FnItem> {
        self.files
            .iter()
            .flat_map(|(key, file)| rust_scan::items(file, key))
            .collect()
    }
}

/// Workspace crates `package` depends on, directly or through each other (path dependencies).
fn library_crates(package: &Value) -> Vec<Crate> {
    let root = root().canonicalize().expect("repo root");
    let mut seen = BTreeSet::new();
    let mut queue = vec![package];
    let mut out = Vec::new();
    while let Some(p) = queue.pop() {
        for d in normal_deps(p) {
            let Some(path) = d["path"].as_str() else {
                continue;
            };
            if !seen.insert(path.to_owned()) {
                continue;
            }
            let lib = package_at(Path::new(path));
            let dir = package_dir(lib).canonicalize().expect("crate dir");
            let rel = dir
                .strip_prefix(&root)
                .unwrap_or(&dir)
                .display()
                .to_string();
            out.push(Crate::read(&dir, &format!("{rel}/src"), sdk_deps(lib)));
            queue.push(lib);
        }
    }
    out
}

/// IAM actions a function crate needs: the SDK calls in its own code plus those of every
/// library function it reaches (through method and path calls, and through the types library
/// functions hand back, e.g. `Artifacts::ranges` → `S3Ranges` whose `read` does the ranged
/// GETs). Libraries are the workspace crates it depends on, all read as one (today `shared`).
pub fn needed_actions(crate_dir: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let package = package_at(crate_dir);
    let name = crate_dir
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let own = Crate::read(crate_dir, &format!("{name}/src"), sdk_deps(package));
    needed_actions_of(&own, &library_crates(package))
}

/// `needed_actions` over code already read: a function crate and the libraries it can reach.
pub fn needed_actions_of(own: &Crate, libs: &[Crate]) -> BTreeMap<String, BTreeSet<String>> {
    let pool: Vec<(&Crate, FnItem)> = libs
        .iter()
        .flat_map(|lib| lib.items().into_iter().map(move |f| (lib, f)))
        .collect();
    let types: BTreeSet<&str> = pool
        .iter()
        .filter_map(|(_, f)| f.owner.as_deref())
        .collect();
    // Types reachable from a parameter: the parameter's own, and its fields', transitively.
    let fields: BTreeMap<String, BTreeSet<String>> = libs
        .iter()
        .flat_map(|lib| lib.files.iter())
        .flat_map(|(_, file)| rust_scan::struct_fields(file))
        .collect();
    let reachable = |params: &BTreeSet<String>| {
        let mut seen: BTreeSet<String> = params.clone();
        let mut todo: Vec<String> = params.iter().cloned().collect();
        while let Some(t) = todo.pop() {
            for inner in fields.get(&t).into_iter().flatten() {
                if seen.insert(inner.clone()) {
                    todo.push(inner.clone());
                }
            }
        }
        seen
    };
    let mut out = BTreeMap::new();
    let mut queue: Vec<usize> = Vec::new();

    for (key, file) in &own.files {
        let body = rust_scan::file_body(file);
        sdk_actions(&body, &own.sdks, &format!("{}/{key}", own.site), &mut out);
        for call in &body.calls {
            for (idx, (_, f)) in pool.iter().enumerate() {
                if !f.public {
                    continue;
                }
                let hit = match call {
                    Call::Method(m) | Call::OnSelf(m) => f.owner.is_some() && &f.name == m,
                    Call::Path(q, m) if types.contains(q.as_str()) => {
                        f.owner.as_deref() == Some(q) && &f.name == m
                    }
                    Call::Path(_, m) | Call::Bare(m) => f.owner.is_none() && &f.name == m,
                    Call::EmptyMethod(_) => false,
                };
                if hit {
                    queue.push(idx);
                }
            }
        }
    }

    let mut seen = BTreeSet::new();
    while let Some(idx) = queue.pop() {
        if !seen.insert(idx) {
            continue;
        }
        let (lib, f) = &pool[idx];
        let site = format!(
            "{}/{} {}{}",
            lib.site,
            f.file,
            f.owner
                .as_ref()
                .map(|o| format!("{o}::"))
                .unwrap_or_default(),
            f.name
        );
        sdk_actions(&f.body, &lib.sdks, &site, &mut out);
        let returned: BTreeSet<&str> = types
            .iter()
            .copied()
            .filter(|t| Some(*t) != f.owner.as_deref() && f.returns.contains(*t))
            .collect();
        let handed = reachable(&f.params);
        for call in &f.body.calls {
            for (j, (_, g)) in pool.iter().enumerate() {
                let hit = match call {
                    Call::OnSelf(m) => g.owner == f.owner && &g.name == m,
                    Call::Path(q, m) if q == "Self" => g.owner == f.owner && &g.name == m,
                    Call::Path(q, m) if types.contains(q.as_str()) => {
                        g.owner.as_deref() == Some(q) && &g.name == m
                    }
                    Call::Path(_, m) | Call::Bare(m) => g.owner.is_none() && &g.name == m,
                    // A method on a value the function was handed (`store: &Store`), or on
                    // one such a value holds (`gate.store`).
                    Call::Method(m) => {
                        g.owner.as_deref().is_some_and(|o| handed.contains(o)) && &g.name == m
                    }
                    Call::EmptyMethod(_) => false,
                };
                if hit {
                    queue.push(j);
                }
            }
        }
        for (j, (_, g)) in pool.iter().enumerate() {
            if g.owner.as_deref().is_some_and(|o| returned.contains(o)) {
                queue.push(j);
            }
        }
    }
    out
}
