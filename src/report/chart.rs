//! Inline SVG line charts for the HTML report, drawn in Rust so the report needs no script, no
//! CDN and no network: axes with "nice" ticks in the series' unit, one polyline per series and
//! a legend.

use std::fmt::Write as _;

use super::format;

/// How axis values are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Seconds, shown as a latency (`50ms`) or, on a time axis, as an offset.
    Seconds,
    /// Ratio 0–1, shown as a percentage.
    Ratio,
    /// Bytes, shown in KiB/MiB/GiB.
    Bytes,
    /// Plain number (users, requests/s).
    Number,
}

impl Unit {
    fn show(self, value: f64) -> String {
        match self {
            Unit::Seconds => format::duration(value),
            Unit::Ratio => format::percent(value),
            Unit::Bytes => format::bytes(value),
            Unit::Number => format::decimals(value, 1),
        }
    }
}

/// One line of a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// `(x, y)` points in x order.
    pub points: Vec<(f64, f64)>,
}

/// A line chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// Element id, unique in the page (`chart-rps`).
    pub id: &'static str,
    /// Title above the plot.
    pub title: String,
    /// Unit of the x axis.
    pub x_unit: Unit,
    /// Unit of the y axis.
    pub y_unit: Unit,
    /// The lines.
    pub series: Vec<Series>,
}

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 72.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 34.0;
const BOTTOM: f64 = 40.0;
const TICKS: usize = 4;
const COLOURS: [&str; 6] = [
    "#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2",
];

/// A step of 1, 2 or 5 × 10ⁿ giving about [`TICKS`] intervals up to `max`.
fn nice_step(max: f64) -> f64 {
    let raw = max / TICKS as f64;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    if step.is_finite() && step > 0.0 {
        step
    } else {
        1.0
    }
}

/// The chart as an `<svg>` element.
pub fn svg(chart: &Chart) -> String {
    let points = chart.series.iter().flat_map(|s| s.points.iter());
    let finite: Vec<(f64, f64)> = points
        .filter(|(x, y)| x.is_finite() && y.is_finite())
        .copied()
        .collect();
    let mut out = format!(
        r#"<svg id="{}" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{}">"#,
        chart.id,
        format::escape_html(&chart.title)
    );
    let _ = write!(
        out,
        r#"<text class="title" x="{LEFT}" y="18">{}</text>"#,
        format::escape_html(&chart.title)
    );
    if finite.is_empty() {
        let _ = write!(
            out,
            r#"<text x="{}" y="{}">no data</text></svg>"#,
            WIDTH / 2.0,
            HEIGHT / 2.0
        );
        return out;
    }
    let x_min = finite.iter().map(|p| p.0).fold(f64::INFINITY, f64::min);
    let x_max = finite.iter().map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
    let y_step = nice_step(finite.iter().map(|p| p.1).fold(0.0, f64::max));
    let y_max = y_step * TICKS as f64;
    let x_span = if x_max > x_min { x_max - x_min } else { 1.0 };
    let (plot_w, plot_h) = (WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
    let px = |x: f64| LEFT + (x - x_min) / x_span * plot_w;
    let py = |y: f64| TOP + plot_h - (y / y_max).clamp(0.0, 1.0) * plot_h;

    for i in 0..=TICKS {
        let value = y_step * i as f64;
        let y = py(value);
        let _ = write!(
            out,
            r#"<line class="grid" x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}"/><text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            chart.y_unit.show(value)
        );
        let x_value = x_min + x_span * i as f64 / TICKS as f64;
        let _ = write!(
            out,
            r#"<text class="tick" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            px(x_value),
            HEIGHT - BOTTOM + 16.0,
            chart.x_unit.show(x_value)
        );
    }
    let _ = write!(
        out,
        r#"<line class="axis" x1="{LEFT}" y1="{0:.1}" x2="{1:.1}" y2="{0:.1}"/>"#,
        TOP + plot_h,
        WIDTH - RIGHT
    );
    for (i, series) in chart.series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let coordinates: Vec<String> = series
            .points
            .iter()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .map(|(x, y)| format!("{:.1},{:.1}", px(*x), py(*y)))
            .collect();
        let _ = write!(
            out,
            r#"<polyline class="series" fill="none" stroke="{colour}" stroke-width="2" points="{}"><title>{}</title></polyline>"#,
            coordinates.join(" "),
            format::escape_html(&series.name)
        );
        let legend_x = LEFT + 8.0 + 150.0 * i as f64;
        let _ = write!(
            out,
            r#"<rect x="{legend_x:.1}" y="{0:.1}" width="10" height="10" fill="{colour}"/><text class="legend" x="{1:.1}" y="{2:.1}">{3}</text>"#,
            HEIGHT - 14.0,
            legend_x + 14.0,
            HEIGHT - 5.0,
            format::escape_html(&series.name)
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(series: Vec<Series>) -> Chart {
        Chart {
            id: "chart-test",
            title: "Latency <p95>".into(),
            x_unit: Unit::Seconds,
            y_unit: Unit::Seconds,
            series,
        }
    }

    #[test]
    fn ticks_are_round_numbers_covering_the_maximum() {
        assert_eq!(nice_step(0.062), 0.02);
        assert_eq!(nice_step(100.0), 50.0);
        assert_eq!(nice_step(7.0), 2.0);
        assert_eq!(nice_step(0.0), 1.0);
    }

    #[test]
    fn each_series_is_a_polyline_scaled_into_the_plot() {
        let svg = svg(&chart(vec![Series {
            name: "p95 & co".into(),
            points: vec![(0.0, 0.0), (5.0, 0.04), (10.0, 0.08)],
        }]));
        assert!(
            svg.starts_with(r#"<svg id="chart-test" class="chart""#),
            "{svg}"
        );
        // y axis tops out at 4 × 20ms = 80ms: the last point touches the top of the plot.
        assert!(
            svg.contains(r#"points="72.0,220.0 348.0,127.0 624.0,34.0""#),
            "{svg}"
        );
        assert!(svg.contains(">80ms</text>"), "{svg}");
        assert!(
            svg.contains("Latency &lt;p95&gt;") && svg.contains("p95 &amp; co"),
            "{svg}"
        );
        assert!(svg.ends_with("</svg>"));
    }

    #[test]
    fn a_chart_without_points_says_so() {
        let svg = svg(&chart(vec![]));
        assert!(
            svg.contains("no data") && !svg.contains("polyline"),
            "{svg}"
        );
    }
}
