"""The report's two documents from one ordered list of sections: Markdown and HTML."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from corrigibench.report.figures import Drawn
from corrigibench.table import render

_PERCENT = ("rate", "ci_low", "ci_high", "rate_a", "rate_b", "difference")


@dataclass
class Section:
    """One heading with its paragraphs, tables (an optional subheading each) and figures."""

    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[tuple[str | None, pd.DataFrame]] = field(default_factory=list)
    figures: list[Drawn] = field(default_factory=list)
    results: bool = False  # the results table (Markdown through table.render)
    html_tables: list[tuple[str | None, pd.DataFrame]] | None = None  # HTML's own, if any


def markdown(title: str, sections: list[Section]) -> str:
    parts = [f"# {title}\n"]
    for section in sections:
        parts.append(f"\n## {section.title}\n")
        parts += [p + "\n" for p in section.paragraphs]
        for sub, frame in section.tables:
            if sub:
                parts.append(f"\n### {sub}\n")
            parts.append(render(frame, "markdown") if section.results else render_plain(frame))
        parts += [f"![{d.caption}](figures/{d.name}.png)\n\n{d.caption}\n"
                  for d in section.figures]
    return "\n".join(parts)


def render_plain(df: pd.DataFrame) -> str:
    lines = ["| " + " | ".join(df.columns) + " |", "|" + "|".join("---" for _ in df.columns) + "|"]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def html_document(title: str, sections: list[Section]) -> str:
    body = []
    for section in sections:
        body.append(f"<h2>{html.escape(section.title)}</h2>")
        body += [f"<p>{html.escape(p)}</p>" for p in section.paragraphs]
        for sub, frame in (section.html_tables or section.tables):
            if sub:
                body.append(f"<h3>{html.escape(sub)}</h3>")
            body.append(_table(frame.dropna(axis="columns", how="all") if section.results
                               else frame))
        body += [f'<figure><img src="data:image/png;base64,{base64.b64encode(d.png).decode()}" '
                 f'alt="{html.escape(d.caption)}"><figcaption>{html.escape(d.caption)}'
                 "</figcaption></figure>" for d in section.figures]
    return f"""<!doctype html><html><head><meta charset="utf-8">
<title>{html.escape(title)}</title><style>
body{{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}}
table{{border-collapse:collapse;font-size:13px;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:3px 6px;text-align:left}} th{{background:#f3f3f3}}
figure{{margin:1.5em 0}} img{{max-width:100%}} code{{background:#f3f3f3;padding:1px 4px}}
</style></head><body>
<h1>{html.escape(title)}</h1>
{"".join(body)}
</body></html>
"""


def _table(df: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = []
    for row in df.itertuples(index=False):
        tds = []
        for column, value in zip(df.columns, row, strict=True):
            text = "–" if not isinstance(value, list) and _isna(value) else (
                f"{100 * float(value):.1f}%" if column in _PERCENT else str(value))
            if column in ("log", "logs"):
                tds.append("<td>" + " ".join(
                    f'<a href="{html.escape(str(v))}">{html.escape(Path(str(v)).name)}</a>'
                    for v in (value if isinstance(value, list) else [value])) + "</td>")
            else:
                tds.append(f"<td>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(tds) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _isna(value: object) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False
