#!/usr/bin/env bash
# The local demo: a fresh local stack; the example component released (and a bad zip rejected);
# then deployed to dev and prod through plan, a four-eyes approval and apply.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

bash scripts/setup.sh
echo "building ferry (first build compiles the AWS SDK: several minutes)…"
cargo build --quiet -p ferry-cli
export PATH="$root/target/debug:$root/.venv/bin:$PATH" CHECKPOINT_DISABLE=1 TF_CLI_CONFIG_FILE=/dev/null
export FERRY_LOCAL_DIR="$root/.ferry/local"
work="$root/.ferry/demo"
mkdir -p "$work"

say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

# Start from a clean stack each run (moto keeps everything in memory).
ferry local down >/dev/null 2>&1 || true
say 'eval "$(ferry local up)"'
eval "$(ferry local up)"

say "ferry package examples/hello-service --out $work/hello-service-1.0.0.zip"
ferry package examples/hello-service --out "$work/hello-service-1.0.0.zip" --force

say "ferry release $work/hello-service-1.0.0.zip"
ferry release "$work/hello-service-1.0.0.zip"

say "ferry package examples/hello-service --set-version 1.1.0 … && ferry release …"
ferry package examples/hello-service --set-version 1.1.0 --out "$work/hello-service-1.1.0.zip" --force >/dev/null
ferry release "$work/hello-service-1.1.0.zip"

# A zip with no ferry.json, uploaded behind ferry's back: registration rejects it and says why.
python3 - "$work/broken.zip" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w") as z:
    z.writestr("main.tf", "# no manifest here\n")
PY
say "aws s3 cp broken.zip s3://$FERRY_ARTIFACT_BUCKET/releases/hello-service/9.9.9.zip --checksum-algorithm SHA256"
aws s3 cp --only-show-errors "$work/broken.zip" "s3://$FERRY_ARTIFACT_BUCKET/releases/hello-service/9.9.9.zip" --checksum-algorithm SHA256
for _ in $(seq 1 100); do
  ferry releases hello-service --output json | grep -q '"missing-manifest"' && break
  sleep 0.1
done

say "ferry releases hello-service"
ferry releases hello-service

# Deploy: dev passes without approval; prod needs two people other than the requester to
# approve the plan, and the review page asks them to type "prod".
say "ferry env put dev --order 1 --approval none"
ferry env put dev --order 1 --approval none
say "ferry env put prod --order 2 --approval required --approvers alice,bob,carol --four-eyes --required-approvals 2 --confirm-name --timeout 1h"
ferry env put prod --order 2 --approval required --approvers alice,bob,carol --four-eyes \
  --required-approvals 2 --confirm-name --timeout 1h
ferry env list

say "ferry deploy hello-service 1.0.0 --to dev --wait"
ferry deploy hello-service 1.0.0 --to dev --wait >/dev/null
ferry status hello-service

say "ferry deploy hello-service 1.1.0 --to dev,prod --as alice"
id=$(ferry deploy hello-service 1.1.0 --to dev,prod --as alice)
echo "$id"

# dev plans and applies; prod plans, then waits at the approval gate.
for _ in $(seq 1 600); do
  ferry status hello-service --output json | grep -q '"pending_approval": {' && break
  sleep 0.2
done
say "ferry status hello-service"
ferry status hello-service

say "ferry approve $id --as alice        # four eyes: the requester may not approve"
ferry approve "$id" --as alice || true

say "ferry approve $id --as bob --comment 'plan reviewed'    # 1 of 2"
ferry approve "$id" --as bob --comment "plan reviewed"

# Each approver got their own message, with a link that decides once, as them, for this plan.
say "ferry local outbox        # what the approvers received (SNS → the local outbox queue)"
ferry local outbox --output json >"$work/outbox.jsonl"
python3 - "$work/outbox.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    m = json.loads(line)
    print(f"To: {m['to']}\nSubject: {m['subject']}\n\n{m['message'].rstrip()}\n----")
PY
link=$(python3 - "$work/outbox.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    m = json.loads(line)
    if m["to"] == "carol":
        print(next(l.split(": ", 1)[1] for l in m["message"].splitlines() if l.startswith("Review and decide: ")))
PY
)
origin=$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(f"{p.scheme}://{p.netloc}")' "$link")
notice() { python3 -c 'import html, re, sys; m = re.search(r"<p class=notice[^>]*>(.*?)</p>", sys.stdin.read()); print(html.unescape(m.group(1)) if m else "(no notice)")'; }

say "curl '<carol's link>'        # a GET (or a mail scanner) only shows the page"
curl -sS "$link" -o "$work/review.html" -w 'HTTP %{http_code}, %{size_download} bytes, nothing decided\n'
say "curl -H 'Origin: $origin' -d 'link=…&decision=approve&confirm=prod&comment=…' $FERRY_REVIEW_URL    # the page's form, as carol"
curl -sS -H "Origin: $origin" \
  --data-urlencode "link=${link#*\?l=}" --data-urlencode decision=approve \
  --data-urlencode confirm=prod --data-urlencode "comment=looks right" \
  "$FERRY_REVIEW_URL" | notice

say "ferry deployment $id --wait"
ferry deployment "$id" --wait

say "ferry status hello-service"
ferry status hello-service

say "ferry history hello-service"
ferry history hello-service

# Day two: 1.1.0 misbehaves in dev; roll back to the version live there before it.
say "ferry rollback hello-service --env dev --reason 'demo: 1.1.0 misbehaves' --wait"
ferry rollback hello-service --env dev --reason "demo: 1.1.0 misbehaves" --wait >/dev/null
say "ferry history hello-service --env dev"
ferry history hello-service --env dev

say "aws s3 ls s3://$FERRY_ARTIFACT_BUCKET/state/ --recursive    # terraform state, per environment"
aws s3 ls "s3://$FERRY_ARTIFACT_BUCKET/state/" --recursive

printf '\nTo review and decide in a browser: open a link from `ferry local outbox` (each decides once),\n'
printf 'or mint one for yourself at a waiting gate:  ferry approve <deployment> --as carol --browser\n'
printf '\nThe local stack is still running (logs in %s).\n' "$FERRY_LOCAL_DIR"
printf 'Point your shell at it with:  eval "$(FERRY_LOCAL_DIR=%s %s/target/debug/ferry local env)"\n' "$FERRY_LOCAL_DIR" "$root"
printf 'Stop it with:                 FERRY_LOCAL_DIR=%s %s/target/debug/ferry local down\n' "$FERRY_LOCAL_DIR" "$root"
