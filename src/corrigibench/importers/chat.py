"""OpenAI-format chat messages as Inspect chat messages (used by `openai-chat` and `rows`).

A message is `{"role", "content", ...}`. Content is text, or a list of parts of which
`text` parts are kept and any other part becomes a visible placeholder. An assistant's
reasoning may come as a `reasoning` or `reasoning_content` field (OpenRouter, DeepSeek), or
as `reasoning`/`thinking` parts; its tool calls as OpenAI `tool_calls` (JSON `arguments`).
A `tool` message answers one call (`tool_call_id`).
"""

from __future__ import annotations

import json
from typing import Any

from corrigibench.errors import CorrigibenchError

ROLES = ("system", "developer", "user", "assistant", "tool")


class MessageError(CorrigibenchError, ValueError):
    """A message this module cannot read; the text says which and why."""


def to_inspect(messages: Any, model: str | None = None) -> list[Any]:
    """Inspect messages from an OpenAI-format list (raises MessageError)."""
    from inspect_ai.model import (ChatMessageAssistant, ChatMessageSystem, ChatMessageTool,
                                  ChatMessageUser)

    if not isinstance(messages, list) or not messages:
        raise MessageError("messages must be a non-empty list")
    out: list[Any] = []
    for n, message in enumerate(messages):
        if not isinstance(message, dict):
            raise MessageError(f"messages[{n}] is not an object")
        role = message.get("role")
        if role not in ROLES:
            raise MessageError(f"messages[{n}]: role {role!r} is not one of {', '.join(ROLES)}")
        if role == "assistant":
            out.append(ChatMessageAssistant(content=_assistant_content(message, n),
                                            tool_calls=_tool_calls(message, n), model=model))
            continue
        content = _content(message.get("content"), n)
        if role in ("system", "developer"):
            out.append(ChatMessageSystem(content=content))
        elif role == "user":
            out.append(ChatMessageUser(content=content))
        else:
            out.append(ChatMessageTool(content=content,
                                       tool_call_id=_optional_str(message, "tool_call_id", n),
                                       function=_optional_str(message, "name", n)))
    return out


def text_of(message: Any) -> str:
    """The plain text of an Inspect message (no reasoning)."""
    return message.text if hasattr(message, "text") else str(message)


def _optional_str(message: dict[str, Any], key: str, n: int) -> str | None:
    value = message.get(key)
    if value is not None and not isinstance(value, str):
        raise MessageError(f"messages[{n}].{key} is not a string")
    return value


def _content(content: Any, n: int) -> Any:
    from inspect_ai.model import ContentText

    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise MessageError(f"messages[{n}].content is neither text nor a list of parts")
    parts = []
    for part in content:
        if isinstance(part, str):
            parts.append(ContentText(text=part))
        elif isinstance(part, dict) and part.get("type") == "text":
            parts.append(ContentText(text=str(part.get("text") or "")))
        elif isinstance(part, dict):
            parts.append(ContentText(text=f"[{part.get('type', 'unknown')} part not imported]"))
        else:
            raise MessageError(f"messages[{n}].content holds a part that is not an object")
    return parts


def _assistant_content(message: dict[str, Any], n: int) -> Any:
    from inspect_ai.model import ContentReasoning, ContentText

    reasoning = message.get("reasoning") or message.get("reasoning_content")
    if reasoning is not None and not isinstance(reasoning, str):
        raise MessageError(f"messages[{n}].reasoning is not text")
    content = message.get("content")
    parts: list[Any] = [ContentReasoning(reasoning=reasoning)] if reasoning else []
    if isinstance(content, list):
        for part in content:
            if isinstance(part, dict) and part.get("type") in ("reasoning", "thinking"):
                text = part.get("reasoning") or part.get("thinking") or part.get("text") or ""
                parts.append(ContentReasoning(reasoning=str(text)))
            else:
                converted = _content([part], n)
                parts.extend(converted)
    elif content is not None:
        text = _content(content, n)
        if parts:
            parts.append(ContentText(text=text))
        else:
            return text
    return parts or ""


def _tool_calls(message: dict[str, Any], n: int) -> list[Any] | None:
    from inspect_ai.tool import ToolCall

    calls = message.get("tool_calls")
    if not calls:
        return None
    if not isinstance(calls, list):
        raise MessageError(f"messages[{n}].tool_calls is not a list")
    out = []
    for k, call in enumerate(calls):
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise MessageError(f"messages[{n}].tool_calls[{k}] has no function name")
        raw = function.get("arguments")
        arguments, error = raw, None
        if isinstance(raw, str):
            try:
                arguments = json.loads(raw) if raw.strip() else {}
            except ValueError:
                arguments, error = {}, f"arguments are not JSON: {raw!r}"
        if not isinstance(arguments, dict):
            arguments, error = {}, f"arguments are not an object: {raw!r}"
        out.append(ToolCall(id=str(call.get("id") or f"call{n}-{k}"), function=function["name"],
                            arguments=arguments, parse_error=error))
    return out
