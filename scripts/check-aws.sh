#!/usr/bin/env bash
# What AWS would reject, checked offline: cfn-lint and `sam validate --lint` on template.yaml and
# cfn-lint on the transformed template, then the release build of every Lambda as `sam build`
# does it (rust-cargolambda: `cargo lambda build --release --bin <Binary>` from CodeUri = the
# workspace root), checking each bootstrap's architecture and glibc needs and printing its size.
# The fast checks (template, state machine, IAM coverage, event shapes) are
# `cargo test -p ferry-tests --test aws_fidelity`, which runs `lint`; this script adds the slow
# release build.
#
#   bash scripts/check-aws.sh                 lint + release build of every function (x86_64)
#   bash scripts/check-aws.sh lint            lint only
#   bash scripts/check-aws.sh build [--arm64] release build only
#   bash scripts/check-aws.sh json OUT        write template.yaml as JSON (as the SAM CLI parses it)
#   bash scripts/check-aws.sh translate OUT   write the transformed template (what CloudFormation
#                                             gets) to OUT as JSON
#   bash scripts/check-aws.sh sync-buildspec  rewrite template.yaml's inline BuildSpec from
#                                             buildspec/terraform.yml (after editing the latter)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

die() { echo "error: $*" >&2; exit 1; }
step() { printf '\n== %s\n' "$*"; }

# Tools come from the project venv (scripts/setup.sh); zig, which cargo-lambda needs for
# cross builds (arm64), is the venv's ziglang.
export PATH="$root/.venv/bin:$PATH"
# SAM CLI: no telemetry, no update check, a region for the linter's resource specs (offline).
export SAM_CLI_TELEMETRY=0 SAM_CLI_DISABLE_UPDATE_CHECK=1 AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"

need() { # need <tool> <install hint>
  command -v "$1" >/dev/null 2>&1 || die "$1 not found: $2"
}

# The functions SAM builds: Metadata.BuildProperties.Binary of each AWS::Serverless::Function.
binaries() {
  python3 - <<'PY'
import re
# A line scan, not a YAML parse: template.yaml uses CloudFormation tags (!Ref, !Sub) that
# python's yaml would need custom constructors for, and the venv may lack PyYAML.
for line in open("template.yaml", encoding="utf-8"):
    m = re.match(r"^\s+Binary:\s*([A-Za-z0-9_-]+)\s*$", line)
    if m:
        print(m.group(1))
PY
}

lint() {
  need cfn-lint "run bash scripts/setup.sh (pip install cfn-lint / aws-sam-cli into .venv)"
  need sam "run bash scripts/setup.sh (pip install aws-sam-cli into .venv)"
  step "cfn-lint template.yaml"
  cfn-lint --version
  cfn-lint template.yaml
  echo "cfn-lint: clean"
  step "sam validate --lint"
  sam validate --lint --template template.yaml --region "$AWS_DEFAULT_REGION"
  # cfn-lint on the SAM template does not see what the transform adds (it misses, e.g., the
  # bucket -> notification -> function -> role -> bucket cycle CloudFormation would refuse), so
  # lint the template as CloudFormation receives it too.
  step "cfn-lint on the transformed template (SAM translator, state machine definition inlined)"
  local out
  out=$(mktemp -d)/template.json
  translate "$out"
  (cd "$(dirname "$out")" && cfn-lint template.json)
  echo "cfn-lint (transformed): clean"
}

# Writes template.yaml as CloudFormation gets it after `sam package` + the SAM transform: local
# CodeUri values become S3 locations and the state machine definition is inlined (so cfn-lint
# checks it, with its DefinitionSubstitutions, like any AWS::StepFunctions::StateMachine).
translate() { # translate <out.json>
  python3 - "$1" <<'PY'
import json, sys
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

class NoManagedPolicies:
    def load(self):
        return {}

t = yaml_parse(open("template.yaml", encoding="utf-8").read())
t["Globals"]["Function"]["CodeUri"] = "s3://ferry-sam-packaging/functions.zip"
for res in t["Resources"].values():
    props = res.get("Properties") or {}
    if res.get("Type") == "AWS::Serverless::Function" and "CodeUri" in props:
        props["CodeUri"] = "s3://ferry-sam-packaging/functions.zip"
    if res.get("Type") == "AWS::Serverless::StateMachine" and "DefinitionUri" in props:
        props["Definition"] = json.load(open(props.pop("DefinitionUri"), encoding="utf-8"))
out = transform(t, {}, NoManagedPolicies())
json.dump(out, open(sys.argv[1], "w", encoding="utf-8"), indent=1)
PY
}

build() {
  local arch_flag=() arch=x86_64
  if [ "${1:-}" = "--arm64" ]; then arch_flag=(--arm64); arch=arm64; fi
  need cargo "install Rust (https://rustup.rs)"
  need cargo-lambda "run bash scripts/setup.sh (pip install cargo-lambda into .venv)"
  local bins=() b
  mapfile -t bins < <(binaries)
  [ ${#bins[@]} -gt 0 ] || die "template.yaml names no function binaries"
  local sel=()
  for b in "${bins[@]}"; do sel+=(--bin "$b"); done
  step "cargo lambda build --release ${arch_flag[*]} ${sel[*]}"
  # As `sam build` does it: from the workspace root (CodeUri) by binary name, into the
  # workspace's target dir. Same package selection, so the same feature unification: one
  # build serves both, and what is checked here is what SAM packages.
  local start=$SECONDS
  cargo-lambda lambda build --release "${arch_flag[@]}" "${sel[@]}"
  echo "built in $((SECONDS - start))s"
  step "bootstraps ($arch): size, and what provided.al2023 can run"
  local target_dir
  target_dir=$(cargo metadata --no-deps --format-version 1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
  need readelf "install binutils (readelf checks the bootstraps' architecture and glibc needs)"
  local machine
  case "$arch" in x86_64) machine="X86-64" ;; arm64) machine="AArch64" ;; esac
  for b in "${bins[@]}"; do
    local f="$target_dir/lambda/$b/bootstrap" glibc
    [ -f "$f" ] || die "$f was not built"
    readelf -h "$f" | grep -q "Machine:.*$machine" || die "$f is not a $machine executable"
    # provided.al2023 ships glibc 2.34: a binary asking for a newer symbol version fails at
    # cold start with "GLIBC_2.xx not found".
    glibc=$(readelf -V -W "$f" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -V -u | tail -1)
    python3 -c 'import sys; v=[int(x) for x in sys.argv[1].split(".")]; sys.exit(0 if v <= [2, 34] else 1)' "${glibc:-0}" \
      || die "$b needs glibc $glibc; provided.al2023 has 2.34 (build on an older glibc, or let cargo lambda use zig)"
    printf '%-18s %6s KiB  needs glibc %-5s %s\n' "$b" "$(( $(stat -c %s "$f") / 1024 ))" "${glibc:-none}" "$f"
  done
}

# Writes template.yaml as JSON, parsed the way the SAM CLI parses it (short-form tags such as
# !Sub become their Fn:: forms). The Rust checks read this instead of parsing YAML themselves.
template_json() { # template_json <out.json>
  python3 - "$1" <<'PY'
import json, sys
from samtranslator.yaml_helper import yaml_parse
json.dump(yaml_parse(open("template.yaml", encoding="utf-8").read()), open(sys.argv[1], "w", encoding="utf-8"), indent=1)
PY
}

sync_buildspec() {
  python3 - <<'PY'
# Rewrites the literal block after `BuildSpec: |` in template.yaml with buildspec/terraform.yml.
import re, sys
spec = open("buildspec/terraform.yml", encoding="utf-8").read()
if "\t" in spec or any(l != l.rstrip() for l in spec.splitlines()) or not spec.endswith("\n") or spec.endswith("\n\n"):
    sys.exit("error: buildspec/terraform.yml must have no tabs, no trailing spaces and end with exactly one newline to inline it as a YAML literal block")
lines = open("template.yaml", encoding="utf-8").read().split("\n")
for i, line in enumerate(lines):
    m = re.match(r"^(\s*)BuildSpec: \|$", line)
    if m:
        break
else:
    sys.exit("error: template.yaml has no `BuildSpec: |` block")
key_indent = len(m.group(1))
j = i + 1
last = i  # last line of the block that is not blank
while j < len(lines):
    l = lines[j]
    if l.strip() and len(l) - len(l.lstrip(" ")) <= key_indent:
        break
    if l.strip():
        last = j
    j += 1
pad = " " * (key_indent + 2)
block = [pad + l if l else "" for l in spec.rstrip("\n").split("\n")]
lines[i + 1:last + 1] = block
open("template.yaml", "w", encoding="utf-8").write("\n".join(lines))
print(f"template.yaml: BuildSpec now holds buildspec/terraform.yml ({len(spec)} bytes)")
PY
}

case "${1:-all}" in
  lint) lint ;;
  build) shift; build "$@" ;;
  sync-buildspec) sync_buildspec ;;
  json) shift; template_json "${1:?usage: $0 json <out.json>}" ;;
  translate) shift; translate "${1:?usage: $0 translate <out.json>}" ;;
  all) lint; build ;;
  *) die "usage: $0 [all|lint|build [--arm64]|sync-buildspec]" ;;
esac
