"""The prompt of the `corrigibench-chatml-tools` chat format (chat_format.py), without llama_cpp.

Used by the server's chat format and by `corrigibench finetune`, which renders its
training conversations exactly as the server will render the model's prompts, and each
assistant turn exactly as the format's grammar makes the model write it
(`assistant_turn`).
"""

from __future__ import annotations

import json
from typing import Any

END = "<|im_end|>"


def render(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> str:
    """The ChatML prompt, ending where the assistant's next turn starts."""
    parts = []
    if tools and not any(m["role"] == "system" for m in messages):
        messages = [{"role": "system", "content": ""}, *messages]
    for message in messages:
        role, content = message["role"], _text(message.get("content"))
        if role == "system":
            content += _functions_block(tools)
        elif role == "assistant":
            calls = [c["function"] for c in message.get("tool_calls") or []]
            lines = [f"message:\n{content}"] if content and tools else [content] if content else []
            lines += [f"functions.{c['name']}:\n{c['arguments']}" for c in calls]
            content = "\n".join(lines)
        parts.append(f"<|im_start|>{role}\n{content}<|im_end|>\n")
    return "".join(parts) + "<|im_start|>assistant\n"


def _text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if isinstance(part, dict))


def _functions_block(tools: list[dict[str, Any]]) -> str:
    if not tools:
        return ""
    listing = "".join(
        f"\nfunctions.{t['function']['name']}: {t['function'].get('description', '')}\n"
        f"{json.dumps(t['function'].get('parameters', {}))}\n" for t in tools)
    return ("\n\nYou have access to the following functions:\n" + listing
            + "\n\nYou can respond with either a message or one function call."
            "\n\nTo respond with a message begin the message with 'message:', use the "
            "following format:\n\nmessage:\n<message>"
            "\n\nTo call a function begin the message with 'functions.<function_name>:', "
            "use the following format:\n\nfunctions.<function_name>:\n"
            '{ "arg1": "value1", "arg2": "value2" }')


def assistant_turn(message: dict[str, Any], tools: list[dict[str, Any]]) -> str:
    """What the model writes for one assistant message under the format's grammar: with
    tools, `message:` and free text, or `functions.<name>:` and JSON arguments (one call;
    the grammar cannot produce both in one turn); without tools, the text alone."""
    calls = [c["function"] for c in message.get("tool_calls") or []]
    if calls:
        call = calls[0]
        arguments = call["arguments"]
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments)
        return f"functions.{call['name']}:\n{arguments}"
    content = _text(message.get("content"))
    return f"message:\n{content}" if tools else content
