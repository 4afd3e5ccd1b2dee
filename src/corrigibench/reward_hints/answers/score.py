"""How often the answer rule reads the hand label, overall and per model family.

A row is *right* when the rule's reading equals the label: the same integer, or `invalid`
for a label of `none`, or `ambiguous` for `ambiguous`. Rows the rule calls `ambiguous`
while the label is a number (or the reverse) are counted apart, never as right or wrong:
`accuracy` = right / (rows - those). `strict` counts them as wrong. `parity` is how often
the rule and the label agree on what the scorer uses: odd, even or no answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from corrigibench.reward_hints.answers.dataset import Row
from corrigibench.reward_hints.parse import Answer, parse_answer


@dataclass
class Tally:
    n: int = 0
    right: int = 0
    ambiguous_apart: int = 0
    parity_right: int = 0
    errors: list[tuple[Row, Answer]] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        counted = self.n - self.ambiguous_apart
        return self.right / counted if counted else float("nan")

    @property
    def strict(self) -> float:
        return self.right / self.n if self.n else float("nan")

    @property
    def parity(self) -> float:
        return self.parity_right / self.n if self.n else float("nan")


def reading(answer: Answer) -> int | str:
    """The rule's reading in the label's vocabulary."""
    if answer.status == "answer":
        return answer.value
    return "ambiguous" if answer.status == "ambiguous" else "none"


def _parity(value: int | str) -> str:
    return value if isinstance(value, str) else ("odd" if value % 2 else "even")


def score(rows: Iterable[Row], rule: Callable[[str | None], Answer] = parse_answer,
          by: Callable[[Row], str] = lambda r: r.family) -> dict[str, Tally]:
    """Tallies for all rows (key "all") and per group (default: model family).

    Rows without a text (not fetched) are skipped; callers check how many were scored.
    """
    tallies: dict[str, Tally] = {}
    for row in rows:
        if row.text is None:
            continue
        got = reading(rule(row.text))
        gold = row.gold
        for key in ("all", by(row)):
            t = tallies.setdefault(key, Tally())
            t.n += 1
            if (got == "ambiguous") != (gold == "ambiguous"):
                t.ambiguous_apart += 1
            elif got == gold:
                t.right += 1
            if _parity(got) == _parity(gold):
                t.parity_right += 1
            if got != gold and key == "all":
                t.errors.append((row, rule(row.text)))
    return tallies


def table(tallies: dict[str, Tally]) -> str:
    """A Markdown table, "all" first."""
    lines = ["| rows | n | right | ambiguous (apart) | accuracy | strict | parity |",
             "|---|---|---|---|---|---|---|"]
    for key in ["all"] + sorted(k for k in tallies if k != "all"):
        t = tallies[key]
        lines.append(f"| {key} | {t.n} | {t.right} | {t.ambiguous_apart} | "
                     f"{100 * t.accuracy:.1f}% | {100 * t.strict:.1f}% | {100 * t.parity:.1f}% |")
    return "\n".join(lines) + "\n"
