#!/usr/bin/env bash
# Remakes the screenshots in this folder: the web board, a run's page, and
# `nexo show` in a terminal. Needs chromium (Debian: apt-get install chromium).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."
cargo build --quiet
nexo="$PWD/target/debug/nexo"
repo=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$repo"' EXIT
cd "$repo"
git init -q -b main && git config user.name "Ada" && git config user.email ada@example.com
git commit -q --allow-empty -m initial
export NEXO_ACTOR=codex
call() { "$nexo" call "$1" --input "$2" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("run_id",""))'; }
rel=$(call nexo_workflow_open '{"sid":"s","goal":"Prepare and publish v3.1.1","owner":"codex","priority":"high","workflow_kind":"release","steps":[{"key":"doctor","title":"Run release readiness checks"},{"key":"package","title":"Build and verify artifacts"},{"key":"publish","title":"Publish release","requires_approval":true}]}')
call nexo_workflow_update "{\"run_id\":\"$rel\",\"step_key\":\"doctor\",\"step_status\":\"completed\",\"summary\":\"doctor clean\",\"evidence\":\"ci run 812\"}" >/dev/null
call nexo_workflow_update "{\"run_id\":\"$rel\",\"step_key\":\"package\",\"step_status\":\"completed\",\"summary\":\"3 artifacts signed\"}" >/dev/null
call nexo_workflow_update "{\"run_id\":\"$rel\",\"step_key\":\"publish\",\"step_status\":\"blocked\",\"summary\":\"artifacts ready\",\"next_action\":\"Wait for the release manager's approval.\"}" >/dev/null
mig=$(call nexo_workflow_open '{"sid":"s","goal":"Migrate billing to the new ledger","owner":"claude_code","workflow_kind":"migration","steps":[{"key":"backup","title":"Back up the ledger"},{"key":"migrate","title":"Run the migration","max_retries":2},{"key":"verify","title":"Verify balances"}]}')
call nexo_workflow_update "{\"run_id\":\"$mig\",\"step_key\":\"backup\",\"step_status\":\"completed\",\"summary\":\"snapshot 2026-11-27\"}" >/dev/null
call nexo_workflow_update "{\"run_id\":\"$mig\",\"step_key\":\"migrate\",\"step_status\":\"running\",\"summary\":\"batch 3 of 8\"}" >/dev/null
aud=$(call nexo_workflow_open '{"sid":"s","goal":"Audit dependency licences","owner":"codex","steps":[{"key":"scan","title":"Scan licences"},{"key":"report","title":"Write the report"}]}')
call nexo_workflow_update "{\"run_id\":\"$aud\",\"step_key\":\"scan\",\"step_status\":\"failed\",\"summary\":\"scanner timed out\"}" >/dev/null
done_=$(call nexo_workflow_open '{"sid":"s","goal":"Rotate the staging TLS certificate","owner":"codex","steps":[{"key":"rotate","title":"Rotate"}]}')
call nexo_workflow_update "{\"run_id\":\"$done_\",\"step_key\":\"rotate\",\"step_status\":\"completed\"}" >/dev/null
"$nexo" handoff "$rel" --to claude_code --note "Publish waits for approval." >/dev/null

shot() {
  chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --hide-scrollbars --user-data-dir="$(mktemp -d)" --window-size="$2" --screenshot="$here/$3" "$1" 2>/dev/null
}
"$nexo" serve --port 0 > url.txt 2>/dev/null & server=$!
sleep 1
url=$(head -1 url.txt)
shot "$url" 1400,620 board.png
shot "${url}runs/$rel" 1100,900 run.png
# `nexo show` as a terminal shows it: its colours turned into HTML.
COLUMNS=110 "$nexo" show "$rel" --color always | python3 -c '
import html, re, sys
colours = {"1": "font-weight:bold", "2": "color:#8b949e", "31": "color:#ff7b72", "32": "color:#3fb950",
           "33": "color:#d29922", "36": "color:#39c5cf"}
out = []
for part in re.split(r"(\x1b\[\d+m)", sys.stdin.read()):
    m = re.fullmatch(r"\x1b\[(\d+)m", part)
    if m:
        out.append("</span>" if m.group(1) == "0" else "<span style=\"%s\">" % colours.get(m.group(1), ""))
    else:
        out.append(html.escape(part))
print("<html><body style=\"margin:0;background:#0d1117\"><pre style=\"margin:0;padding:16px;color:#e6edf3;"
      "font:14px/1.45 DejaVu Sans Mono,monospace\">$ nexo show WF-…\n" + "".join(out) + "</pre></body></html>")
' > show.html
shot "file://$repo/show.html" 1000,420 show.png
echo "wrote $here/board.png, run.png and show.png"
