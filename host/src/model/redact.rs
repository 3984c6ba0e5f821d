//! Redaction: replacing secret values, in every form the host can derive
//! from them, with `[REDACTED]`.
//!
//! An upstream that echoes a request rarely echoes it byte for byte: a JSON
//! API escapes it (`\"`, `\/`, `\u00e9`, or every character as `\uXXXX`), a
//! form or query echo percent-encodes it (upper- or lower-case hex, `+` for
//! space), a debugging endpoint shows it as base64 or hex, some lower-case
//! header values. Each of those forms is a needle here, and base64 also at
//! each of the three byte offsets a value can have inside a larger base64
//! text (HTTP Basic credentials are base64 of `user:password`). All needles
//! go into one Aho-Corasick automaton, matched leftmost-longest and
//! ASCII-case-insensitively, so redacting is one linear pass whatever the
//! number of secrets. The case is folded by lowering the needles once and
//! each text as it is searched, rather than by the automaton: a
//! case-insensitive automaton has no prefilter to skip ahead with and
//! walked every byte (147 µs for a 100 KB page against 12 µs lowered,
//! docs/performance.md), and every response body a connector gets is
//! searched. The text is lowered 64 KiB at a time, so a large body is not
//! copied whole.
//!
//! What this cannot promise is written in docs/contract.md: an upstream
//! that transforms a value in a way not listed here (encrypts it, splits
//! it, escapes half of it) hands it back unrecognised. Binding each secret
//! to the hosts it is meant for is the boundary; redaction is the second
//! line.

use std::borrow::Cow;
use std::sync::Arc;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// What a redacted secret looks like.
pub const REDACTED: &str = "[REDACTED]";

/// Values shorter than this are not redacted: replacing every `a` or `42`
/// in a page of data would destroy it, and such values are not secrets
/// anyone should rely on.
pub const MIN_SECRET_LEN: usize = 4;

/// Derived forms shorter than this are left out: a few base64 characters
/// from the middle of a short value would match ordinary text.
const MIN_FORM_LEN: usize = 6;

/// RFC 3986 unreserved characters stay; everything else is encoded.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A path segment encoder that keeps `/` (contract 0.2's `|path`).
const PATH: &AsciiSet = &UNRESERVED.remove(b'/');

/// A redactor that learns values while it is shared, such as an OAuth2
/// token refreshed in the middle of a run: every reader takes the current
/// snapshot.
#[derive(Clone, Default, Debug)]
pub struct SharedRedactor(Arc<std::sync::RwLock<Redactor>>);

impl SharedRedactor {
    /// Share `redactor`.
    pub fn new(redactor: Redactor) -> Self {
        Self(Arc::new(std::sync::RwLock::new(redactor)))
    }

    /// What it redacts now.
    pub fn snapshot(&self) -> Redactor {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Also redact `value` from now on.
    pub fn add(&self, value: &str) {
        self.0.write().unwrap_or_else(|e| e.into_inner()).add(value);
    }
}

/// Replaces known secret values, in all their derived forms, with
/// [`REDACTED`]. Cheap to clone.
#[derive(Clone, Default)]
pub struct Redactor {
    values: Vec<Arc<str>>,
    matcher: Option<Arc<AhoCorasick>>,
    /// The longest needle's length.
    longest: usize,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redactor")
            .field("values", &self.values.len())
            .finish_non_exhaustive()
    }
}

impl Redactor {
    /// A redactor for these values and their derived forms.
    pub fn new<'a>(values: impl IntoIterator<Item = &'a str>) -> Self {
        let mut values: Vec<Arc<str>> = values
            .into_iter()
            .filter(|v| v.len() >= MIN_SECRET_LEN)
            .map(Arc::from)
            .collect();
        values.sort();
        values.dedup();
        let mut r = Self {
            values,
            matcher: None,
            longest: 0,
        };
        r.build();
        r
    }

    /// Also redact `value`.
    pub fn add(&mut self, value: &str) {
        if value.len() < MIN_SECRET_LEN || self.values.iter().any(|v| &**v == value) {
            return;
        }
        self.values.push(Arc::from(value));
        self.build();
    }

    /// A redactor for the values of both.
    pub fn union(&self, other: &Redactor) -> Redactor {
        Self::new(self.values.iter().chain(other.values.iter()).map(|v| &**v))
    }

    fn build(&mut self) {
        let mut needles: Vec<Vec<u8>> = self
            .values
            .iter()
            .flat_map(|v| forms(v))
            .map(|f| f.to_ascii_lowercase())
            .collect();
        needles.sort();
        needles.dedup();
        self.longest = needles.iter().map(Vec::len).max().unwrap_or(0);
        self.matcher = (!needles.is_empty()).then(|| {
            Arc::new(
                AhoCorasickBuilder::new()
                    .match_kind(MatchKind::LeftmostLongest)
                    .build(&needles)
                    .expect("a few hundred literal needles always build"),
            )
        });
    }

    /// The values redacted.
    pub fn values(&self) -> &[Arc<str>] {
        &self.values
    }

    /// Whether there is anything to redact.
    pub fn is_empty(&self) -> bool {
        self.matcher.is_none()
    }

    /// Redact a string.
    pub fn redact_str<'a>(&self, text: &'a str) -> Cow<'a, str> {
        match self.redact_bytes(text.as_bytes()) {
            Cow::Borrowed(_) => Cow::Borrowed(text),
            // Needles are whole UTF-8 strings matched at character
            // boundaries of ASCII case-folded text, and the replacement is
            // ASCII, so the result is UTF-8 unless a needle started inside a
            // multi-byte character, which lossy conversion then marks.
            Cow::Owned(bytes) => Cow::Owned(String::from_utf8_lossy(&bytes).into_owned()),
        }
    }

    /// Redact bytes in one pass.
    pub fn redact_bytes<'a>(&self, data: &'a [u8]) -> Cow<'a, [u8]> {
        let Some(matcher) = &self.matcher else {
            return Cow::Borrowed(data);
        };
        let matches = spans(matcher, self.longest, data, false);
        if matches.is_empty() {
            return Cow::Borrowed(data);
        }
        let mut out = Vec::with_capacity(data.len());
        let mut last = 0;
        for (start, end) in matches {
            out.extend_from_slice(&data[last..start]);
            out.extend_from_slice(REDACTED.as_bytes());
            last = end;
        }
        out.extend_from_slice(&data[last..]);
        Cow::Owned(out)
    }

    /// Whether `text` contains any form of any value.
    pub fn finds_in(&self, text: &[u8]) -> bool {
        self.matcher
            .as_ref()
            .is_some_and(|m| !spans(m, self.longest, text, true).is_empty())
    }
}

/// How much of a text is lowered and searched at a time.
const WINDOW: usize = 64 << 10;

/// The leftmost-longest, non-overlapping spans of `matcher`'s needles
/// (lowered) in `data` with its ASCII letters lowered: what
/// ASCII-case-insensitive matching finds. The text is lowered a window at a
/// time, so a large body is not copied whole. Each window reaches `longest`
/// bytes past its end and only matches that start inside it count: such a
/// match is found whole, and the next window starts where the search would
/// go on. Lowering keeps every byte where it is, so a span of the lowered
/// text is the same span of `data`. With `first`, stops at the first.
fn spans(matcher: &AhoCorasick, longest: usize, data: &[u8], first: bool) -> Vec<(usize, usize)> {
    spans_by(matcher, longest, data, first, WINDOW)
}

/// [`spans`] with windows of `size` bytes.
fn spans_by(
    matcher: &AhoCorasick,
    longest: usize,
    data: &[u8],
    first: bool,
    size: usize,
) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    let mut lowered = Vec::new();
    let mut at = 0;
    while at < data.len() {
        let window = &data[at..(at + size + longest).min(data.len())];
        let text: &[u8] = if window.iter().any(u8::is_ascii_uppercase) {
            lowered.clear();
            lowered.extend(window.iter().map(u8::to_ascii_lowercase));
            &lowered
        } else {
            window
        };
        let starts_before = size.min(window.len());
        let mut next = at + starts_before;
        for m in matcher.find_iter(text) {
            if m.start() >= starts_before {
                break;
            }
            found.push((at + m.start(), at + m.end()));
            if first {
                return found;
            }
            next = next.max(at + m.end());
        }
        at = next;
    }
    found
}

/// Every form of `value` the host redacts: the value, its percent (three
/// character sets, and every byte), form, JSON, base64 and hex encodings. Case variants are covered by matching
/// ASCII-case-insensitively.
pub fn forms(value: &str) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = vec![value.as_bytes().to_vec()];
    for set in [NON_ALPHANUMERIC, UNRESERVED, PATH] {
        out.push(utf8_percent_encode(value, set).to_string().into_bytes());
    }
    // Some encoders escape every byte, letters included.
    out.push(
        value
            .bytes()
            .map(|b| format!("%{b:02X}"))
            .collect::<String>()
            .into_bytes(),
    );
    out.push(
        url::form_urlencoded::byte_serialize(value.as_bytes())
            .collect::<String>()
            .into_bytes(),
    );
    out.extend(json_forms(value).into_iter().map(String::into_bytes));
    for engine in [&STANDARD, &URL_SAFE] {
        out.push(engine.encode(value).into_bytes());
    }
    for offset in 0..3 {
        for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
            out.push(base64_core(engine, value.as_bytes(), offset));
        }
    }
    out.push(hex::encode(value).into_bytes());
    out.retain(|f| f.len() >= MIN_FORM_LEN || f.as_slice() == value.as_bytes());
    out.sort();
    out.dedup();
    out
}

/// The value inside a JSON string: as serde writes it, with `/` escaped,
/// with every non-ASCII character as `\uXXXX` (surrogate pairs above the
/// BMP), both (PHP's default), with HTML-sensitive characters as `\uXXXX`
/// (Go's `encoding/json`: `<`, `>`, `&`, U+2028, U+2029), and with every
/// character as `\uXXXX`.
fn json_forms(value: &str) -> Vec<String> {
    let quoted = serde_json::to_string(value).expect("strings always serialize");
    let plain = quoted[1..quoted.len() - 1].to_string();
    let slash = plain.replace('/', "\\/");
    let escape = |c: char, out: &mut String| {
        let mut units = [0u16; 2];
        for unit in c.encode_utf16(&mut units) {
            out.push_str(&format!("\\u{unit:04x}"));
        }
    };
    let mut ascii = String::with_capacity(plain.len());
    for c in plain.chars() {
        if c.is_ascii() {
            ascii.push(c);
        } else {
            escape(c, &mut ascii);
        }
    }
    let mut all = String::with_capacity(value.len() * 6);
    for c in value.chars() {
        escape(c, &mut all);
    }
    let ascii_slash = ascii.replace('/', "\\/");
    let mut html = String::with_capacity(plain.len());
    for c in plain.chars() {
        if matches!(c, '<' | '>' | '&' | '\u{2028}' | '\u{2029}') {
            escape(c, &mut html);
        } else {
            html.push(c);
        }
    }
    vec![plain, slash, ascii, ascii_slash, html, all]
}

/// The base64 characters that depend only on `value` when it starts at
/// byte `offset` (mod 3) inside a larger encoded text: the first one or two
/// characters of the first group and the last one of a partial group mix
/// in unknown neighbouring bytes and are left out.
fn base64_core(engine: &impl base64::Engine, value: &[u8], offset: usize) -> Vec<u8> {
    let mut input = vec![0u8; offset];
    input.extend_from_slice(value);
    let encoded = engine.encode(&input).into_bytes();
    let start = [0, 2, 3][offset];
    let (groups, partial) = (input.len() / 3, input.len() % 3);
    let end = 4 * groups + partial;
    if end <= start {
        return Vec::new();
    }
    encoded[start..end].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redacts_all(r: &Redactor, text: &str) {
        let out = r.redact_str(text);
        assert!(out.contains(REDACTED), "not redacted: {text}");
    }

    proptest::proptest! {
        /// Windows of any size find what one search of the whole lowered
        /// text finds, in texts made of pieces of the needles.
        #[test]
        fn windows_find_what_the_whole_text_finds(
            pieces in proptest::collection::vec(0usize..9, 0..60),
            size in 1usize..40,
        ) {
            const PIECES: [&str; 9] =
                ["Sec-Ret-42", "sec-", "RET-42", "x", "Sec-Ret-4", "2", "é", "%53ec", "ab"];
            // Needles of their own (a redactor's forms include one far
            // longer than the pieces, which would hide a window too short).
            let needles = ["sec-ret-42", "ab-sec", "sec-r", "%53ec", "ret-42"];
            let longest = needles.iter().map(|n| n.len()).max().unwrap();
            let m = AhoCorasickBuilder::new()
                .match_kind(MatchKind::LeftmostLongest)
                .build(needles)
                .unwrap();
            let text: String = pieces.iter().map(|&i| PIECES[i]).collect();
            let whole: Vec<(usize, usize)> = m
                .find_iter(&text.as_bytes().to_ascii_lowercase())
                .map(|m| (m.start(), m.end()))
                .collect();
            let windowed = spans_by(&m, longest, text.as_bytes(), false, size);
            proptest::prop_assert_eq!(&windowed, &whole);
            let first = spans_by(&m, longest, text.as_bytes(), true, size);
            proptest::prop_assert_eq!(first.first(), whole.first());
        }
    }

    #[test]
    fn a_value_across_a_window_boundary_is_found_whole() {
        let r = Redactor::new(["Sec-Ret-42"]);
        for at in [WINDOW - 12, WINDOW - 5, WINDOW - 1, WINDOW, 2 * WINDOW - 3] {
            let mut text = "x".repeat(at);
            text.push_str("SEC-ret-42");
            text.push_str(&"Y".repeat(WINDOW));
            let out = r.redact_str(&text);
            assert_eq!(
                out.len(),
                text.len() - "Sec-Ret-42".len() + REDACTED.len(),
                "{at}"
            );
            assert_eq!(&out[at..at + REDACTED.len()], REDACTED, "{at}");
            assert!(r.finds_in(text.as_bytes()), "{at}");
        }
        // Matches on both sides of a boundary, and one running over it.
        let text = format!(
            "{}sec-ret-42{}Sec-Ret-42Sec-Ret-42",
            "a".repeat(WINDOW - 10),
            "b".repeat(WINDOW - 20)
        );
        assert_eq!(r.redact_str(&text).matches(REDACTED).count(), 3);
        assert!(!r.finds_in("a".repeat(3 * WINDOW).as_bytes()));
    }

    #[test]
    fn ascii_case_is_folded_and_the_text_around_kept_as_it_was() {
        let r = Redactor::new(["Sec-Ret-42"]);
        assert_eq!(r.redact_str("A sEC-rET-42 B"), "A [REDACTED] B");
        assert!(matches!(
            r.redact_str("NO SECRET HERE"),
            Cow::Borrowed("NO SECRET HERE")
        ));
        let r = Redactor::new(["Grüße-1234"]);
        assert_eq!(r.redact_str("x GRüßE-1234 Y"), "x [REDACTED] Y");
        // Only ASCII letters fold, as before.
        assert_eq!(r.redact_str("x GRÜSSE-1234 y"), "x GRÜSSE-1234 y");
        assert!(r.finds_in("a GRüßE-1234".as_bytes()));
        assert!(!r.finds_in("a GRÜßE-1234".as_bytes()));
    }

    #[test]
    fn go_and_php_json_escapes_are_redacted() {
        let r = Redactor::new(["k<y&v/\u{e9}-1234"]);
        // Go's encoding/json and PHP's json_encode defaults.
        redacts_all(&r, r#"{"echo": "k\u003cy\u0026v/é-1234"}"#);
        redacts_all(&r, r#"{"echo": "k<y&v\/\u00e9-1234"}"#);
    }

    #[test]
    fn plain_and_encoded_forms_are_redacted() {
        let r = Redactor::new(["hunter22", "a/b c", "xy"]);
        assert_eq!(r.redact_str("pw=hunter22!"), "pw=[REDACTED]!");
        assert_eq!(
            r.redact_str("q=a%2Fb+c&z=a/b c"),
            "q=[REDACTED]&z=[REDACTED]"
        );
        assert_eq!(r.redact_str("xy stays"), "xy stays");
        assert!(matches!(r.redact_str("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn every_listed_form_is_redacted() {
        let secret = "s3cr\"et/é+ key🔑";
        let r = Redactor::new([secret]);
        let json_std = serde_json::to_string(secret).unwrap();
        let all_u: String = secret
            .encode_utf16()
            .map(|u| format!("\\u{u:04X}"))
            .collect();
        let cases = [
            secret.to_string(),
            secret.to_ascii_uppercase(),
            secret.to_ascii_lowercase(),
            json_std.clone(),
            json_std.replace('/', "\\/"),
            all_u.clone(),
            all_u.to_lowercase(),
            utf8_percent_encode(secret, NON_ALPHANUMERIC).to_string(),
            utf8_percent_encode(secret, NON_ALPHANUMERIC)
                .to_string()
                .to_lowercase(),
            url::form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
            STANDARD.encode(secret),
            URL_SAFE_NO_PAD.encode(secret),
            hex::encode(secret),
            hex::encode_upper(secret),
            // Inside HTTP Basic credentials, at each offset.
            STANDARD.encode(format!("user:{secret}")),
            STANDARD.encode(format!("us:{secret}")),
            STANDARD.encode(format!("u:{secret}:x")),
        ];
        for case in cases {
            redacts_all(&r, &format!("before {case} after"));
        }
    }

    #[test]
    fn base64_cores_match_at_every_offset() {
        let secret = b"correct horse battery";
        for offset in 0..3 {
            for prefix_len in [offset, offset + 3, offset + 6] {
                let mut text = vec![b'z'; prefix_len];
                text.extend_from_slice(secret);
                text.extend_from_slice(b"tail");
                let encoded = STANDARD.encode(&text);
                let core = base64_core(&STANDARD_NO_PAD, secret, offset);
                assert!(
                    encoded.as_bytes().windows(core.len()).any(|w| w == core),
                    "offset {offset}, prefix {prefix_len}"
                );
            }
        }
    }

    #[test]
    fn redaction_is_linear_and_one_pass() {
        let r = Redactor::new(["token-value-1", "token-value-2"]);
        let text = "token-value-1 ".repeat(200_000);
        let out = r.redact_str(&text);
        assert_eq!(out.matches(REDACTED).count(), 200_000);
        assert!(!out.contains("token-value"));
    }
}
