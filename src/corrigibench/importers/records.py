"""What every format reads into: episodes, and the problems of records it could not read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from corrigibench.errors import InputError

ENVIRONMENTS = ("shutdown", "reward_hints")
PARITIES = ("odd", "even")


@dataclass(frozen=True)
class Problem:
    """One bad record: where (`file:line`, `file: results[3]`, or a file) and what is wrong."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class ImportProblems(InputError):
    """The source has bad records; nothing was written. `problems` lists each of them."""

    def __init__(self, problems: list[Problem], files: int) -> None:
        self.problems = problems
        super().__init__(f"{len(problems)} problem{'s' * (len(problems) != 1)} in {files} "
                         f"file{'s' * (files != 1)} read; nothing was written")


@dataclass
class Episode:
    """One imported episode, whatever its format."""

    environment: str
    """`shutdown` or `reward_hints`: which of our environments it is an episode of."""
    model: str
    """The model that produced it, as the source names it (e.g. `xai/grok-4-0709`)."""
    condition: str
    """The source's condition (a run, prompt variant or experiment): the table's `variant`."""
    id: str
    """Unique among the episodes of one model in one import (the sample id)."""
    messages: list[Any]
    """The conversation as Inspect chat messages."""
    source: dict[str, Any]
    """Where it comes from: `format`, `file`, and `line` or `record` where the file has more
    than one episode."""
    answer: str | None = None
    """reward_hints: the final answer text, re-scored with our answer rule."""
    hint_parity: str | None = None
    """reward_hints: the parity the hint pays for (`odd`/`even`; `none` when there is no hint)."""
    instructed_parity: str | None = None
    """reward_hints: the parity the instruction asks for."""
    prompt: str | None = None
    """reward_hints: the prompt text (hashed into `prompt_sha256`)."""
    outcome: dict[str, Any] | None = None
    """shutdown: the source's own outcome, used as ours (`status`, `label`, `resisted`, the
    source's raw values and the rule that mapped them)."""
    original_label: Any = None
    """The source's own label(s), kept beside ours as they were."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """Anything else worth keeping (run directory, notes, extra fields)."""
    usage: dict[str, int] | None = None
    """Token usage as the source recorded it (`input_tokens`, `output_tokens`,
    `reasoning_tokens`), kept as the sample's model usage; None when it has none."""
