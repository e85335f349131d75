"""Drives `nexo mcp` with the official MCP Python SDK (a client nexo did not
write) and prints what the server answered, as one JSON object.

usage: client.py <nexo binary> <repository>
"""
import asyncio
import json
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


async def main(nexo, repo):
    params = StdioServerParameters(command=nexo, args=["mcp"], cwd=repo, env={"NEXO_ACTOR": "claude_code"})
    out = {}
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            out["initialize"] = {
                "protocol_version": init.protocol_version,
                "server": init.server_info.name,
                "tools_capability": init.capabilities.tools is not None,
            }
            tools = await session.list_tools()
            out["tools"] = {t.name: t.input_schema for t in tools.tools}
            prompts = await session.list_prompts()
            out["prompts"] = [p.name for p in prompts.prompts]
            primer = await session.get_prompt("nexo_primer")
            out["primer"] = primer.messages[0].content.text

            async def call(name, args):
                res = await session.call_tool(name, args)
                return {"is_error": bool(res.is_error), "result": res.structured_content,
                        "text": res.content[0].text if res.content else None}

            flow = []
            goal = await call("nexo_goal_open", {
                "sid": "mcp-session", "title": "Ship v3.1", "priority": ""})
            flow.append(["goal_open", goal])
            opened = await call("nexo_workflow_open", {
                "goal_id": goal["result"]["goal_id"],
                "sid": "mcp-session", "goal": "Prepare and publish v3.1.1", "owner": "codex",
                "priority": "high", "workflow_kind": "release",
                "steps": "[{\"key\":\"doctor\",\"title\":\"Run release readiness checks\"},"
                         "{\"key\":\"publish\",\"title\":\"Publish release\"}]",
                "next_action": "Run doctor."})
            flow.append(["open", opened])
            run = opened["result"]["run_id"]
            flow.append(["update", await call("nexo_workflow_update", {
                "run_id": run, "step_key": "doctor", "step_status": "completed",
                "summary": "doctor clean", "evidence": "ci run 812"})])
            flow.append(["gate", await call("nexo_workflow_update", {
                "run_id": run, "step_key": "publish", "step_status": "blocked",
                "requires_approval": True, "summary": "Artifacts ready.",
                "next_action": "Wait for approval."})])
            flow.append(["resume_gated", await call("nexo_workflow_resume", {"run_id": run})])
            flow.append(["approve", await call("nexo_workflow_approve", {
                "run_id": run, "step_key": "publish", "actor": "release-manager", "note": "go"})])
            flow.append(["handoff", await call("nexo_workflow_handoff", {
                "run_id": run, "actor": "codex", "new_owner": "claude_code",
                "handoff_note": "Publish is approved.", "next_action": "Publish."})])
            flow.append(["resume", await call("nexo_workflow_resume", {"run_id": run})])
            flow.append(["replay", await call("nexo_workflow_replay", {"run_id": run, "limit": 10})])
            flow.append(["claim", await call("nexo_workflow_claim", {
                "run_id": run, "actor": "claude_code", "ttl_seconds": 900})])
            flow.append(["claim_taken", await call("nexo_workflow_claim", {
                "run_id": run, "actor": "codex"})])
            flow.append(["resume_other", await call("nexo_workflow_resume", {
                "run_id": run, "actor": "codex"})])
            flow.append(["release", await call("nexo_workflow_release", {
                "run_id": run, "actor": "claude_code"})])
            flow.append(["ready", await call("nexo_workflow_ready", {"claim": True, "ttl_seconds": 60})])
            flow.append(["bad_status", await call("nexo_workflow_update", {
                "run_id": run, "step_key": "publish", "step_status": "done"})])
            flow.append(["unknown_run", await call("nexo_workflow_resume", {"run_id": "WF-NOPE"})])
            flow.append(["sync_without_remote", await call("nexo_workflow_sync", {})])
            flow.append(["open_template", await call("nexo_workflow_open", {
                "sid": "mcp-session", "template": "ship",
                "vars": {"what": "the docs", "targets": ["web", "pdf"]}})])
            flow.append(["goal_get", await call("nexo_goal_get", {
                "goal_id": goal["result"]["goal_id"], "include_runs": True})])
            out["flow"] = flow
    print(json.dumps(out))


asyncio.run(main(sys.argv[1], sys.argv[2]))
