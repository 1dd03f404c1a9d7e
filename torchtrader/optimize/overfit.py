"""Overfitting statistics of a parameter search: the deflated Sharpe ratio and the probability of
backtest overfitting.

Deflated Sharpe ratio (Bailey & López de Prado 2014, "The Deflated Sharpe Ratio: Correcting for
Selection Bias, Backtest Overfitting and Non-Normality"). With the chosen combination's n per-bar
returns, its per-bar Sharpe ``sr = mean / std (ddof=1)`` (the Sharpe of ``backtest.metrics`` before the
√ppy annualisation), skewness ``g3`` and kurtosis ``g4`` (NON-excess: 3 for normal returns; both the
population moments, like ``scipy.stats.skew`` / ``kurtosis(fisher=False)`` with their default
``bias=True``):

    PSR(sr0) = Φ( (sr − sr0) · √(n − 1) / √(1 − g3 · sr + (g4 − 1) / 4 · sr²) )
    sr0      = √V · ((1 − γ) · Φ⁻¹(1 − 1/N) + γ · Φ⁻¹(1 − 1/(N · e)))     (expected maximum Sharpe)
    DSR      = PSR(sr0)

where N is the number of trials (every evaluated combination with a finite Sharpe), V the sample
variance (ddof=1) of their per-bar Sharpes and γ the Euler–Mascheroni constant. With one trial sr0 = 0
and DSR = PSR(0). Sharpes go in and come out annualised like ``backtest.metrics``
(× √periods_per_year); the formulas run on per-bar values.

Probability of backtest overfitting (Bailey, Borwein, López de Prado & Zhu 2015, "The Probability of
Backtest Overfitting"), by combinatorially symmetric cross-validation: the [T, N] matrix of per-bar
returns of N combinations is cut into S equal row blocks (the earliest ``T mod S`` rows are dropped so
the blocks are equal, as the method requires); for each of the C(S, S/2) ways to pick half the blocks
as the in-sample set (the rest is out-of-sample) the in-sample best combination n* is taken (first on
ties), its out-of-sample performance ranked among all N (1 = worst, average rank on ties), ω = rank /
(N + 1) and the logit λ = ln(ω / (1 − ω)). PBO = share of splits with λ ≤ 0: how often the in-sample
winner lands at or below the out-of-sample median. Performance is the Sharpe of the block's returns
(mean / std, ddof=1; a flat block scores 0, a constant non-zero one ±inf) or their mean.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Literal

import numpy as np

from torchtrader.errors import ConfigError

EULER_GAMMA = 0.5772156649015329
PboMetric = Literal["sharpe", "mean"]
PBO_METRICS: tuple[PboMetric, ...] = ("sharpe", "mean")
# Splits evaluated per matrix product: bounds the [splits, N] temporaries (8 of them, float64).
_SPLITS_PER_CHUNK = 512
_NORMAL = NormalDist()


def _json(value: float) -> float | None:
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class DeflatedSharpe:
    """The deflated Sharpe ratio of a search's best combination (see the module docstring).

    ``dsr`` and ``psr_zero`` are probabilities; ``sharpe`` and ``expected_max_sharpe`` are annualised.
    NaN where undefined (fewer than 2 returns, flat returns)."""

    dsr: float
    psr_zero: float
    sharpe: float
    expected_max_sharpe: float
    n_trials: int
    n_observations: int
    skew: float
    kurtosis: float

    def to_json(self) -> dict[str, Any]:
        return {
            "dsr": _json(self.dsr),
            "psr_zero": _json(self.psr_zero),
            "sharpe": _json(self.sharpe),
            "expected_max_sharpe": _json(self.expected_max_sharpe),
            "n_trials": self.n_trials,
            "n_observations": self.n_observations,
            "skew": _json(self.skew),
            "kurtosis": _json(self.kurtosis),
        }


def probabilistic_sharpe(sharpe: float, benchmark: float, n_obs: int, skew: float, kurtosis: float) -> float:
    """PSR: probability that the true per-bar Sharpe exceeds ``benchmark`` given the observed per-bar
    ``sharpe`` over ``n_obs`` returns with this skewness and (non-excess) kurtosis."""
    variance = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2
    if n_obs < 2 or not math.isfinite(variance) or variance <= 0 or not math.isfinite(sharpe):
        return math.nan
    return _NORMAL.cdf((sharpe - benchmark) * math.sqrt(n_obs - 1) / math.sqrt(variance))


def expected_max_sharpe(n_trials: int, variance: float) -> float:
    """Expected maximum of ``n_trials`` Sharpe estimates with this cross-trial variance and true Sharpe 0
    (the same units as the Sharpes whose variance is given)."""
    if n_trials < 2:
        return 0.0
    spread = (1 - EULER_GAMMA) * _NORMAL.inv_cdf(1 - 1 / n_trials) + EULER_GAMMA * _NORMAL.inv_cdf(
        1 - 1 / (n_trials * math.e)
    )
    return math.sqrt(max(variance, 0.0)) * spread


def deflated_sharpe(
    best_returns: np.ndarray[Any, Any], trial_sharpes: np.ndarray[Any, Any], *, periods_per_year: float
) -> DeflatedSharpe:
    """DSR of the chosen combination's per-bar simple returns, deflated by the annualised Sharpes of
    every evaluated combination (non-finite ones are left out of the trial count)."""
    if not periods_per_year > 0:
        raise ConfigError(f"periods_per_year must be > 0, got {periods_per_year}")
    returns = np.asarray(best_returns, dtype=np.float64).ravel()
    if not np.isfinite(returns).all():
        raise ConfigError("best_returns holds non-finite values: pass the per-bar returns of an equity curve")
    trials = np.asarray(trial_sharpes, dtype=np.float64).ravel()
    trials = trials[np.isfinite(trials)]
    n_obs, scale = returns.shape[0], math.sqrt(periods_per_year)
    sharpe = skew = kurtosis = math.nan
    if n_obs >= 2:
        mean, std = float(returns.mean()), float(returns.std(ddof=1))
        if std > 0:
            sharpe = mean / std
            centred = returns - mean
            m2 = float(np.mean(centred**2))
            skew = float(np.mean(centred**3)) / m2**1.5
            kurtosis = float(np.mean(centred**4)) / m2**2
    variance = float(trials.var(ddof=1)) / periods_per_year if trials.shape[0] >= 2 else 0.0
    benchmark = expected_max_sharpe(int(trials.shape[0]), variance)
    return DeflatedSharpe(
        dsr=probabilistic_sharpe(sharpe, benchmark, n_obs, skew, kurtosis),
        psr_zero=probabilistic_sharpe(sharpe, 0.0, n_obs, skew, kurtosis),
        sharpe=sharpe * scale,
        expected_max_sharpe=benchmark * scale,
        n_trials=int(trials.shape[0]),
        n_observations=n_obs,
        skew=skew,
        kurtosis=kurtosis,
    )


@dataclass(frozen=True)
class PboResult:
    """CSCV's probability of backtest overfitting (see the module docstring).

    ``logits`` holds one λ per split (in ``itertools.combinations`` order of the in-sample blocks);
    ``prob_oos_loss`` is the share of splits whose in-sample winner lost money out of sample (a negative
    out-of-sample performance)."""

    pbo: float
    logits: tuple[float, ...]
    n_combinations: int
    n_splits: int
    n_strategies: int
    n_observations: int
    metric: str
    prob_oos_loss: float

    def to_json(self, *, include_logits: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "pbo": _json(self.pbo),
            "n_combinations": self.n_combinations,
            "n_splits": self.n_splits,
            "n_strategies": self.n_strategies,
            "n_observations": self.n_observations,
            "metric": self.metric,
            "prob_oos_loss": _json(self.prob_oos_loss),
            "logit_median": _json(float(np.median(self.logits))) if self.logits else None,
        }
        if include_logits:
            out["logits"] = [_json(v) for v in self.logits]
        return out


def pbo_cscv(performance: np.ndarray[Any, Any], *, n_splits: int = 16, metric: str = "sharpe") -> PboResult:
    """PBO of choosing the in-sample best of N combinations, from their [T, N] per-bar returns."""
    if metric not in PBO_METRICS:
        raise ConfigError(f"unknown PBO metric {metric!r}: use one of {', '.join(PBO_METRICS)}")
    if n_splits < 2 or n_splits % 2:
        raise ConfigError(f"n_splits must be an even number >= 2, got {n_splits}")
    matrix = np.asarray(performance, dtype=np.float64)
    if matrix.ndim != 2:
        raise ConfigError(f"performance must be [bars, combinations], got shape {matrix.shape}")
    n_rows, n_strategies = matrix.shape
    if n_strategies < 2:
        raise ConfigError(f"PBO needs at least 2 combinations to choose from, got {n_strategies}")
    if n_rows < 2 * n_splits:
        raise ConfigError(f"PBO with {n_splits} splits needs at least {2 * n_splits} bars, got {n_rows}")
    if not np.isfinite(matrix).all():
        raise ConfigError("performance holds non-finite returns: pass per-bar returns of equity curves")
    block = n_rows // n_splits
    used = matrix[n_rows - block * n_splits :].reshape(n_splits, block, n_strategies)
    sums, squares = used.sum(axis=1), (used**2).sum(axis=1)  # [S, N] each
    splits = np.array(list(itertools.combinations(range(n_splits), n_splits // 2)), dtype=np.int64)
    chosen = np.zeros((splits.shape[0], n_splits))
    np.put_along_axis(chosen, splits, 1.0, axis=1)
    n_half = block * (n_splits // 2)
    logits = np.empty(splits.shape[0])
    losses = np.empty(splits.shape[0], dtype=bool)
    for start in range(0, splits.shape[0], _SPLITS_PER_CHUNK):
        part = chosen[start : start + _SPLITS_PER_CHUNK]
        train = _score(part @ sums, part @ squares, n_half, metric)
        test = _score((1 - part) @ sums, (1 - part) @ squares, n_half, metric)
        best = np.argmax(train, axis=1)
        winner = np.take_along_axis(test, best[:, None], axis=1)
        rank = (test < winner).sum(axis=1) + ((test == winner).sum(axis=1) + 1) / 2
        omega = rank / (n_strategies + 1)
        logits[start : start + part.shape[0]] = np.log(omega / (1 - omega))
        losses[start : start + part.shape[0]] = winner[:, 0] < 0
    return PboResult(
        pbo=float(np.mean(logits <= 0)),
        logits=tuple(float(v) for v in logits),
        n_combinations=int(splits.shape[0]),
        n_splits=n_splits,
        n_strategies=n_strategies,
        n_observations=block * n_splits,
        metric=metric,
        prob_oos_loss=float(np.mean(losses)),
    )


def _score(
    sums: np.ndarray[Any, Any], squares: np.ndarray[Any, Any], count: int, metric: str
) -> np.ndarray[Any, Any]:
    mean = sums / count
    if metric == "mean":
        return mean
    variance = (squares - sums * mean) / (count - 1)
    # Sums of squares cancel to rounding noise on a constant block: call that flat, not a huge Sharpe.
    flat = variance <= 1e-12 * (squares / count)
    with np.errstate(divide="ignore", invalid="ignore"):
        sharpe = mean / np.sqrt(np.where(flat, 1.0, variance))
        return np.where(flat, np.where(mean == 0, 0.0, np.sign(mean) * np.inf), sharpe)
