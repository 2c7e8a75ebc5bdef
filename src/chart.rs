//! Charts for every synthex HTML page (load-test report, comparison report, status page, trend
//! report): the page says *what* to draw as JSON, the vendored uPlot (assets/uplot) draws it and
//! assets/synthex-charts.js applies the axis rules all pages share (y from 0 on round 1-2-5
//! ticks, ratios at most 100 %, binary units for memory, elapsed time from 0 s on one range,
//! stage bands, threshold lines, gaps instead of zeros).
//!
//! Why a JavaScript library rather than SVG drawn in Rust: people hover a report for exact
//! values and zoom into a spike, and uPlot does both in ~50 KB, is maintained and MIT licensed.
//! Everything is inlined with `include_str!`, so a page stays one offline file.
//!
//! A page uses three calls: [`styles`] inside `<head>`, [`grid`] where the charts go (any number
//! of times) and [`scripts`] once at the end of `<body>`.

use serde::Serialize;

const UPLOT_JS: &str = include_str!("../assets/uplot/uPlot.iife.min.js");
const UPLOT_CSS: &str = include_str!("../assets/uplot/uPlot.min.css");
const CHARTS_JS: &str = include_str!("../assets/synthex-charts.js");
const CHARTS_CSS: &str = ".sx-grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(440px,1fr));\
gap:1rem 1.5rem;margin:.5rem 0 1rem}.sx-chart{min-width:0;min-height:300px}\
.sx-chart .u-title{font-size:13px;text-align:left;padding-left:4px}\
.sx-chart .u-legend{font-size:12px}.sx-title{font-weight:bold;font-size:13px}\
.sx-empty{color:#777;margin:1rem 4px}";

/// What the values on an axis are, which sets its ticks and labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// Seconds since the run started (x axis of every chart over time).
    Elapsed,
    /// Unix seconds, labelled as local wall-clock time (the status page's last hour).
    Clock,
    /// A percentile as `-log10(1 - q)`: 1 is p90, 2 is p99, 3 is p99.9 (see [`nines`]).
    Nines,
    /// A duration in seconds, labelled in µs, ms or s.
    Seconds,
    /// A ratio 0–1, labelled in percent, never above 100 %.
    Ratio,
    /// Bytes, labelled in KiB, MiB, GiB.
    Bytes,
    /// A run's number in a trend, `#1`, `#2`, … (x only; ticks on whole runs).
    Run,
    /// A plain count (users).
    Count,
    /// Events per second.
    Rate,
    /// CPU seconds per second.
    Cores,
}

/// One axis: its unit, optionally a fixed range (x only) and a log scale (y only).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Axis {
    unit: Unit,
    #[serde(skip_serializing_if = "Option::is_none")]
    min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max: Option<f64>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    log: bool,
}

impl Axis {
    /// An axis whose range follows the data (y: from 0 to a round tick above it).
    pub fn of(unit: Unit) -> Axis {
        Axis {
            unit,
            min: None,
            max: None,
            log: false,
        }
    }

    /// Elapsed time from 0 s to `length` seconds: give every chart of a run the same length,
    /// so their time axes line up.
    pub fn elapsed(length: f64) -> Axis {
        Axis {
            min: Some(0.0),
            max: Some(if length > 0.0 { length } else { 1.0 }),
            ..Axis::of(Unit::Elapsed)
        }
    }

    /// Wall-clock time from `from` to `to` (Unix seconds), ticks on round minutes.
    pub fn clock(from: f64, to: f64) -> Axis {
        Axis {
            min: Some(from),
            max: Some(to.max(from + 1.0)),
            ..Axis::of(Unit::Clock)
        }
    }

    /// Run numbers 1 to `count`, the x axis of a trend.
    pub fn runs(count: usize) -> Axis {
        Axis {
            min: Some(1.0),
            max: Some(count.max(2) as f64),
            ..Axis::of(Unit::Run)
        }
    }

    /// The same axis on a log scale (1-2-5 ticks per decade), for values spanning decades such
    /// as latencies of a 0.3 ms and a 50 ms scenario on one chart.
    pub fn log(self) -> Axis {
        Axis { log: true, ..self }
    }
}

/// A line given as its own `(x, y)` samples, `None` for a gap: see [`Chart::aligned`].
pub type Sampled = (String, Vec<(f64, Option<f64>)>);

/// One line of a chart; `None` values are gaps, never zeros.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Series {
    label: String,
    values: Vec<Option<f64>>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    dash: bool,
}

/// A shaded x range with a label (a stage of the load profile).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Band {
    /// Start, in x units.
    pub from: f64,
    /// End, in x units.
    pub to: f64,
    /// Shown at the band's top left.
    pub label: String,
}

/// A horizontal line with a label (a threshold).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Line {
    /// Height, in y units; the y axis always reaches it.
    pub value: f64,
    /// Shown at the line's right end.
    pub label: String,
}

/// One chart: every series shares the `xs`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Chart {
    id: String,
    title: String,
    x: Axis,
    y: Axis,
    xs: Vec<f64>,
    series: Vec<Series>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    bands: Vec<Band>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    lines: Vec<Line>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    join: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    points: bool,
}

impl Chart {
    /// A chart without series; `id` must be unique in the page and is used as the element id
    /// (letters, digits and `-` only, so no escaping is needed).
    pub fn new(id: impl Into<String>, title: impl Into<String>, x: Axis, y: Axis) -> Chart {
        let id: String = id.into();
        let id = id
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        Chart {
            id,
            title: title.into(),
            x,
            y,
            xs: Vec::new(),
            series: Vec::new(),
            bands: Vec::new(),
            lines: Vec::new(),
            join: false,
            points: false,
        }
    }

    /// Sets the xs and one series per `(label, points)`, each sampled at its own xs: the xs
    /// become their union and, when the series do not share them all, each line is drawn
    /// across the xs it has no sample at (a sample whose value is `None` stays a gap when
    /// every series has every x).
    pub fn aligned(mut self, series: Vec<Sampled>) -> Chart {
        let mut xs: Vec<f64> = series
            .iter()
            .flat_map(|(_, points)| points.iter().map(|p| p.0))
            .filter(|x| x.is_finite())
            .collect();
        xs.sort_by(f64::total_cmp);
        xs.dedup();
        self.join = series.iter().any(|(_, points)| points.len() != xs.len());
        for (label, points) in series {
            let mut values = vec![None; xs.len()];
            for (x, y) in points {
                if let Ok(i) = xs.binary_search_by(|probe| probe.total_cmp(&x)) {
                    values[i] = y;
                }
            }
            self = self.series(label, values);
        }
        self.xs = xs;
        self
    }

    /// Sets the x values every series is drawn against.
    pub fn xs(mut self, xs: Vec<f64>) -> Chart {
        self.xs = xs;
        self
    }

    /// Adds a solid line; `values` has one entry per x.
    pub fn series(mut self, label: impl Into<String>, values: Vec<Option<f64>>) -> Chart {
        self.series.push(Series {
            label: label.into(),
            values,
            dash: false,
        });
        self
    }

    /// Adds a dashed line (a baseline beside the current run).
    pub fn dashed(mut self, label: impl Into<String>, values: Vec<Option<f64>>) -> Chart {
        self.series.push(Series {
            label: label.into(),
            values,
            dash: true,
        });
        self
    }

    /// Draws series `index` dashed (a baseline beside the current run).
    pub fn dash(mut self, index: usize) -> Chart {
        if let Some(series) = self.series.get_mut(index) {
            series.dash = true;
        }
        self
    }

    /// Shades these x ranges in turn.
    pub fn bands(mut self, bands: Vec<Band>) -> Chart {
        self.bands = bands;
        self
    }

    /// Draws these horizontal lines.
    pub fn lines(mut self, lines: Vec<Line>) -> Chart {
        self.lines = lines;
        self
    }

    /// Marks every point, so a value between two gaps shows (the status page's minutes).
    pub fn with_points(mut self) -> Chart {
        self.points = true;
        self
    }

    /// The element id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Number of series.
    pub fn series_count(&self) -> usize {
        self.series.len()
    }
}

/// The x of quantile `q` on a [`Unit::Nines`] axis.
pub fn nines(q: f64) -> f64 {
    -(1.0 - q).max(1e-9).log10()
}

/// The `<style>` element for the page's `<head>`.
pub fn styles() -> String {
    format!("<style>{UPLOT_CSS}{CHARTS_CSS}</style>")
}

/// The charts' elements in a responsive grid, followed by their data as JSON (text that
/// could end the script element is written as `\u003c`).
pub fn grid(charts: &[Chart]) -> String {
    let mut out = String::from("<div class=\"sx-grid\">");
    for chart in charts {
        out.push_str(&format!(
            "<div class=\"sx-chart\" id=\"{}\"></div>",
            chart.id
        ));
    }
    out.push_str("</div>");
    out.push_str(&data(charts));
    out
}

/// The charts' data alone, for a page that places the elements itself.
pub fn data(charts: &[Chart]) -> String {
    #[derive(Serialize)]
    struct Page<'a> {
        charts: &'a [Chart],
    }
    // Serialising plain numbers and strings cannot fail.
    let json = serde_json::to_string(&Page { charts }).unwrap_or_default();
    format!(
        "<script type=\"application/json\" class=\"sx-charts\">{}</script>",
        json.replace('<', "\\u003c")
    )
}

/// uPlot and the chart rules as `<script>` elements, once, at the end of `<body>`.
pub fn scripts() -> String {
    format!("<script>{UPLOT_JS}</script><script>{CHARTS_JS}</script>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_data_cannot_close_its_script_element() {
        let chart = Chart::new(
            "a b",
            "</script><script>alert(1)</script>",
            Axis::elapsed(0.0),
            Axis::of(Unit::Ratio),
        )
        .xs(vec![0.0, 1.0])
        .series("x", vec![Some(0.5), None]);
        let html = grid(&[chart]);
        assert!(
            html.starts_with(
                "<div class=\"sx-grid\"><div class=\"sx-chart\" id=\"a-b\"></div></div>"
            ),
            "{html}"
        );
        assert_eq!(html.matches("</script>").count(), 1, "{html}");
        let (_, json) = html.split_once("class=\"sx-charts\">").unwrap();
        let json = json.trim_end_matches("</script>");
        let parsed: serde_json::Value = serde_json::from_str(json).unwrap();
        let chart = &parsed["charts"][0];
        assert_eq!(chart["title"], "</script><script>alert(1)</script>");
        assert_eq!(
            chart["x"],
            serde_json::json!({"unit": "elapsed", "min": 0.0, "max": 1.0})
        );
        assert_eq!(chart["series"][0]["values"], serde_json::json!([0.5, null]));
    }

    #[test]
    fn series_sampled_at_different_times_share_the_union_of_their_xs() {
        let chart = Chart::new("c", "t", Axis::elapsed(3.0), Axis::of(Unit::Bytes)).aligned(vec![
            ("a".into(), vec![(1.0, Some(10.0)), (2.0, Some(20.0))]),
            ("b".into(), vec![(1.5, Some(5.0)), (2.0, None)]),
        ]);
        assert_eq!(chart.xs, [1.0, 1.5, 2.0]);
        assert_eq!(chart.series[0].values, [Some(10.0), None, Some(20.0)]);
        assert_eq!(chart.series[1].values, [None, Some(5.0), None]);
        assert!(chart.join);
        let same = Chart::new("c", "t", Axis::elapsed(3.0), Axis::of(Unit::Count)).aligned(vec![
            ("a".into(), vec![(1.0, Some(1.0)), (2.0, None)]),
            ("b".into(), vec![(1.0, Some(2.0)), (2.0, Some(3.0))]),
        ]);
        assert!(!same.join, "a missing value at a shared x stays a gap");
    }

    #[test]
    fn nines_put_p90_p99_one_apart() {
        assert_eq!(nines(0.0), 0.0);
        assert!((nines(0.9) - 1.0).abs() < 1e-12);
        assert!((nines(0.99) - 2.0).abs() < 1e-12);
        assert!(nines(1.0).is_finite());
    }
}
