"""The gate's statistics: intervals against published values, and the regression test's
false-block and detection rates by simulation over many seeds (deterministic: seeded)."""

from __future__ import annotations

import random

import pytest

from controller.config.manifest import Gate
from controller.evals.gate import Sample, decide, difference_interval, percentile, regression_bound, wilson

SEEDS = 4000


def test_wilson_interval_matches_published_values():
    # Newcombe (1998), Statistics in Medicine 17:857, table I: 81/263 → 0.2553 to 0.3662; 0/10 → 0 to 0.2775
    assert wilson(81, 263) == pytest.approx((0.2553, 0.3662), abs=1e-4)
    assert wilson(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson(10, 10) == pytest.approx((0.7225, 1.0), abs=1e-4)
    assert wilson(0, 0) == (0.0, 1.0)


def test_difference_interval_matches_newcombes_method_10():
    # Newcombe (1998), Statistics in Medicine 17:873, table II, method 10: 56/70 − 48/80 → 0.0524 to 0.3339
    assert difference_interval(56, 70, 48, 80) == pytest.approx((0.0524, 0.3339), abs=1e-4)
    # … and 9/10 − 3/10 → 0.1705 to 0.8090
    assert difference_interval(9, 10, 3, 10) == pytest.approx((0.1705, 0.8090), abs=1e-4)


def test_p95_is_a_duration_some_run_took():
    assert percentile([]) == 0.0
    assert percentile([3.0]) == 3.0
    assert percentile([float(i) for i in range(1, 101)]) == 95.0
    assert percentile([1.0, 2.0, 30.0]) == 30.0  # nearest rank: 3 runs, the slowest is the 95th percentile


def _draw(rng: random.Random, rate: float, runs: int) -> Sample:
    return Sample(runs, sum(rng.random() < rate for _ in range(runs)))


def _blocked(seeds: int, baseline_rate: float, candidate_rate: float, runs: int, tolerance: float) -> float:
    """The share of seeds in which the gate refuses the candidate for regression."""
    gate = Gate(passRate=0.0, maxRegression=tolerance)
    blocked = 0
    for seed in range(seeds):
        rng = random.Random(seed)
        baseline, candidate = _draw(rng, baseline_rate, runs), _draw(rng, candidate_rate, runs)
        blocked += not decide(gate, candidate, baseline).ok
    return blocked / seeds


def test_two_equal_versions_rarely_block_each_other_by_noise():
    """40 runs each at a true pass rate of 0.9, maxRegression 0.05: under 5 % false blocks."""
    rate = _blocked(SEEDS, 0.9, 0.9, 40, 0.05)
    print(f"false blocks: {rate:.2%} of {SEEDS} seeds")
    assert rate < 0.05


def test_a_real_drop_is_caught():
    """A true drop from 0.95 to 0.6 with 40 runs each: caught in over 95 % of seeds."""
    rate = _blocked(SEEDS, 0.95, 0.6, 40, 0.05)
    print(f"detection: {rate:.2%} of {SEEDS} seeds")
    assert rate > 0.95


def test_a_drop_within_the_tolerance_is_not_a_regression():
    assert _blocked(1000, 0.9, 0.88, 40, 0.05) < 0.05


def test_the_bound_is_how_much_lower_at_least():
    assert regression_bound(Sample(40, 24), Sample(40, 38)) > 0.2
    assert regression_bound(Sample(40, 38), Sample(40, 36)) < 0  # better: not shown lower at all


def test_every_bar_is_checked_and_said_why():
    gate = Gate(passRate=0.9, maxRegression=0.05, p95Latency=2.0)
    verdict = decide(gate, Sample(40, 30, (1.0,) * 37 + (3.0,) * 3), Sample(40, 39))
    assert not verdict.ok
    assert [c.bar for c in verdict.checks if not c.ok] == ["passRate", "maxRegression", "p95Latency"]
    assert verdict.reasons[0] == "pass rate 0.75 < 0.9"
    assert "more than the 0.05 allowed" in verdict.reasons[1] and verdict.reasons[2] == "p95 latency 3.00s > 2s"
    assert verdict.difference is not None and verdict.difference[0] == pytest.approx(-0.225)

    passed = decide(gate, Sample(40, 38, (1.0,) * 40), None)
    assert passed.ok and passed.difference is None
    assert passed.reasons == ["pass rate 0.95 ≥ 0.9", "no active version to compare with", "p95 latency 1.00s ≤ 2s"]


def test_the_default_gate_wants_every_run_to_pass():
    assert decide(Gate(), Sample(10, 10), None).ok
    assert not decide(Gate(), Sample(10, 9), None).ok
