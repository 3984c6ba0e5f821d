"""Logging into the run's log (bounded by the host: log what a person needs,
not every record). `print` also reaches the run's log, without a level.

    from wharf_sdk import log
    log.info("page %d: %d items", page, len(items))
"""
from __future__ import annotations

from typing import Any

from . import _wit


def _log(level: str, message: str, args: tuple[Any, ...]) -> None:
    _wit.need()
    text = str(message) % args if args else str(message)
    _wit.log.log(getattr(_wit.log.Level, level), text)


def trace(message: str, *args: Any) -> None:
    """Log at trace level (`message % args` when args are given)."""
    _log("TRACE", message, args)


def debug(message: str, *args: Any) -> None:
    """Log at debug level."""
    _log("DEBUG", message, args)


def info(message: str, *args: Any) -> None:
    """Log at info level."""
    _log("INFO", message, args)


def warn(message: str, *args: Any) -> None:
    """Log at warn level."""
    _log("WARN", message, args)


warning = warn


def error(message: str, *args: Any) -> None:
    """Log at error level."""
    _log("ERROR", message, args)
