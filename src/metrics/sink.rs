//! The ways to emit the per-scenario families: straight to the text format 0.0.4 or OpenMetrics
//! (the scrape paths, no per-sample allocation), to the protobuf exposition
//! ([`super::protobuf`]), or to the prometheus proto model (for `Registry::gather`, which tests
//! and other users of the registry call). All are fed by the same walk over the scenarios
//! ([`super::collector`]), so they cannot disagree.

use std::io::Write;
use std::time::Duration;

use prometheus::proto::{self, MetricFamily, MetricType};

use super::exemplar::{Exemplar, TRACE_ID_LABEL};
use super::native::NativeHistogram;
use super::openmetrics;
use super::series::{Bounds, HistogramData, Labels};

/// Name, help and type of one family.
pub(super) struct Family {
    pub(super) name: &'static str,
    pub(super) help: &'static str,
    pub(super) kind: MetricType,
}

/// An extra label placed before the series' own labels (`code`, `phase`, `reason`, `result`).
pub(super) type Extra<'a> = Option<(&'static str, &'a str)>;

/// What only the duration histogram has: an exemplar per classic bucket and the native form.
/// Formats that cannot carry them ignore them.
#[derive(Default, Clone, Copy)]
pub(super) struct Extras<'a> {
    /// Indexed like the classic buckets (the last one is `+Inf`).
    pub(super) exemplars: &'a [Option<Exemplar>],
    pub(super) native: Option<&'a NativeHistogram>,
}

/// Receives the samples of one family after another.
pub(super) trait Sink {
    /// Starts a family; nothing is written for a family without samples.
    fn begin(&mut self, family: &'static Family);
    /// A counter sample.
    fn counter(&mut self, labels: &Labels, extra: Extra<'_>, value: u64);
    /// A gauge sample.
    fn gauge(&mut self, labels: &Labels, value: f64);
    /// A classic histogram, with the duration histogram's extras.
    fn histogram(
        &mut self,
        labels: &Labels,
        extra: Extra<'_>,
        bounds: &Bounds,
        data: &HistogramData,
        extras: Extras<'_>,
    );
    /// A summary; a `None` value (empty window) is exported as NaN, as the Go client does.
    fn summary(
        &mut self,
        labels: &Labels,
        quantiles: &[(f64, Option<Duration>)],
        sum: f64,
        count: u64,
    );
}

/// Writes the text format 0.0.4, or OpenMetrics 1.0, into a byte buffer.
pub(super) struct TextSink<'a> {
    out: &'a mut Vec<u8>,
    /// Registry-wide labels, rendered (`env="prod"`), appended to every series as the registry
    /// does for the families it gathers.
    global: &'a str,
    /// OpenMetrics: counter families named without `_total`, exemplars on histogram buckets.
    openmetrics: bool,
    family: Option<&'static Family>,
    header_written: bool,
}

impl<'a> TextSink<'a> {
    pub(super) fn new(out: &'a mut Vec<u8>, global: &'a str, openmetrics: bool) -> TextSink<'a> {
        TextSink {
            out,
            global,
            openmetrics,
            family: None,
            header_written: false,
        }
    }

    /// Writes `name<suffix>{extra,labels,global,last} ` (the value follows), preceded by the
    /// family's HELP and TYPE lines before its first sample.
    fn series(
        &mut self,
        suffix: &str,
        extra: Extra<'_>,
        labels: &Labels,
        last: Option<(&str, &str)>,
    ) {
        let Some(family) = self.family else {
            return;
        };
        if !self.header_written {
            self.header_written = true;
            let name = match self.openmetrics {
                true => openmetrics::family_name(family.name, family.kind),
                false => family.name,
            };
            let _ = writeln!(self.out, "# HELP {name} {}", family.help);
            let _ = writeln!(self.out, "# TYPE {name} {}", type_name(family.kind));
        }
        let out = &mut *self.out;
        out.extend_from_slice(family.name.as_bytes());
        out.extend_from_slice(suffix.as_bytes());
        out.push(b'{');
        let mut first = true;
        let mut comma = |out: &mut Vec<u8>| {
            if !std::mem::replace(&mut first, false) {
                out.push(b',');
            }
        };
        if let Some((name, value)) = extra {
            comma(out);
            write_label(out, name, value);
        }
        for text in [labels.text.as_str(), self.global] {
            if !text.is_empty() {
                comma(out);
                out.extend_from_slice(text.as_bytes());
            }
        }
        if let Some((name, value)) = last {
            comma(out);
            write_label(out, name, value);
        }
        out.extend_from_slice(b"} ");
    }

    fn value_u64(&mut self, value: u64) {
        let _ = writeln!(self.out, "{value}");
    }

    /// A bucket's count, with its exemplar in OpenMetrics.
    fn bucket_count(&mut self, value: u64, exemplar: Option<&Option<Exemplar>>) {
        match exemplar {
            Some(Some(exemplar)) if self.openmetrics => {
                let _ = writeln!(
                    self.out,
                    "{value} # {{{TRACE_ID_LABEL}=\"{}\"}} {} {:.3}",
                    exemplar.trace_id,
                    exemplar.value,
                    exemplar.unix_seconds()
                );
            }
            _ => self.value_u64(value),
        }
    }

    fn value_f64(&mut self, value: f64) {
        write_f64(self.out, value);
    }
}

/// A sample value and the line's end, as both text formats write it.
pub(super) fn write_f64(out: &mut Vec<u8>, value: f64) {
    if value.is_nan() {
        out.extend_from_slice(b"NaN\n");
    } else if value.is_infinite() {
        let text: &[u8] = if value > 0.0 { b"+Inf\n" } else { b"-Inf\n" };
        out.extend_from_slice(text);
    } else {
        let _ = writeln!(out, "{value}");
    }
}

/// `name="value"` for the extra and trailing labels: status codes, phase, reason and result
/// names, `le` and `quantile` numbers, none of which can hold a character that needs escaping.
fn write_label(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"=\"");
    out.extend_from_slice(value.as_bytes());
    out.push(b'"');
}

pub(super) fn type_name(kind: MetricType) -> &'static str {
    match kind {
        MetricType::COUNTER => "counter",
        MetricType::GAUGE => "gauge",
        MetricType::HISTOGRAM => "histogram",
        MetricType::SUMMARY => "summary",
        MetricType::UNTYPED => "untyped",
    }
}

impl Sink for TextSink<'_> {
    fn begin(&mut self, family: &'static Family) {
        self.family = Some(family);
        self.header_written = false;
    }

    fn counter(&mut self, labels: &Labels, extra: Extra<'_>, value: u64) {
        self.series("", extra, labels, None);
        self.value_u64(value);
    }

    fn gauge(&mut self, labels: &Labels, value: f64) {
        self.series("", None, labels, None);
        self.value_f64(value);
    }

    fn histogram(
        &mut self,
        labels: &Labels,
        extra: Extra<'_>,
        bounds: &Bounds,
        data: &HistogramData,
        extras: Extras<'_>,
    ) {
        let mut cumulative = 0;
        for (i, (le, count)) in bounds.text.iter().zip(&data.counts).enumerate() {
            cumulative += count;
            self.series("_bucket", extra, labels, Some(("le", le)));
            self.bucket_count(cumulative, extras.exemplars.get(i));
        }
        self.series("_bucket", extra, labels, Some(("le", "+Inf")));
        self.bucket_count(data.count, extras.exemplars.get(bounds.upper.len()));
        self.series("_sum", extra, labels, None);
        self.value_f64(data.sum);
        self.series("_count", extra, labels, None);
        self.value_u64(data.count);
    }

    fn summary(
        &mut self,
        labels: &Labels,
        quantiles: &[(f64, Option<Duration>)],
        sum: f64,
        count: u64,
    ) {
        for (q, value) in quantiles {
            self.series("", None, labels, Some(("quantile", &q.to_string())));
            self.value_f64(value.map_or(f64::NAN, |d| d.as_secs_f64()));
        }
        self.series("_sum", None, labels, None);
        self.value_f64(sum);
        self.series("_count", None, labels, None);
        self.value_u64(count);
    }
}

/// Builds proto metric families (without the registry-wide labels: the registry adds them).
#[derive(Default)]
pub(super) struct ProtoSink {
    families: Vec<MetricFamily>,
}

impl ProtoSink {
    pub(super) fn finish(self) -> Vec<MetricFamily> {
        self.families
    }

    fn push(&mut self, labels: &Labels, extra: Extra<'_>, fill: impl FnOnce(&mut proto::Metric)) {
        let mut pairs = Vec::with_capacity(labels.pairs.len() + 1);
        if let Some((name, value)) = extra {
            pairs.push(label_pair(name, value));
        }
        pairs.extend(labels.pairs.iter().map(|(n, v)| label_pair(n, v)));
        let mut metric = proto::Metric::default();
        metric.set_label(pairs);
        fill(&mut metric);
        if let Some(family) = self.families.last_mut() {
            family.mut_metric().push(metric);
        }
    }
}

fn label_pair(name: &str, value: &str) -> proto::LabelPair {
    let mut pair = proto::LabelPair::default();
    pair.set_name(name.to_string());
    pair.set_value(value.to_string());
    pair
}

impl Sink for ProtoSink {
    fn begin(&mut self, family: &'static Family) {
        let mut mf = MetricFamily::default();
        mf.set_name(family.name.to_string());
        mf.set_help(family.help.to_string());
        mf.set_field_type(family.kind);
        self.families.push(mf);
    }

    fn counter(&mut self, labels: &Labels, extra: Extra<'_>, value: u64) {
        self.push(labels, extra, |m| {
            let mut counter = proto::Counter::default();
            counter.set_value(value as f64);
            m.set_counter(counter);
        });
    }

    fn gauge(&mut self, labels: &Labels, value: f64) {
        self.push(labels, None, |m| {
            let mut gauge = proto::Gauge::default();
            gauge.set_value(value);
            m.set_gauge(gauge);
        });
    }

    fn histogram(
        &mut self,
        labels: &Labels,
        extra: Extra<'_>,
        bounds: &Bounds,
        data: &HistogramData,
        _extras: Extras<'_>,
    ) {
        let mut cumulative = 0;
        let buckets = bounds
            .upper
            .iter()
            .zip(&data.counts)
            .map(|(&upper, count)| {
                cumulative += count;
                let mut bucket = proto::Bucket::default();
                bucket.set_upper_bound(upper);
                bucket.set_cumulative_count(cumulative);
                bucket
            })
            .collect();
        self.push(labels, extra, |m| {
            let mut histogram = proto::Histogram::default();
            histogram.set_bucket(buckets);
            histogram.set_sample_sum(data.sum);
            histogram.set_sample_count(data.count);
            m.set_histogram(histogram);
        });
    }

    fn summary(
        &mut self,
        labels: &Labels,
        quantiles: &[(f64, Option<Duration>)],
        sum: f64,
        count: u64,
    ) {
        let quantiles = quantiles
            .iter()
            .map(|(q, value)| {
                let mut quantile = proto::Quantile::default();
                quantile.set_quantile(*q);
                quantile.set_value(value.map_or(f64::NAN, |d| d.as_secs_f64()));
                quantile
            })
            .collect();
        self.push(labels, None, |m| {
            let mut summary = proto::Summary::default();
            summary.set_quantile(quantiles);
            summary.set_sample_sum(sum);
            summary.set_sample_count(count);
            m.set_summary(summary);
        });
    }
}
