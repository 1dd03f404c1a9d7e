"""API keys for the venues: resolved by name, never written anywhere.

A bot's config names where a secret lives (an environment variable, or a Prefect Secret block the
flow layer resolves), never the value. Every value resolved here is registered for redaction: a
log-record factory replaces it with ``***`` in every record of every logger of the process (ccxt's
verbose output and urllib3's URLs included), and alert bodies go through ``redact`` too.

The registry is process-global on purpose: logging is process-global, so a secret resolved in one
place has to be hidden from records made anywhere else.

``scan_for_secrets`` is the check the tests run over logs, artifacts, the state DB and the lake.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torchtrader.errors import ConfigError

logger = logging.getLogger(__name__)

MASK = "***"
SecretResolver = Callable[[str], str | None]

_lock = threading.Lock()
_secrets: tuple[str, ...] = ()  # longest first, so a secret containing another is masked whole
_installed_factory: Callable[..., logging.LogRecord] | None = None


def register_secret(value: str) -> None:
    """Hide ``value`` from every log record made from now on and from ``redact``."""
    global _secrets
    if not value:
        return
    with _lock:
        if value not in _secrets:
            _secrets = tuple(sorted({*_secrets, value}, key=len, reverse=True))
    install_redaction()


def registered_secrets() -> tuple[str, ...]:
    return _secrets


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``***``."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def resolve_secret(name: str, *, resolver: SecretResolver | None = None) -> str:
    """The secret stored under ``name``: an environment variable, or what ``resolver`` returns.

    The flow layer passes a resolver reading Prefect Secret blocks (this library never imports
    prefect). The value is registered for redaction before it is returned.
    """
    if not name:
        raise ConfigError("a secret name is empty: name the environment variable holding the key")
    if resolver is None:
        value = os.environ.get(name)
        where = f"environment variable {name}"
        fix = f"export {name}=... before starting the bot"
    else:
        where = f"secret {name!r}"
        fix = "create it or fix the name in the bot config"
        try:
            value = resolver(name)
        except Exception as error:  # the resolver is the caller's code: name the secret, not the value
            raise ConfigError(f"{where} could not be read ({type(error).__name__}): {fix}") from None
    if not value:
        raise ConfigError(f"{where} is not set or empty: {fix}")
    register_secret(value)
    return value


class SecretRedactingFilter(logging.Filter):
    """Rewrites a record so its message, arguments and traceback text hold no registered secret.

    Attach it to a handler to protect that handler's output; ``install_redaction`` applies the
    same rewrite to every record at creation, which covers handlers added later too.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        _redact_record(record)
        return True


def _redact_record(record: logging.LogRecord) -> None:
    if not _secrets:
        return
    try:
        message = record.getMessage()
    except Exception:  # a broken format string: keep the record, logging reports it later
        return
    clean = redact(message)
    if clean != message:
        record.msg, record.args = clean, None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


def install_redaction() -> None:
    """Wrap the process's log-record factory so every record is redacted (idempotent)."""
    global _installed_factory
    with _lock:
        current = logging.getLogRecordFactory()
        if current is _installed_factory:
            return
        previous = current

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            _redact_record(record)
            return record

        logging.setLogRecordFactory(factory)
        _installed_factory = factory


@dataclass(frozen=True)
class SecretLeak:
    """A secret found in a file: which file, and the form it was found in."""

    path: str
    form: str

    def __str__(self) -> str:
        return f"{self.path} ({self.form})"


def scan_for_secrets(paths: Iterable[str | Path], secrets: Sequence[str]) -> list[SecretLeak]:
    """Every file under ``paths`` that contains one of ``secrets``.

    Files are searched as raw bytes (logs, JSON, SQLite pages and WAL, Delta logs); Parquet files
    are also decoded, since their compressed pages would hide a secret from a byte search.
    """
    needles = [s for s in secrets if s]
    leaks: list[SecretLeak] = []
    for file in _files(paths):
        data = file.read_bytes()
        for secret in needles:
            if secret.encode() in data:
                leaks.append(SecretLeak(str(file), "bytes"))
                break
        else:
            if file.suffix == ".parquet" and _parquet_contains(file, needles):
                leaks.append(SecretLeak(str(file), "parquet values"))
    return leaks


def _files(paths: Iterable[str | Path]) -> Iterable[Path]:
    for path in map(Path, paths):
        if path.is_file():
            yield path
        elif path.is_dir():
            yield from (p for p in sorted(path.rglob("*")) if p.is_file())


def _parquet_contains(path: Path, secrets: Sequence[str]) -> bool:
    import pyarrow.parquet as pq

    return any(secret in text for text in _strings(pq.read_table(path).to_pylist()) for secret in secrets)


def _strings(value: object) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, bytes):
        yield value.decode("utf-8", "replace")
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)
