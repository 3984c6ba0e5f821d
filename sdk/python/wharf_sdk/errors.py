"""Errors that tell the host what to do.

Raise one of these anywhere in a connector; `Connector` turns it into the
contract's `error` variant. Any other exception becomes `fatal` with a
one-line message (the full traceback goes to the run's log); nothing traps.
"""
from __future__ import annotations

import traceback
from typing import Any

from . import _wit

MAX_MESSAGE = 1000


class WharfError(Exception):
    """Base class of the errors below."""

    kind = "fatal"

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = str(message)

    def __str__(self) -> str:
        return self.message


class ConfigError(WharfError):
    """The configuration is wrong: not retried, the connection is marked `error`."""

    kind = "config"


class AuthError(WharfError):
    """The remote system rejected the credentials: not retried."""

    kind = "auth"


class AuthExpired(WharfError):
    """The token or session expired: the host renews it and calls once more."""

    kind = "auth-expired"


class RateLimited(WharfError):
    """The remote system asked to slow down: the host retries after `seconds`."""

    kind = "rate-limited"

    def __init__(self, seconds: int | float = 60, message: str = "") -> None:
        self.seconds = max(1, min(int(-(-seconds // 1)), 2**32 - 1))  # ceil, in u32
        super().__init__(message or f"rate limited: retry after {self.seconds} s")


class TransientError(WharfError):
    """A temporary failure (timeout, 5xx): retried with backoff."""

    kind = "transient"


class FatalError(WharfError):
    """A permanent failure: the run fails with this message."""

    kind = "fatal"


class Unsupported(WharfError):
    """This connector does not implement the called function."""

    kind = "unsupported"

    def __init__(self, message: str = "unsupported") -> None:
        super().__init__(message)


def from_http_error(err: Any) -> WharfError:
    """The error for a request the host did not complete (`http.http-error`).

    A refused request (`denied`) is a config error: an administrator must
    grant the host or fix the config. Timeouts and connection failures are
    transient; an oversized response or a malformed request is fatal.
    """
    name = type(err).__name__
    value = getattr(err, "value", None)
    if name.endswith("Denied"):
        return ConfigError(f"request refused by the host: {value}")
    if name.endswith("Timeout"):
        return TransientError("request timed out")
    if name.endswith("Connect"):
        return TransientError(f"connection failed: {value}")
    if name.endswith("TooLarge"):
        return FatalError("response larger than the host allows")
    if name.endswith("Invalid"):
        return FatalError(f"invalid request: {value}")
    return FatalError(f"request failed: {err!r}")


def one_line(text: str, limit: int = MAX_MESSAGE) -> str:
    """`text` on one line, at most `limit` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe(exc: BaseException) -> str:
    """`Type: message (at file.py:LINE in func)` for an unexpected exception."""
    msg = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    frames = traceback.extract_tb(exc.__traceback__) if exc.__traceback__ else []
    if frames:
        f = frames[-1]
        msg += f" (at {f.filename.rsplit('/', 1)[-1]}:{f.lineno} in {f.name})"
    return one_line(msg)


def to_wit(exc: BaseException) -> Any:
    """The contract's `error` value (a `types.Error_*`) for any exception."""
    _wit.need()
    t = _wit.types
    if isinstance(exc, _wit.Err):
        value = exc.value
        if type(value).__name__.startswith("Error_") and type(value).__module__ == t.__name__:
            return value  # already a types.Error
        if type(value).__name__.startswith("HttpError_"):
            return to_wit(from_http_error(value))
        return t.Error_Fatal(one_line(f"unexpected error: {value!r}"))
    if isinstance(exc, RateLimited):
        return t.Error_RateLimited(exc.seconds)
    if isinstance(exc, Unsupported):
        return t.Error_Unsupported()
    if isinstance(exc, WharfError):
        cls = {
            "config": t.Error_Config,
            "auth": t.Error_Auth,
            "auth-expired": t.Error_AuthExpired,
            "transient": t.Error_Transient,
        }.get(exc.kind, t.Error_Fatal)
        return cls(one_line(exc.message) or exc.kind)
    return t.Error_Fatal(describe(exc))
