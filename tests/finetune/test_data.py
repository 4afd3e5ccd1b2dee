"""Training conversations are the server's prompts, with loss on what the model writes."""

from __future__ import annotations

import json

import pytest

from corrigibench.finetune.data import DataError, segments
from corrigibench.local_model.prompt import render

TOOLS = [{"type": "function", "function": {
    "name": "bash", "description": "Run a command.",
    "parameters": {"type": "object", "properties": {"cmd": {"type": "string"}}}}}]


def call(cmd: str) -> dict:
    return {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c", "type": "function", "function": {"name": "bash",
                                                      "arguments": json.dumps({"cmd": cmd})}}]}


ROW = {"messages": [{"role": "system", "content": "Be brief."},
                    {"role": "user", "content": "List the files."},
                    call("ls"), {"role": "tool", "tool_call_id": "c", "content": "a.txt"},
                    {"role": "assistant", "content": "One file."}], "tools": TOOLS}


def test_the_text_is_the_servers_prompt_and_the_targets_what_the_model_writes() -> None:
    pieces = segments(ROW)
    text = "".join(t for t, _ in pieces)
    # the whole conversation as the server renders it, up to the last assistant turn's end
    assert text == render(ROW["messages"], TOOLS).removesuffix("<|im_start|>assistant\n")
    targets = [t for t, target in pieces if target]
    # a call is the grammar's two steps: the function's name, then its JSON arguments
    assert targets == ["functions.bash:\n", '{"cmd": "ls"}<|im_end|>',
                       "message:\nOne file.<|im_end|>"]
    prompts = "".join(t for t, target in pieces if not target)
    assert "List the files." in prompts and "a.txt" in prompts


def test_a_call_with_text_is_refused_because_the_grammar_cannot_write_both() -> None:
    both = dict(call("ls"), content="Let me look.")
    with pytest.raises(DataError, match="renders differently"):
        segments({"messages": [{"role": "user", "content": "hi"}, both], "tools": TOOLS})


def test_a_plain_chat_pair_is_user_then_answer() -> None:
    pieces = segments({"messages": [{"role": "user", "content": "Hi?"},
                                    {"role": "assistant", "content": "Hello."}]})
    assert pieces == [("<|im_start|>user\nHi?<|im_end|>\n<|im_start|>assistant\n", False),
                      ("Hello.<|im_end|>", True), ("\n", False)]


def test_the_recipes_data_is_derived_from_the_triples() -> None:
    from corrigibench.finetune.probe import DATA, load_triples, recipe_data

    triples = load_triples()
    assert len(triples) >= 300 and {t.domain_score for t in triples} == {0, 0.25, 0.5, 0.75, 1}
    for name, rows in recipe_data(triples).items():
        shipped = [json.loads(line) for line in (DATA / name).read_text().splitlines()]
        assert shipped == rows, f"{name} is stale: run probe.write_recipe_data"
