"""Building the `types.ConnectorSpec` a connector returns from `spec()`.

    spec("my-api", "0.1.0", description="Orders from My API",
         streams=[stream("orders", key_field="id")],
         config_schema={"type": "object", "required": ["base_url"],
                        "properties": {"base_url": {"type": "string"}}},
         secrets=[secret_spec("api_token", hosts=["{config.base_url}"])],
         hosts=["{config.base_url}"], categories=["developer"])
"""
from __future__ import annotations

import json
from typing import Any, Iterable

from . import _wit


def _schema(schema: Any) -> str:
    if schema is None:
        return "{}"
    return schema if isinstance(schema, str) else json.dumps(schema, separators=(",", ":"))


def _enum(enum: Any, value: Any) -> Any:
    """`"cloud-cost"` or `"cloud_cost"` → `enum.CLOUD_COST`; enum members pass through."""
    if isinstance(value, str):
        return enum[value.upper().replace("-", "_")]
    return value


def stream(name: str, description: str = "", key_field: str | None = None,
           cursor_field: str | None = None, schema: Any = None) -> Any:
    """A `types.StreamSpec`; `schema` is a JSON Schema (dict or text), default `{}`."""
    _wit.need()
    return _wit.types.StreamSpec(name=name, description=description, key_field=key_field,
                                 cursor_field=cursor_field, schema=_schema(schema))


def secret_spec(name: str, description: str = "", hosts: Iterable[str] = (),
                required: bool = True) -> Any:
    """A `types.SecretSpec`: the secret `name` (used as `{{secret:NAME}}`), sent only
    to `hosts` (`https://api.example.com`, `https://*.example.com`, `{config.field}`)."""
    _wit.need()
    return _wit.types.SecretSpec(name=name, description=description, hosts=list(hosts),
                                 required=required)


def spec(name: str, version: str, *, description: str = "",
         roles: Iterable[Any] = ("source",), streams: Iterable[Any] = (),
         config_schema: Any = None, secrets: Iterable[Any] = (), hosts: Iterable[str] = (),
         display_name: str | None = None, categories: Iterable[Any] = ("other",),
         icon_svg: str | None = None, documentation_url: str | None = None,
         publisher: str | None = None, oauth2: Any = None, webhook: Any = None,
         login: Any = None, signing: Iterable[Any] = (),
         rate_budgets: Iterable[Any] = ()) -> Any:
    """A `types.ConnectorSpec` with sane defaults.

    - `roles`: `"source"`, `"destination"`, `"mapper"` (default: a source).
    - `streams`: from `stream(...)`; `secrets`: from `secret_spec(...)`.
    - `config_schema`: JSON Schema of the config (dict or text), default `{}`.
    - `hosts`: host patterns the connector reaches, e.g. `"{config.base_url}"`.
    - catalog: `display_name` (default `name`), `categories` (names such as
      `"developer"`, `"cloud-cost"`), `icon_svg`, `documentation_url`, `publisher`.
    - `oauth2`, `webhook`, `login`, `signing`, `rate_budgets`: the contract's
      types (`wharf_sdk.types.Oauth2Spec(...)` etc.), passed through.
    """
    _wit.need()
    t = _wit.types
    return t.ConnectorSpec(
        name=name,
        version=version,
        description=description,
        roles=[_enum(t.Role, r) for r in roles],
        streams=list(streams),
        config_schema=_schema(config_schema),
        secrets=list(secrets),
        hosts=list(hosts),
        oauth2=oauth2,
        webhook=webhook,
        login=login,
        signing=list(signing),
        rate_budgets=list(rate_budgets),
        catalog=t.Catalog(display_name=display_name or name,
                          categories=[_enum(t.Category, c) for c in categories],
                          icon_svg=icon_svg, documentation_url=documentation_url,
                          publisher=publisher),
    )
