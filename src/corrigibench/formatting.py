"""Numbers for people: every table, report and summary formats its numbers here.

Rates and intervals as whole or one-decimal percentages, differences with their sign,
p-values in plain notation down to 0.001 and in scientific notation below it, and "–"
for anything that could not be computed (never "nan", never a raw float).
"""

from __future__ import annotations

import math

DASH = "–"


def missing(x: object) -> bool:
    """True for None, NaN and pandas' NA (anything not computable)."""
    if x is None:
        return True
    try:
        return bool(x != x) or (isinstance(x, float) and math.isnan(x))  # NaN, pd.NA
    except (TypeError, ValueError):
        return True  # pd.NA refuses comparison


def percent(x: object, digits: int = 1) -> str:
    """0.1234 -> "12.3%"; "–" when missing."""
    if missing(x):
        return DASH
    return f"{100 * float(x):.{digits}f}%"


def interval(low: object, high: object, digits: int = 1) -> str:
    """(0.05, 0.2) -> "5.0–20.0%"; "–" when either end is missing."""
    if missing(low) or missing(high):
        return DASH
    return f"{100 * float(low):.{digits}f}–{100 * float(high):.{digits}f}%"


def signed(x: object, digits: int = 0) -> str:
    """A difference of rates: 0.25 -> "+25%", -0.1 -> "−10%", 0 -> "0%"."""
    if missing(x):
        return DASH
    value = round(100 * float(x), digits)
    if value == 0:
        return f"{0:.{digits}f}%"
    return f"{'+' if value > 0 else '−'}{abs(value):.{digits}f}%"


def p_value(p: object) -> str:
    """0.0312 -> "0.031", 0.27 -> "0.27", 3.1e-07 -> "3.1e-07", 0 -> "0"; "–" when missing."""
    if missing(p):
        return DASH
    p = float(p)
    if p == 0:
        return "0"
    if p < 0.001:
        return f"{p:.1e}"
    if p < 0.1:
        return f"{p:.3f}"
    return f"{p:.2f}"


def number(x: object, digits: int = 3) -> str:
    """Any other float: at most `digits` significant digits; integers as they are."""
    if missing(x):
        return DASH
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, int) or (isinstance(x, float) and float(x).is_integer()):
        return str(int(x))
    try:
        return f"{float(x):.{digits}g}"
    except (TypeError, ValueError):
        return str(x)


def markdown_table(rows: list[dict[str, object]] | "pd.DataFrame") -> str:
    """A Markdown table: text as it is, numbers through `number`, missing values as "–"
    (a "|" inside a cell is escaped)."""
    import pandas as pd

    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    if frame.empty:
        return "(none)\n"

    def cell(value: object) -> str:
        if isinstance(value, (list, tuple)):
            text = ", ".join(str(v) for v in value)
        elif isinstance(value, str):
            text = value
        else:
            text = number(value)
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(c) for c in frame.columns) + " |",
             "|" + "|".join("---" for _ in frame.columns) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |"
              for row in frame.itertuples(index=False)]
    return "\n".join(lines) + "\n"
