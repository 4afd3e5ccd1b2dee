"""How many episodes each cell of a hypothesis study needs, and why.

Every prediction sets a size for the cells of its contrast, at the file's `planning_rate`
(0.5, the worst case, unless the file says otherwise):

- `a > b` / `a < b`: enough episodes per cell to detect a difference of `effect` with the
  planned power, two-sided, at alpha divided by the family size (Bonferroni, which Holm
  never needs more than): `stats.episodes_to_detect`.
- `a ≈ b`: enough for the equivalence test (two one-sided tests) to show |a - b| < margin
  with the planned power when the true difference is 0: n = (z[1-α'] + z[1-β/2])² · 2p(1-p)
  / margin², with α' = 0.05 (rule_out = "contrast") or alpha / family size ("family").
- `a ≈ 0`: the fewest episodes whose Jeffreys interval for 0 hits lies below the margin.

A cell's plan is the largest size any prediction on its contrasts asks for. Pooled sides
(`condition = "*"`) and reasoning metrics are not planned: their episodes are the labelled
subset of the cells the rate contrasts plan (the verdicts say when that subset falls short).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy.stats import norm

from corrigibench.stats import episodes_to_detect, proportion_ci
from corrigibench.study.spec import Contrast, Hypotheses, Prediction


@dataclass(frozen=True)
class CellPlan:
    environment: str
    condition: str
    episodes: int
    because: tuple[str, ...]  # the contrasts that ask for this many


def levels(study: Hypotheses, family: int) -> tuple[float, float, float]:
    """(alpha per directional test, alpha per side of an equivalence test, two-sided level
    of the interval that rules an effect out)."""
    if study.rule_out == "family":
        per = study.alpha / max(family, 1)
        return per, per, 1 - 2 * per
    return study.alpha / max(family, 1), 0.05, 0.95


def prediction_size(study: Hypotheses, contrast: Contrast, prediction: Prediction,
                    family: int) -> int:
    """Episodes per cell one prediction asks for."""
    directional_alpha, equivalence_alpha, level = levels(study, family)
    p = min(max(study.planning_rate, 0.01), 0.99)
    if prediction.directional:
        low = min(max(p - contrast.effect / 2, 0.001), 0.999 - contrast.effect)
        return episodes_to_detect(low, low + contrast.effect, power=study.power,
                                  alpha=directional_alpha)
    if prediction.relation == "a≈b":
        z = norm.ppf(1 - equivalence_alpha) + norm.ppf(1 - (1 - study.power) / 2)
        return math.ceil(z ** 2 * 2 * p * (1 - p) / prediction.margin ** 2)
    n = 1
    while proportion_ci(0, n, level=level)[1] > prediction.margin:
        n += 1
    return n


def contrast_sizes(study: Hypotheses) -> dict[str, int]:
    """Episodes per cell each contrast asks for (the largest over its predictions)."""
    family = len(study.contrasts)
    sizes: dict[str, int] = {}
    for h in study.hypotheses.values():
        for cid, prediction in h.predicts.items():
            n = prediction_size(study, study.contrasts[cid], prediction, family)
            sizes[cid] = max(sizes.get(cid, 0), n)
    return sizes


def plan_cells(study: Hypotheses) -> list[CellPlan]:
    """Every cell the study runs, with the episodes its predictions need."""
    sizes = contrast_sizes(study)
    out = []
    for env in ("shutdown", "reward_hints"):
        for condition in study.conditions(env):
            asking = {cid: n for cid, n in sizes.items()
                      if study.contrasts[cid].environment == env
                      and condition in study.contrasts[cid].conditions
                      and study.contrasts[cid].category is None}
            if asking:
                n = max(asking.values())
                because = tuple(c for c, m in asking.items() if m == n)
            else:  # a ladder rung, or a cell only reasoning contrasts use
                n = max(sizes.values(), default=1)
                because = ()
            out.append(CellPlan(env, condition, n, because))
    return out
