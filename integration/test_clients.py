"""Real clients through the gateway: Claude Code, Codex, the OpenAI Agents SDK, the Vercel AI SDK,
LangChain, instructor and pydantic-ai — pinned releases (integration/clients/package-lock.json,
requirements-clients.txt, requirements-instructor.txt), each run offline against the scripted
upstream, each judged by what it returned or printed.

Versions: Claude Code 2.1.332, Codex 0.171.0, openai-agents 0.24.0, ai 7.0.173 with
@ai-sdk/openai 4.0.118 and @ai-sdk/anthropic 4.0.105, langchain-openai 1.8.1, langchain-anthropic
1.7.10, pydantic-ai-slim 2.68.0, instructor 1.17.0 (its own venv: it holds openai at 3.3.0).
"""

import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import CLIENT_KEY, ROOT

CLIENTS = Path(__file__).parent / "clients"
NODE_BIN = CLIENTS / "node_modules" / ".bin"
VENV = Path(__file__).parent / ".venv" / "bin" / "python"
INSTRUCTOR_VENV = Path(__file__).parent / ".venv-instructor" / "bin" / "python"
SCRIPTED = "Hello from the scripted upstream."

# What turns off every call a client makes beyond the API (telemetry, updates, feedback).
CLAUDE_OFFLINE = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_TELEMETRY": "1", "DISABLE_ERROR_REPORTING": "1",
    "DISABLE_AUTOUPDATER": "1", "DISABLE_BUG_COMMAND": "1", "DISABLE_COST_WARNINGS": "1", "DO_NOT_TRACK": "1",
    "CLAUDE_CODE_DISABLE_FEEDBACK_SURVEY": "1", "CLAUDE_CODE_DISABLE_OFFICIAL_MARKETPLACE_AUTOINSTALL": "1",
    "CLAUDE_CODE_DISABLE_TERMINAL_TITLE": "1",
}


def installed(path):
    if not Path(path).exists():
        pytest.fail(f"{path} is missing: integration/test.sh installs the real clients")


def run(cmd, env, cwd, timeout=180):
    r = subprocess.run([str(c) for c in cmd], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    return r


def base_env(home):
    return {"PATH": os.environ["PATH"], "HOME": str(home), "LANG": "C.UTF-8"}


def upstream_since(gateway, n):
    return gateway.upstream_requests()[n:]


# ---- Claude Code ------------------------------------------------------------------------------

def claude_code(gateway, tmp_path, prompt, model, base=None, headers=None, args=()):
    installed(NODE_BIN / "claude")
    home, config, work = tmp_path / "home", tmp_path / "config", tmp_path / "work"
    for d in (home, config, work):
        d.mkdir(exist_ok=True)
    env = dict(base_env(home), CLAUDE_CONFIG_DIR=str(config), ANTHROPIC_BASE_URL=base or gateway.base,
               ANTHROPIC_API_KEY=CLIENT_KEY, **CLAUDE_OFFLINE)
    if headers:
        env["ANTHROPIC_CUSTOM_HEADERS"] = "\n".join(f"{k}: {v}" for k, v in headers.items())
    return run([NODE_BIN / "claude", "-p", prompt, "--model", model, *args], env, work)


def test_claude_code_on_a_translated_model(gateway, tmp_path):
    n = len(gateway.upstream_requests())
    r = claude_code(gateway, tmp_path, "say hi", "chat-a")
    assert r.returncode == 0, r.stdout + r.stderr
    assert SCRIPTED in r.stdout
    sent = [json.loads(u["body"]) for u in upstream_since(gateway, n) if u["path"].endswith("/chat/completions")]
    assert sent, "Claude Code's request reached the translated upstream"
    body = sent[-1]
    roles = [m["role"] for m in body["messages"]]
    # Its system prompt first, then the user turn, then the system message it puts inside messages.
    assert roles[0] == "system" and roles[1] == "user" and "system" in roles[2:], roles
    assert body["tools"] and all(t["type"] == "function" for t in body["tools"])
    assert body["stream"] is True


def test_claude_code_runs_a_tool_on_a_translated_model(gateway, tmp_path):
    call = [{"name": "Bash", "arguments": json.dumps({"command": "echo recorded-by-stav",
                                                      "description": "Print a marker"})}]
    r = claude_code(gateway, tmp_path, "Print the marker.", "chat-a", headers={"x-script-tools": json.dumps(call)},
                    args=["--allowedTools", "Bash(echo:*)"])
    assert r.returncode == 0, r.stdout + r.stderr
    # The upstream's answer quotes the tool's result: Claude Code ran it and sent it back.
    assert "Tool said:" in r.stdout and "recorded-by-stav" in r.stdout, r.stdout


@pytest.mark.parametrize("suffix", ["", "/v1"])
def test_claude_code_on_claude_verbatim(gateway, tmp_path, suffix):
    """A global-commercial team without any opt-out: Claude Code's own prompt is not personal data."""
    n = len(gateway.upstream_requests())
    r = claude_code(gateway, tmp_path, "say hi", "claude-sonnet-4-5", base=gateway.base + suffix)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Claude says hi." in r.stdout
    ups = [u for u in upstream_since(gateway, n) if u["path"].startswith("/v1/messages")]
    assert ups and ups[-1]["path"] == "/v1/messages?beta=true"
    assert "claude-code-20250219" in ups[-1]["headers"]["anthropic-beta"]
    body = json.loads(ups[-1]["body"])
    assert body["model"] == "claude-sonnet-4-5" and body["stream"] is True


# ---- Codex ------------------------------------------------------------------------------------

CODEX_CONFIG = """
model = "{model}"
model_provider = "stav"
approval_policy = "never"
sandbox_mode = "workspace-write"
check_for_update_on_startup = false
project_doc_max_bytes = 0
{web_search}

[model_providers.stav]
name = "Stav"
base_url = "{base}/v1"
wire_api = "responses"
env_key = "STAV_API_KEY"
stream_max_retries = 0
request_max_retries = 0
http_headers = {headers}

[analytics]
enabled = false
[feedback]
enabled = false
[otel]
exporter = "none"
[history]
persistence = "none"

[features]
plugins = false
apps = false
remote_plugin = false
tool_suggest = false
browser_use = false
computer_use = false
image_generation = false
api_key_model_discovery = false
"""


def codex(gateway, tmp_path, prompt, model="chat-a", headers=None, web_search=False):
    installed(NODE_BIN / "codex")
    home, work = tmp_path / "codex-home", tmp_path / "work"
    home.mkdir(exist_ok=True)
    work.mkdir(exist_ok=True)
    toml_headers = "{ " + ", ".join(f'"{k}" = {json.dumps(v)}' for k, v in (headers or {}).items()) + " }"
    (home / "config.toml").write_text(CODEX_CONFIG.format(
        model=model, base=gateway.base, headers=toml_headers,
        web_search="" if web_search else 'web_search = "disabled"'))
    env = dict(base_env(home), CODEX_HOME=str(home), STAV_API_KEY=CLIENT_KEY)
    return run([NODE_BIN / "codex", "exec", "--skip-git-repo-check", prompt], env, work)


@pytest.mark.parametrize("model", ["chat-a", "claude-opus-4-1"])
def test_codex_exec(gateway, tmp_path, model):
    n = len(gateway.upstream_requests())
    r = codex(gateway, tmp_path, "say hi", model=model, web_search=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (SCRIPTED if model == "chat-a" else "Claude says hi.") in r.stdout
    # Codex offers web_search by default: dropped (the gateway cannot run it), the rest sent.
    body = json.loads(upstream_since(gateway, n)[-1]["body"])
    names = [t["function"]["name"] if "function" in t else t["name"] for t in body["tools"]]
    assert "exec_command" in names and not any("web_search" in n for n in names)


def test_codex_runs_a_tool(gateway, tmp_path):
    call = [{"name": "exec_command", "arguments": json.dumps({"cmd": "echo recorded-by-stav"})}]
    r = codex(gateway, tmp_path, "Print the marker.", headers={"x-script-tools": json.dumps(call)})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Tool said:" in r.stdout and "recorded-by-stav" in r.stdout, r.stdout


# ---- SDK-based clients ------------------------------------------------------------------------

def python_client(gateway, name):
    python = INSTRUCTOR_VENV if name == "instructor" else VENV
    installed(python)
    r = run([python, CLIENTS / "python_clients.py", name, gateway.base, CLIENT_KEY],
            dict(os.environ, OPENAI_AGENTS_DISABLE_TRACING="1"), ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


CITY = {"city": "Paris", "population": 2100000}


def test_openai_agents_sdk_default_mode(gateway):
    n = len(gateway.upstream_requests())
    out = python_client(gateway, "agents")
    assert out["plain"] == SCRIPTED
    assert out["tool"] == "Tool said: sunny in Paris"
    assert out["streamed_tool"] == "Tool said: sunny in Oslo"
    assert out["structured_claude"] == CITY
    # Its default mode is the Responses API: the translated upstream got chat completions.
    assert any(u["path"] == "/v1/chat/completions" for u in upstream_since(gateway, n))


def test_vercel_ai_sdk(gateway):
    installed(CLIENTS / "node_modules" / "ai")
    r = run(["node", CLIENTS / "vercel_ai.mjs", gateway.base, CLIENT_KEY], dict(os.environ), CLIENTS)
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    for provider, text in [("openai_default", SCRIPTED), ("openai_chat", SCRIPTED), ("anthropic", "Claude says hi.")]:
        assert out[f"{provider}.generateText"] == text, provider
        assert out[f"{provider}.streamText"] == text, provider
        assert out[f"{provider}.generateObject"] == CITY, provider
        assert out[f"{provider}.tool"] == "Tool said: sunny in Paris", provider
        # A stream's text is every step's: Claude's scripted turn says something before its call.
        assert out[f"{provider}.streamTool"].endswith("Tool said: sunny in Paris"), provider


def test_langchain(gateway):
    out = python_client(gateway, "langchain")
    for name, text in [("chat_openai", SCRIPTED), ("chat_openai_responses", SCRIPTED),
                       ("chat_anthropic", "Claude says hi.")]:
        assert out[f"{name}.invoke"] == text, name
        assert out[f"{name}.stream"] == text, name
        assert out[f"{name}.tools"] == "Tool said: sunny in Rome", name
        assert out[f"{name}.structured"] == CITY, name


def test_pydantic_ai(gateway):
    out = python_client(gateway, "pydantic_ai")
    for name, text in [("openai_chat", SCRIPTED), ("openai_responses", SCRIPTED), ("anthropic", "Claude says hi.")]:
        assert out[f"{name}.plain"] == text, name
        assert out[f"{name}.tool"] == "Tool said: sunny in Turku", name
        assert out[f"{name}.structured"] == CITY, name


def test_instructor(gateway):
    out = python_client(gateway, "instructor")
    for name in ["openai", "openai_json_schema", "anthropic", "anthropic_translated"]:
        assert out[name] == CITY, name
