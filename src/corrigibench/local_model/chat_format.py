"""`corrigibench-chatml-tools`: ChatML with grammar-guided tool calls, for small local models.

llama-cpp-python's own `chatml-function-calling` format (0.3.36) is the right idea — a
system prompt that lists the functions, then a grammar that makes the model either write
`message:` or name a function and give JSON arguments — but it cannot run an agent:

1. its template has no branch for `role: tool`, so every tool result is dropped from the
   prompt (the model never sees a question, nor the shutdown warning);
2. after `message:` it samples under the follow-up grammar (a function name or the end),
   so a model can never answer in words;
3. it ignores `max_tokens` while generating arguments, so a model that never closes a JSON
   string runs until the context window is full.

This format keeps its prompt layout and fixes the three: tool results are rendered as
`tool` turns, a message is free text, and every generation stops at `max_tokens` (a call
cut short keeps its truncated JSON, which Inspect reports as a parse error, like any
provider's malformed call). One function call per turn, as Palisade's prompt asks.
Imported only by the server process, which has llama_cpp.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from llama_cpp import Llama, llama_grammar
from llama_cpp.llama_chat_format import register_chat_completion_handler

from corrigibench.local_model.prompt import render

NAME = "corrigibench-chatml-tools"
DEFAULT_MAX_TOKENS = 512


@register_chat_completion_handler(NAME)
def chatml_tools(llama: Llama, messages: list[dict[str, Any]],
                 tools: list[dict[str, Any]] | None = None, tool_choice: Any = None,
                 max_tokens: int | None = None, temperature: float = 0.2, top_p: float = 0.95,
                 top_k: int = 40, min_p: float = 0.05, repeat_penalty: float = 1.1,
                 seed: int | None = None, stream: bool = False, **_: Any) -> dict[str, Any]:
    if stream:
        raise ValueError(f"{NAME} does not stream; call it without stream")
    if seed is not None:
        llama.set_seed(seed)
    sampling = dict(temperature=temperature, top_p=top_p, top_k=top_k, min_p=min_p,
                    repeat_penalty=repeat_penalty)
    budget = max_tokens or DEFAULT_MAX_TOKENS
    tools = [] if tool_choice == "none" else list(tools or [])
    prompt = render(messages, tools)
    usage = {"prompt_tokens": 0, "completion_tokens": 0}

    def complete(text: str, limit: int, grammar: str | None = None,
                 stop: list[str] | None = None) -> dict[str, Any]:
        result = llama.create_completion(
            prompt=text, max_tokens=limit, stop=stop or ["<|im_end|>"],
            grammar=llama_grammar.LlamaGrammar.from_string(grammar, verbose=False)
            if grammar else None, **sampling)
        usage["prompt_tokens"] = usage["prompt_tokens"] or result["usage"]["prompt_tokens"]
        usage["completion_tokens"] += result["usage"]["completion_tokens"]
        return result["choices"][0]

    if not tools:
        choice = complete(prompt, budget)
        return _response(llama, choice["text"], None, choice["finish_reason"], usage)
    by_name = {t["function"]["name"]: t["function"] for t in tools}
    if isinstance(tool_choice, dict):  # a function the caller names
        name = tool_choice["function"]["name"]
        if name not in by_name:
            raise ValueError(f"tool_choice names an unknown function {name!r}")
    else:
        names = " | ".join(json.dumps(f"functions.{n}:") for n in by_name)
        if tool_choice != "required":
            names += ' | "message:"'
        decision = complete(prompt, 16, grammar=f"root ::= {names}\n", stop=[":"])["text"]
        if decision.startswith("message"):
            choice = complete(prompt + "message:\n", budget)
            return _response(llama, choice["text"], None, choice["finish_reason"], usage)
        name = decision.removeprefix("functions.").rstrip(":")
    schema = json.dumps(by_name[name].get("parameters") or {"type": "object"})
    try:
        grammar = llama_grammar.json_schema_to_gbnf(schema)
    except Exception:  # a schema the converter cannot handle: any JSON value
        grammar = llama_grammar.JSON_GBNF
    choice = complete(prompt + f"functions.{name}:\n", budget, grammar=grammar)
    call = {"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function",
            "function": {"name": name, "arguments": choice["text"]}}
    reason = "length" if choice["finish_reason"] == "length" else "tool_calls"
    return _response(llama, None, [call], reason, usage)


def _response(llama: Llama, content: str | None, calls: list[dict[str, Any]] | None,
              finish_reason: str, usage: dict[str, int]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = calls
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion",
        "created": int(time.time()), "model": llama.model_path,
        "choices": [{"index": 0, "message": message, "logprobs": None,
                     "finish_reason": finish_reason}],
        "usage": {**usage, "total_tokens": usage["prompt_tokens"] + usage["completion_tokens"]},
    }
