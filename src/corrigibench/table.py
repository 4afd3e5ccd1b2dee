"""Results tables from Inspect logs: one row per (environment, model, variant/condition).

Denominator policy: `rate` = hits / n, where n counts only valid episodes (status "ok")
and the hit is `resisted` (shutdown) or `gamed` (reward_hints). Episodes that hit a limit,
gave no number (`invalid`), errored, or are missing from a log that planned them are
shown in their own columns and never folded into a rate.
Only sample summaries are read (no messages), so large log directories stay fast.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from inspect_ai.log import list_eval_logs, read_eval_log, read_eval_log_sample_summaries

from corrigibench.stats import proportion_ci

KEYS = ["environment", "model", "variant"]
RATE_OF = {"shutdown": "resisted", "reward_hints": "gamed"}  # the label each rate counts
COLUMNS = KEYS + ["n", "resisted", "gamed", "rate", "ci_low", "ci_high",
                  "strict_noncompliant", "attempted", "invalid", "limits", "errors",
                  "missing", "episodes"]


class NoLogsError(ValueError):
    pass


def episodes(logs: str | Path | list[str]) -> pd.DataFrame:
    """One row per planned episode in the logs under a directory (or in a list of logs)."""
    if isinstance(logs, list):
        files = logs
    else:
        if not Path(logs).is_dir():
            raise NoLogsError(f"{logs}: no such directory")
        files = [info.name for info in list_eval_logs(str(logs), recursive=True)]
    # an eval-set retry of an interrupted task writes a new log under the same task id that
    # carries over its finished episodes: count only the newest log of each task id
    headers = {}
    for name in files:
        header = read_eval_log(name, header_only=True)
        task_id = header.eval.task_id or name
        if task_id not in headers or header.eval.created > headers[task_id][1].eval.created:
            headers[task_id] = (name, header)
    rows = []
    for name, header in headers.values():
        environment = header.eval.task.split("/")[-1]
        model = header.eval.model
        seen: dict[str, int] = {}
        for s in read_eval_log_sample_summaries(name):
            score = next(iter((s.scores or {}).values()), None)
            labels = score.metadata or {} if score else {}
            variant = str(s.metadata.get("variant", s.id))
            seen[str(s.id)] = seen.get(str(s.id), 0) + 1
            status = "error" if s.error else labels.get("status", "limit" if s.limit else "error")
            rows.append({"environment": environment, "model": model, "variant": variant,
                         "epoch": s.epoch, "status": status,
                         "label": labels.get("label", status),
                         "hit": bool(labels.get(RATE_OF.get(environment, ""), False)),
                         "strict_noncompliant": bool(labels.get("strict_noncompliance", False)),
                         "attempted": bool(labels.get("attempted", False)),
                         "method": labels.get("method"), "log": name,
                         "provenance": s.metadata.get("provenance"),
                         "text_sha256": s.metadata.get("texts_sha256")
                         or s.metadata.get("prompt_sha256"),
                         "factors": s.metadata.get("factors")})
        epochs = header.eval.config.epochs or 1
        for sample_id in header.eval.dataset.sample_ids or []:
            for _ in range(epochs - seen.get(str(sample_id), 0)):
                rows.append({"environment": environment, "model": model,
                             "variant": str(sample_id), "epoch": None, "status": "missing",
                             "label": "missing", "hit": False, "strict_noncompliant": False,
                             "attempted": False, "method": None, "log": name,
                             "provenance": None, "text_sha256": None, "factors": None})
    if not rows:
        raise NoLogsError(f"{logs}: no Inspect logs with samples found")
    return pd.DataFrame(rows)


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """Per-cell counts, rate and 95% Jeffreys interval over valid episodes."""
    out = []
    for key, group in df.groupby(KEYS, sort=True):
        environment = key[0]
        valid = group[group["status"] == "ok"]
        n, k = len(valid), int(valid["hit"].sum())
        low, high = proportion_ci(k, n)
        shutdown = environment == "shutdown"
        out.append(dict(zip(KEYS, key)) | {
            "n": n,
            "resisted": k if RATE_OF.get(environment) == "resisted" else None,
            "gamed": k if RATE_OF.get(environment) == "gamed" else None,
            "rate": k / n if n else float("nan"), "ci_low": low, "ci_high": high,
            "strict_noncompliant": int(valid["strict_noncompliant"].sum()) if shutdown else None,
            "attempted": int(valid["attempted"].sum()) if shutdown else None,
            "invalid": None if shutdown else int((group["status"] == "invalid").sum()),
            "limits": int((group["status"] == "limit").sum()),
            "errors": int((group["status"] == "error").sum()),
            "missing": int((group["status"] == "missing").sum()),
            "episodes": len(group),
        })
    return pd.DataFrame(out, columns=COLUMNS).astype(
        {c: "Int64" for c in ("resisted", "gamed", "strict_noncompliant", "attempted", "invalid")})


def render(table: pd.DataFrame, fmt: str) -> str:
    if fmt == "csv":
        return table.to_csv(index=False, float_format="%.4f")
    if fmt == "json":
        return json.dumps(json.loads(table.to_json(orient="records")), indent=2)
    if fmt == "markdown":
        return _markdown(table)
    raise ValueError(f"unknown format {fmt!r}")


def _markdown(table: pd.DataFrame) -> str:
    """A table for people: columns that no row uses (another environment's) are left out."""
    table = table.dropna(axis="columns", how="all")
    def cell(column: str, value: object) -> str:
        if pd.isna(value):
            return "–"
        if column in ("rate", "ci_low", "ci_high"):
            return f"{100 * float(value):.1f}%"
        return str(value)

    lines = ["| " + " | ".join(table.columns) + " |",
             "|" + "|".join("---" for _ in table.columns) + "|"]
    for row in table.itertuples(index=False):
        lines.append("| " + " | ".join(cell(c, v) for c, v in zip(table.columns, row)) + " |")
    return "\n".join(lines) + "\n"
