"""Walk-forward windows: durations (``30d``, ``12w``, ``6m``, ``2y``) and train/test spans that tile.

Spans are half-open, ``[start, end)``, like ``runner.load_bars``. With ``origin`` the first bar's time
and ``data_end`` one bar after the last, the test spans are cut at the boundaries

    b_k = origin + train + k · step          (k = 0, 1, …; calendar months for ``m``/``y``)

so window k tests ``[b_k, min(b_{k+1}, data_end))``: consecutive test spans tile the period from b_0
to the data's end without gaps or overlaps by construction (the last one may be shorter). Window k
trains on ``[b_k − train, b_k)`` (rolling) or ``[origin, b_k)`` (anchored): always before its own test
span, never overlapping it. Offsets are applied to the origin as whole multiples (k · 6 months, not six
months added k times), so a month-end origin never drifts. ``step`` must equal ``test``: a shorter
step would overlap test spans, a longer one leave gaps, and the stitched out-of-sample curve needs
them to tile.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from torchtrader.errors import ConfigError

_DURATION = re.compile(r"^\s*(\d+)\s*([hdwmy])\s*$")
_UNITS = {"h": "hours", "d": "days", "w": "weeks", "m": "months", "y": "years"}


@dataclass(frozen=True)
class Duration:
    """A calendar length: whole months plus an exact time delta (``2y`` = 24 months, ``12w`` = 84 days)."""

    months: int = 0
    delta: timedelta = timedelta(0)
    text: str = ""

    def times(self, count: int) -> Duration:
        return Duration(self.months * count, self.delta * count, f"{count}×{self.text}")

    def __add__(self, other: Duration) -> Duration:
        return Duration(self.months + other.months, self.delta + other.delta, f"{self.text}+{other.text}")

    def after(self, moment: datetime) -> datetime:
        """``moment`` moved forward by this length (month ends clamp: Jan 31 + 1m = Feb 28/29)."""
        return add_months(moment, self.months) + self.delta

    def __str__(self) -> str:
        return self.text


def parse_duration(text: str, option: str = "--train") -> Duration:
    """``30d``, ``12w``, ``6m`` (months), ``2y``, ``36h`` → Duration; anything else is a one-line error."""
    match = _DURATION.match(text or "")
    if match is None or int(match.group(1)) == 0:
        raise ConfigError(
            f"bad {option} {text!r}: use a positive count and a unit, e.g. 36h, 30d, 12w, 6m (months), 2y"
        )
    count, unit = int(match.group(1)), match.group(2)
    if unit == "m":
        return Duration(months=count, text=text.strip())
    if unit == "y":
        return Duration(months=12 * count, text=text.strip())
    return Duration(delta=timedelta(**{_UNITS[unit]: count}), text=text.strip())


def add_months(moment: datetime, months: int) -> datetime:
    if not months:
        return moment
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


@dataclass(frozen=True)
class Window:
    """One walk-forward step: search on ``[train_start, train_end)``, score on ``[test_start, test_end)``."""

    index: int
    train_start: datetime
    train_end: datetime
    test_start: datetime
    test_end: datetime


def make_windows(
    origin: datetime,
    data_end: datetime,
    *,
    train: Duration,
    test: Duration,
    step: Duration | None = None,
    anchored: bool = False,
) -> list[Window]:
    """The windows of a walk-forward over ``[origin, data_end)`` (see the module docstring)."""
    step = step or test
    if (step.months, step.delta) != (test.months, test.delta):
        raise ConfigError(
            f"--step {step} differs from --test {test}: consecutive test spans must tile the period "
            "without gaps or overlaps, so the step is the test length"
        )
    first = train.after(origin)
    if first >= data_end:
        raise ConfigError(
            f"--train {train} is longer than the data ({origin.date()} .. {data_end.date()}): "
            "shorten --train or ingest more history"
        )
    windows: list[Window] = []
    index = 0
    while True:
        test_start = (train + step.times(index)).after(origin)
        if test_start >= data_end:
            break
        test_end = min((train + step.times(index + 1)).after(origin), data_end)
        train_start = origin if anchored else step.times(index).after(origin)
        windows.append(Window(index, train_start, test_start, test_start, test_end))
        index += 1
    return windows
