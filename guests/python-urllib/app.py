"""python-urllib: the twin of python-json written with the standard library's
`urllib.request` instead of `wharf_sdk.get`: what a Python author writes
without learning Wharf's HTTP helpers. urllib goes over wasi:http
(`wharf_sdk.wasi_http`), which Wharf serves with the same egress policy,
grants, placeholder substitution and redaction as `http.send`.

    GET {base_url}{path}?{page_param}=N&{size_param}={page_size}
    Authorization: Bearer {{secret:api_token}}

Build: python3 sdk/python/build.py guests/python-urllib target/connectors/python-urllib.wasm
"""
from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import wharf_sdk as wharf
from wharf_sdk import AuthError, ConfigError, FatalError, TransientError, log

STREAM = "items"

CONFIG_SCHEMA = {
    "type": "object",
    "required": ["base_url", "path"],
    "properties": {
        "base_url": {"type": "string", "description": "Origin and base path, e.g. https://api.example.com/api"},
        "path": {"type": "string", "description": "Path after base_url, e.g. /page-items"},
        "records": {"type": "string", "default": "", "description": "JSON pointer to the array of items"},
        "key": {"type": "string", "description": "Field of an item that is its key"},
        "page_size": {"type": "integer", "minimum": 1, "default": 100},
        "page_param": {"type": "string", "default": "page"},
        "size_param": {"type": "string", "default": "per_page"},
    },
}


def get_page(config: dict[str, Any], page: int) -> list[Any]:
    """The items of page `page`, read with urllib."""
    size = int(config.get("page_size", 100))
    if size < 1:
        raise ConfigError("`page_size` must be at least 1")
    query = urllib.parse.urlencode({config.get("page_param", "page"): page,
                                    config.get("size_param", "per_page"): size})
    url = f"{config['base_url']}{config['path']}?{query}"
    request = urllib.request.Request(url, headers={
        "Accept": "application/json",
        "Authorization": wharf.bearer("api_token"),  # the host substitutes the token
    })
    try:
        with urllib.request.urlopen(request) as resp:
            body = json.load(resp)
    except urllib.error.HTTPError as e:
        text = e.read().decode(errors="replace")[:200]
        if e.code in (401, 403):
            raise AuthError(f"HTTP {e.code}: {text}") from None
        if e.code == 429 or e.code >= 500:
            raise TransientError(f"HTTP {e.code}: {text}") from None
        raise FatalError(f"HTTP {e.code}: {text}") from None
    except urllib.error.URLError as e:
        raise TransientError(f"GET {config['path']} failed: {e.reason}") from None
    items = wharf.pointer(body, config.get("records", ""))
    if not isinstance(items, list):
        raise FatalError(f"no array at `records` pointer {config.get('records')!r} (page {page})")
    return items


class Connector(wharf.Connector):
    def spec(self):
        return wharf.spec(
            "python-urllib", "0.1.0",
            description="Pages of JSON items from one REST endpoint, read with urllib. "
                        "Written in Python.",
            roles=["source"],
            streams=[wharf.stream(STREAM, "The items of every page, in order")],
            config_schema=CONFIG_SCHEMA,
            secrets=[wharf.secret_spec("api_token", "Bearer token of the API",
                                       hosts=["{config.base_url}"], required=False)],
            hosts=["{config.base_url}"],
            display_name="Python urllib",
            categories=["developer"],
        )

    def check(self, config):
        get_page(config, 1)

    def fetch(self, config, stream, cursor):
        if stream != STREAM:
            raise ConfigError(f"unknown stream `{stream}`")
        try:
            page = int(cursor) if cursor is not None else 1
        except ValueError:
            raise FatalError(f"bad cursor `{cursor}`") from None
        items = get_page(config, page)
        key = config.get("key")
        records = [
            wharf.record(stream, item, key=item.get(key) if key and isinstance(item, dict) else None)
            for item in items
        ]
        more = len(records) == int(config.get("page_size", 100))
        log.info(f"page {page}: {len(records)} items")
        return wharf.page(records, cursor=page + 1 if more else None, more=more)
