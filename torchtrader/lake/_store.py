"""Where tables live and how their Delta handles are opened, cached and refreshed.

Opening a ``DeltaTable`` replays its log, so handles are cached: the latest one is refreshed with
``update_incremental`` (one small listing) before each use, pinned versions are immutable and kept in a
small LRU. Failures of the storage layer become one-line ``LakeError``s here, nowhere else.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa  # type: ignore[import-untyped,unused-ignore]
import pyarrow.fs as pafs  # type: ignore[import-untyped,unused-ignore]
from deltalake import DeltaTable
from deltalake.exceptions import DeltaError, TableNotFoundError

from torchtrader.errors import LakeError

log = logging.getLogger(__name__)

_TABLE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_PINNED_CACHE = 32


def one_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:300]


def check_table_name(name: str) -> str:
    if not isinstance(name, str) or not _TABLE_NAME.match(name):
        raise LakeError(f"invalid table name {name!r}: use lower-case letters, digits and _ (e.g. features)")
    return name


@contextmanager
def storage_errors(action: str) -> Iterator[None]:
    """Turn deltalake/arrow/OS failures into a LakeError that says what was being done."""
    try:
        yield
    except LakeError:
        raise
    except (DeltaError, OSError, ValueError, TypeError, RuntimeError, pa.ArrowException) as error:
        raise LakeError(f"{action} failed: {one_line(error)}") from error


def normalise_root(uri: str) -> tuple[str, bool]:
    """(root, is_local): local roots become absolute paths; object-store URIs are kept verbatim."""
    if not isinstance(uri, str) or not uri.strip():
        raise LakeError("lake URI is empty: pass a directory or an s3:// URI")
    uri = uri.strip()
    if uri.startswith("file://"):
        uri = uri[len("file://") :]
    if "://" in uri:
        return uri.rstrip("/"), False
    return str(Path(uri).expanduser().resolve()), True


class TableStore:
    """Delta handles for the tables under one lake root; safe to share between threads."""

    def __init__(self, root: str, is_local: bool, storage_options: dict[str, str]) -> None:
        self.root = root
        self.is_local = is_local
        self.storage_options = dict(storage_options)
        self._latest: dict[str, DeltaTable] = {}
        self._pinned: OrderedDict[tuple[str, int], DeltaTable] = OrderedDict()
        self._lock = threading.RLock()

    def uri(self, name: str) -> str:
        return f"{self.root}/{name}"

    def options(self) -> dict[str, str] | None:
        return self.storage_options or None

    def exists(self, name: str) -> bool:
        with storage_errors(f"checking table {name}"):
            return DeltaTable.is_deltatable(self.uri(name), storage_options=self.options())

    def latest(self, name: str) -> DeltaTable | None:
        """The newest snapshot of ``name``, or None when the table does not exist yet."""
        with self._lock:
            table = self._latest.get(name)
            if table is not None:
                with storage_errors(f"refreshing table {name}"):
                    table.update_incremental()
                return table
            try:
                table = DeltaTable(self.uri(name), storage_options=self.options())
            except TableNotFoundError:
                return None
            except (DeltaError, OSError) as error:
                raise LakeError(
                    f"opening table {name} at {self.uri(name)} failed: {one_line(error)}"
                ) from error
            self._latest[name] = table
            return table

    def at(self, name: str, version: int | None) -> DeltaTable:
        """A snapshot of an existing table (latest when version is None); LakeError if there is none."""
        if version is None:
            table = self.latest(name)
            if table is None:
                raise LakeError(
                    f"the lake at {self.root} has no table {name!r} (tables: {self.names_hint()})"
                )
            return table
        if isinstance(version, bool) or not isinstance(version, int) or version < 0:
            raise LakeError(f"invalid version {version!r}: use a non-negative integer")
        key = (name, version)
        with self._lock:
            cached = self._pinned.get(key)
            if cached is not None:
                self._pinned.move_to_end(key)
                return cached
        newest = self.latest(name)
        if newest is None:
            raise self.missing(name)
        current = newest.version()
        if version > current:
            raise LakeError(f"table {name} has no version {version}: its latest version is {current}")
        try:
            table = DeltaTable(self.uri(name), version=version, storage_options=self.options())
        except (DeltaError, OSError) as error:
            raise LakeError(
                f"table {name} version {version} cannot be loaded (vacuumed or checkpointed away?): "
                f"{one_line(error)}"
            ) from error
        with self._lock:
            self._pinned[key] = table
            while len(self._pinned) > _PINNED_CACHE:
                self._pinned.popitem(last=False)
        return table

    def forget(self, name: str) -> None:
        """Drop a cached handle (after a write by another code path, or a failed one)."""
        with self._lock:
            self._latest.pop(name, None)

    def names(self) -> list[str]:
        """Names of the Delta tables directly under the root."""
        with storage_errors(f"listing tables under {self.root}"):
            if self.is_local:
                root = Path(self.root)
                if not root.is_dir():
                    return []
                return sorted(p.name for p in root.iterdir() if (p / "_delta_log").is_dir())
            from deltalake.fs import DeltaStorageHandler

            handler = DeltaStorageHandler(self.root, self.options())
            infos = handler.get_file_info_selector(
                pafs.FileSelector("", recursive=False, allow_not_found=True)
            )
            candidates = [info.base_name for info in infos if info.type == pafs.FileType.Directory]
            return sorted(name for name in candidates if _TABLE_NAME.match(name) and self.exists(name))

    def missing(self, name: str) -> LakeError:
        return LakeError(f"the lake at {self.root} has no table {name!r} (tables: {self.names_hint()})")

    def names_hint(self) -> str:
        try:
            found = self.names()
        except LakeError:
            return "unknown"
        return ", ".join(found) if found else "none yet"
