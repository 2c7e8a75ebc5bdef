//! PromQL's vocabulary, for the tests that read metric names out of expressions (the alert
//! rules in tests/alert_rules.rs, the dashboard queries in tests/dashboard_support/).

/// Words that are neither a function nor a metric: grouping and matching clauses, set and
/// comparison modifiers, `offset`.
pub const KEYWORDS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "bool",
    "offset",
];
