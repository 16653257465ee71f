"""The gate and its statistics: pure functions of pass counts and durations (no I/O).

- ``passRate``: the point estimate (passed / runs) must reach the bar. The 95 % Wilson
  score interval is reported beside it, not gated on.
- ``maxRegression``: the candidate is refused only when its pass rate is lower than the
  baseline's by more than the tolerance *with 95 % one-sided confidence*: when the lower
  limit of Newcombe's hybrid score interval for the difference (baseline − candidate),
  at the one-sided 95 % level (z = 1.645), exceeds the tolerance. Newcombe's interval
  (method 10 of Newcombe 1998) combines the two Wilson intervals; it keeps close to its
  nominal coverage at small n and near 0 or 1, where the Wald interval (p ± z·se) is too
  narrow and would block two equal versions by noise. Tested by simulation in
  tests/evals/test_gate.py.
- ``p95Latency``: the 95th percentile (nearest rank) of run durations must be at most the bar.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from controller.config.manifest import Gate

#: Two-sided 95 % (the interval reported beside a pass rate).
Z_95 = 1.959963984540054
#: One-sided 95 % (the regression test).
Z_95_ONE_SIDED = 1.6448536269514722


def wilson(passed: int, runs: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a proportion passed/runs ((0, 1) when there are no runs)."""
    if runs <= 0:
        return 0.0, 1.0
    p = passed / runs
    denominator = 1 + z * z / runs
    centre = (p + z * z / (2 * runs)) / denominator
    half = z * math.sqrt(p * (1 - p) / runs + z * z / (4 * runs * runs)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def difference_interval(passed_a: int, runs_a: int, passed_b: int, runs_b: int,
                        z: float = Z_95) -> tuple[float, float]:
    """Newcombe's hybrid score interval for p_a − p_b (two independent proportions)."""
    pa = passed_a / runs_a if runs_a else 0.0
    pb = passed_b / runs_b if runs_b else 0.0
    la, ua = wilson(passed_a, runs_a, z)
    lb, ub = wilson(passed_b, runs_b, z)
    d = pa - pb
    return d - math.sqrt((pa - la) ** 2 + (ub - pb) ** 2), d + math.sqrt((ua - pa) ** 2 + (pb - lb) ** 2)


def percentile(values: Sequence[float], q: float = 0.95) -> float:
    """The nearest-rank percentile (0.0 for no values): a duration some run really took."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@dataclass(frozen=True)
class Sample:
    """One subject's runs of one eval, as the gate sees them."""

    runs: int
    passed: int
    durations: tuple[float, ...] = ()

    @property
    def pass_rate(self) -> float:
        return self.passed / self.runs if self.runs else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.passed, self.runs)

    @property
    def p95(self) -> float:
        return percentile(self.durations)


@dataclass(frozen=True)
class Check:
    """One bar of the gate: which, whether it held, and in words why."""

    bar: str
    ok: bool
    message: str


@dataclass(frozen=True)
class Verdict:
    ok: bool
    checks: tuple[Check, ...]
    #: candidate − baseline: the estimate and its two-sided 95 % interval (None without a baseline).
    difference: tuple[float, float, float] | None = None

    @property
    def reasons(self) -> list[str]:
        """Why it failed (the failed bars), or why it passed (every bar)."""
        failed = [c.message for c in self.checks if not c.ok]
        return failed or [c.message for c in self.checks]


def decide(gate: Gate, candidate: Sample, baseline: Sample | None, *,
           no_baseline: str = "no active version to compare with") -> Verdict:
    """Every bar ``gate`` sets, on ``candidate`` (and ``baseline`` for maxRegression;
    ``no_baseline`` says why there is none)."""
    checks = [_pass_rate(gate.passRate, candidate)]
    if gate.maxRegression is not None:
        checks.append(_regression(gate.maxRegression, candidate, baseline, no_baseline))
    if gate.p95Latency is not None:
        p95 = candidate.p95
        ok = p95 <= gate.p95Latency
        checks.append(Check("p95Latency", ok, f"p95 latency {p95:.2f}s {'≤' if ok else '>'} {gate.p95Latency:g}s"))
    difference = None
    if baseline is not None and baseline.runs:
        low, high = difference_interval(candidate.passed, candidate.runs, baseline.passed, baseline.runs)
        difference = (candidate.pass_rate - baseline.pass_rate, low, high)
    return Verdict(all(c.ok for c in checks), tuple(checks), difference)


def _pass_rate(bar: float, sample: Sample) -> Check:
    ok = sample.pass_rate >= bar
    return Check("passRate", ok, f"pass rate {sample.pass_rate:.2f} {'≥' if ok else '<'} {bar:g}")


def regression_bound(candidate: Sample, baseline: Sample) -> float:
    """How much lower the candidate's pass rate is than the baseline's at least, with 95 %
    one-sided confidence (negative: not even shown to be lower)."""
    return difference_interval(baseline.passed, baseline.runs, candidate.passed, candidate.runs, Z_95_ONE_SIDED)[0]


def _regression(tolerance: float, candidate: Sample, baseline: Sample | None, no_baseline: str) -> Check:
    if baseline is None or not baseline.runs:
        return Check("maxRegression", True, no_baseline)
    drop = baseline.pass_rate - candidate.pass_rate
    bound = regression_bound(candidate, baseline)
    if bound > tolerance:
        return Check("maxRegression", False,
                     f"pass rate {candidate.pass_rate:.2f} vs {baseline.pass_rate:.2f}: lower by at least {bound:.2f} "
                     f"(95% one-sided), more than the {tolerance:g} allowed")
    return Check("maxRegression", True,
                 f"pass rate {candidate.pass_rate:.2f} vs {baseline.pass_rate:.2f} (drop {drop:+.2f}): "
                 f"not shown to be lower by more than {tolerance:g} (95% one-sided bound {max(bound, 0.0):.2f})")
