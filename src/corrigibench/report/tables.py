"""The report's tables as text: every number formatted (corrigibench.formatting), links to
logs relative to the report. The CSVs beside the report keep the raw numbers."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlparse

import pandas as pd

from corrigibench.formatting import DASH, interval, missing, number, p_value, percent, signed
from corrigibench.report.documents import Link


def log_link(log: str, out: Path) -> Link:
    """A log as a link relative to the report directory (URLs other than file:// stay)."""
    path = unquote(urlparse(log).path) if log.startswith("file://") else log
    if "://" in path:
        return Link(log, Path(urlparse(log).path).name)
    return Link(os.path.relpath(Path(path).resolve(), out.resolve()), Path(path).name)


def _int(x: object) -> str:
    return DASH if missing(x) else str(int(x))


def results(cells: pd.DataFrame, logs: pd.Series, out: Path) -> pd.DataFrame:
    """One row per cell: counts, the rate with its 95% Jeffreys interval, the excluded
    episodes in their own columns, and links to the cell's logs."""
    counts = ("resisted", "gamed", "strict_noncompliant", "attempted", "invalid", "ambiguous",
              "limits", "errors", "undecided", "missing", "imported", "episodes")
    rows = []
    for r in cells.to_dict("records"):
        row = {"environment": r["environment"], "model": r["model"], "condition": r["variant"],
               "n": r["n"], "resisted": r["resisted"], "gamed": r["gamed"],
               "rate": percent(r["rate"]), "95% CI": interval(r["ci_low"], r["ci_high"])}
        row |= {c: r.get(c) for c in counts[2:]}  # `imported` only where the table has it
        row["logs"] = [log_link(log, out) for log in logs.get(
            (r["environment"], r["model"], r["variant"]), [])]
        rows.append(row)
    frame = pd.DataFrame(rows)
    # columns no row uses (another environment's) are left out; counts as integers
    keep = [c for c in frame.columns
            if c not in counts or not frame[c].map(missing).all()]
    frame = frame[keep]
    for column in ("n", *counts):
        if column in frame:
            frame[column] = frame[column].map(_int)
    return frame.rename(columns={c: c.replace("_", " ") for c in frame.columns})


def comparisons(family: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for r in family.to_dict("records"):
        rows.append({
            "environment": r["environment"], "a": r["a"], "b": r["b"],
            "a rate": _rate(r.get("rate_a"), r.get("n_a")),
            "b rate": _rate(r.get("rate_b"), r.get("n_b")),
            "a − b (95% CI)": (f"{signed(r.get('difference'), 1)} "
                               f"({signed(r.get('ci_low'), 1)} to {signed(r.get('ci_high'), 1)})"
                               if not missing(r.get("difference")) else DASH),
            "p": p_value(r.get("p")), "Holm p": p_value(r.get("p_holm")),
            "significant": DASH if missing(r.get("significant")) else
            ("yes" if r["significant"] else "no"),
            "note": r.get("note") if not missing(r.get("note")) else ""})
    return pd.DataFrame(rows)


def _rate(rate: object, n: object) -> str:
    if missing(rate) or missing(n):
        return DASH
    return f"{percent(rate)} of {int(n)}"


def adaptive(table: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "environment": table["environment"], "model": table["model"],
        "condition": table["condition"], "episodes": table["episodes"].map(_int),
        "valid": table["valid"].map(_int), "hits": table["hits"].map(_int),
        "half-width": table["halfwidth"].map(percent),
        "rounds": table["rounds"].map(_int),
        "cap": (table["max_epochs"] if "max_epochs" in table else pd.Series(
            [DASH] * len(table))).map(lambda x: x if x == DASH else _int(x)),
        "saved": table["saved"].map(_int)})


def conditions(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.rename(columns={"variant": "condition", "text_sha256": "texts sha256"})


def runs(frame: pd.DataFrame, out: Path) -> pd.DataFrame:
    if frame.empty:
        return frame
    shown = frame.copy()
    shown["log"] = [log_link(log, out) for log in frame["log"]]
    shown["created"] = frame["created"].map(lambda c: str(c).replace("T", " ")[:19])
    shown["episodes"] = frame["episodes"].map(_int)
    for column in ("generate", "model_args"):  # none given: a dash, not "{}"
        shown[column] = frame[column].map(lambda text: DASH if text in ("{}", "") else text)
    return shown.rename(columns={"model_args": "model args"})


def plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Any other table: numbers through `number`, missing values as "–"."""
    return frame.apply(lambda column: column.map(
        lambda v: v if isinstance(v, (str, Link, list)) else number(v)))
