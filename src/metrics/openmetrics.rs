//! OpenMetrics 1.0 text for the families gathered from the registry (process, build info,
//! guards, sampler, stats poller, exporter connections); the per-scenario families are written
//! by the text sink in its OpenMetrics mode, with exemplars. What differs from the text format
//! 0.0.4: a counter family is named without its `_total` suffix (its samples keep it), `untyped`
//! is `unknown`, HELP escapes double quotes too, and the exposition ends with `# EOF`.

use std::io::Write;

use prometheus::proto::{LabelPair, Metric, MetricFamily, MetricType};

use super::series::escape_label_value;
use super::sink::{type_name, write_f64};

/// The end-of-exposition marker OpenMetrics requires.
pub(super) const EOF: &[u8] = b"# EOF\n";

/// The family name OpenMetrics wants: a counter's without `_total`.
pub(super) fn family_name(name: &str, kind: MetricType) -> &str {
    match kind {
        MetricType::COUNTER => name.strip_suffix("_total").unwrap_or(name),
        _ => name,
    }
}

/// Writes `families` (as `Registry::gather` returns them) in OpenMetrics text.
pub(super) fn encode(families: &[MetricFamily], out: &mut Vec<u8>) {
    for family in families.iter().filter(|f| !f.get_metric().is_empty()) {
        let kind = family.get_field_type();
        let name = family_name(family.name(), kind);
        // OpenMetrics escapes HELP like a label value: backslash, newline, double quote.
        let _ = writeln!(out, "# HELP {name} {}", escape_label_value(family.help()));
        let type_text = match kind {
            MetricType::UNTYPED => "unknown",
            kind => type_name(kind),
        };
        let _ = writeln!(out, "# TYPE {name} {type_text}");
        for metric in family.get_metric() {
            write_metric(out, name, kind, metric);
        }
    }
}

fn write_metric(out: &mut Vec<u8>, name: &str, kind: MetricType, metric: &Metric) {
    let labels = metric.get_label();
    match kind {
        MetricType::COUNTER => {
            sample(out, name, "_total", labels, None);
            write_f64(out, metric.get_counter().get_value());
        }
        MetricType::GAUGE => {
            sample(out, name, "", labels, None);
            write_f64(out, metric.get_gauge().get_value());
        }
        MetricType::UNTYPED => {
            sample(out, name, "", labels, None);
            write_f64(out, untyped_value(metric));
        }
        MetricType::SUMMARY => {
            let summary = metric.get_summary();
            for quantile in summary.get_quantile() {
                let q = quantile.quantile().to_string();
                sample(out, name, "", labels, Some(("quantile", &q)));
                write_f64(out, quantile.value());
            }
            sample(out, name, "_sum", labels, None);
            write_f64(out, summary.sample_sum());
            sample(out, name, "_count", labels, None);
            let _ = writeln!(out, "{}", summary.sample_count());
        }
        MetricType::HISTOGRAM => {
            let histogram = metric.get_histogram();
            let mut has_inf = false;
            for bucket in histogram.get_bucket() {
                let upper = bucket.upper_bound();
                has_inf |= upper == f64::INFINITY;
                let le = match upper == f64::INFINITY {
                    true => "+Inf".to_string(),
                    false => upper.to_string(),
                };
                sample(out, name, "_bucket", labels, Some(("le", &le)));
                let _ = writeln!(out, "{}", bucket.cumulative_count());
            }
            if !has_inf {
                sample(out, name, "_bucket", labels, Some(("le", "+Inf")));
                let _ = writeln!(out, "{}", histogram.get_sample_count());
            }
            sample(out, name, "_sum", labels, None);
            write_f64(out, histogram.get_sample_sum());
            sample(out, name, "_count", labels, None);
            let _ = writeln!(out, "{}", histogram.get_sample_count());
        }
    }
}

/// An untyped sample's value. The prometheus crate deprecates its untyped model for removal, but
/// a custom collector can still return one, and it must not vanish from the exposition.
#[allow(deprecated)]
pub(super) fn untyped_value(metric: &Metric) -> f64 {
    metric.get_untyped().get_value()
}

/// `name<suffix>{labels,last} ` (the value follows).
fn sample(
    out: &mut Vec<u8>,
    name: &str,
    suffix: &str,
    labels: &[LabelPair],
    last: Option<(&str, &str)>,
) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(suffix.as_bytes());
    let pairs = labels
        .iter()
        .map(|l| (l.name(), l.value()))
        .chain(last)
        .enumerate();
    let mut any = false;
    for (i, (label, value)) in pairs {
        out.push(if i == 0 { b'{' } else { b',' });
        let _ = write!(out, "{label}=\"{}\"", escape_label_value(value));
        any = true;
    }
    if any {
        out.push(b'}');
    }
    out.push(b' ');
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::{Histogram, HistogramOpts, IntCounter, Opts, Registry};

    #[test]
    fn registry_families_follow_openmetrics_naming_and_escaping() {
        let registry = Registry::new();
        let counter =
            IntCounter::with_opts(Opts::new("jobs_total", "Jobs \"done\"\nso far.")).unwrap();
        counter.inc_by(3);
        let histogram = Histogram::with_opts(
            HistogramOpts::new("wait_seconds", "Wait.").buckets(vec![0.5, 1.0]),
        )
        .unwrap();
        histogram.observe(0.7);
        registry.register(Box::new(counter)).unwrap();
        registry.register(Box::new(histogram)).unwrap();
        let mut out = Vec::new();
        encode(&registry.gather(), &mut out);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "# HELP jobs Jobs \\\"done\\\"\\nso far.\n# TYPE jobs counter\njobs_total 3\n\
             # HELP wait_seconds Wait.\n# TYPE wait_seconds histogram\n\
             wait_seconds_bucket{le=\"0.5\"} 0\nwait_seconds_bucket{le=\"1\"} 1\n\
             wait_seconds_bucket{le=\"+Inf\"} 1\nwait_seconds_sum 0.7\nwait_seconds_count 1\n"
        );
    }
}
