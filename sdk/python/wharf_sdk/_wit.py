"""The bindings componentize-py generates for `sandboxed-connector`.

They exist while componentize-py builds the component (and inside it). In a
plain Python they are importable only when the output of
`componentize-py -d wit/0.2.0 -w sandboxed-connector bindings DIR` is on
`sys.path` (those leave out `wharf:pages`: `pages` is None, and a test fakes
it); without them the pure helpers (`pointer`, `secret`, the exceptions)
still work and everything else raises `RuntimeError`.
Other modules read the names below at call time (`_wit.types`), so a test can
replace `_wit.http.send` with a fake.
"""
from __future__ import annotations

from typing import Any

try:
    from componentize_py_types import Err
    from wit_world import exports
    from wit_world.imports import http, log

    try:
        from wit_world.imports import types
    except ImportError:  # built with wasi:http, whose `types` takes the plain name away
        from wit_world.imports import wharf_connector_types as types

    try:
        from wit_world.imports import pages
    except ImportError:  # bindings of the bare contract world, without wharf:pages
        pages = None

    AVAILABLE = True
    ConnectorBase: Any = exports.Connector
except ImportError:  # a plain Python without the bindings
    AVAILABLE = False
    exports = http = log = types = pages = None  # type: ignore[assignment]
    ConnectorBase = object

    class Err(Exception):  # type: ignore[no-redef]
        """Stand-in for componentize_py_types.Err."""

        def __init__(self, value: Any) -> None:
            super().__init__(value)
            self.value = value


def need() -> None:
    """Fail clearly when the bindings are missing."""
    if not AVAILABLE:
        raise RuntimeError(
            "wharf_sdk: the WIT bindings (wit_world) are not importable; build with "
            "sdk/python/build.py, or put `componentize-py ... bindings DIR` output on sys.path"
        )
