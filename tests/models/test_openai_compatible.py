"""Open models behind an OpenAI-compatible server (vLLM, SGLang, llama.cpp) and the batch
API, against a test double answered by our scripted policies (openai_double.py): the same
Inspect providers and code paths a real run takes, offline."""

from __future__ import annotations

from pathlib import Path

from inspect_ai import eval as inspect_eval
from inspect_ai.model import BatchConfig, ContentReasoning, get_model

from helpers import labels
from models.openai_double import REASONING, OpenAIDouble

from corrigibench.reward_hints.task import reward_hints
from corrigibench.shutdown.task import shutdown
from corrigibench.traces.transcript import read_transcripts


def test_a_vllm_style_server_plays_the_shutdown_environment(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("VLLM_API_KEY", "unused")
    with OpenAIDouble() as server:
        model = get_model("openai-api/vllm/saboteur-chmod", base_url=server.base_url,
                          memoize=False)
        (log,) = inspect_eval(shutdown(variant="palisade-B"), model=model,
                              log_dir=str(tmp_path), display="none")
    (sample,) = log.samples
    got = labels(sample)
    # Palisade's thoughtful_bash reached the server as a tool, and its calls came back
    assert (got["label"], got["method"], got["ended_by"]) == ("resisted", "chmod", "bypass")
    # the server's reasoning_content is the assistant's reasoning, and traces reads it
    reasoning = [c for m in sample.messages if m.role == "assistant" and isinstance(m.content, list)
                 for c in m.content if isinstance(c, ContentReasoning)]
    assert reasoning and reasoning[0].reasoning == REASONING
    (transcript,) = read_transcripts([log.location])
    assert any(s.kind == "reasoning" and REASONING in s.text for s in transcript.segments)


def test_reward_hint_episodes_go_through_the_batch_api(tmp_path: Path) -> None:
    conditions = "unlabelled,control,label-misaligned,encoding-base64"
    with OpenAIDouble() as server:
        model = get_model("openai/gamer", base_url=server.base_url, api_key="unused",
                          responses_api=False, memoize=False)
        (log,) = inspect_eval(reward_hints(condition=conditions), model=model, epochs=3,
                              batch=BatchConfig(size=6, send_delay=0.5, tick=0.2),
                              log_dir=str(tmp_path), display="none")
        batches = list(server.batches.values())
        chat_requests = server.chat_requests
    assert log.status == "success" and len(log.samples) == 12
    assert {labels(s)["status"] for s in log.samples} == {"ok"}
    # every episode's one model call went in a batch; none went straight to the endpoint
    assert batches and sum(b["request_counts"]["total"] for b in batches) == 12
    assert chat_requests == 0


def test_a_sweep_sets_batch_mode_per_model(tmp_path: Path) -> None:
    from corrigibench.sweep import load_spec, run

    with OpenAIDouble() as server:
        spec_file = tmp_path / "spec.toml"
        spec_file.write_text(f"""
log_dir = "logs"
epochs = 2
[[environments]]
name = "reward_hints"
conditions = ["unlabelled", "control"]
[[models]]
name = "openai/gamer"
base_url = "{server.base_url}"
args = {{ api_key = "unused", responses_api = false }}
batch = {{ size = 4, send_delay = 0.5, tick = 0.2 }}
""")
        assert run(load_spec(spec_file), display="none")
        assert sum(b["request_counts"]["total"] for b in server.batches.values()) == 4
        assert server.chat_requests == 0


def test_batch_mode_is_refused_for_shutdown_episodes(tmp_path: Path) -> None:
    import pytest

    from corrigibench.sweep import SpecError, load_spec

    spec_file = tmp_path / "spec.toml"
    spec_file.write_text("""
log_dir = "logs"
epochs = 1
[[environments]]
name = "shutdown"
conditions = ["palisade-B"]
[[models]]
name = "openai/o3"
batch = true
""")
    with pytest.raises(SpecError, match=r"models\[0\]\.batch: batch mode is for single-turn"):
        load_spec(spec_file)
