"""The `Connector` base class: the contract's exports, made safe.

Subclass it as `Connector` in `app.py` and implement the methods of your
roles. Each gets the connection's config already parsed (a `dict`):

    class Connector(wharf.Connector):
        def spec(self): ...
        def check(self, config: dict) -> None: ...
        def discover(self, config: dict) -> list[StreamSpec]: ...
        def fetch(self, config: dict, stream: str, cursor: str | None) -> Page: ...
        def map(self, config: dict, records: list[Record]) -> list[Record]: ...
        def push(self, config: dict, records: list[Record]) -> PushResult: ...
        def receive(self, config: dict, delivery: Incoming) -> list[Record]: ...

Methods you leave out answer `unsupported`. Whatever a method raises becomes
the contract's `error`: the `wharf_sdk` errors map one to one, a failed host
request maps like `http.send` does, and any other exception becomes `fatal`
with a one-line message (its traceback goes to the run's log at error level)
instead of trapping the sandbox. A config that is not a JSON object is a
config error. Results are checked before they are handed back (a wrong type
would trap), so a mistake is a `fatal` naming the method.

`spec()` has no error channel: an exception there is logged and traps, which
fails the upload.
"""
from __future__ import annotations

import functools
import json
import traceback
from typing import Any, Callable

from . import _wit, errors
from .errors import ConfigError, FatalError, Unsupported, WharfError

_REQUIRED = object()
_KIND_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "a boolean",
               list: "an array", dict: "an object"}
_EXPORTS = ("check", "discover", "fetch", "map", "push", "receive")


def config_value(config: dict[str, Any], name: str, kind: type | tuple[type, ...] = str,
                 default: Any = _REQUIRED) -> Any:
    """`config[name]`, checked to be a `kind`; `default` when absent or null.

    Raises `ConfigError` when a required field is missing or has the wrong type
    (`int` refuses booleans; `float` takes integers too).
    """
    value = config.get(name)
    if value is None:
        if default is _REQUIRED:
            raise ConfigError(f"`{name}` is required")
        return default
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if float in kinds and isinstance(value, int) and not isinstance(value, bool):
        return value
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        names = " or ".join(_KIND_NAMES.get(k, k.__name__) for k in kinds)
        raise ConfigError(f"`{name}` must be {names}, not {json.dumps(value)[:60]}")
    return value


def _parse_config(text: str) -> dict[str, Any]:
    try:
        config = json.loads(text)
    except ValueError as e:
        raise ConfigError(f"invalid config: {e}") from None
    if not isinstance(config, dict):
        raise ConfigError("invalid config: expected a JSON object")
    return config


def _log_traceback(where: str, exc: BaseException) -> None:
    try:
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        _wit.log.log(_wit.log.Level.ERROR, f"{where} failed: {tb.rstrip()}")
    except BaseException:  # logging must never turn a failure into a trap
        pass


def _expect(name: str, what: str, ok: bool) -> None:
    if not ok:
        raise FatalError(f"{name} must return {what}")


def _check_records(name: str, records: Any) -> None:
    t = _wit.types
    _expect(name, "a list of records (wharf_sdk.record(...))", isinstance(records, list))
    for i, r in enumerate(records):
        if not (isinstance(r, t.Record) and isinstance(r.stream, str) and isinstance(r.data, str)
                and (r.key is None or isinstance(r.key, str)) and isinstance(r.op, t.Op)
                and (r.blob is None or isinstance(r.blob, str))):
            raise FatalError(f"{name}: item {i} is not a record made by wharf_sdk.record(...): "
                             f"{errors.one_line(repr(r), 120)}")


def _check_result(name: str, out: Any) -> Any:
    t = _wit.types
    if name == "check":
        return None
    if name == "fetch":
        _expect(name, "a page (wharf_sdk.page(...))", isinstance(out, t.Page))
        _check_records(name, out.records)
        _expect(name, "a page whose cursor is text or None",
                out.cursor is None or isinstance(out.cursor, str))
    elif name == "discover":
        _expect(name, "a list of wharf_sdk.stream(...)",
                isinstance(out, list) and all(isinstance(s, t.StreamSpec) for s in out))
    elif name == "push":
        _expect(name, "wharf_sdk.push_result(...)", isinstance(out, t.PushResult))
    else:  # map, receive
        _check_records(name, out)
    return out


def _export(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap an author's method as the export `name`."""

    @functools.wraps(fn)
    def export(self: Any, config: str, *args: Any) -> Any:
        try:
            return _check_result(name, fn(self, _parse_config(config), *args))
        except BaseException as e:  # noqa: BLE001 - nothing may trap
            if not isinstance(e, (WharfError, _wit.Err)):
                _log_traceback(name, e)
            try:
                value = errors.to_wit(e)
            except BaseException as inner:  # noqa: BLE001
                value = _wit.types.Error_Fatal(errors.describe(inner))
            raise _wit.Err(value) from None

    export._wharf_export = True  # type: ignore[attr-defined]
    return export


def _export_spec(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def spec(self: Any) -> Any:
        try:
            out = fn(self)
        except BaseException as e:
            _log_traceback("spec", e)
            raise
        if not isinstance(out, _wit.types.ConnectorSpec):
            raise TypeError("spec() must return wharf_sdk.spec(...)")
        return out

    spec._wharf_export = True  # type: ignore[attr-defined]
    return spec


class Connector(_wit.ConnectorBase):  # type: ignore[misc, valid-type]
    """Base class of a connector: subclass it as `Connector` in `app.py`.

    The methods below are the defaults; override those of your roles, with the
    config as a `dict` in place of the contract's JSON text.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in _EXPORTS + ("spec",):
            fn = cls.__dict__.get(name)
            if callable(fn) and not getattr(fn, "_wharf_export", False):
                setattr(cls, name, _export_spec(fn) if name == "spec" else _export(name, fn))

    def spec(self) -> Any:
        """Describe the connector: return `wharf_sdk.spec(...)`. Required."""
        raise NotImplementedError("the connector does not define spec()")

    def check(self, config: dict[str, Any]) -> None:
        """Verify config and credentials (one cheap request)."""
        raise Unsupported()

    def discover(self, config: dict[str, Any]) -> list[Any]:
        """The streams this connection offers (`wharf_sdk.stream(...)`)."""
        raise Unsupported()

    def fetch(self, config: dict[str, Any], stream: str, cursor: str | None) -> Any:
        """One page of `stream` after `cursor` (`wharf_sdk.page(...)`)."""
        raise Unsupported()

    def map(self, config: dict[str, Any], records: list[Any]) -> list[Any]:
        """Records turned into other records."""
        raise Unsupported()

    def push(self, config: dict[str, Any], records: list[Any]) -> Any:
        """Write records (`wharf_sdk.push_result(...)`)."""
        raise Unsupported()

    def receive(self, config: dict[str, Any], delivery: Any) -> list[Any]:
        """Records from a verified webhook delivery (`types.Incoming`)."""
        raise Unsupported()


# The defaults are exports too.
for _name in _EXPORTS:
    setattr(Connector, _name, _export(_name, Connector.__dict__[_name]))
Connector.spec = _export_spec(Connector.__dict__["spec"])  # type: ignore[method-assign]
del _name
