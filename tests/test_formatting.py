"""Numbers for people: percentages, intervals, signed differences, p-values, "–"."""

from __future__ import annotations

import pandas as pd

from corrigibench.formatting import interval, markdown_table, number, p_value, percent, signed


def test_numbers_are_formatted_and_missing_ones_are_a_dash() -> None:
    assert percent(2 / 3) == "66.7%" and percent(float("nan")) == "–" and percent(None) == "–"
    assert percent(pd.NA) == "–" and percent(0.05, 0) == "5%"
    assert interval(0.05, 0.2) == "5.0–20.0%" and interval(0.1, float("nan")) == "–"
    assert signed(0.25) == "+25%" and signed(-0.1) == "−10%" and signed(0.001) == "0%"
    assert signed(-0.123, 1) == "−12.3%"
    assert p_value(3.1e-07) == "3.1e-07" and p_value(0.00099) == "9.9e-04"
    assert p_value(0.0312) == "0.031" and p_value(0.5) == "0.50" and p_value(1.0) == "1.00"
    assert p_value(0.0) == "0" and p_value(None) == "–" and p_value(float("nan")) == "–"
    assert number(0.6666666666666666) == "0.667" and number(3.0) == "3" and number(7) == "7"
    assert number(True) == "yes" and number(float("nan")) == "–"


def test_markdown_tables_escape_pipes_and_show_missing_values() -> None:
    table = markdown_table(pd.DataFrame({"a": ["x|y", None], "b": [1, float("nan")]}))
    assert table.splitlines() == ["| a | b |", "|---|---|", "| x\\|y | 1 |", "| – | – |"]
