"""`urllib.request` over `wasi:http`, so Python's own HTTP client works unchanged.

CPython in a component has no sockets, so `urllib.request.urlopen` cannot
open a connection. Wharf serves `wasi:http/outgoing-handler` with the same
egress policy, grants, secret placeholders and redaction as `wharf_sdk.get`;
this module sends urllib's requests there. Importing `wharf_sdk` installs it
(`install()`), so in a connector

    with urllib.request.urlopen(url) as resp:
        data = json.load(resp)

goes through the host. Statuses of 400 and more raise `urllib.error.HTTPError`
as usual; a request the host refuses, or a connection that fails, raises
`urllib.error.URLError` (the run's log says why it was refused).
`sdk/python/build.py` builds with `wasi:http` when its WIT is found (from the
`wasmtime-wasi-http` crate Wharf is built with); otherwise `AVAILABLE` is
false and urllib keeps its own (socket-less) handlers.
"""
from __future__ import annotations

import http.client
import io
import urllib.error
import urllib.request
import urllib.response
from typing import Any
from urllib.parse import urlsplit

try:
    from componentize_py_types import Err, Ok
    from wit_world.imports import outgoing_handler, streams
    from wit_world.imports import wasi_http_types as wasi

    AVAILABLE = True
except ImportError:  # built without wasi:http, or a plain Python
    AVAILABLE = False

# Headers urllib (or a caller) sets that the host owns: the host sets them
# itself from the checked URL and the body, and wasi:http forbids some.
_HOST_OWNED = {
    "host", "content-length", "connection", "keep-alive", "transfer-encoding", "upgrade",
    "proxy-connection", "proxy-authorization", "te", "http2-settings", "accept-encoding",
}
_WRITE_CHUNK = 4096  # the most `blocking-write-and-flush` takes at once
_READ_CHUNK = 64 << 10


def _method(name: str) -> Any:
    known = {
        "GET": wasi.Method_Get, "HEAD": wasi.Method_Head, "POST": wasi.Method_Post,
        "PUT": wasi.Method_Put, "DELETE": wasi.Method_Delete, "OPTIONS": wasi.Method_Options,
        "PATCH": wasi.Method_Patch,
    }.get(name.upper())
    return known() if known else wasi.Method_Other(name)


def _error_text(code: Any) -> str:
    if isinstance(code, wasi.ErrorCode_HttpRequestDenied):
        return "request refused by the host (the run's log says why)"
    if isinstance(code, wasi.ErrorCode_InternalError) and code.value:
        return code.value
    return type(code).__name__.removeprefix("ErrorCode_")


def send(method: str, url: str, headers: list[tuple[str, str]],
         body: bytes | None) -> tuple[int, list[tuple[str, str]], bytes]:
    """One request over wasi:http: (status, headers, body). Raises
    `urllib.error.URLError` when it gets no response."""
    if not AVAILABLE:
        raise urllib.error.URLError("this component was built without wasi:http")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise urllib.error.URLError(f"unsupported URL scheme {parts.scheme!r}")
    fields = wasi.Fields.from_list([
        (k, v.encode("latin-1")) for k, v in headers if k.lower() not in _HOST_OWNED
    ])
    request = wasi.OutgoingRequest(fields)
    request.set_method(_method(method))
    request.set_scheme(wasi.Scheme_Https() if parts.scheme == "https" else wasi.Scheme_Http())
    request.set_authority(parts.netloc)
    request.set_path_with_query((parts.path or "/") + (f"?{parts.query}" if parts.query else ""))
    outgoing = request.body()
    if body:
        with outgoing.write() as stream:
            for i in range(0, len(body), _WRITE_CHUNK):
                stream.blocking_write_and_flush(body[i:i + _WRITE_CHUNK])
    try:
        future = outgoing_handler.handle(request, None)
    except Err as e:
        outgoing.__exit__(None, None, None)
        raise urllib.error.URLError(_error_text(e.value)) from None
    wasi.OutgoingBody.finish(outgoing, None)
    with future:
        with future.subscribe() as ready:
            ready.block()
        answer = future.get()
    # option<result<result<incoming-response, error-code>>>: the inner result.
    got = answer.value if isinstance(answer, Ok) else None
    if not isinstance(got, Ok):
        raise urllib.error.URLError(_error_text(got.value) if isinstance(got, Err) else "no response")
    response = got.value
    with response:
        status = response.status()
        with response.headers() as h:
            received = [(k, v.decode("latin-1")) for k, v in h.entries()]
        with response.consume() as incoming:
            with incoming.stream() as stream:
                chunks = []
                while True:
                    try:
                        chunks.append(stream.blocking_read(_READ_CHUNK))
                    except Err as e:
                        if isinstance(e.value, streams.StreamError_Closed):
                            break
                        raise urllib.error.URLError("the response broke off") from None
    return status, received, b"".join(chunks)


class WasiHTTPHandler(urllib.request.BaseHandler):
    """Opens `http:` and `https:` URLs over wasi:http (before urllib's own
    handlers, which would need sockets)."""

    handler_order = 100

    def http_open(self, req: urllib.request.Request) -> urllib.response.addinfourl:
        data = req.data
        if data is not None and not isinstance(data, (bytes, bytearray)):
            data = data.read() if hasattr(data, "read") else b"".join(data)
        status, headers, body = send(req.get_method(), req.full_url, req.header_items(),
                                     bytes(data) if data is not None else None)
        message = http.client.HTTPMessage()
        for k, v in headers:
            message[k] = v
        resp = urllib.response.addinfourl(io.BytesIO(body), message, req.full_url, status)
        resp.msg = http.client.responses.get(status, "")
        return resp

    https_open = http_open


def install() -> None:
    """Make `urllib.request.urlopen` go over wasi:http (a no-op without it)."""
    if AVAILABLE:
        urllib.request.install_opener(urllib.request.build_opener(WasiHTTPHandler))
