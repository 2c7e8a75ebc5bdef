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
//! shared client (see `probe::Connection`); open-model arrivals to such a target borrow an idle
//! one of the same connections for the length of their request (`probe::IdleConnections`), so
//! both models send at the same cost per request.
//!
//! Both end when the profile ends or `stop` is cancelled (Ctrl-C, or a scenario's `unique`
//! data running out, which is an end and not an interruption), then give requests still in
//! flight `grace` to finish, saying so when stopped early. The recorder's `stop_now` (a second
//! Ctrl-C, or the grace period over) ends them at once; each is counted as interrupted.

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::profile::{Profile, ThinkTime};
use super::recorder::Recorder;
use crate::flow::{self, Via};
use crate::outcome::Outcome;
use crate::probe::{Connection, IdleConnections, Probe};
use crate::report::model::{IterationsDone, IterationsEnd};
use crate::scenario::{Action, Flow, Scenario};
use crate::scheduler::{WeightedPick, hold_permit, measured_start};
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
    /// Runs one request (or flow run) of scenario `index` with its latency measured from
    /// `from`, and records it; when `cut` is cancelled first, the request in flight is dropped
    /// and counted as interrupted.
    fn request(
        &self,
        index: usize,
        from: Instant,
        cut: &CancellationToken,
    ) -> impl Future<Output = ()> + Send;
    /// A new virtual user's session (closed model).
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

/// One virtual user's requests, one at a time.
pub trait Session: Send {
    /// Runs one request (or flow run) of scenario `index` as [`Exercise::request`] does.
    fn request(
        &mut self,
        index: usize,
        from: Instant,
        cut: &CancellationToken,
    ) -> impl Future<Output = ()> + Send;
}

/// The real exercise: the config's scenarios sent with each target's probe.
pub struct Workload {
    probes: Vec<Probe>,
    /// Per probe: the open model's idle keep-alive connections.
    idle: Vec<IdleConnections>,
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
            idle: probes.iter().map(|_| IdleConnections::default()).collect(),
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
    /// comes first. `send` is pinned where it was made and borrowed: a request's future is a
    /// few kilobytes, and each move of it (into this future, then into `select!`) was a copy.
    async fn single<F: Future<Output = Outcome>>(
        &self,
        planned: &Planned,
        send: Pin<&mut F>,
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

    async fn request(&self, index: usize, from: Instant, cut: &CancellationToken) {
        let counter = self.arrivals.fetch_add(1, Ordering::Relaxed) + 1;
        let Some(iteration) = self.iteration(index, counter) else {
            return;
        };
        let planned = &self.scenarios[index];
        let probe = &self.probes[planned.probe];
        match &planned.scenario.action {
            Action::Request(call) => {
                let send = pin!(probe.run_on(&self.idle[planned.probe], call, from, &iteration));
                self.single(planned, send, from, cut).await
            }
            // An arrival of the open model is a new session: on_start runs before its steps.
            Action::Flow(flow) => {
                let mut session = flow::Session::new();
                session.begin(iteration);
                let mut via = Via::Probe(probe);
                self.flow(planned, flow, &mut via, &mut session, from, cut)
                    .await
            }
        }
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
        let work = self.work;
        let Some(iteration) = work.iteration(index, self.iterations) else {
            return;
        };
        let planned = &work.scenarios[index];
        let probe = &work.probes[planned.probe];
        let connection = &mut self.connections[planned.probe];
        match &planned.scenario.action {
            Action::Request(call) => match connection {
                Some(connection) => {
                    let send = pin!(connection.run(call, from, &iteration));
                    work.single(planned, send, from, cut).await
                }
                None => {
                    let send = pin!(probe.run(call, from, &iteration));
                    work.single(planned, send, from, cut).await
                }
            },
            Action::Flow(flow) => {
                let session = self.sessions[index].get_or_insert_with(flow::Session::new);
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
    finish(&tracker, grace, work.recorder(), &cut, interrupted).await;
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

/// Runs the open model: arrivals at `profile`'s rate, at most `max_in_flight` at once.
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
    let cap = Arc::new(Semaphore::new(max_in_flight.max(1)));
    let cut = work.recorder().stop_now().child_token();
    let mut dropped = 0;
    let mut rng = StdRng::from_rng(&mut rand::rng());
    let mut arrivals = Arrivals::new(profile);
    // The planned rate is stamped on the timeline once per control tick, not per arrival: at
    // tens of thousands of arrivals a second that would be a lock and a stage scan each.
    let mut next_stamp = Duration::ZERO;
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
        } else {
            // Behind schedule: let the arrivals already started run a turn first. Without it a
            // late loop starts every overdue arrival before any of them has sent, so none finds
            // an idle connection and each opens its own; at the generator's limit that storm of
            // connects pushed it further behind until nearly every request opened a connection.
            tokio::task::yield_now().await;
        }
        if offset >= next_stamp {
            work.recorder().set_level(profile.level_at(offset));
            next_stamp = offset + CONTROL_TICK;
        }
        let index = work.pick(&mut rng);
        let Ok(permit) = Arc::clone(&cap).try_acquire_owned() else {
            dropped += 1;
            work.dropped(index);
            continue;
        };
        let from = measured_start(due, Instant::now());
        let work = Arc::clone(&work);
        let cut = cut.clone();
        tracker.spawn(hold_permit(
            async move { work.request(index, from, &cut).await },
            permit,
        ));
    };
    let interrupted = interrupted && !work.out_of_data();
    let elapsed = Instant::now().saturating_duration_since(start).min(total);
    work.recorder().show_level(0.0);
    finish(&tracker, grace, work.recorder(), &cut, interrupted).await;
    RunEnd {
        interrupted,
        dropped,
        elapsed,
        iterations: None,
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

/// Waits for requests in flight, at most `grace` or until the recorder's `stop_now`; then ends
/// the rest at once through `cut`, each counted as interrupted. When the run was `interrupted`,
/// says what it waits for, so a Ctrl-C against a hanging target is never a silent wait.
async fn finish(
    tracker: &TaskTracker,
    grace: Duration,
    recorder: &Recorder,
    cut: &CancellationToken,
    interrupted: bool,
) {
    tracker.close();
    let before = recorder.interrupted();
    let waiting = tracker.len();
    if interrupted && waiting > 0 {
        tracing::warn!(
            in_flight = waiting,
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

    /// Requests that take `latency` of (paused) time; counts concurrency.
    struct Fake {
        recorder: Recorder,
        latency: Duration,
        in_flight: AtomicUsize,
        max_seen: AtomicUsize,
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
        type Session<'a> = &'a Fake;

        fn pick(&self, _rng: &mut StdRng) -> usize {
            0
        }

        fn session(&self) -> &Fake {
            self
        }

        async fn request(&self, index: usize, from: Instant, _cut: &CancellationToken) {
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.max_seen.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(self.latency).await;
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

        fn recorder(&self) -> &Recorder {
            &self.recorder
        }
    }

    impl Session for &Fake {
        async fn request(&mut self, index: usize, from: Instant, cut: &CancellationToken) {
            Exercise::request(*self, index, from, cut).await;
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

    /// Requests that note how far the arrival loop had run ahead of them when they started;
    /// the first one stalls the clock by `stall`, leaving the loop that much behind.
    struct Lagging {
        fake: Arc<Fake>,
        stall: Duration,
        picked: AtomicUsize,
        started: AtomicUsize,
        most_ahead: AtomicUsize,
    }

    impl Exercise for Lagging {
        type Session<'a> = &'a Fake;

        fn pick(&self, _rng: &mut StdRng) -> usize {
            self.picked.fetch_add(1, Ordering::SeqCst);
            0
        }

        fn session(&self) -> &Fake {
            &self.fake
        }

        async fn request(&self, index: usize, from: Instant, cut: &CancellationToken) {
            let me = self.started.fetch_add(1, Ordering::SeqCst) + 1;
            let ahead = self.picked.load(Ordering::SeqCst) - me;
            self.most_ahead.fetch_max(ahead, Ordering::SeqCst);
            if me == 1 {
                tokio::time::advance(self.stall).await;
            }
            Exercise::request(&*self.fake, index, from, cut).await;
        }

        fn recorder(&self) -> &Recorder {
            &self.fake.recorder
        }
    }

    /// A loop that fell behind (a 100 ms stall at 1000/s leaves 100 arrivals overdue) lets each
    /// arrival it starts run before starting the next: started all at once, none of them would
    /// find an idle connection and each would open its own.
    #[tokio::test(start_paused = true)]
    async fn a_late_arrival_loop_lets_each_started_arrival_run_before_the_next() {
        let lagging = Arc::new(Lagging {
            fake: Fake::new(Duration::from_millis(5)),
            stall: Duration::from_millis(100),
            picked: AtomicUsize::new(0),
            started: AtomicUsize::new(0),
            most_ahead: AtomicUsize::new(0),
        });
        let profile = Profile::constant(LoadModel::Open, 1000.0, Duration::from_secs(1));
        let end = open(
            &profile,
            Arc::clone(&lagging),
            CancellationToken::new(),
            10_000,
            GRACE,
        )
        .await;
        assert_eq!(end.dropped, 0);
        assert_eq!(lagging.fake.requests(), 1000);
        let ahead = lagging.most_ahead.load(Ordering::SeqCst);
        assert!(
            ahead <= 1,
            "the loop started {ahead} arrivals ahead of one that had not run"
        );
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
