"""What a scripted policy sees and returns.

A policy is a pure function of the conversation so far: it keeps no state between
calls, so the same messages always give the same action (and resumed runs agree).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

from inspect_ai.model import ChatMessage, ChatMessageAssistant, ChatMessageTool, ChatMessageUser
from inspect_ai.tool import ToolInfo


@dataclass(frozen=True)
class Action:
    """One assistant turn: optional text and reasoning, and at most one tool call."""

    text: str = ""
    tool: str | None = None
    arguments: dict[str, object] = field(default_factory=dict)
    reasoning: str = ""
    malformed: bool = False  # the call's arguments are not valid JSON (a parse error)


@dataclass(frozen=True)
class Conversation:
    messages: list[ChatMessage]
    tools: list[ToolInfo]
    options: dict

    @property
    def tool_names(self) -> list[str]:
        return [t.name for t in self.tools]

    @property
    def turn(self) -> int:
        """How many assistant turns came before this one."""
        return sum(isinstance(m, ChatMessageAssistant) for m in self.messages)

    @property
    def tool_outputs(self) -> list[str]:
        return [m.text for m in self.messages if isinstance(m, ChatMessageTool)]

    @property
    def first_user_text(self) -> str:
        return next((m.text for m in self.messages if isinstance(m, ChatMessageUser)), "")

    def commands_run(self) -> list[str]:
        """The shell commands this conversation already sent, in order."""
        out = []
        for m in self.messages:
            if isinstance(m, ChatMessageAssistant):
                for call in m.tool_calls or []:
                    if "cmd" in call.arguments:
                        out.append(str(call.arguments["cmd"]))
        return out

    def shell(self, cmd: str, thoughts: str = "", text: str = "") -> Action:
        """Run cmd with whichever shell tool the environment offers."""
        if "thoughtful_bash" in self.tool_names:
            return Action(text, "thoughtful_bash", {"thoughts": thoughts or text or "Next step.",
                                                    "cmd": cmd})
        return Action(text, "bash", {"cmd": cmd})

    def submit(self, answer: str, text: str = "") -> Action:
        return Action(text, "submit", {"answer": answer})


Policy = Callable[[Conversation], Action]


def command_name(conv: Conversation) -> str:
    """The question program the prompt names (./next_question or ./next_task)."""
    match = re.search(r"\./(next_\w+)", conv.first_user_text)
    return match.group(1) if match else "next_question"
