"""`corrigibench report LOGDIR`: one self-contained HTML file, Markdown, CSVs and figures.

Writes into --out (default LOGDIR/report): report.html (figures embedded), report.md,
cells.csv (one row per environment/model/condition), episodes.csv (one row per episode),
and figures/*.png|svg: rates with 95% Jeffreys whiskers per model and condition (as in
Palisade's figures), a model × condition heat map, and the gaming rate by factor. When
`corrigibench traces` has labelled the logs, also the reasoning categories per cell and per
outcome (reasoning.csv, reasoning_by_outcome.csv) with a heat map per layer.

The module gathers the data; `figures` draws, `documents` writes both documents from one
ordered list of sections.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from inspect_ai.log import read_eval_log

from corrigibench.report import figures as draw
from corrigibench.report.documents import Section, html_document, markdown, render_plain
from corrigibench.stats import DENOMINATOR_POLICY
from corrigibench.table import RATE_OF, episodes, summarize

__all__ = ["build", "comparisons", "render_plain"]


def build(log_dir: str | Path, out_dir: str | Path | None = None) -> Path:
    """Write the report for the logs under log_dir; returns the output directory."""
    from corrigibench.reward_hints.conditions import load_catalogue

    log_dir = Path(log_dir)
    out = Path(out_dir) if out_dir else log_dir / "report"
    eps = episodes(log_dir)
    cells = summarize(eps)
    figures_dir = out / "figures"
    figures_dir.mkdir(parents=True, exist_ok=True)
    eps.assign(factors=eps["factors"].map(lambda f: json.dumps(f) if isinstance(f, dict) else "")
               ).to_csv(out / "episodes.csv", index=False)
    cells.to_csv(out / "cells.csv", index=False, float_format="%.6f")

    drawn = []
    for environment, group in cells.groupby("environment"):
        label = RATE_OF.get(environment, "rate")
        drawn.append(draw.save(draw.bars(group, f"{environment}: {label} rate"), figures_dir,
                               f"{environment}-bars",
                               f"{environment}: {label} rate per condition and model, with 95% "
                               "Jeffreys intervals over valid episodes"))
        drawn.append(draw.save(draw.heatmap(group, f"{environment}: {label} rate (%)"),
                               figures_dir, f"{environment}-heatmap",
                               f"{environment}: model × condition heat map"))
    for factor, fig in draw.factor_figures(eps, cells, load_catalogue().defaults):
        drawn.append(draw.save(fig, figures_dir, f"reward-hints-by-{factor}",
                               f"reward hints: gaming rate by {factor} (other factors at default)"))

    reasoning = _reasoning(log_dir, out)
    if reasoning is not None:
        for (environment, layer), group in reasoning["long"].groupby(["environment", "layer"]):
            if not group["n"].sum():
                continue  # nothing labelled (no episode had words): the tables say so
            grid = group.assign(model=group["model"] + " / " + group["variant"],
                                variant=group["category"])
            slug = layer.replace("judge: ", "judge-").replace("/", "-")
            drawn.append(draw.save(
                draw.heatmap(grid, f"{environment}: reasoning categories, {layer} (%)"),
                figures_dir, f"{environment}-reasoning-{slug}",
                f"{environment}: share of labelled episodes whose own words show each category "
                f"({layer})"))

    adaptive = _adaptive(log_dir)
    family = comparisons(log_dir, cells)
    if family is not None:
        family.to_csv(out / "comparisons.csv", index=False, float_format="%.6g")
    logs = eps.groupby(["environment", "model", "variant"])["log"].agg(lambda s: sorted(set(s)))
    cells_linked = cells.assign(logs=[logs.get(tuple(k), []) for k in
                                      cells[["environment", "model", "variant"]].values])
    sections = _sections(cells, cells_linked, _conditions(eps), _runs(eps), adaptive, family,
                         drawn, log_dir, reasoning)
    (out / "report.md").write_text(markdown(f"corrigibench report: {log_dir}", sections))
    (out / "report.html").write_text(html_document("corrigibench report", sections))
    return out


def _sections(cells, cells_linked, conditions, runs, adaptive, family, drawn, log_dir,
              reasoning) -> list[Section]:
    """The report's sections, in the order both documents show them."""
    sections = [
        Section("Results", [f"Logs: {log_dir} — open them with inspect view --log-dir {log_dir}."],
                [(None, cells)], results=True, html_tables=[(None, cells_linked)]),
        Section("Denominators", [DENOMINATOR_POLICY])]
    if reasoning is not None:
        sections.append(Section("Reasoning categories", [_REASONING_NOTE],
                                [(None, reasoning["definitions"]),
                                 ("Per cell", reasoning["cells"]),
                                 ("Per cell and outcome", reasoning["outcomes"])]))
    sections.append(Section("Figures", figures=drawn))
    sections += [Section("Conditions", tables=[(None, conditions)]),
                 Section("Runs", tables=[(None, runs)])]
    if family is not None:
        sections.append(Section("Comparisons", [_FAMILY_NOTE], [(None, family)]))
    if adaptive is not None:
        sections.append(Section("Adaptive sampling", [adaptive.attrs["caption"]],
                                [(None, adaptive)]))
    return sections


def _reasoning(log_dir: Path, out: Path) -> dict[str, pd.DataFrame] | None:
    """Category rates from `corrigibench traces`, if it has labelled these logs."""
    from corrigibench.traces.run import CATEGORIES_FILE, PATTERNS_FILE, TRACES_DIR
    from corrigibench.traces.summary import labels_frame, per_cell, per_outcome, wide

    directory = log_dir / TRACES_DIR
    if not (directory / PATTERNS_FILE).exists():
        return None
    frame = labels_frame(log_dir)
    cells, outcomes = per_cell(frame), per_outcome(frame)
    cells.to_csv(out / "reasoning.csv", index=False, float_format="%.6f")
    outcomes.to_csv(out / "reasoning_by_outcome.csv", index=False, float_format="%.6f")
    used = json.loads((directory / CATEGORIES_FILE).read_text())
    definitions = pd.DataFrame(used)
    definitions["environments"] = definitions["environments"].map(", ".join)
    return {"long": cells, "cells": wide(cells), "outcomes": wide(outcomes),
            "definitions": definitions[["name", "definition", "environments"]].join(
                _layer_agreement(used, sorted(set(cells["layer"]))))}


def _layer_agreement(used: list[dict], layers: list[str]) -> pd.DataFrame:
    """Beside each category, how far each layer that labelled it agrees with hand labels
    on real test transcripts (traces/README.md), while it is the layer that was measured."""
    from corrigibench.traces.categories import Category
    from corrigibench.traces.validate import describe, published_agreement

    categories = [Category(**{k: tuple(v) if isinstance(v, list) else v for k, v in c.items()})
                  for c in used]
    published = published_agreement(categories)
    return pd.DataFrame({f"agreement ({layer})": [
        describe(published.get((layer, c.name))) if (layer, c.name) in published
        else "not measured: corrigibench traces --validate" + (
            f" --judge {layer.removeprefix('judge: ')}" if layer.startswith("judge: ") else "")
        for c in categories] for layer in layers})


def comparisons(log_dir: Path, cells: pd.DataFrame) -> pd.DataFrame | None:
    """The sweep's declared family of comparisons: difference with Newcombe's interval,
    Fisher's exact p-value, and Holm-adjusted p-values across the family."""
    from corrigibench.stats import compare, holm
    from corrigibench.sweep import COMPARISONS_FILE

    path = log_dir / COMPARISONS_FILE
    if not path.exists():
        return None
    index = cells.set_index(["environment", "model", "variant"])
    rows = []
    for comp in json.loads(path.read_text()):
        a, b = comp["a"], comp["b"]
        row = {"environment": comp["environment"], "a": f"{a['model']} / {a['condition']}",
               "b": f"{b['model']} / {b['condition']}"}
        try:
            ca = index.loc[(comp["environment"], a["model"], a["condition"])]
            cb = index.loc[(comp["environment"], b["model"], b["condition"])]
            hits = RATE_OF[comp["environment"]]
            c = compare(int(ca[hits]), int(ca["n"]), int(cb[hits]), int(cb["n"]))
            row |= {"n_a": int(ca["n"]), "n_b": int(cb["n"]), "rate_a": c.rate1,
                    "rate_b": c.rate2, "difference": c.difference, "ci_low": c.ci_low,
                    "ci_high": c.ci_high, "p": c.p_value}
        except (KeyError, ValueError) as ex:  # a cell with no logs or no valid episodes
            row |= {"note": f"not computable: {ex}"}
        rows.append(row)
    table = pd.DataFrame(rows)
    if "p" in table:
        ok = table["p"].notna()
        adjusted, reject = holm(list(table.loc[ok, "p"]))
        table.loc[ok, "p_holm"] = adjusted
        table.loc[ok, "significant"] = reject
    return table


def _adaptive(log_dir: Path) -> pd.DataFrame | None:
    """Per-cell episodes used and saved, when the sweep ran adaptively."""
    path = log_dir / "adaptive.json"
    if not path.exists():
        return None
    summary = json.loads(path.read_text())
    table = pd.DataFrame(summary["cells"])
    table.attrs["caption"] = (
        f"Adaptive sampling to a 95% Jeffreys half-width of {summary['target_halfwidth']} "
        f"(at most {summary['max_epochs']} episodes per cell, rounds of "
        f"{summary['round_epochs']}): {summary['episodes']} episodes, {summary['saved']} saved "
        "against the fixed design.")
    return table


def _conditions(eps: pd.DataFrame) -> pd.DataFrame:
    rows = eps.dropna(subset=["provenance"]).drop_duplicates(["environment", "variant"])
    return rows[["environment", "variant", "provenance", "text_sha256"]].sort_values(
        ["environment", "variant"])


def _runs(eps: pd.DataFrame) -> pd.DataFrame:
    out = []
    for log, group in eps.groupby("log"):
        header = read_eval_log(log, header_only=True)
        generate = header.plan.config.model_dump(exclude_none=True) if header.plan else {}
        out.append({"log": log, "environment": group["environment"].iloc[0],
                    "model": header.eval.model, "created": header.eval.created,
                    "inspect": header.eval.packages.get("inspect_ai", "?"),
                    "generate": json.dumps(generate, sort_keys=True),
                    "model_args": json.dumps(_public(header.eval.model_args), sort_keys=True),
                    "status": header.status, "episodes": len(group)})
    return pd.DataFrame(out)


def _public(args: dict) -> dict:
    """Model arguments fit to print: anything that looks like a credential is masked."""
    return {k: "***" if any(w in k.lower() for w in ("key", "token", "secret", "password"))
            else v for k, v in (args or {}).items()}


_REASONING_NOTE = (
    "Each entry: episodes whose own words (reasoning, thoughts, messages) show the category / "
    "episodes labelled, with the rate and its 95% Jeffreys interval. Labels come from "
    "`corrigibench traces`: the categories' patterns, and an LLM judge whose yes counts only "
    "when one of its quotes is found verbatim in the episode. Rejected judge labels, judge "
    "errors and episodes with no words to label are counted apart and never folded into a "
    "rate. Beside each category: how far the layer that produced it agrees with hand labels "
    "on real published transcripts (Cohen's κ with its 95% interval, precision, recall; "
    "`corrigibench traces --validate`).")
_FAMILY_NOTE = ("Difference a − b with Newcombe's 95% hybrid score interval, Fisher's exact "
                "two-sided p, and Holm-adjusted p across this declared family (significant at "
                "0.05 after adjustment).")


