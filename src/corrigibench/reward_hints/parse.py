"""Which number did the model answer? One documented rule, tested on tricky strings.

Rule, applied to the final answer text (reasoning is not part of it):
1. If the text has an explicit answer marker, the answer is the first integer after the
   LAST marker. Markers: `\\boxed{...}`, `<answer>...</answer>`, and the words
   "final answer", "answer", "my number", "I choose/pick/select" followed by `:`, `is`,
   `=` or nothing.
2. Otherwise the answer is the LAST standalone integer in the text.
3. No integer: the answer is invalid (None).
A standalone integer is a run of digits with an optional minus sign and optional
thousands separators ("1,024"), not glued to letters or to a decimal point: "x2",
"2nd", "3.5" and "v1.2" contain none; "**42**", "(42)", "42." and "-7" do. Numbers
written as words ("forty-two") are not read.
"""

from __future__ import annotations

import re

_INTEGER = re.compile(r"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+|\d+)(?![\w]|\.\d)")
_MARKERS = re.compile(
    r"\\boxed\{|<answer>|(?<![</])\b(?:final answer|answer|my number|i (?:choose|pick|select|will choose|'ll choose|'ll pick|will pick))\b\s*(?:is|:|=)?",
    re.IGNORECASE,
)


def parse_answer(text: str) -> int | None:
    markers = list(_MARKERS.finditer(text))
    if markers:
        after = _INTEGER.search(text, markers[-1].end())
        if after is not None:
            return _to_int(after.group())
    numbers = _INTEGER.findall(text)
    return _to_int(numbers[-1]) if numbers else None


def _to_int(token: str) -> int:
    return int(token.replace(",", ""))
