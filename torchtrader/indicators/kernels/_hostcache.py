"""Recycling of large CPU result buffers: a host-side cousin of torch's CUDA caching allocator.

glibc maps every block above 32 MiB afresh and unmaps it on free, so a ``[100, 1M]`` float64
result (800 MB) is page-faulted and zeroed by the OS on every kernel call: ~0.1 s here, as long
as computing an EMA for all 100 windows. TA-Lib's 8 MB results stay below that threshold and malloc
recycles them. Blocks handed out here return to a small pool when the last tensor viewing them
dies, and the next kernel call of a similar size takes one over instead of mapping new memory.

Idle blocks are capped (``TORCHTRADER_KERNEL_CACHE_MB``, default 1/8 of physical memory, at most
4 GiB; 0 turns recycling off) and ``release()`` (``kernels.release_buffers``) hands them back to the OS.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import weakref
from typing import Any

import numpy as np

from torchtrader.errors import ConfigError

log = logging.getLogger(__name__)


def _default_limit() -> int:
    raw = os.environ.get("TORCHTRADER_KERNEL_CACHE_MB")
    if raw is None:
        # room for the three [100, 1M] float64 results of a BBANDS or MACD call (2.3 GiB) on a
        # 24 GiB machine, while idle memory stays a small share of RAM (every process has its pool)
        return min(4 << 30, os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 8)
    try:
        megabytes = int(raw)
    except ValueError:
        raise ConfigError(f"TORCHTRADER_KERNEL_CACHE_MB must be an integer (MiB), got {raw!r}") from None
    if megabytes < 0:
        raise ConfigError(f"TORCHTRADER_KERNEL_CACHE_MB must be >= 0, got {megabytes}")
    return megabytes * 2**20


class HostCache:
    """Idle byte blocks, taken by ``take`` and given back when the array built on them dies."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._idle: list[np.ndarray[Any, np.dtype[np.uint8]]] = []
        # re-entrant: a garbage collection inside the lock may free a cached array and give its block back
        self._lock = threading.RLock()

    @property
    def idle_bytes(self) -> int:
        with self._lock:
            return sum(block.nbytes for block in self._idle)

    def take(self, shape: tuple[int, ...], dtype: np.dtype[Any]) -> np.ndarray[Any, Any]:
        """An uninitialised array of ``shape``, on a recycled block where one fits."""
        nbytes = math.prod(shape) * dtype.itemsize
        block = self._reuse(nbytes) if self.limit else None
        if block is None:
            block = np.empty(max(nbytes, 1), dtype=np.uint8)
        array = block[:nbytes].view(dtype).reshape(shape)
        if self.limit:
            # fires when the array dies, i.e. when the last tensor or view built on it is freed
            weakref.finalize(array, self._give_back, block).atexit = False
        return array

    def release(self) -> int:
        """Drop every idle block (their memory goes back to the OS); returns the bytes freed."""
        with self._lock:
            freed = sum(block.nbytes for block in self._idle)
            self._idle.clear()
        return freed

    def _reuse(self, nbytes: int) -> np.ndarray[Any, np.dtype[np.uint8]] | None:
        with self._lock:
            # the smallest idle block that fits and would not be more than half empty
            best = None
            for i, block in enumerate(self._idle):
                if nbytes <= block.nbytes <= 2 * nbytes and (
                    best is None or block.nbytes < self._idle[best].nbytes
                ):
                    best = i
            return self._idle.pop(best) if best is not None else None

    def _give_back(self, block: np.ndarray[Any, np.dtype[np.uint8]]) -> None:
        if block.nbytes > self.limit:
            return
        with self._lock:
            self._idle.append(block)
            # oldest idle blocks go first when the pool is over its limit
            while sum(b.nbytes for b in self._idle) > self.limit:
                self._idle.pop(0)


CACHE = HostCache(_default_limit())


def release() -> int:
    """Hand the idle recycled kernel buffers back to the OS; returns the bytes freed."""
    freed = CACHE.release()
    log.debug("released %d bytes of idle kernel buffers", freed)
    return freed
