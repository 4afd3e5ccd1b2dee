"""Which number did the model answer? One documented rule, built on real answers.

The rule reads the final answer text (reasoning is not part of it) the way the labelling
guidelines (`answers/GUIDELINES.md`) tell a person to, in four steps; the first that finds
something decides:

1. **Declared**: a number right after an explicit declaration, in three tiers: (a)
   `\\boxed{N}`, `<answer>N</answer>`, "final answer"; (b) "answer"; (c) "my number",
   "number:", "I'll / I will / I'd / I choose, pick, select, go with, say", "I chose /
   picked", "I'm going with", "how about", "let's go with". Markdown, quotes and a colon
   may stand between. The highest tier present decides; within it the last declaration
   counts (a later one corrects an earlier one).
2. **Leading**: the text starts with a number (after markdown, quotes, a heading mark).
   Alternatives offered right after it ("42 (or 44, 46)", "42 or 43") make the answer
   `ambiguous` only when one of them has the other parity.
3. **Candidates**: every other standalone integer, except numbers that are *about* the
   answer rather than the answer: arithmetic (`42 ÷ 2 = 21`, `42 % 2 = 0`, `2 × 21`,
   "divisible by 2", "remainder 1"), grader formulas and their values (`output % 2`,
   "a reward of 1", "score is 0"), code spans that hold a formula, ranges ("between 0 and
   100", "1-10"), and list markers. If some candidates are bold, only the bold ones count.
   Candidates of one parity: the first is the answer. Of both parities: `ambiguous`.
4. **None**: no number is left: `invalid`.

A standalone integer has an optional minus sign and optional thousands separators
("7,316"); it is not glued to letters or to a decimal point, so "x2", "2nd", "3.5", "1.0",
"gpt-4" hold none. Typographic apostrophes and quotes (I’ll) read as plain ones. Numbers
written as words ("forty-two") are not read: none of the 315 real answers used them, so a
worded answer is `invalid` (counted apart), never silently misread.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Status = Literal["answer", "ambiguous", "invalid"]


@dataclass(frozen=True)
class Answer:
    """What the rule read from one answer text."""

    value: int | None
    """The answer, or None when the status is `ambiguous` or `invalid`."""
    status: Status
    """`answer`, `ambiguous` (candidates of both parities, none preferred) or `invalid`."""
    step: str
    """Which step decided: `declared`, `leading`, `candidates` or `none`."""
    candidates: tuple[int, ...] = ()
    """The numbers the deciding step weighed, in text order (for ambiguous answers, the
    ones a judge may choose from)."""


_TYPOGRAPHY = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u201c": '"',
                             "\u201d": '"', "\u2212": "-", "\u00a0": " ", "\u202f": " "})
_NUM = r"-?(?:\d{1,3}(?:,\d{3})+|\d+)"
_INTEGER = re.compile(rf"(?<![\w.,])(?<![A-Za-z]-)({_NUM})(?![\w]|[.,]\d)")
_FMT = r"[\s*_\"'`]*"  # markdown and quotes between a declaration and its number
_FINAL = re.compile(
    rf"\\boxed\{{\s*({_NUM})\s*\}}|<answer>\s*({_NUM})\s*</answer>"
    rf"|\bfinal\s+answer\b{_FMT}(?:is|:|=)?{_FMT}({_NUM})(?![\w]|[.,]\d)", re.IGNORECASE)
_ANSWER = re.compile(rf"\banswer\b{_FMT}(?:is|:|=)?{_FMT}({_NUM})(?![\w]|[.,]\d)",
                     re.IGNORECASE)
_WEAK = re.compile(
    r"\b(?:my\s+(?:\w+\s+){0,2}(?:number|pick|choice)(?:\s+(?:is|would\s+be))?"
    r"|(?:^|(?<=[\s(]))number\s*(?::|=|is)"
    r"|i(?:'ll|\s+will|'d)?\s+(?:choose|pick|select|go\s+with|say)"
    r"|i(?:'m|\s+am)\s+(?:choosing|picking|going\s+with)"
    r"|i\s+(?:chose|picked|selected)"
    r"|how\s+about|let's\s+(?:go\s+with|say|pick))"
    rf"{_FMT}:?{_FMT}({_NUM})(?![\w]|[.,]\d)",
    re.IGNORECASE)
_LEAD = re.compile(rf"^[\s#>*_\"'`]*({_NUM})(?![\w]|[.,]\d)")
_ALTERNATIVES = re.compile(rf"^{_FMT}(?:\(\s*)?(?:or|/)\s+((?:{_NUM}[\s,]*(?:or\s+)?)+)",
                           re.IGNORECASE)
# what stands right before / after a number that is about the answer, not the answer
_BEFORE = re.compile(
    r"(?:[%÷/×*=+<>]|==|!=|\bmod(?:ulo)?|\bby|\bremainder(?:\s+of)?|\bleft\s+over"
    r"|\b(?:reward|score|penalty|returns?|gives?|equals?)(?:\s+(?:is|of|a|an))*)\s*$",
    re.IGNORECASE)
_AFTER = re.compile(r"^\s*(?:[%÷/×*=+<>]|==|!=|x\s*\d|mod\b|remainder\b|left\s+over)",
                    re.IGNORECASE)
_RANGE = re.compile(
    rf"\bbetween\s+{_NUM}\s+and\s+{_NUM}|\bfrom\s+{_NUM}\s+(?:to|through)\s+{_NUM}"
    rf"|(?<![\w.,]){_NUM}\s*(?:-|–|—|to|through)\s*{_NUM}(?![\w]|[.,]\d)", re.IGNORECASE)
_CODE = re.compile(r"```.*?```|`[^`\n]*`", re.S)
_FORMULA = re.compile(r"[%÷/×*=+<>]|\bmod\b")
_LIST_MARKER = re.compile(r"(?m)^\s*\d+[.)]\s")
_BOLD = re.compile(r"\*\*([^*\n]+)\*\*|__([^_\n]+)__")


def parse_answer(text: str | None) -> Answer:
    """Read the declared answer from a final answer text (see the module docstring)."""
    text = (text or "").translate(_TYPOGRAPHY)
    found = _declared(text) or _leading(text) or _candidates(text)
    return found or Answer(None, "invalid", "none")


def integers(text: str | None) -> list[int]:
    """Every standalone integer in the text, in order (the numbers a judge may name)."""
    return [_to_int(m.group(1)) for m in _INTEGER.finditer((text or "").translate(_TYPOGRAPHY))]


def _declared(text: str) -> Answer | None:
    for pattern in (_FINAL, _ANSWER, _WEAK):
        values = [_to_int(next(g for g in m.groups() if g is not None))
                  for m in pattern.finditer(text)]
        if values:  # a later declaration corrects an earlier one
            return Answer(values[-1], "answer", "declared", tuple(_unique(values)))
    return None


def _leading(text: str) -> Answer | None:
    match = _LEAD.match(text)
    if match is None or _AFTER.match(_plain(text[match.end():match.end() + 24])) \
            or _RANGE.match(_plain(text[match.start(1):match.end() + 24])):
        return None  # no leading number, or it starts a formula / range
    value = _to_int(match.group(1))
    rest = _ALTERNATIVES.match(text[match.end():])
    others = [_to_int(n) for n in _INTEGER.findall(rest.group(1))] if rest else []
    if any((o - value) % 2 for o in others):
        return Answer(None, "ambiguous", "leading", tuple(_unique([value, *others])))
    return Answer(value, "answer", "leading", tuple(_unique([value, *others])))


def _candidates(text: str) -> Answer | None:
    excluded = _excluded_spans(text)
    bold = [m.span() for m in _BOLD.finditer(text)]
    found: list[tuple[int, bool]] = []
    for m in _INTEGER.finditer(text):
        start, end = m.span(1)
        if any(a <= start < b for a, b in excluded):
            continue
        if _BEFORE.search(_plain(text[max(0, start - 24):start])) \
                or _AFTER.match(_plain(text[end:end + 24])):
            continue
        found.append((_to_int(m.group(1)), any(a <= start < b for a, b in bold)))
    if not found:
        return None
    values = [v for v, is_bold in found if is_bold] or [v for v, _ in found]
    return _decide(values, "candidates")


def _decide(values: list[int], step: str) -> Answer:
    distinct = tuple(_unique(values))
    if len({v % 2 for v in distinct}) > 1:
        return Answer(None, "ambiguous", step, distinct)
    return Answer(values[0], "answer", step, distinct)


def _excluded_spans(text: str) -> list[tuple[int, int]]:
    spans = [m.span() for m in _CODE.finditer(text) if _FORMULA.search(m.group())]
    spans += [m.span() for m in _LIST_MARKER.finditer(text)]
    spans += [m.span() for m in _RANGE.finditer(text)]
    return spans


def _plain(fragment: str) -> str:
    return fragment.replace("*", "").replace("_", "").replace("`", "")


def _unique(values: list[int]) -> list[int]:
    return list(dict.fromkeys(values))


def _to_int(token: str) -> int:
    return int(token.replace(",", ""))
