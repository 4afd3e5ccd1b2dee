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


PALETTE = ["#1f4e79", "#c55a11", "#548235", "#7030a0", "#bf9000", "#2f5597", "#843c0c",
           "#375623", "#5b5b5b", "#a50021"]
VERDICT_COLOURS = {"supports": "#3a9d5d", "contradicts": "#d1495b", "inconclusive": "#c8c8c8",
                   "not computable": "#efefef"}


def family(condition: str) -> str:
    """The group a condition is drawn in: its id up to the first hyphen (palisade, gdm, ...)."""
    return condition.split("-", 1)[0]


def rates(cells: pd.DataFrame, title: str, xlabel: str,
          groups: dict[str, list[str]] | None = None) -> Figure:
    """Horizontal bars, one per model and condition, with 95% Jeffreys whiskers, conditions
    grouped (by family unless `groups` is given), as in Palisade's figures."""
    models = sorted(cells["model"].unique())
    if groups is None:
        groups = {}
        for condition in sorted(cells["variant"].unique(), key=lambda c: (family(c), c)):
            groups.setdefault(family(condition), []).append(condition)
    rows: list[tuple[str, str | None]] = []  # (label, condition or None for a group header)
    for group, members in groups.items():
        rows.append((group, None))
        rows += [(c, c) for c in members]
    height = 0.8 / max(len(models), 1)
    fig = Figure(figsize=(7.5, max(2.2, 0.22 * len(rows) * max(1, len(models) * 0.6) + 1.2)))
    ax = fig.subplots()
    ticks, labels = [], []
    labelled: set[str] = set()
    for y, (label, condition) in enumerate(reversed(rows)):
        if condition is None:
            ax.text(-0.01, y, label, ha="right", va="center", fontsize=8, fontweight="bold",
                    transform=ax.get_yaxis_transform())
            continue
        ticks.append(y)
        labels.append(label)
        for i, model in enumerate(models):
            row = cells[(cells["model"] == model) & (cells["variant"] == condition)]
            if row.empty or pd.isna(row["rate"].iloc[0]):
                continue
            r = row.iloc[0]
            offset = y + (len(models) - 1) / 2 * height - i * height
            rate = 100 * float(r["rate"])
            ax.barh(offset, rate, height * 0.9, color=PALETTE[i % len(PALETTE)],
                    label=None if model in labelled else model)
            labelled.add(model)
            ax.errorbar(rate, offset, xerr=[[max(rate - 100 * float(r["ci_low"]), 0)],
                                            [max(100 * float(r["ci_high"]) - rate, 0)]],
                        fmt="none", ecolor="black", elinewidth=0.8, capsize=2)
            ax.text(min(100 * float(r["ci_high"]) + 1.5, 101), offset,
                    f"{rate:.0f}% (n={int(r['n'])})", va="center", fontsize=6.5)
    ax.set_yticks(ticks, labels, fontsize=7.5)
    ax.set_xlim(0, 115)
    ax.set_xticks(range(0, 101, 20), [f"{t}%" for t in range(0, 101, 20)])
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", color="#e5e5e5", linewidth=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if len(labelled) > 1:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    return fig


def contrasts_by_hypothesis(measured: pd.DataFrame, verdicts: pd.DataFrame,
                            hypotheses: list[tuple[str, str]], title: str) -> Figure:
    """Each hypothesis's contrasts, grouped under it: a's rate (filled) and b's (open), each
    with its 95% Jeffreys whisker, coloured by the verdict on that prediction."""
    from corrigibench.stats import proportion_ci

    rows: list[tuple[str, object]] = []
    for hid, name in hypotheses:
        mine = verdicts[verdicts["hypothesis"] == hid]
        if mine.empty:
            continue
        rows.append((name, None))
        rows += [(f"{v.contrast}  ({v.prediction})", v) for v in mine.itertuples()]
    fig = Figure(figsize=(8, max(2.5, 0.26 * len(rows) + 1.3)))
    ax = fig.subplots()
    m = measured.set_index("contrast")
    ticks, labels = [], []
    for y, (label, v) in enumerate(reversed(rows)):
        if v is None:
            ax.text(-0.01, y, label, ha="right", va="center", fontsize=8, fontweight="bold",
                    transform=ax.get_yaxis_transform())
            continue
        ticks.append(y)
        labels.append(label)
        colour = VERDICT_COLOURS[v.verdict]
        r = m.loc[v.contrast]
        for side, shift, filled in (("a", 0.15, True), ("b", -0.15, False)):
            k, n = r[f"k_{side}"], r[f"n_{side}"]
            if side == "b" and pd.isna(n) and not pd.isna(r["rate_b"]):
                ax.plot([100 * r["rate_b"]] * 2, [y - 0.35, y + 0.35], color="black", lw=1)
                continue
            if pd.isna(n) or not n:
                continue
            low, high = proportion_ci(int(k), int(n))
            rate = 100 * k / n
            ax.errorbar(rate, y + shift, xerr=[[rate - 100 * low], [100 * high - rate]],
                        fmt="o", color=colour, mfc=colour if filled else "white",
                        mec="black" if v.verdict == "not computable" else colour,
                        ecolor=colour, elinewidth=1.2, capsize=2, markersize=5)
        ax.text(102, y, v.verdict, va="center", fontsize=6.5, color="black")
    ax.set_yticks(ticks, labels, fontsize=7)
    ax.set_xlim(-2, 125)
    ax.set_xticks(range(0, 101, 20), [f"{t}%" for t in range(0, 101, 20)])
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlabel("rate with 95% Jeffreys interval: ● a, ○ b (a reasoning metric: the "
                  "category's rate)", fontsize=8)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", color="#e5e5e5", linewidth=0.6)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig


def verdict_grid(verdicts: pd.DataFrame, hypotheses: list[tuple[str, str]],
                 contrasts: list[str], title: str) -> Figure:
    """The verdict matrix as a coloured grid: rows hypotheses, columns contrasts."""
    from matplotlib.patches import Patch, Rectangle

    fig = Figure(figsize=(0.42 * len(contrasts) + 3.2, 0.42 * len(hypotheses) + 2.6))
    ax = fig.subplots()
    for i, (hid, name) in enumerate(hypotheses):
        for j, cid in enumerate(contrasts):
            hit = verdicts[(verdicts["hypothesis"] == hid) & (verdicts["contrast"] == cid)]
            if hit.empty:
                ax.add_patch(Rectangle((j, i), 1, 1, facecolor="white", edgecolor="#e0e0e0",
                                       lw=0.5))
                continue
            v = hit.iloc[0]
            ax.add_patch(Rectangle((j, i), 1, 1, facecolor=VERDICT_COLOURS[v["verdict"]],
                                   edgecolor="white", lw=1.2,
                                   hatch="///" if v["verdict"] == "not computable" else None))
            ax.text(j + 0.5, i + 0.5, v["prediction"].replace(" ", ""), ha="center",
                    va="center", fontsize=7,
                    color="white" if v["verdict"] in ("supports", "contradicts") else "black")
    ax.set_xlim(0, len(contrasts))
    ax.set_ylim(len(hypotheses), 0)
    ax.set_aspect("equal")
    ax.set_xticks([j + 0.5 for j in range(len(contrasts))], contrasts, rotation=55,
                  ha="right", fontsize=7)
    ax.set_yticks([i + 0.5 for i in range(len(hypotheses))], [n for _, n in hypotheses],
                  fontsize=7.5)
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    ax.set_title(title, fontsize=10, pad=22)
    ax.legend(handles=[Patch(facecolor=c, edgecolor="#999", label=k,
                             hatch="///" if k == "not computable" else None)
                       for k, c in VERDICT_COLOURS.items()] + [
        Patch(facecolor="white", edgecolor="#ccc", label="no prediction")],
        loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=5, fontsize=7, frameon=False)
    return fig


def ladder(cells: pd.DataFrame, conditions: list[str], title: str, ylabel: str) -> Figure:
    """One ladder of conditions, in order, per model: rate with 95% Jeffreys whiskers."""
    fig = Figure(figsize=(max(5, 1.3 * len(conditions) + 1.5), 3.4))
    ax = fig.subplots()
    for i, (model, group) in enumerate(cells.groupby("model")):
        rows = group.set_index("variant").reindex(conditions)
        rate = 100 * rows["rate"].astype(float)
        ax.errorbar(range(len(conditions)), rate,
                    yerr=[(rate - 100 * rows["ci_low"].astype(float)).clip(lower=0).fillna(0),
                          (100 * rows["ci_high"].astype(float) - rate).clip(lower=0).fillna(0)],
                    marker="o", capsize=3, color=PALETTE[i % len(PALETTE)], label=model)
    ax.set_xticks(range(len(conditions)), conditions, rotation=20, ha="right", fontsize=7.5)
    ax.set_ylim(-3, 103)
    ax.set_yticks(range(0, 101, 20), [f"{t}%" for t in range(0, 101, 20)])
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(axis="y", color="#e5e5e5", linewidth=0.6)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1, 1))
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
        if not rows["rate"].notna().any():
            continue  # no valid answer in any of its cells
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
