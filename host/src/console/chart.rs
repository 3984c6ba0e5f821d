//! The dashboard's chart: runs per hour by outcome, as stacked bars in an
//! SVG drawn on the server (no script, no library); colours come from the
//! stylesheet, so it follows the light and dark themes.

use maud::{Markup, html};

/// One bar: a label and its stacked counts (succeeded, failed, other).
#[derive(Debug, Clone)]
pub struct Bar {
    /// Shown under every few bars.
    pub label: String,
    /// Succeeded runs.
    pub ok: i64,
    /// Failed runs.
    pub bad: i64,
    /// Cancelled runs.
    pub other: i64,
}

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 160.0;
const BOTTOM: f64 = 18.0;
const LEFT: f64 = 28.0;

/// Stacked bars; the scale is the tallest bar (at least 1).
pub fn runs_by_hour(bars: &[Bar], title: &str) -> Markup {
    let max = bars
        .iter()
        .map(|b| b.ok + b.bad + b.other)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let plot = HEIGHT - BOTTOM;
    let slot = (WIDTH - LEFT) / bars.len().max(1) as f64;
    let scale = |n: i64| n as f64 / max * (plot - 6.0);
    html! {
        svg.chart viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) role="img" aria-label=(title) {
            title { (title) }
            line x1=(LEFT) y1=(plot) x2=(WIDTH) y2=(plot) {}
            text x="0" y="10" { (max as i64) }
            text x="0" y=(plot) { "0" }
            @for (i, b) in bars.iter().enumerate() {
                @let x = LEFT + i as f64 * slot + slot * 0.15;
                @let w = slot * 0.7;
                @let h_ok = scale(b.ok);
                @let h_bad = scale(b.bad);
                @let h_other = scale(b.other);
                g {
                    title { (b.label) ": " (b.ok) " succeeded, " (b.bad) " failed, " (b.other) " cancelled" }
                    @if b.ok > 0 { rect.ok x=(fmt(x)) y=(fmt(plot - h_ok)) width=(fmt(w)) height=(fmt(h_ok)) {} }
                    @if b.bad > 0 { rect.bad x=(fmt(x)) y=(fmt(plot - h_ok - h_bad)) width=(fmt(w)) height=(fmt(h_bad)) {} }
                    @if b.other > 0 { rect.other x=(fmt(x)) y=(fmt(plot - h_ok - h_bad - h_other)) width=(fmt(w)) height=(fmt(h_other)) {} }
                    // A transparent full-height rect gives the tooltip a target.
                    rect x=(fmt(x)) y="0" width=(fmt(w)) height=(fmt(plot)) fill-opacity="0" {}
                }
                @if i % 3 == 0 {
                    text x=(fmt(x)) y=(HEIGHT - 4.0) { (b.label) }
                }
            }
        }
    }
}

fn fmt(v: f64) -> String {
    format!("{v:.1}")
}
