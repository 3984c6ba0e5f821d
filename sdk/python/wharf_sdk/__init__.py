"""wharf_sdk: write Wharf connectors in Python (componentize-py).

A thin, typed layer over the bindings componentize-py generates for the WIT
world `sandboxed-connector` (wharf:connector@0.2.0):

    import wharf_sdk as wharf

    class Connector(wharf.Connector):
        def spec(self):
            return wharf.spec("my-api", "0.1.0", streams=[wharf.stream("items")],
                              hosts=["{config.base_url}"])

        def fetch(self, config, stream, cursor):
            base = wharf.config_value(config, "base_url")
            resp = wharf.get(f"{base}/items", headers={"Authorization": wharf.bearer("api_token")})
            items = resp.raise_for_status().json()
            return wharf.page([wharf.record(stream, it, key=it["id"]) for it in items])

See sdk/python/README.md. `types` is the generated `wit_world.imports.types`
(None in a plain Python without the bindings).
"""
from __future__ import annotations

from . import _wit, http, log, wasi_http
from .connector import Connector, config_value
from .errors import (AuthError, AuthExpired, ConfigError, FatalError, RateLimited,
                     TransientError, Unsupported, WharfError)
from .http import (Response, basic, bearer, delete, get, oauth_bearer, patch, post, put, secret,
                   send)
from .records import (RawItem, data, item_records, items_at, page, pointer, push_result, record,
                      rejection, row_error, stage_records)
from .spec import secret_spec, spec, stream

types = _wit.types

# urllib.request.urlopen goes over wasi:http, through the host's checks.
wasi_http.install()

__all__ = [
    "Connector", "config_value",
    "WharfError", "ConfigError", "AuthError", "AuthExpired", "RateLimited", "TransientError",
    "FatalError", "Unsupported",
    "http", "log", "Response", "send", "get", "post", "put", "patch", "delete",
    "secret", "bearer", "basic", "oauth_bearer",
    "record", "data", "page", "row_error", "push_result", "rejection", "pointer", "items_at",
    "item_records", "stage_records", "RawItem",
    "spec", "stream", "secret_spec", "types",
]
