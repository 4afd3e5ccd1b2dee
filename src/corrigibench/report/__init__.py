"""`corrigibench report LOGDIR`: one self-contained HTML file, Markdown, CSVs and figures.

Writes into --out (default LOGDIR/report): report.html (figures embedded, nothing fetched),
report.md, cells.csv (one row per environment/model/condition), episodes.csv (one row per
episode), and figures/*.png|svg: rates with 95% Jeffreys whiskers per condition and model
(as in Palisade's figures), a model × condition heat map, and the gaming rate by factor.
When `corrigibench traces` has labelled the logs, also the reasoning categories per cell and
per outcome (reasoning.csv, reasoning_by_outcome.csv) with a heat map per layer; when the
logs are a hypothesis study (`corrigibench study hypotheses`), its verdicts first: the
summary per hypothesis, the verdict matrix as a coloured grid, each hypothesis's contrasts
with their rates, and every deployment ladder.

This module gathers the data; `tables` formats it, `figures` draws, and `documents` writes
both documents from one ordered list of sections.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from inspect_ai.log import read_eval_log

from corrigibench.errors import InputError
from corrigibench.formatting import interval, percent
from corrigibench.logstore import LogDir, is_remote, log_location
from corrigibench.report import figures as draw
from corrigibench.report import tables
from corrigibench.report.documents import Section, html_document, markdown, render_plain
from corrigibench.stats import DENOMINATOR_POLICY
from corrigibench.table import RATE_OF, episodes, summarize

__all__ = ["build", "comparisons", "render_plain"]
_EXCLUDED = ("limit", "error", "invalid", "ambiguous", "undecided", "missing")


def build(log_dir: str | LogDir, out_dir: str | Path | None = None) -> Path:
    """Write the report of the logs under log_dir (a directory or an s3:// prefix) into
    out_dir, a local directory (default: LOG_DIR/report for local logs); returns it."""
    log_dir = log_location(log_dir)
    if out_dir is None and is_remote(log_dir):
        raise InputError(f"{log_dir}: the report is written to a local directory: give --out DIR")
    out = Path(out_dir) if out_dir else Path(log_dir) / "report"
    eps = episodes(log_dir)
    cells = summarize(eps)
    figures_dir = out / "figures"
    figures_dir.mkdir(parents=True, exist_ok=True)
    for stale in [*figures_dir.glob("*.png"), *figures_dir.glob("*.svg")]:
        stale.unlink()  # figures of an earlier build that this one may not draw
    eps.assign(factors=eps["factors"].map(lambda f: json.dumps(f) if isinstance(f, dict) else "")
               ).to_csv(out / "episodes.csv", index=False)
    cells.to_csv(out / "cells.csv", index=False, float_format="%.6f")

    study = _study(log_dir)
    reasoning = _reasoning(log_dir, out)
    adaptive = _adaptive(log_dir)
    family = comparisons(log_dir, cells)
    if family is not None:
        family.to_csv(out / "comparisons.csv", index=False, float_format="%.6g")
    logs = eps.groupby(["environment", "model", "variant"])["log"].agg(lambda s: sorted(set(s)))

    sections = [_summary(log_dir, eps, cells, family, adaptive, study)]
    if study is not None:
        sections += _study_sections(study, cells, figures_dir)
    sections.append(Section("Results", [
        "One row per environment, model and condition: the rate over valid episodes with its "
        "95% Jeffreys interval; episodes that are not valid are counted in their own columns "
        "(see Denominators). Each cell links to its logs."],
        [(None, tables.results(cells, logs, out))]))
    sections.append(Section("Figures", figures=_figures(eps, cells, reasoning, study,
                                                        figures_dir)))
    if family is not None:
        sections.append(Section("Comparisons", [_FAMILY_NOTE],
                                [(None, tables.comparisons(family))]))
    if reasoning is not None:
        sections.append(Section("Reasoning categories", [_REASONING_NOTE],
                                [(None, reasoning["definitions"]),
                                 ("Per cell", reasoning["cells"]),
                                 ("Per cell and outcome", reasoning["outcomes"])]))
    if adaptive is not None:
        sections.append(Section("Adaptive sampling", [adaptive.attrs["caption"]],
                                [(None, tables.adaptive(adaptive))]))
    sections += [
        Section("Denominators", [DENOMINATOR_POLICY]),
        Section("Conditions", ["Each condition's provenance (verbatim, verbatim-via-secondary or "
                               "reconstruction; `corrigibench variants ENV` gives its sources) "
                               "and the sha256 of every text its agents were shown."],
                [(None, tables.conditions(_conditions(eps)))]),
        Section("Runs", [f"Logs: `{log_dir}`. Open them with "
                         f"`inspect view --log-dir {log_dir}`."],
                [(None, tables.runs(_runs(eps), out))])]
    (out / "report.md").write_text(markdown(f"corrigibench report: {log_dir.name}", sections))
    (out / "report.html").write_text(html_document(f"corrigibench report: {log_dir.name}",
                                                   sections))
    return out


def _summary(log_dir: LogDir, eps: pd.DataFrame, cells: pd.DataFrame,
             family: pd.DataFrame | None, adaptive: pd.DataFrame | None,
             study: dict | None) -> Section:
    """What a reader needs first: what ran, what counts, and what was found."""
    from corrigibench.study import model_note

    models = sorted(eps["model"].unique())
    valid = int((eps["status"] == "ok").sum())
    excluded = {s: int((eps["status"] == s).sum()) for s in _EXCLUDED}
    excluded_text = ", ".join(f"{n} {s}" for s, n in excluded.items() if n) or "none"
    paragraphs = [
        f"{len(eps)} episodes of {len(models)} model{'s' if len(models) != 1 else ''} "
        f"({', '.join(models)}) in {cells[['environment', 'variant']].drop_duplicates().shape[0]} "
        f"conditions; {valid} valid episodes count in the rates, the rest are excluded "
        f"({excluded_text}). Rates come with 95% Jeffreys intervals."]
    for environment, group in cells.groupby("environment"):
        hits = RATE_OF.get(environment, "hits")
        shown = group.dropna(subset=["rate"])
        if shown.empty:
            paragraphs.append(f"{environment}: no valid episode in any cell.")
            continue
        total_hits = int(group[hits].fillna(0).sum())
        top, low = shown.loc[shown["rate"].idxmax()], shown.loc[shown["rate"].idxmin()]
        overall = (f"{environment}: {hits} in {total_hits} of {int(group['n'].sum())} valid "
                   f"episodes over {len(group)} cells")
        if top["rate"] == low["rate"]:
            paragraphs.append(f"{overall}; every cell with valid episodes at "
                              f"{percent(top['rate'])}.")
            continue
        paragraphs.append(
            f"{overall}; highest {top['model']} / {top['variant']} "
            f"{percent(top['rate'])} ({interval(top['ci_low'], top['ci_high'])}, "
            f"n = {int(top['n'])}); lowest {low['model']} / {low['variant']} "
            f"{percent(low['rate'])} ({interval(low['ci_low'], low['ci_high'])}, "
            f"n = {int(low['n'])}).")
    if family is not None and "p_holm" in family:
        significant = int(family["significant"].fillna(False).astype(bool).sum())
        paragraphs.append(f"Declared comparisons: {significant} of {len(family)} significant "
                          "at 0.05 after Holm's adjustment (see Comparisons).")
    if adaptive is not None:
        paragraphs.append(adaptive.attrs["caption"])
    by_note: dict[str, list[str]] = {}
    for m in models:
        if model_note(m):
            by_note.setdefault(model_note(m), []).append(m)
    notes = [(ms[0] if len(ms) == 1 else ", ".join(ms[:-1]) + " and " + ms[-1])
             + (" is " if len(ms) == 1 else " are each ") + note + "."
             for note, ms in by_note.items()]
    tables_: list[tuple[str | None, pd.DataFrame]] = []
    if study is not None:
        from corrigibench.study.render import summary_table

        paragraphs.append("Hypothesis study: each hypothesis's verdict with the counts of its "
                          "predictions behind it (details under Hypothesis study).")
        for model in study["settings"]["models"]:
            tables_.append((f"Verdicts for {model}", summary_table(study, model)))
    return Section("Summary", paragraphs, tables_, notes=notes)


def _study(log_dir: LogDir) -> dict | None:
    from corrigibench.study.run import STUDY_DIR, STUDY_FILE, evaluate

    if not (log_dir / STUDY_DIR / STUDY_FILE).exists():
        return None
    return evaluate(log_dir)


def _study_sections(study: dict, cells: pd.DataFrame, figures_dir: Path) -> list[Section]:
    from corrigibench.study import model_note
    from corrigibench.study.render import (LEGEND, contrast_table, design_text, matrix_table,
                                           verdict_table)
    from corrigibench.study.verdicts import HIT

    hypotheses = study["hypotheses"]
    settings = study["settings"]
    rows = [(h.id, ("└ " if h.parent else "") + h.title)
            for h in hypotheses.hypotheses.values()]
    sections = [Section("Hypothesis study", [
        f"Hypotheses from `{settings['hypotheses']}` "
        f"({_count(len(hypotheses.hypotheses), 'hypothesis', 'hypotheses')}, "
        f"{_count(len(hypotheses.contrasts), 'contrast', 'contrasts')}). "
        + design_text(settings),
        f"Each contrast: the difference a − b with Newcombe's 95% interval (against a value: "
        f"the Jeffreys interval), Fisher's exact p (against a value: the exact binomial test) "
        f"and Holm's adjustment over the {len(hypotheses.contrasts)} contrasts of each model. "
        f"A prediction a > b is borne out when the difference is positive with Holm p < "
        f"{hypotheses.alpha:g}, and contradicted when it is negative so, or its interval rules "
        f"out a difference of the contrast's effect; a ≈ b is borne out when the 90% interval "
        f"lies within the margin and contradicted when the difference is beyond it with Holm p "
        f"< {hypotheses.alpha:g}; a ≈ 0 is judged on the 95% Jeffreys interval of a's rate. "
        f"Reasoning metrics use the {settings['layer']} labels"
        + ("." if study["labelled"] else " (not labelled yet: run corrigibench traces).")],
        anchor="hypothesis-study")]
    for model in settings["models"]:
        slug = model.replace("/", "_")
        mine = study["verdicts"][study["verdicts"]["model"] == model]
        measured = study["measurements"][study["measurements"]["model"] == model]
        figs = [draw.save(draw.verdict_grid(mine, rows, list(hypotheses.contrasts),
                                            f"Verdict matrix: {model}"),
                          figures_dir, f"study-verdicts-{slug}",
                          f"{model}: the verdict on each hypothesis's prediction for each "
                          "contrast (green supports, red contradicts, grey inconclusive, "
                          "hatched not computable, white no prediction)"),
                draw.save(draw.contrasts_by_hypothesis(measured, mine, rows,
                                                       f"Contrasts by hypothesis: {model}"),
                          figures_dir, f"study-contrasts-{slug}",
                          f"{model}: each hypothesis's contrasts, grouped under it: a's rate "
                          "(filled) and b's (open) with 95% Jeffreys intervals, coloured by "
                          "the verdict")]
        for ladder in hypotheses.ladders.values():
            group = cells[(cells["environment"] == ladder.environment)
                          & (cells["model"] == model)
                          & cells["variant"].isin(ladder.conditions)]
            if group.empty:
                continue
            figs.append(draw.save(
                draw.ladder(group, list(ladder.conditions), f"{ladder.id}: {model}",
                            f"{HIT[ladder.environment]} (%)"),
                figures_dir, f"study-ladder-{ladder.id}-{slug}",
                f"{model}: the {ladder.id} ladder ({ladder.description}), "
                f"{HIT[ladder.environment]} rate with 95% Jeffreys intervals"))
        note = model_note(model)
        sections.append(Section(
            f"Study: {model}", [LEGEND],
            [("Verdict matrix", matrix_table(study, model)),
             ("Contrasts", contrast_table(study, model)),
             ("Verdicts, with the reasoning evidence beside them", verdict_table(study, model))],
            figs, notes=[f"{model} is {note}."] if note else [], level=3, figures_first=True))
    return sections


def _figures(eps: pd.DataFrame, cells: pd.DataFrame, reasoning: dict | None,
             study: dict | None, figures_dir: Path) -> list[draw.Drawn]:
    from corrigibench.reward_hints.conditions import load_catalogue

    drawn = []
    for environment, group in cells.groupby("environment"):
        if not group["rate"].notna().any():
            continue  # no valid episode in any cell: nothing to draw (the summary says so)
        label = RATE_OF.get(environment, "rate")
        groups = _hypothesis_groups(study, environment, set(group["variant"]))
        drawn.append(draw.save(
            draw.rates(group, f"{environment}: {label} rate", f"{label} (%)", groups),
            figures_dir, f"{environment}-rates",
            f"{environment}: {label} rate per condition and model, with 95% Jeffreys "
            "intervals over valid episodes; conditions grouped by "
            + ("the hypothesis whose contrasts first use them" if groups else "family")))
        drawn.append(draw.save(draw.heatmap(group, f"{environment}: {label} rate (%)"),
                               figures_dir, f"{environment}-heatmap",
                               f"{environment}: model × condition heat map"))
    for factor, fig in draw.factor_figures(eps, cells, load_catalogue().defaults):
        drawn.append(draw.save(fig, figures_dir, f"reward-hints-by-{factor}",
                               f"reward hints: gaming rate by {factor} (other factors at "
                               "default), with 95% Jeffreys intervals"))
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
    return drawn


def _hypothesis_groups(study: dict | None, environment: str,
                       present: set[str]) -> dict[str, list[str]] | None:
    """Conditions grouped under the first hypothesis whose contrasts use them (a study's
    report), then ladder rungs under their ladder, the rest under "other". None without a
    study."""
    if study is None:
        return None
    hypotheses = study["hypotheses"]
    groups: dict[str, list[str]] = {}
    seen: set[str] = set()
    for h in hypotheses.hypotheses.values():
        for cid in h.predicts:
            contrast = hypotheses.contrasts[cid]
            if contrast.environment != environment:
                continue
            for condition in contrast.conditions:
                if condition in present and condition not in seen:
                    groups.setdefault(h.title, []).append(condition)
                    seen.add(condition)
    for ladder in hypotheses.ladders.values():
        rungs = [c for c in ladder.conditions if c in present and c not in seen]
        if ladder.environment == environment and rungs:
            groups[f"ladder: {ladder.id}"] = rungs
            seen |= set(rungs)
    rest = sorted(present - seen)
    if rest:
        groups["other conditions"] = rest
    return groups


def _reasoning(log_dir: LogDir, out: Path) -> dict[str, pd.DataFrame] | None:
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


def comparisons(log_dir: LogDir, cells: pd.DataFrame) -> pd.DataFrame | None:
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


def _adaptive(log_dir: LogDir) -> pd.DataFrame | None:
    """Per-cell episodes used and saved, when the sweep ran adaptively."""
    from corrigibench.adaptive import ADAPTIVE_FILE

    path = log_dir / ADAPTIVE_FILE
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


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"
