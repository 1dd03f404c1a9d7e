"""One logging set-up for every entry point: plain lines or JSON lines, and rotated bot log files.

The CLI's global options call ``configure_logging`` (``--verbose``, ``--log-json``); a long-running
``bot run --loop`` adds ``add_rotating_log`` so a bot that runs for months keeps a bounded log. Both
handlers carry the secret-redacting filter, so an API key that reaches a log call never reaches disk.
Only the stdlib is imported here: it runs before every command, ``--help`` included.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Final

PLAIN_FORMAT: Final = "%(levelname)s %(name)s: %(message)s"
FILE_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"
DEFAULT_MAX_BYTES: Final = 10 * 1024 * 1024
DEFAULT_BACKUPS: Final = 5
# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is kept.
_STANDARD_ATTRS: Final = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
# Handlers this module installed on the root logger, so a second call replaces rather than stacks.
_OURS: Final = "_torchtrader_handler"


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per line: ts (ISO UTC), level, logger, message, exc, plus ``extra=`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            document["exc"] = record.exc_text
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                document[key] = value if isinstance(value, str | int | float | bool | None) else repr(value)
        return json.dumps(document, ensure_ascii=False)


class CurrentStderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record is emitted, not when the handler was made:
    a CLI run inside a test (or any caller that swaps stderr) must not leave a handler bound to a
    stream that is closed later, where a background thread's next record would fail."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> IO[str]:
        return sys.stderr

    @stream.setter
    def stream(self, _value: IO[str]) -> None:
        pass


def formatter(*, json_lines: bool, with_time: bool = False) -> logging.Formatter:
    if json_lines:
        return JsonLinesFormatter()
    return logging.Formatter(FILE_FORMAT if with_time else PLAIN_FORMAT)


def configure_logging(
    *, verbose: bool = False, json_lines: bool = False, stream: IO[str] | None = None
) -> logging.Handler:
    """Root logging to ``stream`` (stderr): INFO with ``verbose`` else WARNING; idempotent."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, _OURS, False) == "stream"]:
        root.removeHandler(handler)
    chosen: logging.StreamHandler = (  # type: ignore[type-arg]
        logging.StreamHandler(stream) if stream is not None else CurrentStderrHandler()
    )
    handler = chosen
    handler.setFormatter(formatter(json_lines=json_lines))
    _protect(handler)
    setattr(handler, _OURS, "stream")
    root.addHandler(handler)
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    return handler


def add_rotating_log(
    path: str | Path,
    *,
    json_lines: bool = False,
    max_bytes: int = DEFAULT_MAX_BYTES,
    backups: int = DEFAULT_BACKUPS,
    level: int = logging.INFO,
    logger_name: str = "",
) -> logging.handlers.RotatingFileHandler:
    """Append ``logger_name``'s records (root by default) at ``level`` to ``path``, rotated by size.

    The logger's level is lowered to ``level`` if needed (a handler cannot see records its logger
    drops), so the file gets INFO even when the terminal shows only warnings.
    """
    file = Path(path)
    file.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(
        file, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
    )
    handler.setFormatter(formatter(json_lines=json_lines, with_time=True))
    handler.setLevel(level)
    _protect(handler)
    setattr(handler, _OURS, "file")
    logger = logging.getLogger(logger_name)
    for stream_handler in logger.handlers:
        # The terminal keeps the level it had; only the file asks for more.
        if getattr(stream_handler, _OURS, False) == "stream" and stream_handler.level == logging.NOTSET:
            stream_handler.setLevel(logger.getEffectiveLevel())
    if logger.getEffectiveLevel() > level:
        logger.setLevel(level)
    logger.addHandler(handler)
    return handler


def json_lines_active() -> bool:
    """Whether ``configure_logging`` chose JSON lines (so other handlers can follow suit)."""
    return any(
        getattr(h, _OURS, False) == "stream" and isinstance(h.formatter, JsonLinesFormatter)
        for h in logging.getLogger().handlers
    )


def remove_log(handler: logging.Handler, logger_name: str = "") -> None:
    logging.getLogger(logger_name).removeHandler(handler)
    handler.close()


def bot_log_path(state_dir: str | Path, bot: str) -> Path:
    return Path(state_dir) / "logs" / f"bot-{bot}.log"


def _protect(handler: logging.Handler) -> None:
    try:
        from torchtrader.bots.secrets import SecretRedactingFilter
    except ImportError:  # pragma: no cover - the bots package ships with torchtrader
        return
    handler.addFilter(SecretRedactingFilter())
