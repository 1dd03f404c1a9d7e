"""A bounded memo of indicator rows attached to one ``Bars`` object (see ``Bars.memo``).

A sweep calls ``positions`` once per chunk of combos on the same bars; without a memo every chunk
recomputes the same SMA periods. The memo keeps each computed row (one parameter value of one kernel)
until its byte budget is spent, then drops the least recently used rows.

Safety: every ``Bars`` gets its own memo (``slice``/``to``/``replace`` make a new, empty one, so a
prefix never sees values computed on the full series), entries are only valid for the exact tensors
they were computed from (a fingerprint of the bars' storage and in-place version counters is checked
on each use; any change empties the memo), and a pickled or deep-copied memo arrives empty.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from torch import Tensor

logger = logging.getLogger(__name__)

# Default budget: 64 float64 rows of 1 M bars (a 20 × 20 grid of SMA periods needs 40).
DEFAULT_MEMO_BYTES = 512 * 1024 * 1024


class IndicatorMemo:
    """LRU of ``key -> Tensor`` bounded in bytes; thread-safe; empty again after pickling or copying."""

    def __init__(self, max_bytes: int = DEFAULT_MEMO_BYTES) -> None:
        if max_bytes < 0:
            raise ValueError(f"memo budget must be >= 0 bytes, got {max_bytes}")
        self.max_bytes = max_bytes
        self._rows: OrderedDict[Hashable, Tensor] = OrderedDict()
        self._bytes = 0
        self._owner: Hashable = None
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def nbytes(self) -> int:
        """Bytes held now."""
        return self._bytes

    def __len__(self) -> int:
        return len(self._rows)

    def __reduce__(self) -> tuple[Callable[..., IndicatorMemo], tuple[int]]:
        # Never ship cached tensors to another process (Ray/Dask) or into a deep copy.
        return (IndicatorMemo, (self.max_bytes,))

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()
            self._bytes = 0

    def get(self, owner: Hashable, key: Hashable) -> Tensor | None:
        """The row stored under ``key`` for the data fingerprinted by ``owner``, or None."""
        with self._lock:
            self._check_owner(owner)
            row = self._rows.get(key)
            if row is None:
                self.misses += 1
                return None
            self._rows.move_to_end(key)
            self.hits += 1
            return row

    def put(self, owner: Hashable, key: Hashable, row: Tensor) -> None:
        """Remember ``row`` (not copied: pass a tensor nobody mutates); rows over budget are skipped."""
        size = row.element_size() * row.nelement()
        with self._lock:
            self._check_owner(owner)
            if size > self.max_bytes:
                return
            old = self._rows.pop(key, None)
            if old is not None:
                self._bytes -= old.element_size() * old.nelement()
            while self._rows and self._bytes + size > self.max_bytes:
                _, evicted = self._rows.popitem(last=False)
                self._bytes -= evicted.element_size() * evicted.nelement()
            self._rows[key] = row
            self._bytes += size

    def _check_owner(self, owner: Hashable) -> None:
        if owner != self._owner:
            if self._rows:
                logger.debug("bars changed since rows were memoised: dropping %d rows", len(self._rows))
            self._rows.clear()
            self._bytes = 0
            self._owner = owner


def fingerprint(*tensors: Tensor) -> tuple[Any, ...]:
    """Identity of the data behind ``tensors``: storage address, layout and in-place version counter."""
    return tuple((t.data_ptr(), tuple(t.shape), t.stride(), t.dtype, t.device, t._version) for t in tensors)
