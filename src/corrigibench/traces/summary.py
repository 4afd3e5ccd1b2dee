"""Category rates per cell, and per cell and outcome, from LOGDIR/traces/.

A rate is yes / (yes + no) with a 95% Jeffreys interval. Labels that are not verdicts —
rejected (a judge's yes whose quotes were not found), judge errors, episodes with no words
to label — are counted in their own columns, never folded into a rate (the denominator
policy of corrigibench.stats). Categories that do not apply to an environment are left out.
"""

from __future__ import annotations

import pandas as pd

from corrigibench.logstore import LogDir, log_location
from corrigibench.stats import proportion_ci
from corrigibench.traces.run import JUDGE_FILE, PATTERNS_FILE, TRACES_DIR, read_records

CELL = ["environment", "model", "variant"]
COUNTS = ["n", "yes", "rate", "ci_low", "ci_high", "rejected", "errors", "no_words", "episodes"]


def labels_frame(log_dir: str | LogDir) -> pd.DataFrame:
    """One row per (episode, layer, category) for the episodes of the last labelling run."""
    directory = log_location(log_dir) / TRACES_DIR
    patterns = read_records(directory / PATTERNS_FILE)
    if not patterns:
        raise FileNotFoundError(f"{directory}: no labels yet; run `corrigibench traces {log_dir}`")
    current = {r["key"]: r for r in patterns}
    latest: dict[tuple, dict] = {}
    for record in read_records(directory / JUDGE_FILE):  # later records win
        if record["key"] in current and record["categories"] == patterns[0]["categories"]:
            latest[(record["key"], record["judge"])] = record
    rows = []
    for record in [*patterns, *latest.values()]:
        layer = "patterns" if record["layer"] == "patterns" else f"judge: {record['judge']}"
        base = {k: record[k] for k in (*CELL, "epoch", "outcome", "key")} | {"layer": layer}
        if record.get("status") == "error":  # the whole episode failed: every category
            rows += [base | {"category": name, "value": "error"}
                     for name, label in current[record["key"]]["labels"].items()
                     if label["value"] != "n/a"]
            continue
        for name, label in (record.get("labels") or {}).items():
            rows.append(base | {"category": name, "value": label["value"]})
    frame = pd.DataFrame(rows)
    return frame[frame["value"] != "n/a"]



def rates(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Counts, rate and interval of each category per group."""
    out = []
    for key, group in frame.groupby(by, sort=True):
        values = group["value"].value_counts()
        yes, no = int(values.get("yes", 0)), int(values.get("no", 0))
        low, high = proportion_ci(yes, yes + no)
        out.append(dict(zip(by, key)) | {
            "n": yes + no, "yes": yes, "rate": yes / (yes + no) if yes + no else float("nan"),
            "ci_low": low, "ci_high": high, "rejected": int(values.get("rejected", 0)),
            "errors": int(values.get("error", 0)), "no_words": int(values.get("no_words", 0)),
            "episodes": len(group)})
    return pd.DataFrame(out, columns=[*by, *COUNTS])


def per_cell(frame: pd.DataFrame) -> pd.DataFrame:
    return rates(frame, [*CELL, "layer", "category"])


def per_outcome(frame: pd.DataFrame) -> pd.DataFrame:
    """The conditional view: e.g. among resisted episodes versus complied ones."""
    return rates(frame, [*CELL, "outcome", "layer", "category"])


def wide(table: pd.DataFrame) -> pd.DataFrame:
    """One row per group and layer, one column per category: "yes/n (rate, 95% interval)";
    rejected, errors and no_words summed over the categories, beside them."""
    keys = [c for c in table.columns if c not in (*COUNTS, "category")]
    rows = []
    for key, group in table.groupby(keys, sort=True):
        row = dict(zip(keys, key))
        for r in group.itertuples(index=False):
            row[r.category] = (f"{r.yes}/{r.n} ({100 * r.rate:.0f}%, "
                               f"{100 * r.ci_low:.0f}–{100 * r.ci_high:.0f})" if r.n else f"0/0")
        row |= {"episodes": int(group["episodes"].max()), "no_words": int(group["no_words"].max()),
                "rejected": int(group["rejected"].sum()), "errors": int(group["errors"].sum())}
        rows.append(row)
    return pd.DataFrame(rows).fillna("n/a")

