"""`corrigibench traces --validate`: how well each layer agrees with hand labels on real text.

The hand-labelled set is the real validation set of `dataset.py` (published transcripts,
labelled against `validation/GUIDELINES.md`; how it was built: README.md). For each layer
and category: the items labelled, the true and false positives and negatives, Cohen's
kappa (statsmodels), precision and recall. A judge's rejected label (quotes not found) or
error is not a yes, so it counts as a no here, and is also shown in its own column: a judge
that paraphrases its quotes looks worse, as it should.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from statsmodels.stats.inter_rater import cohens_kappa

from corrigibench.traces.categories import Category
from corrigibench.traces.dataset import Item, load_items
from corrigibench.traces.layers import (judge_fingerprint, judge_labels, label_each,
                                         pattern_labels)
from corrigibench.traces.transcript import Transcript

SPLITS = ("dev", "test", "all")
Layer = Callable[[Transcript, list[Category]], dict[str, dict[str, Any]]]


def agreement(gold: list[bool], predicted: list[bool]) -> dict[str, float | int]:
    tp = sum(g and p for g, p in zip(gold, predicted))
    fp = sum(p and not g for g, p in zip(gold, predicted))
    fn = sum(g and not p for g, p in zip(gold, predicted))
    tn = len(gold) - tp - fp - fn
    return agreement_from_counts(tp, fp, fn, tn)


def agreement_from_counts(tp: int, fp: int, fn: int, tn: int) -> dict[str, float | int]:
    """Kappa with its asymptotic 95% interval (statsmodels), precision and recall."""
    n = tp + fp + fn + tn
    kappa = low = high = float("nan")
    if not ((tp + fn) in (0, n) and (tp + fp) in (0, n)):  # else one class on both sides
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = cohens_kappa([[tn, fp], [fn, tp]])
        kappa = float(result.kappa)
        low, high = max(-1.0, float(result.kappa_low)), min(1.0, float(result.kappa_upp))
    return {"n": n, "positives": tp + fn, "tp": tp, "fp": fp, "fn": fn, "tn": tn,
            "kappa": kappa, "kappa_low": low, "kappa_high": high,
            "precision": tp / (tp + fp) if tp + fp else float("nan"),
            "recall": tp / (tp + fn) if tp + fn else float("nan")}


def validate(categories: list[Category], judge: str | None = None,
             model_args: dict[str, Any] | None = None, generate: dict[str, Any] | None = None,
             split: str = "all", max_connections: int = 10, items: list[Item] | None = None,
             layers: dict[str, Layer] | None = None) -> pd.DataFrame:
    """One row per layer and category with the agreement figures.

    Items whose words are not available (a pointer item not yet fetched) are left out and
    counted in `table.attrs["missing"]`; `items` defaults to the real validation set and
    `layers` to the pattern layer."""
    items = load_items() if items is None else items
    chosen = [i for i in items if split == "all" or i.split == split]
    present = [i for i in chosen if i.segments]
    transcripts = [i.transcript() for i in present]
    for layer in (layers or {}).values():
        if hasattr(layer, "prepare"):  # batch work up front (the semantic layer's embeddings)
            layer.prepare(transcripts)
    results = {name: [layer(t, categories) for t in transcripts]
               for name, layer in (layers or {"patterns": pattern_labels}).items()}
    if judge:
        results[f"judge: {judge}"] = asyncio.run(
            _judge_all(transcripts, categories, judge, model_args or {}, generate or {},
                       max_connections))
    rows = []
    for layer, labelled in results.items():
        for category in categories:
            pairs = [(item.labels[category.name], labels[category.name]["value"])
                     for item, labels in zip(present, labelled)
                     if category.name in item.labels
                     and labels[category.name]["value"] not in ("n/a", "no_words")]
            if not pairs:
                continue  # no hand labels for this category (e.g. a user's own)
            gold = [bool(g) for g, _ in pairs]
            predicted = [v == "yes" for _, v in pairs]
            rows.append({"layer": layer, "category": category.name, **agreement(gold, predicted),
                         "rejected": sum(v == "rejected" for _, v in pairs),
                         "errors": sum(v == "error" for _, v in pairs)})
    table = pd.DataFrame(rows)
    table.attrs["items"] = len(chosen)
    table.attrs["missing"] = len(chosen) - len(present)
    return table


async def _judge_all(transcripts: list[Transcript], categories: list[Category], judge: str,
                     model_args: dict[str, Any], generate: dict[str, Any],
                     max_connections: int) -> list[dict[str, Any]]:
    from inspect_ai.model import GenerateConfig, get_model

    config = GenerateConfig(**{"temperature": 0, **generate})
    model = get_model(judge, config=config, memoize=False, **model_args)
    fingerprint = judge_fingerprint(judge, model_args, config)
    slots = asyncio.Semaphore(max_connections)

    async def one(t: Transcript) -> dict[str, Any]:
        async with slots:
            result = await judge_labels(model, t, categories, config, fingerprint)
        if result["status"] == "error":
            return label_each(t, categories, lambda c: {"value": "error"})
        return result["labels"]

    try:
        return list(await asyncio.gather(*(one(t) for t in transcripts)))
    finally:
        await model.api.aclose()


def render_agreement(table: pd.DataFrame) -> str:
    def number(value: float) -> str:
        return "–" if isinstance(value, float) and math.isnan(value) else f"{value:.2f}"

    lines = ["| layer | category | n | positives | tp | fp | fn | tn | kappa (95% CI) | "
             "precision | recall | rejected | errors |", "|" + "---|" * 13]
    for r in table.itertuples(index=False):
        interval = "" if math.isnan(r.kappa) else f" ({number(r.kappa_low)}–{number(r.kappa_high)})"
        lines.append(f"| {r.layer} | {r.category} | {r.n} | {r.positives} | {r.tp} | {r.fp} | "
                     f"{r.fn} | {r.tn} | {number(r.kappa)}{interval} | {number(r.precision)} | "
                     f"{number(r.recall)} | {r.rejected} | {r.errors} |")
    return "\n".join(lines) + "\n"


# -- the figures measured once on the real test split, shipped for the report --------------

PUBLISHED = Path(__file__).with_name("validation") / "agreement.csv"


def layer_fingerprint(layer: str, category: Category) -> str:
    """What a layer's verdicts on a category depend on: its patterns, or its anchors and
    threshold. A published figure is shown only while this is unchanged."""
    if layer == "patterns":
        spec: Any = list(category.patterns)
    elif layer == "semantic":
        spec = [list(category.semantic_examples or category.examples), category.semantic_threshold]
    else:
        return ""
    return hashlib.sha256(json.dumps(spec).encode()).hexdigest()[:16]


def published_agreement(categories: list[Category]) -> dict[tuple[str, str], dict[str, Any]]:
    """(layer, category) -> the test-split figures of validation/agreement.csv, for the
    categories whose layer is still the one that was measured."""
    if not PUBLISHED.exists():
        return {}
    by_name = {c.name: c for c in categories}
    out = {}
    for row in pd.read_csv(PUBLISHED, keep_default_na=False).to_dict("records"):
        category = by_name.get(row["category"])
        if category is not None and row["fingerprint"] == layer_fingerprint(row["layer"], category):
            out[(row["layer"], row["category"])] = row
    return out


def describe(row: dict[str, Any] | None) -> str:
    """One cell: kappa with its interval, precision and recall, and the positives behind them."""
    if row is None:
        return "not measured"
    if not row["positives"]:
        return f"no positive among {row['n']} real test transcripts"

    def number(value: Any) -> str:
        return "–" if value in ("", None) or (isinstance(value, float) and math.isnan(value)) \
            else f"{float(value):.2f}"

    return (f"κ {number(row['kappa'])} ({number(row['kappa_low'])}–{number(row['kappa_high'])}), "
            f"precision {number(row['precision'])}, recall {number(row['recall'])}; "
            f"{row['positives']} positives in {row['n']}")
