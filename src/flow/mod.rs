//! Multi-step flows: the steps of a flow scenario run in order by one virtual user (load
//! tests) or one daemon slot, sharing a [`Session`]: a cookie jar and the variables `extract:`
//! took from earlier responses.
//!
//! What an SRE reading the numbers needs, and what this module guarantees:
//! - every step is its own row (a series with a `step` label, a report row `flow/step`), timed
//!   on its own: the first step from the run's scheduled start (a late start shows, as for a
//!   single request), each later one from its own start;
//! - a failed step ends the run; it is counted with its reason like any failed request, and
//!   the steps after it are counted as *not run*, never as failures, so a broken login shows
//!   as one failure, not as a failure of every step behind it;
//! - a value `extract:` cannot find fails its step (reason `assertion`);
//! - `on_start` steps run when a session is new: once per virtual user in a load test (retried
//!   at the user's next iteration while they fail), before the steps of every run in the
//!   daemon, where each run is a fresh session, so a synthetic transaction always logs in anew
//!   and a broken login is seen at once.

pub mod cookies;
pub mod extract;

use std::time::{Duration, SystemTime};

use http::HeaderValue;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use self::cookies::Jar;
use crate::outcome::Outcome;
use crate::probe::{Connection, Probe, Reply};
use crate::scenario::{Call, Flow, Step};
use crate::template::Iteration;

/// What the requests of one flow session share: cookies and variables (and the iteration's
/// data row and counter, which change with each run).
#[derive(Debug, Clone, Default)]
pub struct Session {
    /// `on_start` has run successfully in this session.
    started: bool,
    iteration: Iteration,
    jar: Jar,
}

impl Session {
    /// A new, empty session.
    pub fn new() -> Session {
        Session::default()
    }

    /// Starts a run of the flow with `iteration`'s data row and counter, keeping the variables
    /// earlier runs extracted.
    pub fn begin(&mut self, iteration: Iteration) {
        let vars = std::mem::take(&mut self.iteration.vars);
        self.iteration = Iteration { vars, ..iteration };
    }

    /// What the templates of this session's requests render with.
    pub fn iteration(&self) -> &Iteration {
        &self.iteration
    }

    /// The `Cookie` header of a request of `path` (query allowed), if any cookie applies.
    pub(crate) fn cookie_header(&self, path: &str, https: bool) -> Option<HeaderValue> {
        if self.jar.is_empty() {
            return None;
        }
        self.jar.header(path, https, SystemTime::now())
    }

    /// A variable's value, if a step extracted it.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.iteration.vars.get(name).map(String::as_str)
    }

    /// Takes what `step` needs from its `reply`: the cookies, and (when it succeeded) the
    /// extracted variables; a value that cannot be found fails the step.
    fn absorb(&mut self, step: &Step, reply: Reply) -> Outcome {
        let Reply {
            mut outcome,
            headers,
            body,
            path,
        } = reply;
        if let Some(path) = path {
            self.jar.store(&headers, &path, SystemTime::now());
        }
        if outcome.is_success() {
            for extraction in &step.extract {
                match extract::value(extraction, &headers, &body) {
                    Ok(value) => {
                        self.iteration.vars.insert(extraction.var.clone(), value);
                    }
                    Err(failure) => {
                        outcome.failure = Some(failure);
                        break;
                    }
                }
            }
        }
        outcome
    }
}

/// How a flow's requests travel: the probe's shared client, or a virtual user's own
/// connection.
pub enum Via<'a, 'p> {
    /// [`Probe::send`].
    Probe(&'p Probe),
    /// [`Connection::send`].
    Connection(&'a mut Connection<'p>),
}

impl Via<'_, '_> {
    async fn send(&mut self, call: &Call, session: &Session, scheduled: Instant) -> Reply {
        match self {
            Via::Probe(probe) => probe.send(call, session, scheduled).await,
            Via::Connection(connection) => connection.send(call, session, scheduled).await,
        }
    }
}

/// Where a flow's results go. Rows are the flow's steps in [`Flow::all_steps`] order.
pub trait Tally {
    /// One step's request finished.
    fn step(&self, row: usize, outcome: &Outcome);
    /// A step did not run because an earlier one failed.
    fn not_run(&self, row: usize);
    /// A step's request was still in flight when the run was cut short, after running
    /// since `started`.
    fn interrupted(&self, row: usize, started: Instant);
}

/// How one run of a flow ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Run {
    /// From the scheduled start to the end of the last step that ran.
    pub duration: Duration,
    /// Every step that had to run succeeded.
    pub success: bool,
    /// The run was cut short (`cut` cancelled): its duration means nothing.
    pub interrupted: bool,
}

/// Runs `flow` once in `session` (its `on_start` steps first when the session is new), with
/// the first request due at `scheduled`. Results go to `tally`; `cut` abandons the request in
/// flight (counted as interrupted).
pub async fn run(
    via: &mut Via<'_, '_>,
    flow: &Flow,
    session: &mut Session,
    scheduled: Instant,
    cut: &CancellationToken,
    tally: &impl Tally,
) -> Run {
    let mut from = scheduled;
    let first_step = flow.on_start.len();
    let failed = |interrupted| Run {
        duration: scheduled.elapsed(),
        success: false,
        interrupted,
    };
    if !session.started {
        if let Err(interrupted) =
            steps_in_order(via, &flow.on_start, 0, session, &mut from, cut, tally).await
        {
            if !interrupted {
                // The steps never ran: their rows say so.
                (first_step..first_step + flow.steps.len()).for_each(|r| tally.not_run(r));
            }
            return failed(interrupted);
        }
        session.started = true;
    }
    if let Err(interrupted) =
        steps_in_order(via, &flow.steps, first_step, session, &mut from, cut, tally).await
    {
        return failed(interrupted);
    }
    Run {
        duration: scheduled.elapsed(),
        success: true,
        interrupted: false,
    }
}

/// Runs `steps` (rows from `first_row`) until one fails; `Err(true)` when `cut` interrupted
/// one, `Err(false)` when one failed.
async fn steps_in_order(
    via: &mut Via<'_, '_>,
    steps: &[Step],
    first_row: usize,
    session: &mut Session,
    from: &mut Instant,
    cut: &CancellationToken,
    tally: &impl Tally,
) -> Result<(), bool> {
    for (index, step) in steps.iter().enumerate() {
        let row = first_row + index;
        let reply = tokio::select! {
            biased;
            () = cut.cancelled() => {
                tally.interrupted(row, *from);
                return Err(true);
            }
            reply = via.send(&step.call, session, *from) => reply,
        };
        let outcome = session.absorb(step, reply);
        tally.step(row, &outcome);
        if !outcome.is_success() {
            (row + 1..first_row + steps.len()).for_each(|r| tally.not_run(r));
            return Err(false);
        }
        *from = Instant::now();
    }
    Ok(())
}
