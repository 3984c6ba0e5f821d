"""python-json: pages of JSON items from one REST endpoint, written in Python.

    GET {base_url}{path}?{page_param}=N&{size_param}={page_size}
    Authorization: Bearer {{secret:api_token}}

The items are the array at the JSON pointer `records` of each answer. The
cursor is the next page number; a page shorter than `page_size` is the last.
Build: python3 sdk/python/build.py guests/python-json target/connectors/python-json.wasm
"""
from __future__ import annotations

from typing import Any

import wharf_sdk as wharf
from wharf_sdk import ConfigError, FatalError, log

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


class Settings:
    """The config, checked."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.base_url: str = wharf.config_value(config, "base_url")
        self.path: str = wharf.config_value(config, "path")
        self.records: str = wharf.config_value(config, "records", default="")
        self.key: str | None = wharf.config_value(config, "key", default=None)
        self.page_size: int = wharf.config_value(config, "page_size", int, default=100)
        self.page_param: str = wharf.config_value(config, "page_param", default="page")
        self.size_param: str = wharf.config_value(config, "size_param", default="per_page")
        if self.page_size < 1:
            raise ConfigError("`page_size` must be at least 1")
        if self.records and not self.records.startswith("/"):
            raise ConfigError("`records` must be a JSON pointer: empty or starting with `/`")

    def get_page(self, page: int, keep_body: bool = False) -> wharf.Response:
        """Page `page` (error statuses raised); with `keep_body`, its body
        stays in the host (`resp.blob`)."""
        return wharf.get(
            f"{self.base_url}{self.path}",
            query={self.page_param: page, self.size_param: self.page_size},
            headers={"Accept": "application/json", "Authorization": wharf.bearer("api_token")},
            keep_body=keep_body,
        ).raise_for_status()


class Connector(wharf.Connector):
    def spec(self):
        return wharf.spec(
            "python-json", "0.1.0",
            description="Pages of JSON items from one REST endpoint (`?page=N&per_page=M`), "
                        "with an optional bearer token. Written in Python.",
            roles=["source"],
            streams=[wharf.stream(STREAM, "The items of every page, in order")],
            config_schema=CONFIG_SCHEMA,
            secrets=[wharf.secret_spec("api_token", "Bearer token of the API",
                                       hosts=["{config.base_url}"], required=False)],
            hosts=["{config.base_url}"],
            display_name="Python JSON",
            categories=["developer"],
        )

    def check(self, config):
        s = Settings(config)
        if s.get_page(1).items(s.records) is None:
            raise ConfigError(f"no array at `records` pointer {s.records!r}")

    def fetch(self, config, stream, cursor):
        s = Settings(config)
        if stream != STREAM:
            raise ConfigError(f"unknown stream `{stream}`")
        try:
            page = int(cursor) if cursor is not None else 1
        except ValueError:
            raise FatalError(f"bad cursor `{cursor}`") from None
        # The page stays in the host, which slices the items out of it and
        # adds them to the page this call returns, each as its own text: the
        # body never enters Python, and Python parses none of it.
        resp = s.get_page(page, keep_body=True)
        n = wharf.stage_records(stream, resp, s.records, key=s.key or None)
        more = n == s.page_size
        log.info(f"page {page}: {n} items")
        return wharf.page([], cursor=page + 1 if more else None, more=more)
