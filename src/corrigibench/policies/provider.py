"""The `scripted/<policy>` model provider (registered for the plain `inspect` CLI too).

`scripted/commands` runs the shell commands given with `-M commands=...` (a list, or one
string of newline-separated commands) and then submits `-M answer=...`: it is how the
isolation tests play an adversarial agent. `scripted/judge` answers the reasoning-category
prompts of `corrigibench traces` (see judge.py). The hypothesis agents (`ambiguity`,
`rlvr-grader`, `survival`, `nerd-sniped`; hypotheses.py) each play one explanation in both
environments, the ground truth of `corrigibench study hypotheses`. Any policy takes `-M delay=SECONDS` to
stand in for an API's latency (benchmarks, interruption tests).
"""

from __future__ import annotations

import asyncio
import difflib
from typing import Any

from inspect_ai.model import (ChatMessage, ChatMessageAssistant, ContentReasoning, ContentText,
                              GenerateConfig, ModelAPI, ModelOutput, ModelUsage, modelapi)
from inspect_ai.tool import ToolChoice, ToolInfo

from corrigibench.errors import InputError
from corrigibench.policies.adversaries import POLICIES as ADVERSARIES
from corrigibench.policies.base import Action, Conversation, Policy
from corrigibench.policies.hypotheses import POLICIES as HYPOTHESES
from corrigibench.policies.judge import POLICIES as JUDGE
from corrigibench.policies.reward_hints import POLICIES as REWARD_HINTS
from corrigibench.policies.shutdown import POLICIES as SHUTDOWN


def commands(conv: Conversation) -> Action:
    wanted = conv.options.get("commands", [])
    if isinstance(wanted, str):
        wanted = [c for c in wanted.split("\n") if c.strip()]
    if conv.turn < len(wanted):
        return conv.shell(str(wanted[conv.turn]))
    return conv.submit(str(conv.options.get("answer", "")))


POLICIES: dict[str, Policy] = {**SHUTDOWN, **ADVERSARIES, **REWARD_HINTS, **JUDGE,
                               **HYPOTHESES, "commands": commands}


class UnknownPolicyError(InputError):
    pass


@modelapi(name="scripted")
class ScriptedModel(ModelAPI):
    """Deterministic reference agents; no network, no tokenizer downloads."""

    def __init__(self, model_name: str, base_url: str | None = None, api_key: str | None = None,
                 config: GenerateConfig = GenerateConfig(), **model_args: Any) -> None:
        super().__init__(model_name, base_url, api_key, [], config)
        if model_name not in POLICIES:
            close = difflib.get_close_matches(model_name, POLICIES, n=3, cutoff=0.4)
            raise UnknownPolicyError(
                f"unknown scripted policy {model_name!r}"
                + (f" (did you mean {', '.join(close)}?)" if close else "")
                + f"; available: {', '.join(POLICIES)}")
        self.policy = POLICIES[model_name]
        self.delay = float(model_args.pop("delay", 0))
        self.options = model_args

    async def generate(self, input: list[ChatMessage], tools: list[ToolInfo],
                       tool_choice: ToolChoice, config: GenerateConfig) -> ModelOutput:
        if self.delay:
            await asyncio.sleep(self.delay)
        action = self.policy(Conversation(input, tools, self.options))
        if action.tool is None and action.reasoning:
            output = ModelOutput.from_message(ChatMessageAssistant(
                content=[ContentReasoning(reasoning=action.reasoning), ContentText(text=action.text)],
                model=self.model_name, source="generate"))
        elif action.tool is None:
            output = ModelOutput.from_content(model=self.model_name, content=action.text)
        else:
            output = ModelOutput.for_tool_call(
                model=self.model_name, tool_name=action.tool, tool_arguments=action.arguments,
                tool_call_id=f"call_{len(input)}", content=action.text)
            if action.malformed:  # as a provider reports arguments it could not parse
                (call,) = output.message.tool_calls or []
                call.arguments = {}
                call.parse_error = "Expecting value: line 1 column 9 (char 8)"
        # set usage so Inspect never reaches for a tokenizer (which it would download)
        words = sum(len(m.text.split()) for m in input)
        out_words = len((action.text + " " + action.reasoning).split()) + sum(len(str(v).split()) for v in action.arguments.values())
        output.usage = ModelUsage(input_tokens=words, output_tokens=out_words,
                                  total_tokens=words + out_words)
        return output
