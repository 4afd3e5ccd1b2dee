"""`corrigibench traces --validate`: how well each layer agrees with hand labels.

The hand-labelled set is `validation.jsonl` beside this file (how it was written and
labelled: README.md). For each layer and category: the items labelled, the true and false
positives and negatives, Cohen's kappa (statsmodels), precision and recall. A judge's
rejected label (quotes not found) or error is not a yes, so it counts as a no here, and is
also shown in its own column: a judge that paraphrases its quotes looks worse, as it should.
"""

from __future__ import annotations

import asyncio
import json
import math
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
from statsmodels.stats.inter_rater import cohens_kappa

from corrigibench.catalogue import CatalogueError
from corrigibench.traces.categories import Category
from corrigibench.traces.layers import (judge_fingerprint, judge_labels, label_each,
                                         pattern_labels)
from corrigibench.traces.transcript import Segment, Transcript

VALIDATION = Path(__file__).with_name("validation.jsonl")
SPLITS = ("dev", "test", "all")


def load_items(path: Path = VALIDATION) -> list[dict[str, Any]]:
    items = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            item["segments"] = [Segment(s["kind"], s["text"]) for s in item["segments"]]
            assert item["split"] in ("dev", "test") and isinstance(item["labels"], dict)
        except (ValueError, KeyError, TypeError, AssertionError):
            raise CatalogueError(f"{path}:{number}: not a validation item") from None
        items.append(item)
    return items


def as_transcript(item: dict[str, Any]) -> Transcript:
    return Transcript(item["id"], item["environment"], "hand-labelled", item["id"], 0,
                      item.get("outcome", "unknown"), item["segments"], item.get("context", ""))


def agreement(gold: list[bool], predicted: list[bool]) -> dict[str, float | int]:
    tp = sum(g and p for g, p in zip(gold, predicted))
    fp = sum(p and not g for g, p in zip(gold, predicted))
    fn = sum(g and not p for g, p in zip(gold, predicted))
    tn = len(gold) - tp - fp - fn
    if (tp + fn) in (0, len(gold)) and (tp + fp) in (0, len(gold)):
        kappa = float("nan")  # one class only on both sides: agreement by chance is total
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            kappa = float(cohens_kappa([[tn, fp], [fn, tp]]).kappa)
    return {"n": len(gold), "positives": tp + fn, "tp": tp, "fp": fp, "fn": fn, "tn": tn,
            "kappa": kappa, "precision": tp / (tp + fp) if tp + fp else float("nan"),
            "recall": tp / (tp + fn) if tp + fn else float("nan")}


def validate(categories: list[Category], judge: str | None = None,
             model_args: dict[str, Any] | None = None, generate: dict[str, Any] | None = None,
             split: str = "all", max_connections: int = 10) -> pd.DataFrame:
    """One row per layer and category with the agreement figures."""
    items = [i for i in load_items() if split == "all" or i["split"] == split]
    transcripts = [as_transcript(i) for i in items]
    layers = {"patterns": [pattern_labels(t, categories) for t in transcripts]}
    if judge:
        layers[f"judge: {judge}"] = asyncio.run(
            _judge_all(transcripts, categories, judge, model_args or {}, generate or {},
                       max_connections))
    rows = []
    for layer, results in layers.items():
        for category in categories:
            pairs = [(item["labels"][category.name], labels[category.name]["value"])
                     for item, labels in zip(items, results)
                     if category.name in item["labels"]
                     and labels[category.name]["value"] not in ("n/a", "no_words")]
            if not pairs:
                continue  # no hand labels for this category (e.g. a user's own)
            gold = [bool(g) for g, _ in pairs]
            predicted = [v == "yes" for _, v in pairs]
            rows.append({"layer": layer, "category": category.name, **agreement(gold, predicted),
                         "rejected": sum(v == "rejected" for _, v in pairs),
                         "errors": sum(v == "error" for _, v in pairs)})
    return pd.DataFrame(rows)


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

    lines = ["| layer | category | n | positives | tp | fp | fn | tn | kappa | precision | "
             "recall | rejected | errors |", "|" + "---|" * 13]
    for r in table.itertuples(index=False):
        lines.append(f"| {r.layer} | {r.category} | {r.n} | {r.positives} | {r.tp} | {r.fp} | "
                     f"{r.fn} | {r.tn} | {number(r.kappa)} | {number(r.precision)} | "
                     f"{number(r.recall)} | {r.rejected} | {r.errors} |")
    return "\n".join(lines) + "\n"
