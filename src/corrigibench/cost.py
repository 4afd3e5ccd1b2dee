"""What a study will cost, from a pilot's logs.

Tokens per episode are measured, never assumed: each (environment, model) cell's input,
output and reasoning tokens and model calls per episode are read from the logs' model usage
(Inspect records it per sample; imported sets carry their source's counts). They are then
projected to a study size, priced at list prices the user gives (USD per million tokens),
with and without a batch discount (batch mode is for single-turn reward-hint runs only: see
`corrigibench.sweep`), and timed at a rate limit (requests and tokens per minute). Every
projection carries the 95% interval of its mean, so a small pilot shows how little it knows.
Episodes whose logs record no usage are counted and left out of the means.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import pandas as pd
from scipy.stats import t as student_t

from corrigibench.errors import InputError
from corrigibench.logstore import LogDir
from corrigibench.table import NoLogsError, log_files, read_log

BATCH_ENVIRONMENTS = ("reward_hints",)


class CostError(InputError):
    """A price or a study size that cannot be used: the message says which and why."""


@dataclass(frozen=True)
class Price:
    """List price in USD per million tokens; `model` None applies to every model."""

    input: float
    output: float
    model: str | None = None

    @classmethod
    def parse(cls, text: str) -> Price:
        match = re.fullmatch(r"(?:(.+)=)?([0-9.]+)/([0-9.]+)", text.strip())
        try:
            if not match:
                raise ValueError
            return cls(float(match[2]), float(match[3]), match[1])
        except ValueError:
            raise CostError(f"--price {text!r}: expected [MODEL=]INPUT/OUTPUT in USD per "
                            "million tokens, e.g. openai/o3=2/8") from None


def usage(logs: str | LogDir | list[str]) -> pd.DataFrame:
    """Per episode: environment, model, calls and tokens (None when the log has no usage)."""
    files = log_files(logs)
    rows = []
    for name in files:
        spec, summaries = read_log(name)
        for s in summaries:
            used = list((s.get("model_usage") or {}).values())
            total = {k: sum(u.get(k) or 0 for u in used)
                     for k in ("input_tokens", "output_tokens", "reasoning_tokens",
                               "input_tokens_cache_read")}
            rows.append({"environment": spec["task"].split("/")[-1], "model": spec["model"],
                         "calls": s.get("turn_count"),
                         **(total if used else dict.fromkeys(total))})
    if not rows:
        raise NoLogsError(f"{logs}: no Inspect logs with samples found")
    return pd.DataFrame(rows)


def _mean(values: pd.Series) -> tuple[float, float, float]:
    """Mean and its 95% t-interval (the interval is the mean itself for one value)."""
    values = values.dropna().astype(float)
    n = len(values)
    if n == 0:
        return math.nan, math.nan, math.nan
    mean = float(values.mean())
    if n == 1:
        return mean, mean, mean
    half = float(student_t.ppf(0.975, n - 1) * values.std(ddof=1) / math.sqrt(n))
    return mean, max(0.0, mean - half), mean + half


def project(per_episode: pd.DataFrame, episodes: int, prices: list[Price] | None = None,
            batch_discount: float = 0.5, rpm: float | None = None,
            tpm: float | None = None) -> pd.DataFrame:
    """One row per (environment, model): measured means, and the study's tokens, cost and
    time for `episodes` episodes of that cell (low/high: the 95% interval of the mean)."""
    if episodes < 1:
        raise CostError("--episodes must be at least 1")
    if not 0 <= batch_discount < 1:
        raise CostError("--batch-discount must be in [0, 1)")
    for name, limit in (("--rpm", rpm), ("--tpm", tpm)):
        if limit is not None and limit <= 0:
            raise CostError(f"{name} must be positive")
    prices = prices or []
    models = set(per_episode["model"])
    for price in prices:
        if price.model is not None and price.model not in models:
            raise CostError(f"--price {price.model}=...: no episodes of that model in the logs "
                            f"(models: {', '.join(sorted(models))}); give IN/OUT alone to "
                            "price every model")
    out = []
    for (environment, model), group in per_episode.groupby(["environment", "model"], sort=True):
        measured = group.dropna(subset=["input_tokens"])
        price = next((p for p in prices if p.model == model), None) or next(
            (p for p in prices if p.model is None), None)
        row = {"environment": environment, "model": model, "episodes_read": len(group),
               "with_usage": len(measured)}
        stats = {k: _mean(measured[k]) for k in ("calls", "input_tokens", "output_tokens",
                                                  "reasoning_tokens")}
        for key, (mean, _, _) in stats.items():
            row[f"{key}_per_episode"] = mean
        row["study_episodes"] = episodes
        for bound, i in (("", 0), ("_low", 1), ("_high", 2)):
            tokens_in = stats["input_tokens"][i] * episodes
            tokens_out = stats["output_tokens"][i] * episodes
            row[f"study_tokens{bound}"] = tokens_in + tokens_out
            if price is not None:
                cost = (tokens_in * price.input + tokens_out * price.output) / 1e6
                row[f"cost_usd{bound}"] = cost
                row[f"batch_cost_usd{bound}"] = (cost * (1 - batch_discount)
                                                 if environment in BATCH_ENVIRONMENTS
                                                 else math.nan)
            minutes = [stats["calls"][i] * episodes / rpm if rpm else math.nan,
                       (tokens_in + tokens_out) / tpm if tpm else math.nan]
            known = [m for m in minutes if not math.isnan(m)]
            row[f"hours{bound}"] = max(known) / 60 if known else math.nan
        out.append(row)
    return pd.DataFrame(out)
