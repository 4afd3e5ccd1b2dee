"""A study's verdicts as tables of formatted text (for summary.md, the command's output and
the report): the summary lines, the verdict matrix, the contrasts and the verdicts."""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from corrigibench.formatting import markdown_table, missing, p_value, percent, signed
from corrigibench.study.verdicts import CONTRADICTS, INCONCLUSIVE, NOT_COMPUTABLE, SUPPORTS

SYMBOL = {SUPPORTS: "✓", CONTRADICTS: "✗", INCONCLUSIVE: "?", NOT_COMPUTABLE: "–"}
LEGEND = ("✓ supports, ✗ contradicts, ? inconclusive, – not computable, then the prediction "
          "and the measured difference a − b (a's rate for a ≈ 0); an empty cell: the "
          "hypothesis predicts nothing there. Intervals and Holm-adjusted p: Contrasts; why "
          "each verdict: Verdicts.")
_NBSP = "\u00a0"  # a cell's prediction and number stay on one line


def models(result: dict[str, Any]) -> list[str]:
    return list(dict.fromkeys(result["settings"]["models"]))


def summary_table(result: dict[str, Any], model: str) -> pd.DataFrame:
    """One row per hypothesis: its verdict with the counts behind it."""
    summary = result["summary"]
    if summary.empty:
        return pd.DataFrame()
    rows = summary[summary["model"] == model]
    return pd.DataFrame({
        "hypothesis": [_title(r) for r in rows.itertuples()],
        "verdict": [r.summary for r in rows.itertuples()]})


def matrix_table(result: dict[str, Any], model: str) -> pd.DataFrame:
    """Hypotheses × contrasts: each cell the verdict's symbol, the prediction and the
    measured difference (for a ≈ 0 / b ≈ 0, that side's rate)."""
    verdicts = result["verdicts"]
    if verdicts.empty:
        return pd.DataFrame()
    mine = verdicts[verdicts["model"] == model]
    contrasts = list(result["hypotheses"].contrasts)
    rows = []
    for h in result["hypotheses"].hypotheses.values():
        row = {"hypothesis": _short(h.id, h.parent)}
        for cid in contrasts:
            hit = mine[(mine["hypothesis"] == h.id) & (mine["contrast"] == cid)]
            if hit.empty:
                row[cid] = ""
            else:
                v = hit.iloc[0]
                row[cid] = _NBSP.join([SYMBOL[v["verdict"]], *v["prediction"].split(),
                                       *_measured(result, model, cid, v["prediction"]).split()])
        rows.append(row)
    return pd.DataFrame(rows)


def _measured(result: dict[str, Any], model: str, contrast: str, prediction: str) -> str:
    """The number a matrix cell shows: a − b, or the rate of the side a ≈ 0 is about."""
    m = result["measurements"]
    row = m[(m["model"] == model) & (m["contrast"] == contrast)]
    if row.empty:
        return "(–)"
    r = row.iloc[0]
    side = re.match(r"\s*([ab])\s*(?:≈|~)\s*0", prediction)
    if side:
        return f"({side.group(1)} = {percent(r[f'rate_{side.group(1)}'], 0)})"
    return f"({signed(r['difference'])})"


def contrast_table(result: dict[str, Any], model: str) -> pd.DataFrame:
    """One row per contrast: the question, both sides' counts and rates, the difference
    with its 95% interval, p and Holm-adjusted p."""
    m = result["measurements"]
    mine = m[m["model"] == model]
    rows = []
    for r in mine.itertuples():
        contrast = result["hypotheses"].contrasts[r.contrast]
        rows.append({
            "contrast": r.contrast, "question": contrast.question, "metric": r.metric,
            "a": f"{r.a}: {_count(r.k_a, r.n_a)}",
            "b": r.b if contrast.b.is_value else f"{r.b}: {_count(r.k_b, r.n_b)}",
            "a − b (95% CI)": (f"{signed(r.difference)} ({signed(r.ci_low)} to "
                               f"{signed(r.ci_high)})" if not missing(r.difference)
                               else (r.note or "–")),
            "p": p_value(r.p), "Holm p": p_value(r.p_holm),
            "planned n": "–" if missing(r.planned) else str(int(r.planned))})
    return pd.DataFrame(rows)


def verdict_table(result: dict[str, Any], model: str) -> pd.DataFrame:
    """One row per prediction: the verdict, why, and the reasoning evidence beside it."""
    verdicts = result["verdicts"]
    if verdicts.empty:
        return pd.DataFrame()
    mine = verdicts[verdicts["model"] == model]
    parents = {h.id: h.parent for h in result["hypotheses"].hypotheses.values()}
    return pd.DataFrame({
        "hypothesis": [_short(h, parents.get(h)) for h in mine["hypothesis"]],
        "contrast": list(mine["contrast"]), "prediction": list(mine["prediction"]),
        "verdict": [f"{SYMBOL[v]} {v}" for v in mine["verdict"]],
        "why": list(mine["reason"]),
        "reasoning evidence": [e or "–" for e in mine["evidence"]]})


def markdown_summary(result: dict[str, Any]) -> str:
    """summary.md: per model, the summary lines, the matrix, the contrasts and the verdicts."""
    from corrigibench.study.run import model_note

    settings = result["settings"]
    parts = ["# Hypothesis study: verdicts\n",
             f"Hypotheses: `{settings['hypotheses']}`. Reasoning layer: {settings['layer']}"
             + ("" if result["labelled"] else " (not labelled yet)") + ". " + design_text(settings)
             + "\n"]
    for model in models(result):
        parts.append(f"\n## {model}\n")
        note = model_note(model)
        if note:
            parts.append(f"> **{model} is {note}.**\n")
        parts += [markdown_table(summary_table(result, model)),
                  "\n### Verdict matrix\n", LEGEND + "\n\n",
                  markdown_table(matrix_table(result, model)),
                  "\n### Contrasts\n", markdown_table(contrast_table(result, model)),
                  "\n### Verdicts\n", markdown_table(verdict_table(result, model))]
    return "\n".join(parts)


def design_text(settings: dict[str, Any]) -> str:
    design = settings["design"]
    cells = settings["cells"]
    if design["adaptive"]:
        return (f"Adaptive design: rounds of {design['round_epochs']}, each cell stopping once "
                f"its 95% Jeffreys half-width is at most {design['target_halfwidth']:g} or at "
                f"its cap (at most {max(c['design'] for c in cells)} episodes).")
    sizes = sorted({c["design"] for c in cells})
    planned = max(c["planned"] for c in cells)
    noun = "episode" if sizes == [1] else "episodes"
    return (f"Fixed design: {', '.join(map(str, sizes))} {noun} per cell (the plan asks for "
            f"up to {planned}).")


def _count(k: object, n: object) -> str:
    if missing(n):
        return "–"
    if not n:
        return "0/0"
    return f"{int(k)}/{int(n)} ({percent(int(k) / int(n), 0)})"


def _title(row: Any) -> str:
    return ("  └ " if not missing(row.parent) else "") + f"{row.title} ({row.hypothesis})"


def _short(hid: str, parent: str | None) -> str:
    return ("└ " if parent else "") + hid

