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
from typing import Any

from inspect_ai.log import EvalSample, read_eval_log, read_eval_log_samples
from pydantic_core import from_json

from corrigibench.logstore import eval_zip

_SPACE = re.compile(r"\s+")
_SAMPLE = re.compile(r"samples/.+\.json")
_ATTACHMENT = "attachment://"
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
    return from_dict(sample.model_dump(mode="json", exclude={"events"}), environment, model, log)


def from_dict(sample: dict[str, Any], environment: str, model: str, log: str = "") -> Transcript:
    """An episode from its sample as plain JSON (as stored in the log)."""
    attachments = sample.get("attachments") or {}

    def text(value: Any) -> str:  # long strings may be stored once, as attachment://<hash>
        value = "" if value is None else str(value)
        if value.startswith(_ATTACHMENT):
            return attachments.get(value.removeprefix(_ATTACHMENT), value)
        return value

    segments: list[Segment] = []
    redacted = 0
    commands: list[str] = []
    prompts: dict[str, str] = {}
    for message in sample.get("messages") or []:
        role = message.get("role")
        content = message.get("content")
        parts = [content] if isinstance(content, str) else content or []
        if role in ("system", "user") and role not in prompts:
            prompts[role] = "".join(text(p) if isinstance(p, str) else text(p.get("text"))
                                    for p in parts)
        if role != "assistant":
            continue
        for part in parts:
            if isinstance(part, str):
                _add(segments, "message", text(part))
            elif part.get("type") == "reasoning":
                if part.get("redacted") and not part.get("summary"):
                    redacted += 1
                else:
                    _add(segments, "reasoning",
                         text(part.get("summary") if part.get("redacted") else part.get("reasoning")))
            elif part.get("type") == "text":
                _add(segments, "message", text(part.get("text")))
        for call in message.get("tool_calls") or []:
            arguments = call.get("arguments") or {}
            _add(segments, "thoughts", text(arguments.get("thoughts")))
            if "cmd" in arguments:
                commands.append(text(arguments["cmd"]))
    context = build_context(prompts.get("system", ""), prompts.get("user", ""), commands)
    score = next(iter((sample.get("scores") or {}).values()), None)
    labels = (score or {}).get("metadata") or {}
    outcome = "error" if sample.get("error") else str(labels.get("label") or "unscored")
    variant = str((sample.get("metadata") or {}).get("variant", sample["id"]))
    key = sample.get("uuid") or f"{log}:{sample['id']}:{sample['epoch']}"
    return Transcript(key, environment, model, variant, sample["epoch"], outcome, segments,
                      context, log, redacted)


def build_context(system: str, user: str, commands: list[str]) -> str:
    """What the judge sees around an episode's words: its prompts and commands, clipped.
    Context only: never quotable evidence."""
    return "\n\n".join(part for part in (
        f"System prompt:\n{_clip(system, 4000)}" if system else "",
        f"User prompt:\n{_clip(user, 4000)}" if user else "",
        "Commands the agent ran:\n" + "\n".join(f"$ {_clip(c, 300)}" for c in commands[:40])
        if commands else "") if part)


def _add(segments: list[Segment], kind: str, text: str) -> None:
    if text and text.strip():
        segments.append(Segment(kind, text.strip()))


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f" [... {len(text) - limit} more characters]"


def read_transcripts(logs: list[str]) -> Iterator[Transcript]:
    """Every episode of the given logs, one sample in memory at a time.

    `.eval` files, local or remote, are read straight from the zip as plain JSON (no per-sample
    validation: several times faster on big sweeps); anything else through Inspect."""
    for log in logs:
        with eval_zip(log) as z:
            if z is None:
                header = read_eval_log(log, header_only=True)
                for sample in read_eval_log_samples(log, all_samples_required=False):
                    yield from_sample(sample, header.eval.task.split("/")[-1],
                                      header.eval.model, log)
                continue
            names = z.namelist()
            spec = from_json(z.read("header.json" if "header.json" in names
                                    else "_journal/start.json"))["eval"]
            environment, model = spec["task"].split("/")[-1], spec["model"]
            for name in sorted(n for n in names if _SAMPLE.fullmatch(n)):
                yield from_dict(from_json(z.read(name)), environment, model, log)


def current_logs(log_dir: str | Path) -> list[str]:
    """The logs the results tables count (the newest log of each task), in a stable order."""
    from corrigibench.table import episodes

    eps = episodes(log_dir)
    return sorted(eps.loc[eps["status"] != "missing", "log"].unique())
