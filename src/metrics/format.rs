//! The exposition formats of `/metrics` and how a scraper's `Accept` header picks one, as
//! client_golang's `expfmt.Negotiate` does: the acceptable types in order of their `q`, the
//! first one synthex can write wins, and anything unknown gets the text format 0.0.4.

/// An exposition format of `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The Prometheus text format 0.0.4: what every scraper reads; no exemplars, no native
    /// histograms.
    Text,
    /// OpenMetrics 1.0 text, with exemplars on the duration histogram's buckets.
    OpenMetrics,
    /// Length-delimited `io.prometheus.client.MetricFamily` messages: exemplars and the native
    /// duration histogram beside its classic buckets.
    Protobuf,
}

/// `Content-Type` of the text format (Prometheus 3 fails a scrape without a known one).
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// `Content-Type` of OpenMetrics.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// `Content-Type` of the protobuf exposition.
pub const PROTOBUF_CONTENT_TYPE: &str =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";

impl Format {
    /// The `Content-Type` of a response in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => TEXT_CONTENT_TYPE,
            Format::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
            Format::Protobuf => PROTOBUF_CONTENT_TYPE,
        }
    }

    /// The format a request with this `Accept` header gets. Media ranges are tried by
    /// descending `q` (ties in header order); a range with `q=0` is refused.
    pub fn negotiate(accept: Option<&str>) -> Format {
        let Some(accept) = accept else {
            return Format::Text;
        };
        let mut ranges: Vec<(f64, Option<Format>)> = accept
            .split(',')
            .filter_map(|range| {
                let mut parts = range.split(';').map(str::trim);
                let media = parts.next()?.to_ascii_lowercase();
                let params: Vec<(String, String)> = parts
                    .filter_map(|p| {
                        let (k, v) = p.split_once('=')?;
                        let v = v.trim().trim_matches('"');
                        Some((k.trim().to_ascii_lowercase(), v.to_string()))
                    })
                    .collect();
                let param = |name: &str| {
                    params
                        .iter()
                        .find(|(k, _)| k == name)
                        .map(|(_, v)| v.as_str())
                };
                let q = param("q").map_or(Some(1.0), |q| q.parse::<f64>().ok())?;
                Some((q, format_of(&media, &param)))
            })
            .filter(|(q, _)| *q > 0.0)
            .collect();
        // A stable sort keeps header order among equal q.
        ranges.sort_by(|a, b| b.0.total_cmp(&a.0));
        ranges
            .into_iter()
            .find_map(|(_, format)| format)
            .unwrap_or(Format::Text)
    }
}

/// The format a media range names, if synthex writes it.
fn format_of<'a>(media: &str, param: &impl Fn(&str) -> Option<&'a str>) -> Option<Format> {
    match media {
        "application/vnd.google.protobuf"
            if param("proto") == Some("io.prometheus.client.MetricFamily")
                && param("encoding") == Some("delimited") =>
        {
            Some(Format::Protobuf)
        }
        "application/openmetrics-text"
            if matches!(param("version"), None | Some("1.0.0") | Some("0.0.1")) =>
        {
            Some(Format::OpenMetrics)
        }
        "text/plain" if matches!(param("version"), None | Some("0.0.4")) => Some(Format::Text),
        "text/*" | "*/*" => Some(Format::Text),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_accept_headers_get_the_formats_they_prefer() {
        // Prometheus 2.42 with and without --enable-feature=native-histograms.
        let native = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        let classic = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(Format::negotiate(Some(native)), Format::Protobuf);
        assert_eq!(Format::negotiate(Some(classic)), Format::OpenMetrics);
        assert_eq!(Format::negotiate(None), Format::Text);
        assert_eq!(Format::negotiate(Some("*/*")), Format::Text);
        assert_eq!(Format::negotiate(Some("text/plain")), Format::Text);
        assert_eq!(
            Format::negotiate(Some("application/openmetrics-text")),
            Format::OpenMetrics
        );
    }

    #[test]
    fn q_values_order_and_refuse_and_unknown_ranges_fall_through() {
        let proto = "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";
        assert_eq!(
            Format::negotiate(Some(&format!("text/plain;q=0.9, {proto}"))),
            Format::Protobuf
        );
        assert_eq!(
            Format::negotiate(Some(&format!(
                "{proto};q=0.2, application/openmetrics-text;q=0.3"
            ))),
            Format::OpenMetrics
        );
        assert_eq!(
            Format::negotiate(Some(&format!("{proto};q=0"))),
            Format::Text
        );
        // Text-format protobuf or another proto message is not what synthex writes.
        assert_eq!(
            Format::negotiate(Some(
                "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text"
            )),
            Format::Text
        );
        assert_eq!(
            Format::negotiate(Some(
                "application/openmetrics-text;version=2.0.0, application/json"
            )),
            Format::Text
        );
        assert_eq!(Format::negotiate(Some("garbage;;q=x,,")), Format::Text);
    }
}
