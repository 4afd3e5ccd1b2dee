"""The report's two documents from one ordered list of sections: Markdown and HTML.

A section holds paragraphs, notes (shown emphasised), tables of already formatted text
(`tables.py` formats every number) and figures. A table cell is a string, a `Link`, or a
list of links. The HTML is one self-contained file: figures are embedded, nothing is fetched,
there is no script; every table sits in a box that scrolls sideways when it is wider than
the page, so the page itself never is.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field

import pandas as pd

from corrigibench.formatting import DASH, markdown_table, missing
from corrigibench.report.figures import Drawn


@dataclass(frozen=True)
class Link:
    href: str  # relative to the report (or a URL)
    text: str


@dataclass
class Section:
    """One heading with its paragraphs, notes, tables (a subheading each, optional) and
    figures; `level` 3 makes it a subsection of the section before it."""

    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[tuple[str | None, pd.DataFrame]] = field(default_factory=list)
    figures: list[Drawn] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    level: int = 2
    figures_first: bool = False  # figures before the tables (a study's per-model section)
    anchor: str = ""

    @property
    def id(self) -> str:
        return self.anchor or re.sub(r"[^a-z0-9]+", "-", self.title.lower()).strip("-")


def markdown(title: str, sections: list[Section]) -> str:
    parts = [f"# {title}\n"]
    for section in sections:
        parts.append(f"\n{'#' * section.level} {section.title}\n")
        parts += [f"> **{note}**\n" for note in section.notes]
        parts += [p + "\n" for p in section.paragraphs]
        figures = [f"![{d.caption}](figures/{d.name}.png)\n\n*{d.caption}*\n"
                   for d in section.figures]
        if section.figures_first:
            parts += figures
        for sub, frame in section.tables:
            if sub:
                parts.append(f"\n{'#' * (section.level + 1)} {sub}\n")
            parts.append(_md_table(frame))
        if not section.figures_first:
            parts += figures
    return "\n".join(parts)


def _md_cell(value: object) -> object:
    """Links as Markdown links; everything else as formatting.markdown_table shows it."""
    if isinstance(value, Link):
        return f"[{value.text}]({value.href.replace(' ', '%20')})"
    if isinstance(value, list):
        return " ".join(str(_md_cell(v)) for v in value) or DASH
    return value


def _md_table(frame: pd.DataFrame) -> str:
    return markdown_table(frame.map(_md_cell) if not frame.empty else frame)


def render_plain(frame: pd.DataFrame) -> str:
    """A Markdown table of already formatted cells."""
    return _md_table(frame)


STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;padding:1.5em;
  max-width:1200px;color:#1b1b1b;line-height:1.45}
h1{font-size:1.6em;margin-top:0} h2{margin-top:2em;border-bottom:1px solid #ddd}
h3{margin-top:1.5em}
nav{font-size:.9em;margin:1em 0;display:flex;flex-wrap:wrap;gap:.2em .9em}
nav a{white-space:nowrap}
.scroll{overflow-x:auto;width:fit-content;max-width:100%;margin:.8em 0 1.2em;border:1px solid #e4e4e4}
table{border-collapse:collapse;font-size:13px;font-variant-numeric:tabular-nums}
td,th{border:1px solid #d6d6d6;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f3f3f3;position:sticky;top:0}
td.num{text-align:right;white-space:nowrap}
td.text{min-width:14em;max-width:48em}
tr:nth-child(even) td{background:#fafafa}
figure{margin:1.5em 0} figure img{max-width:100%;height:auto}
figcaption{font-size:.9em;color:#444}
code{background:#f3f3f3;padding:1px 4px;overflow-wrap:anywhere}
p{overflow-wrap:anywhere}
.note{background:#fff6e0;border-left:4px solid #e0a800;padding:.5em .8em;margin:.8em 0}
.verdict-supports{color:#1a7f37} .verdict-contradicts{color:#b42318}
"""
_NUMERIC = re.compile(r"^[−+–-]?[\d.,]+(%|e[+-]?\d+)?( \(.*\))?$")


def html_document(title: str, sections: list[Section]) -> str:
    body = [f"<h1>{html.escape(title)}</h1>",
            "<nav>" + "".join(f'<a href="#{s.id}">{html.escape(s.title)}</a>'
                              for s in sections if s.level == 2) + "</nav>"]
    for section in sections:
        tag = f"h{section.level}"
        body.append(f'<{tag} id="{section.id}">{html.escape(section.title)}</{tag}>')
        body += [f'<p class="note"><strong>{html.escape(n)}</strong></p>' for n in section.notes]
        body += [f"<p>{_inline(p)}</p>" for p in section.paragraphs]
        figures = [f'<figure><img src="data:image/png;base64,{base64.b64encode(d.png).decode()}" '
                   f'alt="{html.escape(d.caption)}"><figcaption>{html.escape(d.caption)}'
                   "</figcaption></figure>" for d in section.figures]
        if section.figures_first:
            body += figures
        for sub, frame in section.tables:
            if sub:
                body.append(f"<h{section.level + 1}>{html.escape(sub)}</h{section.level + 1}>")
            body.append(_html_table(frame))
        if not section.figures_first:
            body += figures
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")


def _inline(text: str) -> str:
    """Plain text with `code` spans and **bold**, escaped."""
    out = html.escape(text)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", out)


def _html_cell(value: object) -> str:
    if isinstance(value, Link):
        return f'<a href="{html.escape(value.href)}">{html.escape(value.text)}</a>'
    if isinstance(value, list):
        return " ".join(_html_cell(v) for v in value) or DASH
    if missing(value):
        return DASH
    text = str(value)
    for verdict in ("supports", "contradicts"):
        if text.endswith(f" {verdict}") or text == verdict:
            return f'<span class="verdict-{verdict}">{html.escape(text)}</span>'
    return html.escape(text)


def _html_table(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "<p>(none)</p>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for row in frame.itertuples(index=False):
        cells = []
        for value in row:
            text = value if isinstance(value, str) else ""
            kind = ("num" if text and _NUMERIC.match(text) else
                    "text" if len(text) > 60 else "")
            cls = f' class="{kind}"' if kind else ""
            cells.append(f"<td{cls}>{_html_cell(value)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>")
