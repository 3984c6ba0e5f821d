"""Records, pages, push results and JSON pointers."""
from __future__ import annotations

import json
import re
from typing import Any, Iterable, NamedTuple

from . import _wit
from .errors import FatalError

_MISSING = object()


def record(stream: str, data: dict[str, Any] | str, key: Any = None, op: str = "upsert",
           blob: str | None = None) -> Any:
    """A `types.Record` of `stream` whose data is `data` as JSON text.

    `data` is a dict, or the JSON text of an object as it came (`RawItem.text`
    from `items_at`/`Response.items`: sent as it is, not parsed and printed
    again; the host checks it is one JSON object). `key` (turned into text)
    identifies the record for upserts and deletes; `op` is `"upsert"` or
    `"delete"`; `blob` names a blob that belongs to it.
    """
    _wit.need()
    if op not in ("upsert", "delete"):
        raise FatalError(f"record op must be 'upsert' or 'delete', not {op!r}")
    if isinstance(data, str):
        # The usual text starts with its brace: no stripped copy of it.
        if not data.startswith("{") and not data.lstrip(" \t\n\r").startswith("{"):
            raise FatalError(f"record data must be a JSON object, not {data[:40]!r}")
        text = data
    elif not isinstance(data, dict):
        raise FatalError(f"record data must be a JSON object (a dict), not {type(data).__name__}")
    else:
        try:
            text = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise FatalError(f"record of `{stream}` is not JSON: {e}") from None
    return _wit.types.Record(stream=stream, key=None if key is None else _key(key),
                             op=_wit.types.Op.UPSERT if op == "upsert" else _wit.types.Op.DELETE,
                             data=text, blob=blob)


def item_records(stream: str, items: Iterable[RawItem], key: str | None = None) -> list[Any]:
    """`record(stream, item.text, key=item.value.get(key))` for each item of
    `items_at`/`Response.items`, in one loop: a source's usual page, at less
    cost per record than a call of `record` each. An item that is not an
    object is a `FatalError`; an item without `key` has no key.

    >>> # wharf.page(wharf.item_records("items", resp.items("/data"), key="id"))
    """
    _wit.need()
    make, upsert = _wit.types.Record, _wit.types.Op.UPSERT
    out: list[Any] = []
    append = out.append
    for text, value in items:
        if not isinstance(value, dict):
            raise FatalError(f"record data must be a JSON object, not {text[:40]!r}")
        k = None if key is None else value.get(key)
        if k is not None:
            k = k if type(k) is str else _key(k)
        append(make(stream=stream, key=k, op=upsert, data=text, blob=None))
    return out


def stage_records(stream: str, body: Any, ptr: str = "", key: str | None = None) -> int:
    """Have the host slice the records at JSON pointer `ptr` out of `body` (a
    `Response`, or the JSON text as bytes or str) and add them, as upserts of
    `stream` keyed by their member `key`, to the page this `fetch` returns,
    ahead of the records passed to `page()`. Returns how many it added.

    The fastest way to a source's usual page: the host reads the page with
    its own scanner and no record is parsed, built or handed back in Python
    (`item_records` does the same in Python, at several times the cost).
    Fastest of all with a response sent with `keep_body=True`: the body then
    stays in the host (`resp.blob`) and never enters Python; the host
    releases it once staged.

    The records are the array's elements (an object there is one record,
    `null` none); each keeps its text as the page spells it. A key is a
    string, number or bool member, as text, as the Rust SDK reads it: a
    number as JSON prints it, so `1.0` stays `"1.0"` (`record(key=1.0)`
    gives `"1"`). `FatalError` (nothing added) if the body is not JSON, `ptr`
    leads to no records, a record is not an object, the page would pass the
    call's limits, or this is not `fetch`.

    >>> # resp = wharf.get(url, keep_body=True).raise_for_status()
    >>> # n = wharf.stage_records("items", resp, "/data", key="id")
    >>> # return wharf.page([], cursor=..., more=n == page_size)
    """
    _wit.need()
    if _wit.pages is None:
        raise RuntimeError("wharf_sdk: built without wharf:pages; build with sdk/python/build.py")
    try:
        blob = getattr(body, "blob", None)
        if isinstance(blob, str):
            return _wit.pages.stage_blob(stream, blob, ptr, key)
        if hasattr(body, "body") and isinstance(body.body, bytes):
            data = body.body
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = bytes(body)
        return _wit.pages.stage(stream, data, ptr, key)
    except _wit.Err as e:
        raise FatalError(str(e.value)) from None


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


class RawItem(NamedTuple):
    """An item of a JSON array: its text as the document spells it, and its value."""

    text: str
    value: Any


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# The C scanner behind json.loads, without NaN and Infinity (not JSON, and
# `record` would refuse them).
_scan = json.JSONDecoder(parse_constant=_no_constant).scan_once
_WS = re.compile(r"[ \t\n\r]*")


def _decode_error(e: Exception, s: str, i: int) -> json.JSONDecodeError:
    """What the C scanner raised for the value at `s[i]`, as json.loads says it."""
    if isinstance(e, StopIteration):
        return json.JSONDecodeError("Expecting value", s, e.value)
    if isinstance(e, json.JSONDecodeError):
        return e
    # NaN or Infinity, an integer too long to convert.
    return json.JSONDecodeError(str(e), s, i)


def _value(s: str, i: int) -> tuple[Any, int]:
    try:
        return _scan(s, i)
    except (StopIteration, ValueError) as e:
        raise _decode_error(e, s, i) from None


def _expect(s: str, i: int, what: str) -> int:
    if not s.startswith(what, i):
        raise json.JSONDecodeError(f"Expecting {what!r} delimiter", s, i)
    return _WS.match(s, i + 1).end()


def _items(s: str, i: int) -> tuple[int, list[RawItem]]:
    """The items of the array whose first item (or `]`) is at `s[i]`, and
    where the array ends. The loop of a page's records, written for the
    interpreter: where the text is compact, an item costs the C scanner, a
    slice and a plain tuple's `__new__`, no Python-level call or regex."""
    items: list[RawItem] = []
    if s.startswith("]", i):
        return i + 1, items
    scan, append, make, ws = _scan, items.append, tuple.__new__, _WS.match
    n = len(s)
    try:
        while True:
            value, end = scan(s, i)
            append(make(RawItem, (s[i:end], value)))
            c = s[end] if end < n else ""
            if c == ",":
                i = end + 1
                if i < n and s[i] in " \t\n\r":
                    i = ws(s, i).end()
            elif c == "]":
                return end + 1, items
            else:
                i = ws(s, end).end()
                if s.startswith("]", i):
                    return i + 1, items
                i = _expect(s, i, ",")
    except (StopIteration, ValueError) as e:
        raise _decode_error(e, s, i) from None


def _walk(s: str, i: int, tokens: list[str], k: int) -> tuple[int, list[RawItem] | None]:
    """Read the value at `s[i]`, following `tokens[k:]` into it. Returns where
    the value ends and, if the pointer leads to an array, its items."""
    if k == len(tokens) and s.startswith("[", i):
        return _items(s, _WS.match(s, i + 1).end())
    if k == len(tokens) or not s.startswith(("{", "["), i):
        return _value(s, i)[1], None
    token, found = tokens[k], None
    if s.startswith("{", i):
        i = _WS.match(s, i + 1).end()
        if s.startswith("}", i):
            return i + 1, None
        while True:
            if not s.startswith('"', i):
                raise json.JSONDecodeError("Expecting property name enclosed in double quotes", s, i)
            name, i = _value(s, i)
            i = _expect(s, _WS.match(s, i).end(), ":")
            if name == token:
                # A later duplicate wins, as in json.loads.
                i, found = _walk(s, i, tokens, k + 1)
            else:
                i = _value(s, i)[1]
            i = _WS.match(s, i).end()
            if s.startswith("}", i):
                return i + 1, found
            i = _expect(s, i, ",")
    index = int(token) if token.isascii() and token.isdigit() and (token == "0" or token[0] != "0") else -1
    i, n = _WS.match(s, i + 1).end(), 0
    if s.startswith("]", i):
        return i + 1, None
    while True:
        if n == index:
            i, found = _walk(s, i, tokens, k + 1)
        else:
            i = _value(s, i)[1]
        n += 1
        i = _WS.match(s, i).end()
        if s.startswith("]", i):
            return i + 1, found
        i = _expect(s, i, ",")


def items_at(document: str | bytes, ptr: str) -> list[RawItem] | None:
    """The items of the JSON array at pointer `ptr` in `document`, each with
    its own text sliced from the document, or None if `ptr` does not lead to
    an array.

    The same as `pointer(json.loads(document), ptr)`, but each item keeps its
    text, so `record(stream, item.text, key=...)` sends it without printing
    it again (a Python connector's largest cost after parsing). The whole
    document is checked: `json.JSONDecodeError` if it is not JSON, and
    `UnicodeDecodeError` if its bytes are not text (both `ValueError`s). One
    difference: `NaN` and `Infinity` anywhere in the document are refused
    (they are not JSON, and a record may not hold them), where `json.loads`
    takes them. A pointer not starting with `/` raises a plain `ValueError`.

    >>> [it.text for it in items_at('{"data": [{"a": 1}, {"b": [2]}]}', "/data")]
    ['{"a": 1}', '{"b": [2]}']
    """
    if ptr != "" and not ptr.startswith("/"):
        raise ValueError(f"JSON pointer must be empty or start with '/': {ptr!r}")
    s = document if isinstance(document, str) else \
        bytes(document).decode(json.detect_encoding(document), "surrogatepass")
    tokens = [t.replace("~1", "/").replace("~0", "~") for t in ptr[1:].split("/")] if ptr else []
    i = _WS.match(s, 0).end()
    end, found = _walk(s, i, tokens, 0)
    end = _WS.match(s, end).end()
    if end != len(s):
        raise json.JSONDecodeError("Extra data", s, end)
    return found
