"""`items_at` against `pointer(json.loads(...))`: the same items, the same
values and the same errors, on generated documents (unicode escapes, nested
arrays, numbers at the edge of float, duplicate keys) and on broken ones
(truncated, trailing data, invalid UTF-8, NaN).

Run: python3 -m unittest discover -s sdk/python/tests (the suite runs it too).
"""
from __future__ import annotations

import json
import random
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wharf_sdk.records import items_at, pointer  # noqa: E402

STRINGS = ["", "a", "é", "✓", "🚢", "埠頭", "\\", "\"", "/", "~", "~1", "\u0000", "\u007f", "\ud7ff",
           "data", "items", "0", "01"]
NUMBERS = [0, -0.0, 1, -1, 1.5, 1e308, -1e308, 5e-324, 2.2250738585072014e-308, 2**53 + 1,
           -(2**63), 10**30, 0.1, 123456789.125]


def scalar(r: random.Random):
    return r.choice([None, True, False, r.choice(STRINGS), r.choice(NUMBERS)])


def value(r: random.Random, depth: int):
    k = r.random()
    if depth <= 0 or k < 0.4:
        return scalar(r)
    if k < 0.7:
        return [value(r, depth - 1) for _ in range(r.randrange(4))]
    return {r.choice(STRINGS): value(r, depth - 1) for _ in range(r.randrange(4))}


def spell(v, r: random.Random) -> str:
    """JSON text of `v`, spelled in one of several ways (spaces, escapes)."""
    ws = r.choice(["", " ", "\n\t ", "\r\n"])
    if isinstance(v, dict):
        return "{" + ws + ("," + ws).join(f"{spell(k, r)}{ws}:{ws}{spell(x, r)}" for k, x in v.items()) + ws + "}"
    if isinstance(v, list):
        return "[" + ws + ("," + ws).join(spell(x, r) for x in v) + ws + "]"
    return json.dumps(v, ensure_ascii=r.random() < 0.5)


def document(r: random.Random) -> tuple[str, str]:
    """A document and a pointer that may or may not lead to an array of items."""
    items = [value(r, 3) for _ in range(r.randrange(6))]
    if r.random() < 0.8:
        items = [x if isinstance(x, dict) else {"v": x} for x in items]
    shape = r.randrange(5)
    if shape == 0:
        return spell(items, r), ""
    if shape == 1:
        doc = {"meta": value(r, 2), "data": items, "next": scalar(r)}
        text = spell(doc, r)
        if r.random() < 0.3:  # a duplicate key: the last one counts
            text = text[:-1] + ', "data": ' + spell(items[:1], r) + "}"
        return text, "/data"
    if shape == 2:
        return spell({"a": [value(r, 1), {"b/c": items}]}, r), "/a/1/b~1c"
    if shape == 3:
        return spell({"data": value(r, 2)}, r), r.choice(["/data", "/data/0", "/missing", "/data/x"])
    return spell([[1], items], r), r.choice(["/1", "/01", "/2", "/-"])


def reference(text: str, ptr: str):
    try:
        items = pointer(json.loads(text), ptr)
    except ValueError:
        return "error"
    return items if isinstance(items, list) else None


def raw(text: str | bytes, ptr: str):
    # Only these two: a bare ValueError would escape Response.items'
    # translation into FatalError.
    try:
        found = items_at(text, ptr)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return "error"
    return None if found is None else [it.value for it in found]


class ItemsAtTest(unittest.TestCase):
    def test_same_items_as_parsing_everything(self):
        r = random.Random(20261206)
        for n in range(3000):
            text, ptr = document(r)
            expected = reference(text, ptr)
            with self.subTest(n=n, text=text, ptr=ptr):
                self.assertEqual(repr(raw(text, ptr)), repr(expected))
                found = items_at(text, ptr)
                if found is not None:
                    # Each item's text is its own spelling in the document.
                    for it in found:
                        self.assertIn(it.text, text)
                        self.assertEqual(repr(json.loads(it.text)), repr(it.value))

    def test_broken_documents_fail_like_json_loads(self):
        r = random.Random(7)
        for n in range(1500):
            text, ptr = document(r)
            broken = r.choice([
                text[: r.randrange(len(text))] if text else "[",  # truncated
                text + r.choice([" x", ",", "]", "}", " 1"]),  # trailing data
                text.replace(":", "", 1),
                text.replace(",", ",,", 1),
                text.replace("[", "[NaN,", 1),
                text.replace("[", "[-Infinity,", 1),
                text.replace(":", ": Infinity,\"x\":", 1),
                text.replace("[", "[" + "1" * 5000 + ",", 1),  # too long for int()
            ])
            with self.subTest(n=n, text=broken, ptr=ptr):
                expected = reference(broken, ptr)
                if "NaN" in broken or "Infinity" in broken:
                    # json.loads takes them anywhere; items_at refuses them (not JSON,
                    # and a record may not hold them).
                    expected = "error"
                self.assertEqual(repr(raw(broken, ptr)), repr(expected))

    def test_bytes_invalid_utf8_and_bad_pointers(self):
        self.assertEqual(raw('{"data": [{"a": "é"}]}'.encode(), "/data"), [{"a": "é"}])
        self.assertEqual(raw(b'\xef\xbb\xbf[{"a": 1}]', ""), [{"a": 1}])
        self.assertEqual(raw(b'[{"a": "\xff"}]', ""), "error")
        self.assertEqual(raw('{"a": 1}', ""), None)
        with self.assertRaises(ValueError):
            items_at("[]", "data")
        with self.assertRaises(json.JSONDecodeError):
            items_at('{"meta": NaN, "data": [{"a": 1}]}', "/data")


class ItemRecords(unittest.TestCase):
    """`item_records` makes the records `record` makes, item by item."""

    def test_the_same_records_as_record_each(self):
        from types import SimpleNamespace

        from wharf_sdk import _wit, records

        class Record(SimpleNamespace):
            pass

        saved = (_wit.AVAILABLE, _wit.types)
        _wit.AVAILABLE = True
        _wit.types = SimpleNamespace(Record=Record, Op=SimpleNamespace(UPSERT="u", DELETE="d"))
        try:
            text = ('[{"id": 1}, {"id": "a", "x": [1]}, {"x": 2}, {"id": true}, {"id": 1.0},'
                    ' {"id": {"b": 1}}, {"id": null}]')
            items = items_at(text, "")
            for key in ("id", None, "x"):
                ours = records.item_records("s", items, key=key)
                each = [records.record("s", i.text, key=i.value.get(key) if key else None)
                        for i in items]
                self.assertEqual(ours, each, key)
            self.assertEqual(records.item_records("s", items, key="id")[1].key, "a")
            with self.assertRaises(records.FatalError):
                records.item_records("s", items_at('[{"id": 1}, 2]', ""), key="id")
        finally:
            _wit.AVAILABLE, _wit.types = saved


class StageRecords(unittest.TestCase):
    """`stage_records` hands the host the body's bytes as they are (or the blob
    of a body kept in the host), and turns the host's refusal into a
    `FatalError`."""

    def test_body_forms_and_refusals(self):
        from types import SimpleNamespace

        from wharf_sdk import _wit, records
        from wharf_sdk.http import Response

        calls = []

        def stage(stream, body, ptr, key):
            calls.append((stream, body, ptr, key))
            if body == b"no":
                raise _wit.Err("the page is not JSON")
            return 2

        def stage_blob(stream, blob, ptr, key):
            calls.append(("blob", stream, blob, ptr, key))
            return 5

        saved = (_wit.AVAILABLE, _wit.pages)
        _wit.AVAILABLE = True
        _wit.pages = SimpleNamespace(stage=stage, stage_blob=stage_blob)
        try:
            page = '{"data": [{"id": "é"}, {"id": 2}]}'
            for body in (Response(200, [], page), page, page.encode(), bytearray(page.encode())):
                self.assertEqual(records.stage_records("s", body, "/data", key="id"), 2)
                self.assertEqual(calls.pop(), ("s", page.encode(), "/data", "id"))
            # A body kept in the host is staged from its blob.
            kept = Response(200, [], b"", blob="blob-3")
            self.assertEqual(records.stage_records("s", kept, "/data", key="id"), 5)
            self.assertEqual(calls.pop(), ("blob", "s", "blob-3", "/data", "id"))
            with self.assertRaisesRegex(records.FatalError, "not JSON"):
                records.stage_records("s", b"no")
            _wit.pages = None
            with self.assertRaisesRegex(RuntimeError, "without wharf:pages"):
                records.stage_records("s", page)
        finally:
            _wit.AVAILABLE, _wit.pages = saved


if __name__ == "__main__":
    unittest.main()
