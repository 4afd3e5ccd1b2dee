"""The report's figures, drawn with matplotlib's object API: nothing here selects a backend
or touches pyplot's global state, so importing the report changes nothing for its caller."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure


@dataclass(frozen=True)
class Drawn:
    """A figure saved as PNG and SVG: its file stem, caption and PNG bytes (for embedding)."""

    name: str
    caption: str
    png: bytes


def save(fig: Figure, directory: Path, name: str, caption: str) -> Drawn:
    fig.savefig(directory / f"{name}.svg", bbox_inches="tight")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    (directory / f"{name}.png").write_bytes(buffer.getvalue())
    return Drawn(name, caption, buffer.getvalue())


def bars(cells: pd.DataFrame, title: str) -> Figure:
    conditions = sorted(cells["variant"].unique())
    models = sorted(cells["model"].unique())
    width = 0.8 / max(len(models), 1)
    fig = Figure(figsize=(max(6, 0.9 * len(conditions) * max(1, len(models) / 3)), 4))
    ax = fig.subplots()
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


def heatmap(cells: pd.DataFrame, title: str) -> Figure:
    grid = cells.pivot_table(index="model", columns="variant", values="rate", aggfunc="first")
    fig = Figure(figsize=(max(5, 0.8 * grid.shape[1] + 3), max(2.5, 0.45 * grid.shape[0] + 1.5)))
    ax = fig.subplots()
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


def factor_figures(eps: pd.DataFrame, cells: pd.DataFrame,
                   defaults: dict[str, str]) -> list[tuple[str, Figure]]:
    """Reward hints: for each factor, the cells that vary only that factor from the defaults."""
    rh = eps[(eps["environment"] == "reward_hints")
             & eps["factors"].map(lambda f: isinstance(f, dict))]
    if rh.empty:
        return []
    factors_of = {v: f for v, f in zip(rh["variant"], rh["factors"], strict=True)}
    rh_cells = cells[cells["environment"] == "reward_hints"]
    out = []
    names = sorted({k for f in factors_of.values() for k in f})
    for factor in names:
        members = {v: str(f.get(factor, defaults.get(factor, "default")))
                   for v, f in factors_of.items() if set(f) <= {factor}}
        if len(set(members.values())) < 2:
            continue
        rows = rh_cells[rh_cells["variant"].isin(members)].assign(
            value=lambda d: d["variant"].map(members))
        fig = Figure(figsize=(max(5, 0.7 * len(set(members.values())) + 2), 3.5))
        ax = fig.subplots()
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
