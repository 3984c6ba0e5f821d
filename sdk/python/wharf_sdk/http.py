"""HTTP through the host, the only way out of the sandbox.

The host checks every request against the connection's grants and fills in
credential placeholders (`secret("api_token")` is the text
`{{secret:api_token}}`) only for hosts the secret is bound to: your code never
holds a credential. A request the host refuses raises `ConfigError`; a timeout
or connection failure `TransientError`.

    resp = get(f"{base}/items", headers={"Authorization": bearer("api_token")},
               query={"page": 2}).raise_for_status()
    items = resp.json()
"""
from __future__ import annotations

import json as _json
import re
from typing import Any, Iterable, Mapping, Union
from urllib.parse import quote

from . import _wit
from .errors import AuthError, FatalError, RateLimited, TransientError, from_http_error
from .records import RawItem, items_at

Headers = Union[Mapping[str, Any], Iterable[tuple[str, Any]], None]
Query = Union[Mapping[str, Any], Iterable[tuple[str, Any]], None]


def secret(name: str) -> str:
    """The placeholder `{{secret:NAME}}`, which the host replaces with the secret."""
    return "{{secret:" + name + "}}"


def bearer(name: str) -> str:
    """`Bearer {{secret:NAME}}`, for an `Authorization` header."""
    return "Bearer " + secret(name)


def basic(user_secret: str, password_secret: str) -> str:
    """`Basic ...` from two secrets, encoded by the host, for an `Authorization` header."""
    return "Basic {{basic:" + user_secret + ":" + password_secret + "}}"


def oauth_bearer() -> str:
    """`Bearer <the connection's OAuth2 access token>` (the host keeps the token)."""
    return "Bearer {{oauth:access_token}}"


def encode(value: str) -> str:
    """Percent-encode all but RFC 3986 unreserved characters."""
    return quote(value, safe="-._~")


def _is_placeholder(v: str) -> bool:
    return v.startswith("{{") and v.endswith("}}")


def _pairs(items: Headers) -> list[tuple[str, Any]]:
    if items is None:
        return []
    if isinstance(items, Mapping):
        return list(items.items())
    return list(items)


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def with_query(url: str, query: Query) -> str:
    """`url` with the query parameters appended (`None` values left out, lists
    repeated, placeholders such as `secret(...)` kept as they are)."""
    parts = []
    for name, value in _pairs(query):
        for v in value if isinstance(value, (list, tuple)) else [value]:
            if v is None:
                continue
            v = _text(v)
            parts.append(f"{encode(str(name))}={v if _is_placeholder(v) else encode(v)}")
    if not parts:
        return url
    return url + ("&" if "?" in url else "?") + "&".join(parts)


_DOUBLE_BRACE = re.compile(r"\{(?=\{)")


def escape_placeholders(json_text: str) -> str:
    """JSON text in which no `{{` is left (written `\\u007b{`), so the host
    substitutes nothing into data that came from records."""
    return _DOUBLE_BRACE.sub(r"\\u007b", json_text)


class Response:
    """An HTTP response: `status`, `headers` (a dict, names in lowercase),
    `header_list` (the pairs as sent), `body` (bytes), `blob` (when the body
    was kept in the host), `text` and `json()`."""

    def __init__(self, status: int, headers: Iterable[tuple[str, str]] = (),
                 body: bytes | str = b"", blob: str | None = None) -> None:
        self.status = int(status)
        self.header_list = [(k.lower(), v) for k, v in headers]
        self.headers: dict[str, str] = {}
        for k, v in self.header_list:
            self.headers[k] = f"{self.headers[k]}, {v}" if k in self.headers else v
        self.body = body.encode() if isinstance(body, str) else bytes(body)
        self.blob = blob

    def __repr__(self) -> str:
        return f"<Response {self.status}, {len(self.body)} bytes>"

    @property
    def ok(self) -> bool:
        """Whether the status is 2xx."""
        return 200 <= self.status < 300

    @property
    def text(self) -> str:
        """The body as text (UTF-8, invalid bytes replaced)."""
        return self.body.decode("utf-8", errors="replace")

    def header(self, name: str, default: str | None = None) -> str | None:
        """A header by name (case-insensitive)."""
        return self.headers.get(name.lower(), default)

    def json(self) -> Any:
        """The body parsed as JSON; `FatalError` if it is not JSON."""
        try:
            return _json.loads(self.body)
        except ValueError as e:
            raise FatalError(f"response (status {self.status}) is not JSON: {e}") from None

    def items(self, ptr: str = "") -> list[RawItem] | None:
        """The items of the JSON array at pointer `ptr` of the body, each with
        its text as the body spells it (`records.items_at`), or None if there
        is no array there; `FatalError` if the body is not JSON (`NaN` and
        `Infinity` included, which `json()` takes). Pass `item.text` to
        `record` to send an item without printing it again."""
        try:
            return items_at(self.body, ptr)
        except (_json.JSONDecodeError, UnicodeDecodeError) as e:
            raise FatalError(f"response (status {self.status}) is not JSON: {e}") from None

    def retry_after(self) -> int | None:
        """`Retry-After` in whole seconds (decimals rounded up; a date counts as 60)."""
        v = self.header("retry-after")
        if v is None:
            return None
        try:
            secs = float(v.strip())
        except ValueError:
            return 60
        return 60 if secs != secs or secs < 0 or secs == float("inf") else int(-(-secs // 1))

    def raise_for_status(self) -> "Response":
        """Return the response if its status is below 400; otherwise raise the error
        that tells the host what to do: 401/403 `AuthError`, 429 `RateLimited`
        (`Retry-After`, else 60 s), 408/5xx `TransientError`, other 4xx `FatalError`."""
        s = self.status
        if s < 400:
            return self
        snippet = f"HTTP {s}: {self.text[:200].strip()}".rstrip(": ")
        if s in (401, 403):
            raise AuthError(snippet)
        if s == 429:
            raise RateLimited(self.retry_after() or 60, snippet)
        if s == 408 or s >= 500:
            raise TransientError(snippet)
        raise FatalError(snippet)


def send(method: str, url: str, headers: Headers = None, query: Query = None,
         json: Any = None, body: bytes | str | None = None, *,
         json_data: Any = None, sign: str | None = None, keep_body: bool = False,
         body_blob: str | None = None) -> Response:
    """Send a request through the host and return its response, whatever the status
    (call `raise_for_status()`).

    - `headers`: dict or pairs; values may hold placeholders (`bearer("api_token")`).
    - `query`: dict or pairs, percent-encoded and appended to `url`.
    - `json`: a value sent as JSON (with `Content-Type: application/json`);
      placeholders in it are filled by the host.
    - `json_data`: like `json`, for data that came from records: `{{` is escaped
      so the host never substitutes a secret into it.
    - `body`: raw bytes or text.
    - `sign`: a signing key of the spec; `keep_body`: keep a large body in the
      host (`Response.blob`); `body_blob`: send a blob as the body.

    Raises `ConfigError` (refused by the host), `TransientError` (timeout,
    connection failure) or `FatalError` (response too large, malformed request).
    """
    _wit.need()
    hdrs = [(str(k), _text(v)) for k, v in _pairs(headers) if v is not None]
    names = {k.lower() for k, _ in hdrs}
    data: bytes | None = None
    if json is not None or json_data is not None:
        text = _json.dumps(json if json is not None else json_data, separators=(",", ":"),
                           ensure_ascii=False)
        if json is None:
            text = escape_placeholders(text)
        data = text.encode()
        if "content-type" not in names:
            hdrs.append(("Content-Type", "application/json"))
    elif body is not None:
        data = body.encode() if isinstance(body, str) else bytes(body)
    req = _wit.http.Request(method=method.upper(), url=with_query(url, query), headers=hdrs,
                            body=data, body_blob=body_blob, sign=sign, keep_body=keep_body)
    try:
        r = _wit.http.send(req)
    except _wit.Err as e:
        raise from_http_error(e.value) from None
    return Response(r.status, r.headers, r.body, r.blob)


def get(url: str, **kw: Any) -> Response:
    """`send("GET", url, ...)`."""
    return send("GET", url, **kw)


def post(url: str, **kw: Any) -> Response:
    """`send("POST", url, ...)`."""
    return send("POST", url, **kw)


def put(url: str, **kw: Any) -> Response:
    """`send("PUT", url, ...)`."""
    return send("PUT", url, **kw)


def patch(url: str, **kw: Any) -> Response:
    """`send("PATCH", url, ...)`."""
    return send("PATCH", url, **kw)


def delete(url: str, **kw: Any) -> Response:
    """`send("DELETE", url, ...)`."""
    return send("DELETE", url, **kw)
