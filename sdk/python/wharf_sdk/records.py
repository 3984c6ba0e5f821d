"""Records, pages, push results and JSON pointers."""
from __future__ import annotations

import json
from typing import Any, Iterable

from . import _wit
from .errors import FatalError

_MISSING = object()


def record(stream: str, data: dict[str, Any], key: Any = None, op: str = "upsert",
           blob: str | None = None) -> Any:
    """A `types.Record` of `stream` whose data is `data` as JSON text.

    `key` (turned into text) identifies the record for upserts and deletes;
    `op` is `"upsert"` or `"delete"`; `blob` names a blob that belongs to it.
    """
    _wit.need()
    if not isinstance(data, dict):
        raise FatalError(f"record data must be a JSON object (a dict), not {type(data).__name__}")
    if op not in ("upsert", "delete"):
        raise FatalError(f"record op must be 'upsert' or 'delete', not {op!r}")
    try:
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise FatalError(f"record of `{stream}` is not JSON: {e}") from None
    return _wit.types.Record(stream=stream, key=None if key is None else _key(key),
                             op=_wit.types.Op.UPSERT if op == "upsert" else _wit.types.Op.DELETE,
                             data=text, blob=blob)


def _key(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return v if isinstance(v, str) else json.dumps(v) if isinstance(v, (dict, list)) else str(v)


def data(rec: Any) -> dict[str, Any]:
    """A record's data parsed (for `map` and `push`)."""
    try:
        return json.loads(rec.data)
    except ValueError as e:
        raise FatalError(f"record of `{rec.stream}` is not JSON: {e}") from None


def row_error(stream: str, row: Any, message: str, field: str | None = None) -> Any:
    """A `types.RowError`: a row that could not be read, for `page(row_errors=...)`."""
    _wit.need()
    return _wit.types.RowError(stream=stream, row=str(row), field=field, message=message)


def page(records: Iterable[Any], cursor: Any = None, more: bool = False, *,
         pending: int | None = None, row_errors: Iterable[Any] = ()) -> Any:
    """A `types.Page`: `records`, where to resume (`cursor`, turned into text),
    whether another page follows (`more`), `pending` seconds to wait before
    asking again (an export still running), and `row_errors`."""
    _wit.need()
    return _wit.types.Page(records=list(records), cursor=None if cursor is None else str(cursor),
                           more=bool(more), pending=pending, row_errors=list(row_errors))


def rejection(index: int, message: str, field: str | None = None) -> Any:
    """A `types.Rejection`: record `index` of the batch was refused."""
    _wit.need()
    return _wit.types.Rejection(index=index, field=field, message=message)


def push_result(created: int = 0, updated: int = 0, deleted: int = 0,
                rejected: Iterable[Any] = (), accepted_job: str | None = None) -> Any:
    """A `types.PushResult` for `push`."""
    _wit.need()
    return _wit.types.PushResult(created=created, updated=updated, deleted=deleted,
                                 rejected=list(rejected), accepted_job=accepted_job)


def pointer(doc: Any, ptr: str, default: Any = None) -> Any:
    """The value at JSON pointer `ptr` (RFC 6901) in `doc`, or `default`.

    `""` is the whole document; `"/data/0/name"` walks objects and arrays;
    `~1` stands for `/` and `~0` for `~`. A pointer not starting with `/`
    raises `ValueError`.

    >>> pointer({"a": [{"b": 1}]}, "/a/0/b")
    1
    """
    if ptr == "":
        return doc
    if not ptr.startswith("/"):
        raise ValueError(f"JSON pointer must be empty or start with '/': {ptr!r}")
    for token in ptr[1:].split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(doc, dict):
            if token not in doc:
                return default
            doc = doc[token]
        elif isinstance(doc, list):
            if not (token.isascii() and token.isdigit()) or (len(token) > 1 and token[0] == "0"):
                return default
            i = int(token)
            if i >= len(doc):
                return default
            doc = doc[i]
        else:
            return default
    return doc
