"""Statistics for rates that live near 0% and 100%: intervals from statsmodels."""

from __future__ import annotations

from statsmodels.stats.proportion import proportion_confint

METHODS = ("jeffreys", "wilson")


def proportion_ci(k: int, n: int, method: str = "jeffreys", level: float = 0.95) -> tuple[float, float]:
    """Two-sided interval for k successes out of n (NaNs when n is 0).

    Jeffreys (the default, as in Palisade's paper) is the equal-tailed Beta(k+1/2, n-k+1/2)
    interval, with the bounds at 0 and 1 fixed when k is 0 or n.
    """
    if method not in METHODS:
        raise ValueError(f"unknown interval method {method!r}; use one of {', '.join(METHODS)}")
    if not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return float("nan"), float("nan")
    low, high = proportion_confint(k, n, alpha=1 - level, method=method)
    # an interval for 0/n starts at 0 and one for n/n ends at 1 (Brown, Cai & DasGupta 2001)
    return (0.0 if k == 0 else float(low)), (1.0 if k == n else float(high))
