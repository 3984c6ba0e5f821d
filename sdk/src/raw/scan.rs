//! A page of records read in one checked pass.
//!
//! The seventh round's profile showed a page read four times inside the
//! guest: [`plain`](super::plain) over every byte, serde's checked walk to
//! slice the records, and then each record skimmed again to find its key
//! (the last member with that name wins, so the whole record is read). In
//! Wasm those passes were the largest share of `http-json`'s time.
//! [`page`] does all of it at once: it checks the syntax as `serde_json`
//! does, checks what [`plain`](super::plain) checks (nesting, numbers
//! beyond `f64`, lone surrogates), slices the records at a pointer through
//! objects, finds each record's key member, and keeps the top level's other
//! members for the pagination.
//!
//! It only answers for pages it is sure of: one not JSON, not plain, with
//! records not all objects or their member twice, or a name with escapes
//! where names are compared, gives `None`, and the caller takes the careful
//! readers in `super` and `skim`. A false `None` costs time, never an
//! answer; every page it accepts must be valid, plain, and read as those
//! readers read it (`sdk/tests/raw_pages.rs` and the tests below).

use serde_json::value::RawValue;

use super::{READABLE_DEPTH, pointer_raw};

/// A page's records and its top level, as one checked pass found them.
#[derive(Debug)]
pub struct ScannedPage<'a> {
    /// The records: the elements of the array at the pointer.
    pub items: Vec<Item<'a>>,
    /// The top level's members, but the one the records are in, as
    /// (name, value text), in document order.
    top: Vec<(&'a str, &'a str)>,
    /// The records' member at the top level (`None`: the document).
    walked: Option<String>,
    text: &'a str,
}

/// One record of a scanned page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Item<'a> {
    /// The record: the text of a JSON object, as the page spells it.
    pub text: &'a str,
    /// The value text of its last top-level member named as the key.
    pub key: Option<&'a str>,
}

impl<'a> ScannedPage<'a> {
    /// The value at `pointer`, as [`pointer_raw`] on the document finds it.
    pub fn at(&self, pointer: &str) -> Option<&'a RawValue> {
        let split = super::skim::first_token(pointer);
        let through_records = |(first, _): &(std::borrow::Cow<'_, str>, &str)| {
            self.walked.as_deref().is_none_or(|walked| walked == first)
        };
        let Some((first, tail)) = split.filter(|s| !through_records(s)) else {
            // The records were not kept: read the document again (rare).
            let doc = serde_json::from_str::<&RawValue>(self.text).ok()?;
            return pointer_raw(doc, pointer);
        };
        // With duplicate names the last wins, as in a parse.
        let (_, text) = self.top.iter().rev().find(|(name, _)| *name == first)?;
        let value = serde_json::from_str::<&RawValue>(text).ok()?;
        if tail.is_empty() {
            Some(value)
        } else {
            pointer_raw(value, tail)
        }
    }
}

/// `text` checked as one plain JSON document, with the records at
/// `pointer` (an array, or `null` for none, reached through objects) and
/// each record's member `key`; `None` for anything else (see the module).
pub fn page<'a>(text: &'a str, pointer: &str, key: Option<&str>) -> Option<ScannedPage<'a>> {
    page_within(text, pointer, key, usize::MAX).ok().flatten()
}

/// More records than a caller takes: the scan stopped at them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooMany;

/// [`page`], stopping as soon as there are more than `max` records (so a
/// page of millions of tiny records costs no more than `max` of them).
pub fn page_within<'a>(
    text: &'a str,
    pointer: &str,
    key: Option<&str>,
    max: usize,
) -> Result<Option<ScannedPage<'a>>, TooMany> {
    let mut s = Scanner::new(text);
    s.max_items = max;
    let page = scan_page(&mut s, pointer, key);
    if s.too_many {
        return Err(TooMany);
    }
    Ok(page)
}

fn scan_page<'a>(s: &mut Scanner<'a>, pointer: &str, key: Option<&str>) -> Option<ScannedPage<'a>> {
    let text = s.text;
    let tokens = super::skim::tokens(pointer)?;
    s.space();
    let mut page = ScannedPage {
        items: Vec::new(),
        top: Vec::new(),
        walked: tokens.first().cloned(),
        text,
    };
    match tokens.split_first() {
        None => page.items = s.records(key)?,
        Some((first, rest)) => {
            let mut found = None;
            s.object(|s, name| {
                // Top-level names are compared and kept: an escaped one is
                // the careful readers' to decode.
                let name = name?;
                if name == first {
                    // Twice the records' member: the careful readers judge.
                    if found.is_some() {
                        return None;
                    }
                    found = Some(s.walk(rest, key)?);
                } else {
                    let start = s.i;
                    s.value()?;
                    page.top.push((name, &s.text[start..s.i]));
                }
                Some(())
            })?;
            page.items = found?;
        }
    }
    s.space();
    (s.i == s.bytes.len()).then_some(page)
}

/// The members of the object `text`, checked and plain as [`page`] checks
/// a page, as (name, value text) in document order; `None` for anything
/// else, and for an object with a member name that has escapes.
pub fn object(text: &str) -> Option<Vec<(&str, &str)>> {
    let mut s = Scanner::new(text);
    let mut members = Vec::with_capacity(16);
    s.object(|s, name| {
        let name = name?;
        let start = s.i;
        s.value()?;
        members.push((name, &s.text[start..s.i]));
        Some(())
    })?;
    s.space();
    (s.i == s.bytes.len()).then_some(members)
}

/// Whether `text` is one object, checked and plain as [`page`] checks a
/// page, nested at most `depth` levels, with nothing around it; `false`
/// for anything else.
pub fn plain_object(text: &str, depth: usize) -> bool {
    let mut s = Scanner::new(text);
    s.max_depth = depth.min(READABLE_DEPTH);
    // No space before or after: the text is the object and nothing more.
    s.peek() == Some(b'{') && s.object(|s, _| s.value()).is_some() && s.i == s.bytes.len()
}

/// A checking reader over the bytes of a `str`. Every method returns
/// `None` at the first byte that is not (plain) JSON.
struct Scanner<'a> {
    text: &'a str,
    bytes: &'a [u8],
    i: usize,
    depth: usize,
    /// The deepest nesting taken (at most [`READABLE_DEPTH`]).
    max_depth: usize,
    /// The most records `records` takes; past it, `too_many`.
    max_items: usize,
    too_many: bool,
}

impl<'a> Scanner<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text,
            bytes: text.as_bytes(),
            i: 0,
            depth: 0,
            max_depth: READABLE_DEPTH,
            max_items: usize::MAX,
            too_many: false,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.i).copied()
    }

    fn space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            self.i += 1;
        }
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        self.space();
        (self.peek() == Some(byte)).then(|| self.i += 1)
    }

    /// Down `tokens` through objects to the records: an array's elements,
    /// or none for `null`.
    fn walk(&mut self, tokens: &[String], key: Option<&str>) -> Option<Vec<Item<'a>>> {
        self.space();
        let Some((first, rest)) = tokens.split_first() else {
            return self.records(key);
        };
        let mut found = None;
        self.object(|s, name| {
            if name? == first {
                if found.is_some() {
                    return None;
                }
                found = Some(s.walk(rest, key)?);
            } else {
                s.value()?;
            }
            Some(())
        })?;
        found
    }

    /// An array of objects (each with its key member), or `null`.
    fn records(&mut self, key: Option<&str>) -> Option<Vec<Item<'a>>> {
        self.space();
        if self.peek() == Some(b'n') {
            self.literal(b"null")?;
            return Some(Vec::new());
        }
        let mut items = Vec::with_capacity(64);
        self.array(|s| {
            s.space();
            let start = s.i;
            let mut found = None;
            s.object(|s, name| {
                // Only a name compared with the key must be plain.
                let wanted = match key {
                    Some(key) => name? == key,
                    None => false,
                };
                let value_start = s.i;
                s.value()?;
                if wanted {
                    // With duplicate names the last wins, as in a parse.
                    found = Some(&s.text[value_start..s.i]);
                }
                Some(())
            })?;
            if items.len() == s.max_items {
                s.too_many = true;
                return None;
            }
            items.push(Item {
                text: &s.text[start..s.i],
                key: found,
            });
            Some(())
        })?;
        Some(items)
    }

    /// One value of any kind.
    fn value(&mut self) -> Option<()> {
        self.space();
        match self.peek()? {
            b'"' => self.string().map(|_| ()),
            b'{' => self.object(|s, _| s.value()),
            b'[' => self.array(|s| s.value()),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= self.max_depth).then_some(())
    }

    /// An object; `member` reads each value, given the member's name as
    /// written, or `None` for a name with escapes (which would need
    /// decoding to be compared: callers that compare give up on it).
    fn object(
        &mut self,
        mut member: impl FnMut(&mut Self, Option<&'a str>) -> Option<()>,
    ) -> Option<()> {
        self.expect(b'{')?;
        self.enter()?;
        self.space();
        if self.peek() == Some(b'}') {
            self.i += 1;
            self.depth -= 1;
            return Some(());
        }
        loop {
            self.space();
            let start = self.i;
            let escaped = self.string()?;
            let name = &self.text[start + 1..self.i - 1];
            self.expect(b':')?;
            self.space();
            member(self, (!escaped).then_some(name))?;
            self.space();
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    self.depth -= 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// An array; `element` reads each element.
    fn array(&mut self, mut element: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.expect(b'[')?;
        self.enter()?;
        self.space();
        if self.peek() == Some(b']') {
            self.i += 1;
            self.depth -= 1;
            return Some(());
        }
        loop {
            element(self)?;
            self.space();
            match self.peek()? {
                b',' => self.i += 1,
                b']' => {
                    self.i += 1;
                    self.depth -= 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.i + word.len();
        (self.bytes.get(self.i..end)? == word).then(|| self.i = end)
    }

    /// A number as JSON writes it (`-`, no leading zeros, a fraction and an
    /// exponent with digits), within `f64` as [`beyond`](super::beyond)
    /// judges it.
    fn number(&mut self) -> Option<()> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        let mut exponent = false;
        if self.peek() == Some(b'.') {
            self.i += 1;
            self.one_or_more_digits()?;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            exponent = true;
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            self.one_or_more_digits()?;
        }
        let number = &self.text[start..self.i];
        // The rule `beyond` applies: only with an exponent or more than
        // 300 digits can a number pass f64's range.
        if (exponent || number.len() > 300)
            && serde_json::from_str::<serde_json::Number>(number).is_err()
        {
            return None;
        }
        Some(())
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
    }

    fn one_or_more_digits(&mut self) -> Option<()> {
        let start = self.i;
        self.digits();
        (self.i > start).then_some(())
    }

    /// A string, the opening quote at `i`: whether it has escapes. Bytes
    /// below 0x20 are refused, escapes checked, and a lone UTF-16
    /// surrogate in a `\u` escape is not plain.
    fn string(&mut self) -> Option<bool> {
        if self.peek() != Some(b'"') {
            return None;
        }
        self.i += 1;
        let mut escaped = false;
        loop {
            self.skip_plain_bytes();
            match self.peek()? {
                b'"' => {
                    self.i += 1;
                    return Some(escaped);
                }
                b'\\' => {
                    escaped = true;
                    self.escape()?;
                }
                b if b < 0x20 => return None,
                _ => self.i += 1,
            }
        }
    }

    /// Past the bytes of a string that need no look (not `"`, `\` or a
    /// control byte): strings are most of a record.
    fn skip_plain_bytes(&mut self) {
        self.i += super::plain_run::plain_run(&self.bytes[self.i..]);
    }

    /// An escape, the backslash at `i`.
    fn escape(&mut self) -> Option<()> {
        match *self.bytes.get(self.i + 1)? {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {
                self.i += 2;
                Some(())
            }
            b'u' => {
                let unit = self.hex_unit(self.i)?;
                match unit {
                    0xD800..=0xDBFF => {
                        // A leading surrogate must be followed at once by
                        // a trailing one.
                        let next = self.i + 6;
                        let paired = self.bytes.get(next..next + 2) == Some(b"\\u")
                            && matches!(self.hex_unit(next), Some(0xDC00..=0xDFFF));
                        paired.then(|| self.i += 12)
                    }
                    0xDC00..=0xDFFF => None,
                    _ => {
                        self.i += 6;
                        Some(())
                    }
                }
            }
            _ => None,
        }
    }

    /// The four hex digits after the `\u` at `at`.
    fn hex_unit(&self, at: usize) -> Option<u16> {
        let hex = self.bytes.get(at + 2..at + 6)?;
        if !hex.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        u16::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items<'a>(page: &ScannedPage<'a>) -> Vec<(&'a str, Option<&'a str>)> {
        page.items.iter().map(|i| (i.text, i.key)).collect()
    }

    #[test]
    fn records_keys_and_the_top_level_in_one_pass() {
        let text = r#" {"meta": {"next": "c2"}, "data": {"rows": [{"id": 1, "n": "a\"b", "id": "x"}, {"n": [1, {"id": 2}]}]}, "n": -0.5e-3 } "#;
        let page = page(text, "/data/rows", Some("id")).unwrap();
        assert_eq!(
            items(&page),
            [
                (r#"{"id": 1, "n": "a\"b", "id": "x"}"#, Some(r#""x""#)),
                (r#"{"n": [1, {"id": 2}]}"#, None),
            ]
        );
        assert_eq!(page.at("/meta/next").unwrap().get(), r#""c2""#);
        assert_eq!(page.at("/n").unwrap().get(), "-0.5e-3");
        assert_eq!(
            page.at("/data/rows/0/id").unwrap().get(),
            r#""x""#,
            "through the records: the document read again"
        );
        assert!(page.at("/none").is_none());
        let twice = super::page(r#"{"n": 1, "d": [], "n": 2}"#, "/d", None).unwrap();
        assert_eq!(twice.at("/n").unwrap().get(), "2", "the last of two names");
        assert!(
            super::page(r#"{"data": null}"#, "/data", None)
                .unwrap()
                .items
                .is_empty()
        );
        assert_eq!(super::page("[{}, {}]", "", None).unwrap().items.len(), 2);
        // Escaped names are fine where nothing compares them.
        let nested = r#"[{"id": 1, "n": {"\u00e9": 1}}, {"\u0069d": 2, "id": 3}]"#;
        assert_eq!(super::page(nested, "", None).unwrap().items.len(), 2);
        assert!(
            super::page(nested, "", Some("id")).is_none(),
            "a record's name, with a key"
        );
        let inner = r#"{"data": [{"n": {"\u00e9": 1}, "id": 1}]}"#;
        assert_eq!(
            items(&super::page(inner, "/data", Some("id")).unwrap()),
            [(r#"{"n": {"\u00e9": 1}, "id": 1}"#, Some("1"))]
        );
        let long = format!(r#"[{{"d": "{}é\u00e9\ud83d\ude00\n"}}]"#, "x".repeat(40));
        assert_eq!(
            super::page(&long, "", None).unwrap().items[0].text,
            &long[1..long.len() - 1]
        );
    }

    #[test]
    fn whatever_it_is_unsure_of_goes_to_the_careful_readers() {
        for (text, pointer) in [
            // Not records as this pass reads them.
            (r#"{"data": {"id": 1}}"#, "/data"),
            (r#"{"data": [{"id": 1}, 2]}"#, "/data"),
            (r#"{"data": [[1]]}"#, "/data/0"),
            (r#"{"data": 1}"#, "/data"),
            (r#"{"other": []}"#, "/data"),
            (r#"{"data": [], "data": []}"#, "/data"),
            (r#"{"d\u0061ta": []}"#, "/data"),
            ("[{}]", "/data"),
            // Not JSON.
            (r#"{"data": []} x"#, "/data"),
            (r#"{"data": [{},]}"#, "/data"),
            (r#"{"data": [{}], }"#, "/data"),
            (r#"{"data": [{"a": 01}]}"#, "/data"),
            (r#"{"data": [{"a": 1.}]}"#, "/data"),
            (r#"{"data": [{"a": .5}]}"#, "/data"),
            (r#"{"data": [{"a": 1e}]}"#, "/data"),
            (r#"{"data": [{"a": -}]}"#, "/data"),
            (r#"{"data": [{"a": +1}]}"#, "/data"),
            (r#"{"data": [{"a": tru}]}"#, "/data"),
            (r#"{"data": [{"a": "\x"}]}"#, "/data"),
            (r#"{"data": [{"a": "\u12G4"}]}"#, "/data"),
            ("{\"data\": [{\"a\": \"tab\tin a string\"}]}", "/data"),
            (r#"{"data": [{"a" 1}]}"#, "/data"),
            (r#"{"data": [{"a": 1"#, "/data"),
            (r#"{"data": [{"a": "x"#, "/data"),
            ("", ""),
            // Not plain.
            (r#"{"data": [{"a": 1e400}]}"#, "/data"),
            (r#"{"data": [{"a": "\ud800"}]}"#, "/data"),
            (r#"{"data": [{"a": "\udc00"}]}"#, "/data"),
            (r#"{"data": [{"a": "\ud800\u0041"}]}"#, "/data"),
        ] {
            assert!(
                page(text, pointer, Some("a")).is_none(),
                "{text} at {pointer}"
            );
        }
        let deep = |n: usize| format!("[{{\"a\": {}1{}}}]", "[".repeat(n), "]".repeat(n));
        assert!(page(&deep(125), "", None).is_some());
        assert!(page(&deep(126), "", None).is_none(), "past 127 levels");
    }

    #[test]
    fn eight_bytes_at_a_time_stop_at_every_byte_that_matters() {
        // Each special byte at each offset of a word, in long strings.
        for at in 0..17 {
            for special in ["\\\"", "\\\\", "\\u00e9", "\""] {
                let inner = format!("{}{special}{}", "a".repeat(at), "b".repeat(20));
                let text = format!(r#"[{{"s": "{inner}"}}]"#);
                let scanned = page(&text, "", None);
                let parsed = serde_json::from_str::<serde_json::Value>(&text);
                assert_eq!(scanned.is_some(), parsed.is_ok(), "{text}");
            }
            let text = format!("[{{\"s\": \"{}\u{1}{}\"}}]", "a".repeat(at), "b".repeat(20));
            assert!(page(&text, "", None).is_none(), "a control byte at {at}");
            let text = format!(
                "[{{\"s\": \"{}\u{7f}é{}\"}}]",
                "a".repeat(at),
                "b".repeat(20)
            );
            assert!(page(&text, "", None).is_some(), "DEL and non-ASCII at {at}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 4000, ..Default::default() })]

        /// Short texts from JSON's own alphabet, inside a page of records:
        /// what the pass accepts is JSON and plain, and every plain page of
        /// objects without escapes is accepted.
        #[test]
        fn it_accepts_what_a_parse_accepts(
            value in r#"[-0-9.eE+ ,\[\]{}":tfrueanlsx\\u\x01]{0,14}"#,
        ) {
            let text = format!(r#"[{{"a": {value}}}]"#);
            let scanned = page(&text, "", Some("a"));
            let parsed = serde_json::from_str::<serde_json::Value>(&text);
            let plain = super::super::plain(&text);
            if let Some(scanned) = &scanned {
                proptest::prop_assert!(parsed.is_ok() && plain, "{}", text);
                let items = parsed.as_ref().unwrap().as_array().unwrap();
                proptest::prop_assert_eq!(scanned.items.len(), items.len());
                for (item, value) in scanned.items.iter().zip(items) {
                    let key = item.key.map(|k| serde_json::from_str::<serde_json::Value>(k).unwrap());
                    proptest::prop_assert_eq!(key.as_ref(), value.get("a"), "{}", text);
                }
            }
            let objects = parsed
                .as_ref()
                .is_ok_and(|v| v.as_array().unwrap().iter().all(serde_json::Value::is_object));
            if objects && plain && !text.contains('\\') {
                proptest::prop_assert!(scanned.is_some(), "{}", text);
            }
        }
    }
}
