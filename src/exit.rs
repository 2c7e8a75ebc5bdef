//! Exit statuses of every command, in one place, so scripts and CI can branch on them.
//!
//! | status | meaning |
//! |---|---|
//! | 0 | ok; for `load`, every threshold held (and no regression when asked to fail on one) |
//! | 1 | runtime failure: the command could not do its job (port in use, I/O error) |
//! | 2 | usage or config error: refused before anything started |
//! | 3 | `load`/`compare`: the run completed but a threshold failed or a regression was found, or `unique` test data ran out under `on_exhausted: fail`; `report trend`: a steady degradation |
//! | 130 | `load`: interrupted (Ctrl-C / SIGTERM); the reports were still written |

/// Everything went as asked.
pub const OK: u8 = 0;
/// The command failed at run time.
pub const RUNTIME: u8 = 1;
/// A bad flag, config file or threshold: nothing was started.
pub const USAGE: u8 = 2;
/// The load test ran, but a threshold failed or a baseline regression was found (or `report
/// trend` found a steady degradation).
pub const THRESHOLDS: u8 = 3;
/// The load test was interrupted; its partial reports were written.
pub const INTERRUPTED: u8 = 130;
