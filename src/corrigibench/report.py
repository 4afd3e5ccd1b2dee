"""`corrigibench report LOGDIR`: one self-contained HTML file, Markdown, CSVs and figures.

Writes into --out (default LOGDIR/report): report.html (figures embedded), report.md,
cells.csv (one row per environment/model/condition), episodes.csv (one row per episode),
and figures/*.png|svg: rates with 95% Jeffreys whiskers per model and condition (as in
Palisade's figures), a model × condition heat map, and the gaming rate by factor. When
`corrigibench traces` has labelled the logs, also the reasoning categories per cell and per
outcome (reasoning.csv, reasoning_by_outcome.csv) with a heat map per layer.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from inspect_ai.log import read_eval_log  # noqa: E402

from corrigibench.logstore import LogDir, is_remote, log_location  # noqa: E402
from corrigibench.stats import __doc__ as DENOMINATOR_POLICY  # noqa: E402
from corrigibench.table import RATE_OF, NoLogsError, episodes, render, summarize  # noqa: E402


def build(log_dir: str | LogDir, out_dir: str | Path | None = None) -> Path:
    """Write the report of the logs under log_dir (a directory or an s3:// prefix) into
    out_dir, a local directory (default: LOG_DIR/report for local logs)."""
    log_dir = log_location(log_dir)
    if out_dir is None and is_remote(log_dir):
        raise NoLogsError(f"{log_dir}: the report is written to a local directory: give --out DIR")
    out = Path(out_dir) if out_dir else log_dir / "report"
    eps = episodes(log_dir)
    cells = summarize(eps)
    figures_dir = out / "figures"
    figures_dir.mkdir(parents=True, exist_ok=True)
    eps.assign(factors=eps["factors"].map(lambda f: json.dumps(f) if isinstance(f, dict) else "")
               ).to_csv(out / "episodes.csv", index=False)
    cells.to_csv(out / "cells.csv", index=False, float_format="%.6f")

    figures: list[tuple[str, str, bytes]] = []  # (name, caption, png)
    for environment, group in cells.groupby("environment"):
        label = RATE_OF.get(environment, "rate")
        figures.append(_save(_bars(group, f"{environment}: {label} rate"), figures_dir,
                             f"{environment}-bars",
                             f"{environment}: {label} rate per condition and model, with 95% "
                             "Jeffreys intervals over valid episodes"))
        figures.append(_save(_heatmap(group, f"{environment}: {label} rate (%)"), figures_dir,
                             f"{environment}-heatmap", f"{environment}: model × condition heat map"))
    for factor, fig in _factor_figures(eps, cells):
        figures.append(_save(fig, figures_dir, f"reward-hints-by-{factor}",
                             f"reward hints: gaming rate by {factor} (other factors at default)"))

    reasoning = _reasoning(log_dir, out)
    if reasoning is not None:
        for (environment, layer), group in reasoning["long"].groupby(["environment", "layer"]):
            if not group["n"].sum():
                continue  # nothing labelled (no episode had words): the tables say so
            grid = group.assign(model=group["model"] + " / " + group["variant"],
                                variant=group["category"])
            slug = layer.replace("judge: ", "judge-").replace("/", "-")
            figures.append(_save(_heatmap(grid, f"{environment}: reasoning categories, {layer} (%)"),
                                 figures_dir, f"{environment}-reasoning-{slug}",
                                 f"{environment}: share of labelled episodes whose own words show "
                                 f"each category ({layer})"))

    conditions = _conditions(eps)
    runs = _runs(eps)
    adaptive = _adaptive(log_dir)
    family = comparisons(log_dir, cells)
    if family is not None:
        family.to_csv(out / "comparisons.csv", index=False, float_format="%.6g")
    logs = eps.groupby(["environment", "model", "variant"])["log"].agg(lambda s: sorted(set(s)))
    cells_linked = cells.assign(logs=[logs.get(tuple(k), []) for k in
                                      cells[["environment", "model", "variant"]].values])
    (out / "report.md").write_text(_markdown(cells, conditions, runs, adaptive, family,
                                             figures, log_dir, reasoning))
    (out / "report.html").write_text(_html(cells_linked, conditions, runs, adaptive, family,
                                           figures, log_dir, reasoning))
    return out


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


def _save(fig: plt.Figure, directory: Path, name: str, caption: str) -> tuple[str, str, bytes]:
    fig.savefig(directory / f"{name}.svg", bbox_inches="tight")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    (directory / f"{name}.png").write_bytes(buffer.getvalue())
    plt.close(fig)
    return name, caption, buffer.getvalue()


def _bars(cells: pd.DataFrame, title: str) -> plt.Figure:
    conditions = sorted(cells["variant"].unique())
    models = sorted(cells["model"].unique())
    width = 0.8 / max(len(models), 1)
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(conditions) * max(1, len(models) / 3)), 4))
    for i, model in enumerate(models):
        rows = cells[cells["model"] == model].set_index("variant").reindex(conditions)
        rate = 100 * rows["rate"].astype(float)
        lower = (rate - 100 * rows["ci_low"].astype(float)).clip(lower=0)
        upper = (100 * rows["ci_high"].astype(float) - rate).clip(lower=0)
        x = [j + (i - (len(models) - 1) / 2) * width for j in range(len(conditions))]
        ax.bar(x, rate.fillna(0), width, label=model, yerr=[lower.fillna(0), upper.fillna(0)],
               capsize=2, error_kw={"elinewidth": 0.8})
    ax.set_xticks(range(len(conditions)), conditions, rotation=35, ha="right")
    ax.set_ylim(0, 105)
    ax.set_ylabel("rate (%)")
    ax.set_title(title)
    ax.legend(fontsize=7, ncol=2, loc="upper left", bbox_to_anchor=(1, 1))
    return fig


def _heatmap(cells: pd.DataFrame, title: str) -> plt.Figure:
    grid = cells.pivot_table(index="model", columns="variant", values="rate", aggfunc="first")
    fig, ax = plt.subplots(figsize=(max(5, 0.8 * grid.shape[1] + 3), max(2.5, 0.45 * grid.shape[0] + 1.5)))
    image = ax.imshow(100 * grid.values.astype(float), vmin=0, vmax=100, cmap="viridis",
                      aspect="auto")
    ax.set_xticks(range(grid.shape[1]), grid.columns, rotation=35, ha="right")
    ax.set_yticks(range(grid.shape[0]), grid.index)
    for (r, c), value in pd.DataFrame(grid.values).stack().items():
        if pd.notna(value):
            ax.text(c, r, f"{100 * value:.0f}", ha="center", va="center", fontsize=7,
                    color="white" if value < 0.6 else "black")
    fig.colorbar(image, ax=ax, label="%")
    ax.set_title(title)
    return fig


def _factor_figures(eps: pd.DataFrame, cells: pd.DataFrame) -> list[tuple[str, plt.Figure]]:
    """Reward hints: for each factor, the cells that vary only that factor from the defaults."""
    rh = eps[(eps["environment"] == "reward_hints") & eps["factors"].map(lambda f: isinstance(f, dict))]
    if rh.empty:
        return []
    factors_of = {v: f for v, f in zip(rh["variant"], rh["factors"], strict=True)}
    rh_cells = cells[cells["environment"] == "reward_hints"]
    from corrigibench.reward_hints.conditions import load_catalogue

    defaults = load_catalogue().data["defaults"]
    out = []
    names = sorted({k for f in factors_of.values() for k in f})
    for factor in names:
        members = {v: str(f.get(factor, defaults.get(factor, "default")))
                   for v, f in factors_of.items() if set(f) <= {factor}}
        if len(set(members.values())) < 2:
            continue
        rows = rh_cells[rh_cells["variant"].isin(members)].assign(
            value=lambda d: d["variant"].map(members))
        fig, ax = plt.subplots(figsize=(max(5, 0.7 * len(set(members.values())) + 2), 3.5))
        for model, group in rows.groupby("model"):
            default = str(defaults.get(factor))
            group = group.sort_values("value", key=lambda s: s.map(
                lambda v: (v != default, *_sort_key(v))))
            rate = 100 * group["rate"].astype(float)
            ax.errorbar(group["value"], rate,
                        yerr=[(rate - 100 * group["ci_low"]).clip(lower=0),
                              (100 * group["ci_high"] - rate).clip(lower=0)],
                        marker="o", capsize=3, label=model)
        ax.set_ylim(-3, 103)
        ax.set_ylabel("gaming rate (%)")
        ax.set_xlabel(factor)
        ax.tick_params(axis="x", rotation=30)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))
        out.append((factor, fig))
    return out


def _sort_key(value: str) -> tuple:
    return (0, int(value), "") if str(value).isdigit() else (1, 0, str(value))


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


def _markdown(cells, conditions, runs, adaptive, family, figures, log_dir, reasoning) -> str:
    parts = [f"# corrigibench report: {log_dir}\n",
             "## Results\n", render(cells, "markdown"),
             "\n## Denominators\n", DENOMINATOR_POLICY.split("\n\n", 1)[1].strip(), "\n",
             "\n## Conditions\n", render_plain(conditions), "\n## Runs\n",
             render_plain(runs), f"\nOpen the logs with `inspect view --log-dir {log_dir}`.\n"]
    if family is not None:
        parts += ["\n## Comparisons\n", _FAMILY_NOTE, "\n", render_plain(family)]
    if adaptive is not None:
        parts += ["\n## Adaptive sampling\n", adaptive.attrs["caption"], "\n",
                  render_plain(adaptive)]
    if reasoning is not None:
        parts += ["\n## Reasoning categories\n", _REASONING_NOTE, "\n",
                  render_plain(reasoning["definitions"]), "\n### Per cell\n",
                  render_plain(reasoning["cells"]), "\n### Per cell and outcome\n",
                  render_plain(reasoning["outcomes"])]
    parts += [
             "\n## Figures\n"]
    parts += [f"![{caption}](figures/{name}.png)\n\n{caption}\n" for name, caption, _ in figures]
    return "\n".join(parts)


def render_plain(df: pd.DataFrame) -> str:
    lines = ["| " + " | ".join(df.columns) + " |", "|" + "|".join("---" for _ in df.columns) + "|"]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines) + "\n"


_PERCENT = ("rate", "ci_low", "ci_high", "rate_a", "rate_b", "difference")
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


def _html(cells, conditions, runs, adaptive, family, figures, log_dir, reasoning) -> str:
    def table(df: pd.DataFrame) -> str:
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
        body = []
        for row in df.itertuples(index=False):
            tds = []
            for column, value in zip(df.columns, row, strict=True):
                text = "–" if not isinstance(value, list) and _isna(value) else (
                    f"{100 * float(value):.1f}%" if column in _PERCENT else str(value))
                if column in ("log", "logs"):
                    tds.append("<td>" + " ".join(
                        f'<a href="{html.escape(str(v))}">{html.escape(Path(str(v)).name)}</a>'
                        for v in (value if isinstance(value, list) else [value])) + "</td>")
                else:
                    tds.append(f"<td>{html.escape(text)}</td>")
            body.append("<tr>" + "".join(tds) + "</tr>")
        return f"<table><tr>{head}</tr>{''.join(body)}</table>"

    shown = cells.dropna(axis="columns", how="all")
    images = "".join(
        f'<figure><img src="data:image/png;base64,{base64.b64encode(png).decode()}" '
        f'alt="{html.escape(caption)}"><figcaption>{html.escape(caption)}</figcaption></figure>'
        for _, caption, png in figures)
    policy = html.escape(DENOMINATOR_POLICY.split("\n\n", 1)[1].strip())
    return f"""<!doctype html><html><head><meta charset="utf-8">
<title>corrigibench report</title><style>
body{{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}}
table{{border-collapse:collapse;font-size:13px;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:3px 6px;text-align:left}} th{{background:#f3f3f3}}
figure{{margin:1.5em 0}} img{{max-width:100%}} code{{background:#f3f3f3;padding:1px 4px}}
</style></head><body>
<h1>corrigibench report</h1><p>Logs: <code>{html.escape(str(log_dir))}</code> — open them with
<code>inspect view --log-dir {html.escape(str(log_dir))}</code>.</p>
<h2>Results</h2>{table(shown)}
<h2>Denominators</h2><p>{policy}</p>
{"" if reasoning is None else f"<h2>Reasoning categories</h2><p>{html.escape(_REASONING_NOTE)}</p>"
 f"{table(reasoning['definitions'])}<h3>Per cell</h3>{table(reasoning['cells'])}"
 f"<h3>Per cell and outcome</h3>{table(reasoning['outcomes'])}"}
<h2>Figures</h2>{images}
<h2>Conditions</h2>{table(conditions)}
<h2>Runs</h2>{table(runs)}
{"" if family is None else f"<h2>Comparisons</h2><p>{html.escape(_FAMILY_NOTE)}</p>{table(family)}"}
{"" if adaptive is None else f"<h2>Adaptive sampling</h2><p>{html.escape(adaptive.attrs['caption'])}</p>{table(adaptive)}"}
</body></html>
"""


def _isna(value: object) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False
