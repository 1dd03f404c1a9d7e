"""Deflated Sharpe ratio and PBO (CSCV): the papers' numbers, a second implementation, properties.

Golden values come from the papers' worked example and from scipy.stats / plain loops written here,
never from torchtrader.optimize.overfit itself.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from torchtrader.errors import ConfigError
from torchtrader.optimize.overfit import (
    deflated_sharpe,
    expected_max_sharpe,
    pbo_cscv,
    probabilistic_sharpe,
)

EULER_GAMMA = 0.5772156649015329


def test_dsr_paper_numerical_example() -> None:
    """Bailey & López de Prado (2014), section "A numerical example": N = 100 trials whose annualised
    Sharpes have variance 1/2, T = 1250 daily returns, best annualised SR 2.5, skew −3, kurtosis 10:
    E[max SR] = 0.1132 per day and DSR = 0.9004."""
    sr0 = expected_max_sharpe(100, 0.5 / 250)
    assert sr0 == pytest.approx(0.1132, abs=5e-5)
    dsr = probabilistic_sharpe(2.5 / math.sqrt(250), sr0, 1250, -3.0, 10.0)
    assert dsr == pytest.approx(0.9004, abs=5e-5)


def test_psr_normal_returns_reduce_to_the_lo_variance() -> None:
    """Skew 0 and kurtosis 3 (normal): the denominator is √(1 + SR²/2), Lo (2002)."""
    sr, n = 0.1, 500
    expected = stats.norm.cdf(sr * math.sqrt(n - 1) / math.sqrt(1 + sr**2 / 2))
    assert probabilistic_sharpe(sr, 0.0, n, 0.0, 3.0) == pytest.approx(expected, rel=1e-12)


def _dsr_by_scipy(returns: np.ndarray, trial_sharpes: np.ndarray, ppy: float) -> dict[str, float]:
    sr = returns.mean() / returns.std(ddof=1)
    g3 = stats.skew(returns)
    g4 = stats.kurtosis(returns, fisher=False)
    per_bar = trial_sharpes / math.sqrt(ppy)
    n = len(trial_sharpes)
    sr0 = math.sqrt(np.var(per_bar, ddof=1)) * (
        (1 - EULER_GAMMA) * stats.norm.ppf(1 - 1 / n) + EULER_GAMMA * stats.norm.ppf(1 - 1 / (n * math.e))
    )
    denominator = math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr**2)
    t = len(returns)
    return {
        "dsr": stats.norm.cdf((sr - sr0) * math.sqrt(t - 1) / denominator),
        "psr_zero": stats.norm.cdf(sr * math.sqrt(t - 1) / denominator),
        "sharpe": sr * math.sqrt(ppy),
        "expected_max_sharpe": sr0 * math.sqrt(ppy),
        "skew": g3,
        "kurtosis": g4,
    }


@pytest.mark.parametrize(
    ("seed", "ppy", "n_trials"),
    [(1, 252.0, 50), (2, 8760.0, 1000), (3, 52.0, 2)],
)
def test_dsr_equals_an_independent_scipy_computation(seed: int, ppy: float, n_trials: int) -> None:
    rng = np.random.default_rng(seed)
    # Skewed, fat-tailed returns so skew and kurtosis matter.
    returns = 0.001 + 0.01 * (rng.gamma(2.0, 1.0, 800) - 2.0) / math.sqrt(2.0)
    trials = rng.normal(0.5, 0.8, n_trials)
    got = deflated_sharpe(returns, trials, periods_per_year=ppy)
    want = _dsr_by_scipy(returns, trials, ppy)
    for name, value in want.items():
        assert getattr(got, name) == pytest.approx(value, rel=1e-9, abs=1e-12), name
    assert got.n_trials == n_trials and got.n_observations == 800
    assert got.kurtosis > 3  # non-excess kurtosis of a fat-tailed sample


def test_dsr_sharpe_matches_the_backtest_metrics_annualisation() -> None:
    from torchtrader.backtest.metrics import compute_metrics

    rng = np.random.default_rng(7)
    equity = 10_000 * np.cumprod(np.r_[1.0, 1 + rng.normal(0.0005, 0.01, 300)])
    returns = equity[1:] / equity[:-1] - 1
    metrics = compute_metrics(equity, timeframe="1d")
    got = deflated_sharpe(returns, np.array([metrics.sharpe]), periods_per_year=252.0)
    assert got.sharpe == pytest.approx(metrics.sharpe, rel=1e-12)


def test_dsr_single_trial_is_psr_against_zero_and_nan_trials_do_not_count() -> None:
    rng = np.random.default_rng(3)
    returns = rng.normal(0.001, 0.01, 400)
    got = deflated_sharpe(returns, np.array([1.0, math.nan, math.inf]), periods_per_year=252.0)
    assert got.n_trials == 1
    assert got.expected_max_sharpe == 0.0
    assert got.dsr == got.psr_zero


def test_dsr_flat_returns_are_undefined_not_an_error() -> None:
    got = deflated_sharpe(np.zeros(100), np.array([0.1, 0.2]), periods_per_year=252.0)
    assert math.isnan(got.dsr) and math.isnan(got.sharpe)
    assert got.to_json()["dsr"] is None


def test_dsr_best_of_noise_is_deflated_a_real_edge_is_not() -> None:
    rng = np.random.default_rng(11)
    ppy, bars, n = 252.0, 1000, 200
    noise = rng.normal(0.0, 0.01, (bars, n))
    sharpes = noise.mean(axis=0) / noise.std(axis=0, ddof=1) * math.sqrt(ppy)
    best = int(np.argmax(sharpes))
    luck = deflated_sharpe(noise[:, best], sharpes, periods_per_year=ppy)
    assert luck.psr_zero > 0.95  # undeflated, the lucky winner looks significant
    assert luck.dsr < 0.8  # deflated by its 200 trials, it does not

    edge = rng.normal(0.002, 0.01, bars)  # a per-bar Sharpe of 0.2: t ≈ 6 over 1000 bars
    edge_sharpe = edge.mean() / edge.std(ddof=1) * math.sqrt(ppy)
    real = deflated_sharpe(edge, np.r_[sharpes, edge_sharpe], periods_per_year=ppy)
    assert real.dsr > 0.99


def test_dsr_bad_input_is_one_line() -> None:
    with pytest.raises(ConfigError, match="non-finite"):
        deflated_sharpe(np.array([0.1, math.nan]), np.array([1.0]), periods_per_year=252.0)
    with pytest.raises(ConfigError, match="periods_per_year"):
        deflated_sharpe(np.array([0.1, 0.2]), np.array([1.0]), periods_per_year=0.0)


# ---------------------------------------------------------------------------------------------- PBO

# Four blocks of two identical bars, three strategies (columns). Metric "mean": a strategy's in-sample
# score is the mean of its two in-sample blocks. Worked by hand (sums of the two blocks shown):
#   IS blocks  IS sums   best  OOS sums  OOS rank of best (1 = worst)   ω = rank/4   λ = ln(ω/(1-ω))
#   (0,1)      5,4,4     s0    2,2,7     ties s1 → 1.5                 0.375        ln(0.6)
#   (0,2)      6,1,5     s0    1,5,6     1                             0.25         ln(1/3)
#   (0,3)      4,3,6     s2    3,3,5     3                             0.75         ln(3)
#   (1,2)      3,3,5     s2    4,3,6     3                             0.75         ln(3)
#   (1,3)      1,5,6     s2    6,1,5     2                             0.5          0 (counts: λ ≤ 0)
#   (2,3)      2,2,7     s2    5,4,4     ties s1 → 1.5                 0.375        ln(0.6)
BLOCKS = np.array([[4.0, 1.0, 2.0], [1.0, 3.0, 2.0], [2.0, 0.0, 3.0], [0.0, 2.0, 4.0]])
HAND_LOGITS = [math.log(0.6), math.log(1 / 3), math.log(3), math.log(3), 0.0, math.log(0.6)]


def test_pbo_tiny_case_worked_by_hand() -> None:
    performance = np.repeat(BLOCKS, 2, axis=0)  # [8, 3]
    got = pbo_cscv(performance, n_splits=4, metric="mean")
    assert got.n_combinations == 6
    assert list(got.logits) == pytest.approx(HAND_LOGITS, abs=1e-12)
    assert got.pbo == pytest.approx(4 / 6)
    assert got.prob_oos_loss == 0.0


def test_pbo_drops_the_earliest_rows_that_do_not_fill_a_block() -> None:
    performance = np.vstack([[[-99.0, 99.0, 0.0]], np.repeat(BLOCKS, 2, axis=0)])  # 9 rows
    got = pbo_cscv(performance, n_splits=4, metric="mean")
    assert list(got.logits) == pytest.approx(HAND_LOGITS, abs=1e-12)
    assert got.n_observations == 8


def _pbo_by_loops(performance: np.ndarray, n_splits: int) -> tuple[float, list[float]]:
    """A second CSCV, written from the paper's steps with loops and scipy's ranking."""
    t, n = performance.shape
    size = t // n_splits
    rows = performance[t - size * n_splits :]
    blocks = [rows[i * size : (i + 1) * size] for i in range(n_splits)]
    logits = []
    for train_ids in itertools.combinations(range(n_splits), n_splits // 2):
        train = np.vstack([blocks[i] for i in train_ids])
        test = np.vstack([blocks[i] for i in range(n_splits) if i not in train_ids])
        is_sharpe = [train[:, j].mean() / train[:, j].std(ddof=1) for j in range(n)]
        oos_sharpe = [test[:, j].mean() / test[:, j].std(ddof=1) for j in range(n)]
        star = int(np.argmax(is_sharpe))
        omega = stats.rankdata(oos_sharpe)[star] / (n + 1)
        logits.append(math.log(omega / (1 - omega)))
    return sum(v <= 0 for v in logits) / len(logits), logits


@pytest.mark.parametrize(
    ("seed", "n_splits", "shape"), [(0, 6, (123, 7)), (1, 8, (400, 20)), (2, 2, (10, 2))]
)
def test_pbo_equals_a_loop_implementation(seed: int, n_splits: int, shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(seed)
    performance = rng.normal(0.0005, 0.01, shape) + rng.normal(0, 0.0005, shape[1])
    pbo, logits = _pbo_by_loops(performance, n_splits)
    got = pbo_cscv(performance, n_splits=n_splits)
    assert list(got.logits) == pytest.approx(logits, rel=1e-9, abs=1e-12)
    assert got.pbo == pbo


def test_pbo_of_pure_noise_is_near_one_half() -> None:
    values = []
    for seed in range(6):
        rng = np.random.default_rng(100 + seed)
        values.append(pbo_cscv(rng.normal(0.0, 0.01, (960, 40)), n_splits=16).pbo)
    assert 0.3 < float(np.mean(values)) < 0.7


def test_pbo_with_one_real_edge_among_noise_is_low() -> None:
    rng = np.random.default_rng(5)
    performance = rng.normal(0.0, 0.01, (960, 40))
    performance[:, 17] += 0.003  # per-bar Sharpe 0.3 for one strategy
    got = pbo_cscv(performance, n_splits=16)
    assert got.pbo < 0.05
    assert got.prob_oos_loss < 0.05


def test_pbo_flat_strategies_score_zero_not_nan() -> None:
    rng = np.random.default_rng(9)
    performance = np.hstack([np.zeros((64, 1)), rng.normal(0.001, 0.01, (64, 3))])
    got = pbo_cscv(performance, n_splits=4)
    assert all(math.isfinite(v) for v in got.logits)


@pytest.mark.parametrize(
    ("kwargs", "shape", "match"),
    [
        ({"n_splits": 5}, (100, 3), "even"),
        ({"n_splits": 0}, (100, 3), "even"),
        ({"n_splits": 16}, (31, 3), "at least 32 bars"),
        ({}, (100, 1), "at least 2 combinations"),
        ({"metric": "sortino"}, (100, 3), "unknown PBO metric"),
    ],
)
def test_pbo_bad_input_is_one_line(kwargs: dict[str, object], shape: tuple[int, int], match: str) -> None:
    with pytest.raises(ConfigError, match=match) as error:
        pbo_cscv(np.zeros(shape), **kwargs)  # type: ignore[arg-type]
    assert "\n" not in str(error.value)
