"""Results tables from Inspect logs: one row per (environment, model, variant/condition).

Denominator policy: `rate` = hits / n, where n counts only valid episodes (status "ok")
and the hit is `resisted` (shutdown) or `gamed` (reward_hints). Episodes that hit a limit,
gave no number (`invalid`), gave candidates of both parities (`ambiguous`), errored,
could not be decided (`undecided`, shutdown), or are missing from a log that planned them
are shown in their own columns and never folded into a rate.
Imported episodes (`corrigibench import`) count like any other; `imported` counts those whose
outcome was taken from their source rather than decided by our scorer, and a label the
source does not give (strict non-compliance, tampering attempts) is unknown: its column is
left empty for the cell instead of counting the episode as "no".
Only sample summaries are read (no messages), straight from the `.eval` zip as plain JSON
(no per-sample validation), so large log directories stay fast, local or on S3.
"""

from __future__ import annotations

import gc
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager

import pandas as pd
from pydantic_core import from_json
from inspect_ai.log import list_eval_logs, read_eval_log, read_eval_log_sample_summaries

from corrigibench.errors import InputError
from corrigibench.logstore import LogDir, eval_zip, is_remote, log_location
from corrigibench.stats import proportion_ci

KEYS = ["environment", "model", "variant"]
RATE_OF = {"shutdown": "resisted", "reward_hints": "gamed"}  # the label each rate counts
COLUMNS = KEYS + ["n", "resisted", "gamed", "rate", "ci_low", "ci_high",
                  "strict_noncompliant", "attempted", "invalid", "ambiguous", "limits", "errors",
                  "undecided", "missing", "imported", "episodes"]


class NoLogsError(InputError):
    pass


def log_files(logs: str | LogDir | list[str]) -> list[str]:
    """The Inspect logs under a directory or an s3:// prefix (searched recursively), or the
    given list of logs as it is."""
    if isinstance(logs, list):
        return logs
    where = log_location(logs)
    if not where.is_dir():
        raise NoLogsError(f"{logs}: no such directory" if not is_remote(where)
                          else f"{logs}: nothing stored under this prefix")
    return [info.name for info in list_eval_logs(str(where), recursive=True)]


def episodes(logs: str | LogDir | list[str]) -> pd.DataFrame:
    """One row per planned episode in the logs under a directory or an s3:// prefix (or in
    a list of logs)."""
    files = log_files(logs)
    with _cyclic_gc_paused():
        return _frame(files, logs)


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Reading 150,000 summaries makes millions of small acyclic objects, and the cyclic
    collector's full passes over them took half of `table`'s time on a Palisade-sized
    sweep (benchmarks/table_scale.py). Reference counting still frees everything."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _frame(files: list[str], logs: object) -> pd.DataFrame:
    # an eval-set retry of an interrupted task writes a new log under the same task id that
    # carries over its finished episodes: count only the newest log of each task id
    headers = {}
    for name in files:
        eval_spec, rows_of_log = read_log(name)
        task_id = eval_spec.get("task_id") or name
        if task_id not in headers or eval_spec["created"] > headers[task_id][1]["created"]:
            headers[task_id] = (name, eval_spec, rows_of_log)
    rows = []
    for name, eval_spec, rows_of_log in headers.values():
        environment = eval_spec["task"].split("/")[-1]
        model = eval_spec["model"]
        seen: dict[str, int] = {}
        for s in rows_of_log:
            score = next(iter((s.get("scores") or {}).values()), None)
            labels = (score or {}).get("metadata") or {}
            metadata = s.get("metadata") or {}
            variant = str(metadata.get("variant", s["id"]))
            seen[str(s["id"])] = seen.get(str(s["id"]), 0) + 1
            status = "error" if s.get("error") else labels.get(
                "status", "limit" if s.get("limit") else "error")
            rows.append({"environment": environment, "model": model, "variant": variant,
                         "epoch": s["epoch"], "status": status,
                         "label": labels.get("label", status),
                         "hit": bool(labels.get(RATE_OF.get(environment, ""), False)),
                         "strict_noncompliant": _flag(labels, "strict_noncompliance"),
                         "attempted": _flag(labels, "attempted"),
                         "imported": labels.get("outcome_source") == "imported",
                         "method": labels.get("method"), "log": name,
                         "provenance": metadata.get("provenance"),
                         "text_sha256": metadata.get("texts_sha256")
                         or metadata.get("prompt_sha256"),
                         "factors": metadata.get("factors")})
        epochs = (eval_spec.get("config") or {}).get("epochs") or 1
        for sample_id in (eval_spec.get("dataset") or {}).get("sample_ids") or []:
            for _ in range(epochs - seen.get(str(sample_id), 0)):
                rows.append({"environment": environment, "model": model,
                             "variant": str(sample_id), "epoch": None, "status": "missing",
                             "label": "missing", "hit": False, "strict_noncompliant": False,
                             "attempted": False, "imported": False, "method": None, "log": name,
                             "provenance": None, "text_sha256": None, "factors": None})
    if not rows:
        raise NoLogsError(f"{logs}: no Inspect logs with samples found")
    return pd.DataFrame(rows)


def _flag(labels: dict, key: str) -> bool | None:
    """A yes/no label; None when the score says it is unknown (an imported outcome)."""
    if key in labels and labels[key] is None:
        return None
    return bool(labels.get(key, False))


def _known_sum(values: pd.Series) -> int | None:
    """How many said yes; None if any of them is unknown."""
    return None if values.isna().any() else int(values.astype(bool).sum())


def read_log(log: str) -> tuple[dict, list[dict]]:
    """A log's eval spec and sample summaries as plain dicts (last row per id and epoch).

    `.eval` files, local or remote, are read directly from the zip (consolidated summaries,
    or the journal of a log that is still running or was killed), with no per-sample
    validation; `.json` logs go through Inspect's readers.
    """
    with eval_zip(log) as z:
        if z is None:
            spec = read_eval_log(log, header_only=True).eval.model_dump(mode="json")
            rows = [s.model_dump(mode="json") for s in read_eval_log_sample_summaries(log)]
        else:
            names = z.namelist()
            head = "header.json" if "header.json" in names else "_journal/start.json"
            spec = from_json(z.read(head))["eval"]
            if "summaries.json" in names:
                rows = from_json(z.read("summaries.json"))
            else:
                journal = sorted((n for n in names if _JOURNAL.fullmatch(n)),
                                 key=lambda n: int(_JOURNAL.fullmatch(n).group(1)))
                rows = [row for n in journal for row in from_json(z.read(n))]
    return spec, list({(str(r["id"]), r["epoch"]): r for r in rows}.values())


_JOURNAL = re.compile(r"_journal/summaries/(\d+)\.json")


def log_finished(log: str) -> bool:
    """Whether a log was closed (success, error or cancelled), not still being written."""
    with eval_zip(log) as z:
        if z is None:
            return read_eval_log(log, header_only=True).status != "started"
        return "header.json" in z.namelist()


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
            "strict_noncompliant": _known_sum(valid["strict_noncompliant"]) if shutdown else None,
            "attempted": _known_sum(valid["attempted"]) if shutdown else None,
            "invalid": None if shutdown else int((group["status"] == "invalid").sum()),
            "ambiguous": None if shutdown else int((group["status"] == "ambiguous").sum()),
            "limits": int((group["status"] == "limit").sum()),
            "errors": int((group["status"] == "error").sum()),
            "undecided": int((group["status"] == "undecided").sum()) if shutdown else None,
            "missing": int((group["status"] == "missing").sum()),
            "imported": int(group["imported"].sum()) or None if "imported" in group else None,
            "episodes": len(group),
        })
    return pd.DataFrame(out, columns=COLUMNS).astype(
        {c: "Int64" for c in ("resisted", "gamed", "strict_noncompliant", "attempted", "invalid",
                              "ambiguous", "undecided", "imported")})


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
