//! The load executors: who starts requests, and when.
//!
//! - **Closed model** ([`closed`]): virtual users, each looping over weighted scenarios with
//!   think time, as Locust and k6's ramping-VUs run them. A controller follows the profile's user
//!   level every 100 ms, starting users (no faster than the spawn rate) or stopping the newest
//!   ones; a stopped user finishes its request first. Latency runs from the request's start:
//!   in a closed model a slow response delays the user's next request, by design. With
//!   `--iterations=N` (the profile's `iterations`) each user stops after N iterations, and the
//!   run ends when every user has, or at the profile's end if that comes first.
//! - **Open model** ([`open`]): requests arrive at the profile's rate whatever the latency, like
//!   k6's ramping-arrival-rate. Latency runs from each arrival's intended time (coordinated
//!   omission corrected), so a target that stalls shows the stall in every request that should
//!   have started meanwhile. At most `max_in_flight` requests run at once; an arrival beyond
//!   that is dropped and counted, never queued.
//!
//! A closed-model user runs its requests in a [`Session`]: with the real [`Workload`], its own
//! keep-alive connection per plain-HTTP target, which costs far less per request than the
//! shared client (see `probe::Connection`). The open model hands each arrival to a lane
//! ([`super::lanes`], k6's VUs of its arrival-rate executors): a long-lived task with a
//! session of its own, started only when no lane is idle and fewer than `max_in_flight`
//! exist, so both models send at about the same cost per request and an open-model run opens
//! no more connections than it ever had requests in flight. An arrival is still a new flow
//! session (`on_start` runs) with the run's shared `{{ counter }}`; only the connection is
//! the lane's.
//!
//! Both end when the profile ends or `stop` is cancelled (Ctrl-C, or a scenario's `unique`
//! data running out, which is an end and not an interruption), then give requests still in
//! flight `grace` to finish, saying so when stopped early. The recorder's `stop_now` (a second
//! Ctrl-C, or the grace period over) ends them at once; each is counted as interrupted.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::lanes::{Arrival, Lane, Lanes};
use super::profile::{Profile, ThinkTime};
use super::recorder::Recorder;
use crate::flow::{self, Via};
use crate::outcome::Outcome;
use crate::probe::{Connection, Probe};
use crate::report::model::{IterationsDone, IterationsEnd};
use crate::scenario::{Action, Flow, Scenario};
use crate::scheduler::{WeightedPick, measured_start};
use crate::template::Iteration;

/// How often the closed model's controller adjusts the number of users.
const CONTROL_TICK: Duration = Duration::from_millis(100);

/// What the executors drive: pick a scenario, run one request of it, record it. The executors
/// know nothing about HTTP, so their timing is tested under paused time.
pub trait Exercise: Send + Sync + 'static {
    /// What one virtual user keeps between its requests (its own connections and flow
    /// sessions).
    type Session<'a>: Session
    where
        Self: 'a;
    /// Picks the next scenario by weight.
    fn pick(&self, rng: &mut StdRng) -> usize;
    /// A new virtual user's session (closed model) or lane's (open model).
    fn session(&self) -> Self::Session<'_>;
    /// Where outcomes go; the executors set the planned level on it.
    fn recorder(&self) -> &Recorder;
    /// Counts an arrival of scenario `index` dropped at the in-flight cap (open model).
    fn dropped(&self, index: usize) {
        self.recorder().record_dropped(index);
    }
    /// The run's `stop` was cancelled because a scenario's `unique` data ran out: an end of
    /// the run, not an interruption.
    fn out_of_data(&self) -> bool {
        false
    }
}

/// One virtual user's or lane's requests, one at a time.
pub trait Session: Send {
    /// Runs one iteration of a virtual user (closed model): one request (or flow run) of
    /// scenario `index` with its latency measured from `from`, and records it; when `cut` is
    /// cancelled first, the request in flight is dropped and counted as interrupted. The
    /// user's `{{ counter }}` counts its own iterations and its flow sessions carry over.
    fn request(
        &mut self,
        index: usize,
        from: Instant,
        cut: &CancellationToken,
    ) -> impl Future<Output = ()> + Send;
    /// Runs one arrival of the open model as [`Session::request`] runs an iteration, on this
    /// lane's connections; an arrival belongs to no virtual user, so its `{{ counter }}` counts
    /// the run's arrivals and a flow starts a new session (`on_start` runs).
    fn arrival(
        &mut self,
        index: usize,
        from: Instant,
        cut: &CancellationToken,
    ) -> impl Future<Output = ()> + Send;
}

/// The real exercise: the config's scenarios sent with each target's probe.
pub struct Workload {
    probes: Vec<Probe>,
    /// In scenario-index order.
    scenarios: Vec<Planned>,
    picker: WeightedPick,
    recorder: Arc<Recorder>,
    /// Open-model arrivals so far: their `{{ counter }}` (arrivals have no virtual user).
    arrivals: AtomicU64,
    /// Cancelled when a scenario's `unique` data runs out: the run ends there.
    end: CancellationToken,
    /// The scenario (recording index) whose `unique` data ran out first.
    exhausted: OnceLock<usize>,
}

/// One scenario of a load test: where its requests go and where they are counted.
pub struct Planned {
    /// Index of its target's probe in the workload's probes.
    pub probe: usize,
    /// The scenario.
    pub scenario: Scenario,
    /// Its first row in the recorder; a flow's steps follow in
    /// [`crate::scenario::Flow::all_steps`] order.
    pub first_row: usize,
    /// A flow's index in the recorder's flows.
    pub flow: Option<usize>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunEnd {
    /// `stop` was cancelled before the profile ended.
    pub interrupted: bool,
    /// Arrivals not started because `max_in_flight` requests were running (open model).
    pub dropped: u64,
    /// How long the load ran (until the end of the profile or the interruption).
    pub elapsed: Duration,
    /// With `--iterations`: how many users finished them, and what ended the run.
    pub iterations: Option<IterationsDone>,
}

impl Workload {
    /// `scenarios` name their target's probe in `probes` and their rows in `recorder`. `end`
    /// is cancelled when a scenario's `unique` data runs out: pass the executors a token that
    /// ends with it.
    pub fn new(
        probes: Vec<Probe>,
        scenarios: Vec<Planned>,
        recorder: Arc<Recorder>,
        end: CancellationToken,
    ) -> Workload {
        let weights: Vec<u32> = scenarios.iter().map(|p| p.scenario.weight).collect();
        Workload {
            picker: WeightedPick::new(&weights),
            probes,
            scenarios,
            recorder,
            arrivals: AtomicU64::new(0),
            end,
            exhausted: OnceLock::new(),
        }
    }

    /// The scenario (its index in the workload) whose `unique` data ran out and ended the run, if any.
    pub fn exhausted(&self) -> Option<usize> {
        self.exhausted.get().copied()
    }

    /// Iteration `counter` of scenario `index`, or `None` (and the run ends) when its
    /// `unique` data has no row left. Synchronous: the thread-local RNG must not live across
    /// an await.
    fn iteration(&self, index: usize, counter: u64) -> Option<Iteration> {
        let iteration = self.scenarios[index]
            .scenario
            .iteration(counter, &mut rand::rng());
        if iteration.is_none() && self.exhausted.set(index).is_ok() {
            let scenario = &self.scenarios[index].scenario;
            if let Some(data) = &scenario.data {
                tracing::info!(
                    scenario = %scenario.name,
                    file = %data.settings().file.display(),
                    rows = data.unique_rows(),
                    on_exhausted = data.settings().on_exhausted.as_str(),
                    "test data ran out: every row was used once; ending the test once the requests in flight finish"
                );
            }
            self.end.cancel();
        }
        iteration
    }

    /// Sends `call` (the single request of `planned`) over `send`, recording it unless `cut`
    /// comes first.
    async fn single(
        &self,
        planned: &Planned,
        send: impl Future<Output = Outcome>,
        from: Instant,
        cut: &CancellationToken,
    ) {
        tokio::select! {
            outcome = send => self.recorder.record(planned.first_row, &outcome),
            () = cut.cancelled() => self.recorder.record_interrupted(planned.first_row, from),
        }
    }

    /// Runs one run of `flow` (of `planned`) in `session`.
    async fn flow(
        &self,
        planned: &Planned,
        flow: &Flow,
        via: &mut Via<'_, '_>,
        session: &mut flow::Session,
        from: Instant,
        cut: &CancellationToken,
    ) {
        let tally = RowsFrom(&self.recorder, planned.first_row);
        let run = flow::run(via, flow, session, from, cut, &tally).await;
        if let Some(index) = planned.flow.filter(|_| !run.interrupted) {
            self.recorder.record_flow(index, run.duration, run.success);
        }
    }
}

/// A flow's rows of the recorder, from its first row on.
struct RowsFrom<'a>(&'a Recorder, usize);

impl flow::Tally for RowsFrom<'_> {
    fn step(&self, row: usize, outcome: &Outcome) {
        self.0.record(self.1 + row, outcome);
    }

    fn not_run(&self, row: usize) {
        self.0.record_not_run(self.1 + row);
    }

    fn interrupted(&self, row: usize, started: Instant) {
        self.0.record_interrupted(self.1 + row, started);
    }
}

impl Exercise for Workload {
    type Session<'a> = User<'a>;

    fn pick(&self, rng: &mut StdRng) -> usize {
        self.picker.pick(rng)
    }

    fn session(&self) -> User<'_> {
        User {
            work: self,
            connections: self.probes.iter().map(Probe::connection).collect(),
            iterations: 0,
            sessions: self.scenarios.iter().map(|_| None).collect(),
        }
    }

    fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    fn dropped(&self, index: usize) {
        if let Some(planned) = self.scenarios.get(index) {
            self.recorder.record_dropped(planned.first_row);
        }
    }

    fn out_of_data(&self) -> bool {
        self.exhausted.get().is_some()
    }
}

/// A virtual user of a [`Workload`]: its own connection to each target that allows one, so
/// its requests skip the shared client's pool (see [`Connection`]), and its own session of
/// each flow, kept from one run to the next (cookies, variables, `on_start` done).
pub struct User<'a> {
    work: &'a Workload,
    /// Per probe; `None` where that target's requests go through [`Probe::run`].
    connections: Vec<Option<Connection<'a>>>,
    /// Iterations this user has started: its `{{ counter }}`.
    iterations: u64,
    /// Per scenario; made at the user's first run of a flow.
    sessions: Vec<Option<flow::Session>>,
}

impl Session for User<'_> {
    async fn request(&mut self, index: usize, from: Instant, cut: &CancellationToken) {
        self.iterations += 1;
        if let Some(iteration) = self.work.iteration(index, self.iterations) {
            self.send(index, iteration, from, cut, Runs::Kept).await;
        }
    }

    async fn arrival(&mut self, index: usize, from: Instant, cut: &CancellationToken) {
        let counter = self.work.arrivals.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(iteration) = self.work.iteration(index, counter) {
            self.send(index, iteration, from, cut, Runs::New).await;
        }
    }
}

/// Which flow session a run of a flow uses.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Runs {
    /// The user's own, kept from one run to the next (closed model).
    Kept,
    /// A new one (an open-model arrival): `on_start` runs before its steps.
    New,
}

impl User<'_> {
    /// Sends `iteration` of scenario `index` on this user's connection to its target, and
    /// records it.
    async fn send(
        &mut self,
        index: usize,
        iteration: Iteration,
        from: Instant,
        cut: &CancellationToken,
        runs: Runs,
    ) {
        let work = self.work;
        let planned = &work.scenarios[index];
        let probe = &work.probes[planned.probe];
        let connection = &mut self.connections[planned.probe];
        match &planned.scenario.action {
            Action::Request(call) => match connection {
                Some(connection) => {
                    let send = connection.run(call, from, &iteration);
                    work.single(planned, send, from, cut).await
                }
                None => {
                    let send = probe.run(call, from, &iteration);
                    work.single(planned, send, from, cut).await
                }
            },
            Action::Flow(flow) => {
                let mut new = flow::Session::new();
                let session = match runs {
                    Runs::Kept => self.sessions[index].get_or_insert_with(flow::Session::new),
                    Runs::New => &mut new,
                };
                session.begin(iteration);
                let mut via = match connection {
                    Some(connection) => Via::Connection(connection),
                    None => Via::Probe(probe),
                };
                work.flow(planned, flow, &mut via, session, from, cut).await
            }
        }
    }
}

/// Runs the closed model: virtual users following `profile`'s user level.
pub async fn closed<W: Exercise>(
    profile: &Profile,
    work: Arc<W>,
    stop: CancellationToken,
    grace: Duration,
) -> RunEnd {
    let start = Instant::now();
    let end = start + profile.duration();
    let tracker = TaskTracker::new();
    let cut = work.recorder().stop_now().child_token();
    let mut users: Vec<CancellationToken> = Vec::new();
    // With `iterations`, each user says so here when it has run them all.
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let (mut users_done, mut wanted) = (0, 0);
    // The first user starts at once; then no faster than the spawn rate.
    let mut budget = 1.0;
    let mut tick = tokio::time::interval(CONTROL_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let ended_by = loop {
        tokio::select! {
            biased;
            () = stop.cancelled() => break IterationsEnd::Stopped,
            Some(()) = done_rx.recv() => {
                users_done += 1;
                if users_done == users.len() && users.len() >= wanted {
                    break IterationsEnd::Iterations;
                }
                work.recorder().set_level((users.len() - users_done) as f64);
                continue;
            }
            _ = tick.tick() => {}
        }
        let now = Instant::now();
        if now >= end {
            break IterationsEnd::Duration;
        }
        wanted = profile.level_at(now - start).round().max(0.0) as usize;
        while users.len() < wanted && (profile.spawn_rate.is_none() || budget >= 1.0) {
            budget -= 1.0;
            let token = stop.child_token();
            let plan = UserPlan {
                think: profile.think_time,
                iterations: profile.iterations,
                done: done_tx.clone(),
            };
            tracker.spawn(user(
                Arc::clone(&work),
                plan,
                token.clone(),
                cut.clone(),
                StdRng::from_rng(&mut rand::rng()),
            ));
            users.push(token);
        }
        if let Some(rate) = profile.spawn_rate {
            budget = (budget + rate * CONTROL_TICK.as_secs_f64()).min(rate.max(1.0));
        }
        while users.len() > wanted {
            if let Some(token) = users.pop() {
                token.cancel();
            }
        }
        // Also ends a shard dealt no user at all.
        if profile.iterations.is_some() && users.len() >= wanted && users_done == users.len() {
            break IterationsEnd::Iterations;
        }
        work.recorder()
            .set_level(users.len().saturating_sub(users_done) as f64);
    };
    let interrupted = ended_by == IterationsEnd::Stopped && !work.out_of_data();
    let elapsed = Instant::now().saturating_duration_since(start);
    for token in &users {
        token.cancel();
    }
    work.recorder().show_level(0.0);
    let in_flight = tracker.len();
    finish(
        &tracker,
        grace,
        work.recorder(),
        &cut,
        interrupted,
        in_flight,
    )
    .await;
    RunEnd {
        interrupted,
        dropped: 0,
        elapsed,
        iterations: profile.iterations.map(|_| IterationsDone {
            users: users.len() as u64,
            users_done: users_done as u64,
            ended_by,
        }),
    }
}

/// How one virtual user runs: its think time and, with `--iterations`, how many iterations
/// before it stops and says so on `done`.
struct UserPlan {
    think: ThinkTime,
    iterations: Option<u64>,
    done: tokio::sync::mpsc::UnboundedSender<()>,
}

/// One virtual user: request, think, repeat, until `stop` or its iterations are done; its
/// request in flight ends at `cut`.
async fn user<W: Exercise>(
    work: Arc<W>,
    plan: UserPlan,
    stop: CancellationToken,
    cut: CancellationToken,
    mut rng: StdRng,
) {
    let mut session = work.session();
    let mut ran: u64 = 0;
    while !stop.is_cancelled() {
        let started = Instant::now();
        let index = work.pick(&mut rng);
        session.request(index, started, &cut).await;
        ran += 1;
        // Done: no think time after the last iteration. A request cut by `cut` does not count
        // as done, but then `stop` is cancelled too.
        if plan.iterations.is_some_and(|n| ran >= n) && !cut.is_cancelled() {
            let _ = plan.done.send(());
            return;
        }
        let pause = match plan.think {
            ThinkTime::Constant(pause) => pause,
            ThinkTime::Uniform(low, high) => {
                Duration::from_secs_f64(rng.random_range(low.as_secs_f64()..=high.as_secs_f64()))
            }
            ThinkTime::Pace(period) => (started + period).saturating_duration_since(Instant::now()),
        };
        if pause.is_zero() {
            // A user without think time still lets others run on a busy runtime.
            tokio::task::yield_now().await;
            continue;
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(pause) => {}
        }
    }
}

/// Runs the open model: arrivals at `profile`'s rate, at most `max_in_flight` at once, each
/// handed to an idle lane (see [`super::lanes`]).
pub async fn open<W: Exercise>(
    profile: &Profile,
    work: Arc<W>,
    stop: CancellationToken,
    max_in_flight: usize,
    grace: Duration,
) -> RunEnd {
    let start = Instant::now();
    let total = profile.duration();
    let tracker = TaskTracker::new();
    let mut lanes = Lanes::new(max_in_flight);
    let cut = work.recorder().stop_now().child_token();
    let mut dropped = 0;
    let mut rng = StdRng::from_rng(&mut rand::rng());
    let mut arrivals = Arrivals::new(profile);
    // The planned rate is stamped on the timeline, and idle lanes retired, once per control
    // tick, not per arrival: at tens of thousands of arrivals a second that would be a lock
    // and a stage scan each.
    let mut next_tick = Duration::ZERO;
    let interrupted = loop {
        let Some(offset) = arrivals.next() else {
            break false;
        };
        let due = start + offset;
        if due > Instant::now() {
            tokio::select! {
                biased;
                () = stop.cancelled() => break true,
                () = tokio::time::sleep_until(due) => {}
            }
        } else if stop.is_cancelled() {
            break true;
        }
        if offset >= next_tick {
            work.recorder().set_level(profile.level_at(offset));
            lanes.retire_idle(offset);
            next_tick = offset + CONTROL_TICK;
        }
        let index = work.pick(&mut rng);
        let from = measured_start(due, Instant::now());
        let arrival = Arrival {
            index,
            from,
            at: offset,
        };
        let Err(arrival) = lanes.hand(arrival) else {
            continue;
        };
        // None idle: first let the lanes whose answers are in run and go idle (arrivals due
        // in the same millisecond, or a loop catching up after a stall, would otherwise each
        // start a lane and open a connection while lanes sit finished but not yet polled).
        tokio::task::yield_now().await;
        let Err(arrival) = lanes.hand(arrival) else {
            continue;
        };
        match lanes.add(arrival) {
            Some(lane) => {
                tracker.spawn(run_lane(Arc::clone(&work), lane, arrival, cut.clone()));
            }
            None => {
                dropped += 1;
                work.dropped(index);
            }
        }
    };
    let interrupted = interrupted && !work.out_of_data();
    let elapsed = Instant::now().saturating_duration_since(start).min(total);
    work.recorder().show_level(0.0);
    let in_flight = lanes.close();
    finish(
        &tracker,
        grace,
        work.recorder(),
        &cut,
        interrupted,
        in_flight,
    )
    .await;
    RunEnd {
        interrupted,
        dropped,
        elapsed,
        iterations: None,
    }
}

/// One lane of the open model: a session of its own (connections, timer) that runs the
/// arrivals handed to it one after the other, `first` first, until it is retired or the run
/// ends; the arrival in flight ends at `cut`.
async fn run_lane<W: Exercise>(
    work: Arc<W>,
    mut lane: Lane,
    first: Arrival,
    cut: CancellationToken,
) {
    let mut session = work.session();
    let mut arrival = first;
    loop {
        session.arrival(arrival.index, arrival.from, &cut).await;
        match lane.next().await {
            Some(next) => arrival = next,
            None => return,
        }
    }
}

/// Arrival times of the open model: the `n`-th request arrives when the integral of the rate
/// reaches `n` (the first at the start), so ramps, steps and a rate starting at 0 all send
/// exactly what the profile describes. Integrated in 1 ms steps, the timer's resolution.
struct Arrivals<'a> {
    profile: &'a Profile,
    total: Duration,
    at: Duration,
    owed: f64,
}

/// Integration step of [`Arrivals`].
const ARRIVAL_STEP: Duration = Duration::from_millis(1);

impl<'a> Arrivals<'a> {
    fn new(profile: &'a Profile) -> Arrivals<'a> {
        Arrivals {
            profile,
            total: profile.duration(),
            at: Duration::ZERO,
            owed: 1.0,
        }
    }

    /// Offset of the next arrival from the start; `None` once the profile has ended.
    fn next(&mut self) -> Option<Duration> {
        loop {
            if self.at >= self.total {
                return None;
            }
            if self.owed >= 1.0 {
                self.owed -= 1.0;
                return Some(self.at);
            }
            let rate = self.profile.level_at(self.at + ARRIVAL_STEP / 2);
            self.owed += rate.max(0.0) * ARRIVAL_STEP.as_secs_f64();
            self.at += ARRIVAL_STEP;
        }
    }
}

/// Waits for the `in_flight` requests (tasks of `tracker`), at most `grace` or until the
/// recorder's `stop_now`; then ends the rest at once through `cut`, each counted as
/// interrupted. When the run was `interrupted`, says what it waits for, so a Ctrl-C against a
/// hanging target is never a silent wait.
async fn finish(
    tracker: &TaskTracker,
    grace: Duration,
    recorder: &Recorder,
    cut: &CancellationToken,
    interrupted: bool,
    in_flight: usize,
) {
    tracker.close();
    let before = recorder.interrupted();
    if interrupted && in_flight > 0 {
        tracing::warn!(
            in_flight,
            up_to = %humantime::format_duration(grace),
            "stopping: waiting for the requests in flight to finish (Ctrl-C again to stop now)"
        );
    }
    let reason = tokio::select! {
        () = tracker.wait() => "stopped now",
        () = tokio::time::sleep(grace) => "the grace period is over",
        () = recorder.stop_now().cancelled() => "stopped now",
    };
    cut.cancel();
    tracker.wait().await;
    let cut_short = recorder.interrupted() - before;
    if cut_short > 0 {
        tracing::warn!(
            interrupted = cut_short,
            "load test: {reason}: the requests still in flight are counted as interrupted"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loadtest::recorder::ScenarioRef;
    use crate::outcome::{CacheResult, Phases};
    use crate::report::model::LoadModel;
    use std::sync::atomic::AtomicUsize;
    use std::time::SystemTime;

    /// Requests that take `latency` of (paused) time; counts concurrency and sessions.
    struct Fake {
        recorder: Recorder,
        latency: Duration,
        in_flight: AtomicUsize,
        max_seen: AtomicUsize,
        /// Sessions (users or lanes) made, and those not yet dropped.
        sessions: AtomicUsize,
        live_sessions: AtomicUsize,
    }

    impl Fake {
        fn new(latency: Duration) -> Arc<Fake> {
            let scenario = ScenarioRef {
                target: 0,
                row: 0,
                target_name: "t".into(),
                scenario_name: "s".into(),
                step: None,
                method: "GET".into(),
            };
            Arc::new(Fake {
                recorder: Recorder::new(
                    vec![scenario],
                    Instant::now(),
                    Duration::from_secs(1),
                    None,
                ),
                latency,
                in_flight: AtomicUsize::new(0),
                max_seen: AtomicUsize::new(0),
                sessions: AtomicUsize::new(0),
                live_sessions: AtomicUsize::new(0),
            })
        }

        fn requests(&self) -> u64 {
            self.recorder.scenario_stats()[0].requests
        }

        /// Users at the end of each timeline interval.
        fn users(&self, elapsed: Duration) -> Vec<u64> {
            self.recorder
                .timeline(elapsed)
                .iter()
                .map(|i| i.users)
                .collect()
        }
    }

    impl Exercise for Fake {
        type Session<'a> = FakeUser<'a>;

        fn pick(&self, _rng: &mut StdRng) -> usize {
            0
        }

        fn session(&self) -> FakeUser<'_> {
            self.sessions.fetch_add(1, Ordering::SeqCst);
            self.live_sessions.fetch_add(1, Ordering::SeqCst);
            FakeUser {
                fake: self,
                requests: 0,
            }
        }

        fn recorder(&self) -> &Recorder {
            &self.recorder
        }
    }

    impl Fake {
        async fn request(&self, index: usize, from: Instant) {
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_seen.fetch_max(now, Ordering::SeqCst);
            if !self.latency.is_zero() {
                tokio::time::sleep(self.latency).await;
            }
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            let outcome = Outcome {
                latency: Instant::now() - from,
                status: Some(200),
                retry_after: None,
                failure: None,
                cache: CacheResult::Unknown,
                phases: Phases::default(),
                body_bytes: 0,
                cert_expiry: None,
                finished_at: SystemTime::now(),
                trace_id: None,
            };
            self.recorder.record(index, &outcome);
        }
    }

    /// A user or lane of a [`Fake`]: counts its requests, and says when it is dropped.
    struct FakeUser<'a> {
        fake: &'a Fake,
        requests: u64,
    }

    impl Session for FakeUser<'_> {
        async fn request(&mut self, index: usize, from: Instant, _cut: &CancellationToken) {
            self.requests += 1;
            self.fake.request(index, from).await;
        }

        async fn arrival(&mut self, index: usize, from: Instant, _cut: &CancellationToken) {
            self.requests += 1;
            self.fake.request(index, from).await;
        }
    }

    impl Drop for FakeUser<'_> {
        fn drop(&mut self) {
            self.fake.live_sessions.fetch_sub(1, Ordering::SeqCst);
        }
    }

    const GRACE: Duration = Duration::from_secs(5);

    #[tokio::test(start_paused = true)]
    async fn closed_users_hold_their_number_and_loop_without_think_time() {
        let fake = Fake::new(Duration::from_millis(100));
        let profile = Profile::constant(LoadModel::Closed, 10.0, Duration::from_secs(10));
        let end = closed(&profile, Arc::clone(&fake), CancellationToken::new(), GRACE).await;
        assert!(!end.interrupted);
        assert_eq!(fake.max_seen.load(Ordering::SeqCst), 10);
        // 10 users × 10 requests per second × 10 s, give or take the last round.
        let n = fake.requests();
        assert!((990..=1010).contains(&n), "{n} requests");
        let timeline = fake.recorder.timeline(end.elapsed);
        assert_eq!(timeline.len(), 10, "{timeline:?}");
        assert!(timeline.iter().all(|i| i.users == 10), "{timeline:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_run_ending_between_intervals_keeps_its_users_to_the_end() {
        // The loop ends on the first control tick at or after 10.05 s, i.e. at 10.1 s: that
        // sliver joins the last interval, which says how long it is, and the users after the
        // run (0) are not stamped on it.
        let fake = Fake::new(Duration::from_millis(100));
        let profile = Profile::constant(LoadModel::Closed, 10.0, Duration::from_millis(10_050));
        let end = closed(&profile, Arc::clone(&fake), CancellationToken::new(), GRACE).await;
        assert_eq!(end.elapsed, Duration::from_millis(10_100));
        let timeline = fake.recorder.timeline(end.elapsed);
        assert_eq!(timeline.len(), 10, "{timeline:?}");
        assert!(timeline.iter().all(|i| i.users == 10), "{timeline:?}");
        let last = timeline[9].duration_seconds.unwrap();
        assert!((last - 1.1).abs() < 1e-9, "{last}");
        assert!(timeline[..9].iter().all(|i| i.duration_seconds.is_none()));
    }

    #[tokio::test(start_paused = true)]
    async fn the_spawn_rate_paces_the_ramp_and_pace_think_time_sets_throughput() {
        let fake = Fake::new(Duration::from_millis(50));
        let mut profile = Profile::constant(LoadModel::Closed, 10.0, Duration::from_secs(10));
        profile.spawn_rate = Some(2.0);
        profile.think_time = ThinkTime::Pace(Duration::from_millis(500));
        let end = closed(&profile, Arc::clone(&fake), CancellationToken::new(), GRACE).await;
        let users = fake.users(end.elapsed);
        assert_eq!(&users[..6], &[2, 4, 6, 8, 10, 10], "{users:?}");
        // User k starts at 0.5·k s and runs 2 iterations per second until the end at 10 s.
        let n = fake.requests() as f64;
        let expected: f64 = (0..10).map(|k| 2.0 * (10.0 - 0.5 * f64::from(k))).sum();
        assert!(
            (n - expected).abs() <= 10.0,
            "{n} requests, expected about {expected}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn each_user_runs_its_iterations_and_the_last_one_done_ends_the_run() {
        let fake = Fake::new(Duration::from_millis(100));
        let mut profile = Profile::constant(LoadModel::Closed, 7.0, Duration::from_secs(60));
        profile.iterations = Some(13);
        profile.think_time = ThinkTime::Constant(Duration::from_millis(50));
        let end = closed(&profile, Arc::clone(&fake), CancellationToken::new(), GRACE).await;
        assert_eq!(fake.requests(), 7 * 13);
        assert_eq!(fake.max_seen.load(Ordering::SeqCst), 7);
        let done = end.iterations.unwrap();
        assert_eq!(
            (done.users, done.users_done, done.ended_by),
            (7, 7, IterationsEnd::Iterations)
        );
        assert!(!end.interrupted);
        // 13 requests of 100 ms with 12 pauses of 50 ms between them: no pause after the last.
        assert_eq!(end.elapsed, Duration::from_millis(13 * 100 + 12 * 50));
    }

    #[tokio::test(start_paused = true)]
    async fn iterations_at_their_edges_and_the_duration_as_upper_bound() {
        // One iteration each.
        let fake = Fake::new(Duration::from_millis(100));
        let mut one = Profile::constant(LoadModel::Closed, 3.0, Duration::from_secs(60));
        one.iterations = Some(1);
        let end = closed(&one, Arc::clone(&fake), CancellationToken::new(), GRACE).await;
        assert_eq!(fake.requests(), 3);
        assert_eq!(end.elapsed, Duration::from_millis(100));

        // The duration comes first: 2 s of 100 ms requests is 20 per user, not 1000.
        let fake = Fake::new(Duration::from_millis(100));
        let mut bounded = Profile::constant(LoadModel::Closed, 2.0, Duration::from_secs(2));
        bounded.iterations = Some(1000);
        let end = closed(&bounded, Arc::clone(&fake), CancellationToken::new(), GRACE).await;
        let done = end.iterations.unwrap();
        assert_eq!(
            (done.users, done.users_done, done.ended_by),
            (2, 0, IterationsEnd::Duration)
        );
        assert!(!end.interrupted);
        assert!((40..=42).contains(&fake.requests()), "{}", fake.requests());

        // A shard dealt no user ends at once.
        let fake = Fake::new(Duration::from_millis(100));
        let mut none = Profile::constant(LoadModel::Closed, 2.0, Duration::from_secs(60));
        none.iterations = Some(5);
        none.split(0, 3);
        let end = closed(&none, Arc::clone(&fake), CancellationToken::new(), GRACE).await;
        assert_eq!(fake.requests(), 0);
        assert_eq!(end.elapsed, Duration::ZERO);
        assert_eq!(end.iterations.unwrap().ended_by, IterationsEnd::Iterations);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_before_the_iterations_are_done_says_so() {
        let fake = Fake::new(Duration::from_millis(100));
        let mut profile = Profile::constant(LoadModel::Closed, 4.0, Duration::from_secs(60));
        profile.iterations = Some(100);
        profile.spawn_rate = Some(2.0);
        let stop = CancellationToken::new();
        let canceller = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(2050)).await;
            canceller.cancel();
        });
        let end = closed(&profile, Arc::clone(&fake), stop, GRACE).await;
        let done = end.iterations.unwrap();
        assert_eq!(
            (done.users, done.users_done, done.ended_by),
            (4, 0, IterationsEnd::Stopped)
        );
        assert!(end.interrupted);
    }

    #[tokio::test(start_paused = true)]
    async fn ramping_down_stops_users_after_their_request() {
        let fake = Fake::new(Duration::from_millis(100));
        let profile = Profile::from_yaml(
            "stages: [{duration: 0s, users: 8}, {duration: 2s, users: 8}, {duration: 0s, users: 2}, {duration: 2s, users: 2}]",
            "p",
        )
        .unwrap();
        let end = closed(&profile, Arc::clone(&fake), CancellationToken::new(), GRACE).await;
        let users = fake.users(end.elapsed);
        assert_eq!(users, vec![8, 8, 2, 2], "{users:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn the_open_model_holds_its_rate_whatever_the_latency() {
        let fake = Fake::new(Duration::from_millis(300));
        let profile = Profile::constant(LoadModel::Open, 50.0, Duration::from_secs(10));
        let end = open(
            &profile,
            Arc::clone(&fake),
            CancellationToken::new(),
            100,
            GRACE,
        )
        .await;
        assert_eq!(end.dropped, 0);
        assert_eq!(fake.requests(), 500);
        // 50/s × 0.3 s each: 15 in flight, never more.
        assert!(fake.max_seen.load(Ordering::SeqCst) <= 16);
        // Every request took 300 ms of paused time, to the timer's 1 ms resolution.
        let latency = &fake.recorder.scenario_stats()[0].latency;
        let spread = latency.max().unwrap() - latency.min().unwrap();
        assert!(spread <= Duration::from_millis(1), "{spread:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_ramp_of_rate_sends_its_integral_and_a_full_cap_drops_arrivals() {
        let fake = Fake::new(Duration::from_millis(10));
        let ramp =
            Profile::from_yaml("model: open\nstages: [{duration: 10s, rate: 100/s}]", "p").unwrap();
        open(
            &ramp,
            Arc::clone(&fake),
            CancellationToken::new(),
            1000,
            GRACE,
        )
        .await;
        // ∫ 0→100/s over 10 s = 500 requests.
        let n = fake.requests() as f64;
        assert!((n - 500.0).abs() <= 10.0, "{n}");

        let stalled = Fake::new(Duration::from_secs(1));
        let profile = Profile::constant(LoadModel::Open, 20.0, Duration::from_secs(5));
        let end = open(
            &profile,
            Arc::clone(&stalled),
            CancellationToken::new(),
            5,
            GRACE,
        )
        .await;
        assert_eq!(stalled.max_seen.load(Ordering::SeqCst), 5);
        assert_eq!(end.dropped + stalled.requests(), 100);
        assert!(end.dropped >= 70, "{} dropped", end.dropped);
    }

    #[tokio::test(start_paused = true)]
    async fn lanes_are_reused_from_one_arrival_to_the_next() {
        // 50/s × 0.29 s each: at most 15 in flight (no request ends at the very tick of an
        // arrival), so 15 lanes run the 500 arrivals.
        let fake = Fake::new(Duration::from_millis(290));
        let profile = Profile::constant(LoadModel::Open, 50.0, Duration::from_secs(10));
        let end = open(
            &profile,
            Arc::clone(&fake),
            CancellationToken::new(),
            100,
            GRACE,
        )
        .await;
        assert_eq!((end.dropped, fake.requests()), (0, 500));
        // A lane starts only when every lane is busy: never more lanes than in flight at once.
        let lanes = fake.sessions.load(Ordering::SeqCst);
        assert_eq!(lanes, fake.max_seen.load(Ordering::SeqCst));
        assert_eq!(lanes, 15);
        assert_eq!(fake.live_sessions.load(Ordering::SeqCst), 0, "all ended");
    }

    /// Six arrivals at once for 1 s each (one at 0, five 1 ms later): a cap of 6 runs them
    /// all, a cap of 5 drops exactly the last one.
    #[tokio::test(start_paused = true)]
    async fn the_cap_edge_runs_max_in_flight_at_once_and_drops_one_more() {
        for (cap, dropped) in [(6, 0), (5, 1)] {
            let fake = Fake::new(Duration::from_secs(1));
            let burst = Profile::constant(LoadModel::Open, 5500.0, Duration::from_millis(2));
            let end = open(
                &burst,
                Arc::clone(&fake),
                CancellationToken::new(),
                cap,
                GRACE,
            )
            .await;
            assert_eq!(end.dropped, dropped, "cap {cap}");
            assert_eq!(fake.requests(), 6 - dropped, "cap {cap}");
            assert_eq!(fake.max_seen.load(Ordering::SeqCst), cap);
            assert_eq!(fake.sessions.load(Ordering::SeqCst), cap);
        }
    }

    /// Arrivals due together whose requests finish as soon as they run (a fast target): the
    /// loop lets the lane finish before starting another, so one lane serves them all.
    #[tokio::test(start_paused = true)]
    async fn arrivals_due_together_wait_a_turn_for_a_finished_lane() {
        let fake = Fake::new(Duration::ZERO);
        let burst = Profile::constant(LoadModel::Open, 5500.0, Duration::from_millis(3));
        let end = open(
            &burst,
            Arc::clone(&fake),
            CancellationToken::new(),
            100,
            GRACE,
        )
        .await;
        assert_eq!((end.dropped, fake.requests()), (0, 12));
        assert_eq!(fake.sessions.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn lanes_idle_for_lane_idle_retire_after_a_spike() {
        let fake = Fake::new(Duration::from_millis(100));
        let profile = Profile::from_yaml(
            "model: open\nstages: [{duration: 0s, rate: 100/s}, {duration: 1s, rate: 100/s}, {duration: 0s, rate: 1/s}, {duration: 30s, rate: 1/s}]",
            "p",
        )
        .unwrap();
        let watched = Arc::clone(&fake);
        let live = tokio::spawn(async move {
            // At 5 s and at 25 s.
            let mut seen = Vec::new();
            for pause in [5, 20] {
                tokio::time::sleep(Duration::from_secs(pause)).await;
                seen.push(watched.live_sessions.load(Ordering::SeqCst));
            }
            seen
        });
        let end = open(
            &profile,
            Arc::clone(&fake),
            CancellationToken::new(),
            100,
            GRACE,
        )
        .await;
        assert_eq!(end.dropped, 0);
        // The spike needed about 10 lanes; they stay while younger than LANE_IDLE, and all
        // but one retire after it; the one left serves 1/s alone.
        let spike = fake.sessions.load(Ordering::SeqCst);
        assert!((10..=11).contains(&spike), "{spike} lanes");
        assert_eq!(live.await.unwrap(), vec![spike, 1]);
        assert_eq!(fake.live_sessions.load(Ordering::SeqCst), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn stopping_ends_the_run_early_and_says_so() {
        let fake = Fake::new(Duration::from_millis(100));
        let profile = Profile::constant(LoadModel::Open, 10.0, Duration::from_secs(60));
        let stop = CancellationToken::new();
        let canceller = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(3)).await;
            canceller.cancel();
        });
        let end = open(&profile, Arc::clone(&fake), stop, 100, GRACE).await;
        assert!(end.interrupted);
        assert_eq!(end.elapsed, Duration::from_secs(3));
        // Arrivals at 0, 0.1, …, 2.9 s, and the one due at 3 s may win the race with the stop.
        assert!((30..=31).contains(&fake.requests()), "{}", fake.requests());
    }
}
