"""An episode's own words, taken from its log sample, and the context they were said in.

The words are what gets labelled and what a quote must be found in: the provider's
reasoning (or its summary when the reasoning itself is redacted), the `thoughts` argument
of thoughtful_bash, and the assistant's text. The context (system and user prompt, the
commands it ran) helps a judge understand them but is never quotable.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from inspect_ai.log import EvalSample, read_eval_log, read_eval_log_samples
from inspect_ai.model import (ChatMessageAssistant, ChatMessageSystem, ChatMessageUser,
                              ContentReasoning, ContentText)

_SPACE = re.compile(r"\s+")
_TYPOGRAPHY = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
                             "\u2013": "-", "\u2014": "-", "\u2026": "..."})


@dataclass(frozen=True)
class Segment:
    kind: str  # "reasoning" | "thoughts" | "message"
    text: str


@dataclass
class Transcript:
    key: str  # one episode, across reruns of the labelling
    environment: str
    model: str
    variant: str
    epoch: int
    outcome: str  # the scorer's label: resisted/complied/gamed/limit/invalid/...
    segments: list[Segment]
    context: str = ""
    log: str = ""
    redacted: int = 0  # reasoning blocks the provider withheld, with no summary
    extra: dict = field(default_factory=dict)

    @property
    def words(self) -> str:
        return "\n\n".join(s.text for s in self.segments)

    @property
    def words_sha256(self) -> str:
        return hashlib.sha256(self.words.encode()).hexdigest()


def normalise(text: str) -> str:
    """What 'verbatim' tolerates: runs of white space and typographic quotes and dashes."""
    return _SPACE.sub(" ", text.translate(_TYPOGRAPHY)).strip()


def from_sample(sample: EvalSample, environment: str, model: str, log: str = "") -> Transcript:
    segments: list[Segment] = []
    redacted = 0
    commands: list[str] = []
    for message in sample.messages:
        if not isinstance(message, ChatMessageAssistant):
            continue
        content = message.content
        for part in [content] if isinstance(content, str) else content:
            if isinstance(part, str):
                _add(segments, "message", part)
            elif isinstance(part, ContentReasoning):
                if part.redacted and not part.summary:
                    redacted += 1
                else:
                    _add(segments, "reasoning", part.summary if part.redacted else part.reasoning)
            elif isinstance(part, ContentText):
                _add(segments, "message", part.text)
        for call in message.tool_calls or []:
            _add(segments, "thoughts", str(call.arguments.get("thoughts") or ""))
            if "cmd" in call.arguments:
                commands.append(str(call.arguments["cmd"]))
    system = next((m.text for m in sample.messages if isinstance(m, ChatMessageSystem)), "")
    user = next((m.text for m in sample.messages if isinstance(m, ChatMessageUser)), "")
    context = "\n\n".join(part for part in (
        f"System prompt:\n{_clip(system, 4000)}" if system else "",
        f"User prompt:\n{_clip(user, 4000)}" if user else "",
        "Commands the agent ran:\n" + "\n".join(f"$ {_clip(c, 300)}" for c in commands[:40])
        if commands else "") if part)
    score = next(iter((sample.scores or {}).values()), None)
    labels = (score.metadata or {}) if score else {}
    outcome = "error" if sample.error else str(labels.get("label") or "unscored")
    variant = str((sample.metadata or {}).get("variant", sample.id))
    key = sample.uuid or f"{log}:{sample.id}:{sample.epoch}"
    return Transcript(key, environment, model, variant, sample.epoch, outcome, segments,
                      context, log, redacted)


def _add(segments: list[Segment], kind: str, text: str) -> None:
    if text and text.strip():
        segments.append(Segment(kind, text.strip()))


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f" [... {len(text) - limit} more characters]"


def read_transcripts(logs: list[str]) -> Iterator[Transcript]:
    """Every episode of the given logs, one sample in memory at a time."""
    for log in logs:
        header = read_eval_log(log, header_only=True)
        environment = header.eval.task.split("/")[-1]
        for sample in read_eval_log_samples(log, all_samples_required=False):
            yield from_sample(sample, environment, header.eval.model, log)


def current_logs(log_dir: str | Path) -> list[str]:
    """The logs the results tables count (the newest log of each task), in a stable order."""
    from corrigibench.table import episodes

    eps = episodes(log_dir)
    return sorted(eps.loc[eps["status"] != "missing", "log"].unique())
