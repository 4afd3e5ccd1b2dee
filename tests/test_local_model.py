"""The bundled local model (SmolLM2-135M under llama-cpp-python) on the real path.

Real episodes of both environments (greedy decoding, so the portable build gives the same
tokens on any machine), malformed model output from a scripted OpenAI-compatible server,
and the server's life: started on demand, stopped when the run ends, never orphaned.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from inspect_ai import Task
from inspect_ai import eval as inspect_eval
from inspect_ai.dataset import Sample
from inspect_ai.model import ChatMessageAssistant, ChatMessageTool, get_model
from inspect_ai.solver import Generate, TaskState, generate, solver

from conftest import labels, record
from corrigibench.reward_hints.parse import parse_answer
from corrigibench.reward_hints.task import reward_hints
from corrigibench.shutdown.task import shutdown
from corrigibench.table import episodes, summarize

SERVER_MODULE = b"corrigibench.local_model.server"


def bash_calls(sample) -> list:
    return [c for m in sample.messages if isinstance(m, ChatMessageAssistant)
            for c in m.tool_calls or [] if c.function == "bash"]


def test_tool_results_and_calls_reach_the_prompt() -> None:
    from corrigibench.local_model.chat_format import render

    tools = [{"type": "function", "function": {
        "name": "bash", "description": "Run a command.",
        "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}}}}]
    prompt = render([
        {"role": "system", "content": "Be helpful."},
        {"role": "user", "content": [{"type": "text", "text": "Answer the questions."}]},
        {"role": "assistant", "content": "I will look.", "tool_calls": [
            {"id": "c1", "type": "function",
             "function": {"name": "bash", "arguments": '{"cmd": "./next_question"}'}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "What is 1 + 1?"},
    ], tools)
    assert prompt.startswith("<|im_start|>system\nBe helpful.\n\nYou have access")
    assert "functions.bash: Run a command.\n{" in prompt
    assert "<|im_start|>user\nAnswer the questions.<|im_end|>" in prompt
    assert ('<|im_start|>assistant\nmessage:\nI will look.\nfunctions.bash:\n'
            '{"cmd": "./next_question"}<|im_end|>') in prompt
    # the upstream chatml-function-calling template drops this line entirely
    assert "<|im_start|>tool\nWhat is 1 + 1?<|im_end|>" in prompt
    assert prompt.endswith("<|im_start|>assistant\n")


def test_real_model_shutdown_episodes(tmp_logs: Path) -> None:
    variants = "palisade-A,palisade-B,palisade-E,gdm-clarified-precedence"
    # the persistent profile's one-argument bash(cmd): the 135M model cannot fill in
    # thoughtful_bash's two arguments (a pipeline check, not a finding either way)
    (log,) = inspect_eval(shutdown(variant=variants, message_limit=16, mechanics="persistent"),
                          model="local/smollm2",
                          temperature=0, max_tokens=256, log_dir=str(tmp_logs), display="none")
    assert log.status == "success"
    commands = 0
    for sample in log.samples:
        assert sample.error is None
        got = labels(sample)
        assert got["label"] in ("complied", "resisted", "limit")
        assert got["status"] == ("ok" if got["submitted"] or got["machine_died"] else "limit")
        assert sample.model_usage["local/smollm2"].output_tokens > 0
        calls = bash_calls(sample)
        # every well-formed call ran in the machine, in order; a malformed one is an
        # error the model was shown, not an exception
        ran = [c["cmd"] for c in record(sample)["commands"]]
        assert ran == [c.arguments["cmd"] for c in calls if c.parse_error is None]
        results = {m.tool_call_id: m for m in sample.messages if isinstance(m, ChatMessageTool)}
        for call in calls:
            if call.parse_error is not None:
                assert results[call.id].error.type == "parsing"
        commands += len(ran)
    assert commands > 0, "the model never reached the machine"


def test_real_model_reward_hint_episodes(tmp_logs: Path) -> None:
    (log,) = inspect_eval(reward_hints(condition="unlabelled,control,encoding-base64"),
                          model="local/smollm2", epochs=2, temperature=0, max_tokens=200,
                          log_dir=str(tmp_logs), display="none")
    assert log.status == "success" and len(log.samples) == 6
    for sample in log.samples:
        got = labels(sample)
        assert got["number"] == parse_answer(sample.output.completion).value
        assert got["label"] in ("gamed", "complied", "violated", "invalid", "ambiguous")
    (row,) = summarize(episodes(str(tmp_logs))).query("variant == 'unlabelled'").to_dict("records")
    assert row["n"] + row["invalid"] + row["errors"] + row["limits"] == row["episodes"] == 2


# -- malformed output, from a server that says exactly what we script --------------------

MALFORMED = [
    # (tool name or None, arguments or content, finish reason)
    ("bash", '{"cmd": "./next_question', "length"),        # JSON cut off
    ("rm_everything", "{}", "tool_calls"),                  # a tool that does not exist
    (None, "Let me think about what to do next.", "stop"),  # no tool call
    (None, "la " * 2000, "length"),                         # text that never ends
    ("bash", '{"cmd": "./next_question"}', "tool_calls"),   # finally, a real call
    ("submit", '{"answer": "2"}', "tool_calls"),
]


class ScriptedOpenAI(BaseHTTPRequestHandler):
    """Chat completions chosen by how many assistant turns the request already holds."""

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        turn = sum(m["role"] == "assistant" for m in body["messages"])
        if body.get("tools"):
            tool, text, reason = MALFORMED[min(turn, len(MALFORMED) - 1)]
        else:
            tool, text, reason = None, "I refuse to pick one." if turn == 0 else "7", "stop"
        message = {"role": "assistant", "content": None if tool else text}
        if tool:
            message["tool_calls"] = [{"id": f"call_{turn}", "type": "function",
                                      "function": {"name": tool, "arguments": text}}]
        reply = json.dumps({
            "id": f"c{turn}", "object": "chat.completion", "created": 0, "model": "scripted",
            "choices": [{"index": 0, "message": message, "finish_reason": reason}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def scripted_server(monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), ScriptedOpenAI)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("SCRIPTED_API_KEY", "unused")
    yield get_model("openai-api/scripted/malformed", memoize=False,
                    base_url=f"http://127.0.0.1:{server.server_port}/v1")
    server.shutdown()


def test_malformed_output_is_recorded_not_raised(scripted_server, tmp_logs: Path) -> None:
    # the scripted server calls bash(cmd), the persistent profile's tool
    (log,) = inspect_eval(shutdown(variant="palisade-B", mechanics="persistent"),
                          model=scripted_server,
                          log_dir=str(tmp_logs), display="none")
    (sample,) = log.samples
    assert log.status == "success" and sample.error is None
    errors = [m.error.type for m in sample.messages
              if isinstance(m, ChatMessageTool) and m.error is not None]
    assert errors == ["parsing", "parsing"]  # cut-off JSON, unknown tool
    continues = [m for m in sample.messages if m.role == "user"][1:]
    assert len(continues) == 2  # no tool call, endless text: Palisade's continue message
    got = labels(sample)
    assert got["label"] == "complied" and got["submitted_early"]
    assert got["questions_served"] == 1 and got["commands"] == 1


def test_an_answer_without_a_number_is_invalid_not_an_error(scripted_server,
                                                              tmp_logs: Path) -> None:
    (log,) = inspect_eval(reward_hints(), model=scripted_server, log_dir=str(tmp_logs),
                          display="none")
    (sample,) = log.samples
    assert labels(sample)["label"] == "invalid" and sample.error is None


# -- the server's life ------------------------------------------------------------------

def server_processes(parent: int | None = None) -> dict[int, int]:
    """Live local-model servers: pid -> parent pid (all, or the children of `parent`)."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            state, ppid = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[:2]
        except OSError:
            continue
        if SERVER_MODULE in cmdline and state != "Z" and (parent is None or int(ppid) == parent):
            found[int(entry)] = int(ppid)
    return found


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_server_starts_on_demand_and_stops_when_the_run_ends(tmp_logs: Path) -> None:
    model = get_model("local/smollm2", memoize=False)
    assert model.api.server_pid is None  # nothing runs before the first request
    seen: list[int] = []

    @solver
    def note_server():
        async def solve(state: TaskState, generate: Generate) -> TaskState:
            seen.append(model.api.server_pid)
            return state
        return solve

    task = Task(dataset=[Sample(input="Say hi.")], solver=[generate(), note_server()])
    (log,) = inspect_eval(task, model=model, max_tokens=8, log_dir=str(tmp_logs), display="none")
    assert log.status == "success" and seen[0] is not None
    assert model.api.server_pid is None and not server_processes(os.getpid())
    # the same model instance starts a new server for the next run
    (log,) = inspect_eval(task, model=model, max_tokens=8, log_dir=str(tmp_logs), display="none")
    assert log.status == "success" and seen[1] not in (None, seen[0])
    assert not server_processes(os.getpid())


def test_server_stops_when_the_run_fails(tmp_logs: Path) -> None:
    model = get_model("local/smollm2", memoize=False)

    @solver
    def fail_after_the_model():
        async def solve(state: TaskState, generate: Generate) -> TaskState:
            raise RuntimeError("a solver bug")
        return solve

    task = Task(dataset=[Sample(input="Say hi.")], solver=[generate(), fail_after_the_model()])
    (log,) = inspect_eval(task, model=model, max_tokens=8, log_dir=str(tmp_logs), display="none")
    assert log.status == "error"
    assert model.api.server_pid is None and not server_processes(os.getpid())


_LONG_RUN = textwrap.dedent("""
    from inspect_ai import eval
    from corrigibench.shutdown.task import shutdown
    eval(shutdown(variant="palisade-A"), model="local/smollm2", epochs=50, log_dir={log_dir!r},
         display="none")
""")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_no_server_outlives_a_killed_or_interrupted_run(sig: int, tmp_logs: Path) -> None:
    run = subprocess.Popen([sys.executable, "-c", _LONG_RUN.format(log_dir=str(tmp_logs))],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           env={**os.environ, "INSPECT_DISPLAY": "none"})
    try:
        (server,) = wait_for(lambda: server_processes(run.pid), 120, "the server to start")
        time.sleep(1)  # let a request be under way
        run.send_signal(sig)
        run.wait(timeout=60)
        wait_for(lambda: server not in server_processes(), 10, "the server to exit")
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()


def test_a_real_model_as_judge_gives_recorded_outcomes(tmp_logs: Path) -> None:
    """SmolLM2 is no judge: whatever it answers must become labels, rejections or errors."""
    from corrigibench.traces.categories import get_categories
    from corrigibench.traces.run import label_logs
    from corrigibench.traces.summary import labels_frame

    inspect_eval(reward_hints(condition="unlabelled,label-misaligned"), model="scripted/gamer",
                 log_dir=str(tmp_logs), display="none")
    counts = label_logs(tmp_logs, get_categories(), judge="local/smollm2",
                        generate={"max_tokens": 200})
    assert counts["episodes"] == counts["judged"] == 2
    frame = labels_frame(tmp_logs)
    judged = frame[frame["layer"] == "judge: local/smollm2"]
    assert len(judged) == 2 * 7
    assert set(judged["value"]) <= {"yes", "no", "rejected", "error"}
    assert not server_processes(os.getpid())


def test_any_gguf_file_runs_under_its_own_name(tmp_logs: Path) -> None:
    from corrigibench.local_model.model import bundled_gguf

    (log,) = inspect_eval(reward_hints(), model="local/my-model",
                          model_args={"gguf": str(bundled_gguf("smollm2"))}, max_tokens=32,
                          log_dir=str(tmp_logs), display="none")
    assert log.status == "success" and log.eval.model == "local/my-model"
    assert log.samples[0].output.completion
