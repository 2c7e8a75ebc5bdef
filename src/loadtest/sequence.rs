//! Several profiles in one run (`--profile=light,medium,heavy`): each profile runs on its own,
//! one after the other, with a pause between them, into one recorder and so one report.
//!
//! Each profile runs to its end with the executor of its model, requests in flight included,
//! before the pause starts; the next profile starts on a whole timeline interval. So every
//! interval of the report's timeline holds requests of one profile only, and the report's
//! per-profile rows and thresholds (cut by the plan's stages, see
//! [`crate::report::profile_runs`]) count exactly the requests each profile sent. The plan the
//! report records is the one that ran: a pause is longer than asked when the previous profile's
//! last requests took longer to finish, or to reach the next whole interval.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::executor::{self, Exercise, RunEnd};
use super::profile::{Profile, Stage};
use crate::report::model::{LoadModel, PlanSummary, StageSummary};

/// The pause between profiles when `--profile-pause` is not given.
pub const DEFAULT_PAUSE: Duration = Duration::from_secs(10);

/// Profiles to run one after the other.
#[derive(Debug, Clone, PartialEq)]
pub struct Sequence {
    /// In the order given; all of one load model.
    pub profiles: Vec<Profile>,
    /// The pause between two profiles.
    pub pause: Duration,
}

impl Sequence {
    /// The run's name: the profiles' names joined as given (`light,medium,heavy`).
    pub fn name(&self) -> String {
        let names: Vec<&str> = self.profiles.iter().map(|p| p.name.as_str()).collect();
        names.join(",")
    }

    /// The plan as the report records it, with every pause as asked ([`retime`] sets them as
    /// they ran).
    pub fn summary(&self) -> PlanSummary {
        let mut stages = Vec::new();
        for (i, profile) in self.profiles.iter().enumerate() {
            if i > 0 {
                stages.extend(pause_stages(self.pause).iter().map(|s| StageSummary {
                    duration_seconds: s.duration.as_secs_f64(),
                    target: s.target,
                    profile: None,
                }));
            }
            stages.extend(profile.stages.iter().map(|s| StageSummary {
                duration_seconds: s.duration.as_secs_f64(),
                target: s.target,
                profile: Some(profile.name.clone()),
            }));
        }
        PlanSummary {
            profile: self.name(),
            model: self.profiles[0].model,
            stages,
            tags: None,
            iterations: None,
        }
    }

    /// The profiles as one profile, pauses as asked: what the progress display and the live
    /// page follow.
    pub fn combined(&self) -> Profile {
        let mut all = self.profiles[0].clone();
        all.name = self.name();
        all.stages.clear();
        for (i, profile) in self.profiles.iter().enumerate() {
            if i > 0 {
                all.stages.extend(pause_stages(self.pause));
            }
            all.stages.extend(profile.stages.iter().copied());
        }
        all
    }

    /// Keeps shard `index`'s part of `count` of every profile (see [`Profile::split`]).
    pub fn split(&mut self, index: u32, count: u32) {
        for profile in &mut self.profiles {
            profile.split(index, count);
        }
    }

    /// Runs the profiles in order until the last ends or `stop` is cancelled (a profile cut
    /// short ends the run: the profiles before it keep their results). Returns how the run
    /// ended and the pauses as they ran (see [`retime`]).
    pub async fn run<W: Exercise>(
        &self,
        work: Arc<W>,
        stop: CancellationToken,
        max_in_flight: usize,
        grace: Duration,
    ) -> (RunEnd, Vec<Duration>) {
        let start = work.recorder().start();
        let interval = work.recorder().interval();
        let mut pauses = Vec::new();
        let mut end = RunEnd {
            interrupted: false,
            dropped: 0,
            elapsed: Duration::ZERO,
            iterations: None,
        };
        // Where the plan has the previous profile end: the first starts at 0 in the plan (a
        // moment later in fact, within the first interval), each next one where it started.
        let mut planned_end = Duration::ZERO;
        for (i, profile) in self.profiles.iter().enumerate() {
            let mut planned_start = Duration::ZERO;
            if i > 0 {
                // Nothing runs during the pause: its intervals say so.
                work.recorder().set_level(0.0);
                let wound_down = start.elapsed().max(planned_end + self.pause);
                let next = whole_intervals(wound_down, interval);
                pauses.push(next - planned_end);
                tokio::select! {
                    () = stop.cancelled() => {
                        end.interrupted = true;
                        end.elapsed = start.elapsed();
                        break;
                    }
                    () = tokio::time::sleep_until(start + next) => {}
                }
                planned_start = next;
            }
            let offset = start.elapsed();
            tracing::info!(profile = %profile.name, "profile starting");
            let ran = match profile.model {
                LoadModel::Closed => {
                    executor::closed(profile, Arc::clone(&work), stop.clone(), grace).await
                }
                LoadModel::Open => {
                    executor::open(
                        profile,
                        Arc::clone(&work),
                        stop.clone(),
                        max_in_flight,
                        grace,
                    )
                    .await
                }
            };
            end.dropped += ran.dropped;
            // At least half an interval into the profile: the timeline folds a shorter last
            // sliver into the interval before, which belongs to the previous profile.
            end.elapsed = (offset + ran.elapsed).max(planned_start + interval / 2);
            planned_end = planned_start + profile.duration();
            if ran.interrupted {
                end.interrupted = true;
                break;
            }
        }
        (end, pauses)
    }
}

/// Sets the pauses of a plan made by [`Sequence::summary`] to their lengths as they ran; the
/// pauses that did not run (an interrupted run) keep their planned length.
pub fn retime(stages: &mut [StageSummary], pauses: &[Duration]) {
    let mut pauses = pauses.iter();
    let mut after_jump = false;
    for stage in stages {
        // A pause is an untagged jump to 0, then the untagged hold this sets.
        if stage.profile.is_some() {
            after_jump = false;
        } else if after_jump {
            if let Some(pause) = pauses.next() {
                stage.duration_seconds = pause.as_secs_f64();
            }
            after_jump = false;
        } else {
            after_jump = true;
        }
    }
}

/// A pause as stages: a drop to 0 users (or 0/s), then 0 for `pause`.
fn pause_stages(pause: Duration) -> [Stage; 2] {
    [
        Stage {
            duration: Duration::ZERO,
            target: 0.0,
        },
        Stage {
            duration: pause,
            target: 0.0,
        },
    ]
}

/// `at` rounded up to a whole number of `interval`s.
fn whole_intervals(at: Duration, interval: Duration) -> Duration {
    let step = interval.as_nanos().max(1);
    let n = at.as_nanos().div_ceil(step);
    Duration::from_nanos(u64::try_from(n * step).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_end_on_whole_intervals() {
        let s = Duration::from_secs;
        assert_eq!(whole_intervals(s(80), s(1)), s(80));
        assert_eq!(whole_intervals(Duration::from_millis(80_001), s(1)), s(81));
        assert_eq!(whole_intervals(Duration::ZERO, s(1)), Duration::ZERO);
    }

    #[test]
    fn the_plan_tags_each_profile_and_leaves_pauses_untagged() {
        let sequence = Sequence {
            profiles: vec![
                Profile::built_in("light").unwrap(),
                Profile::built_in("medium").unwrap(),
            ],
            pause: Duration::from_secs(10),
        };
        let plan = sequence.summary();
        assert_eq!(plan.profile, "light,medium");
        let tags: Vec<(f64, f64, Option<&str>)> = plan
            .stages
            .iter()
            .map(|s| (s.duration_seconds, s.target, s.profile.as_deref()))
            .collect();
        assert_eq!(
            tags,
            [
                (10.0, 10.0, Some("light")),
                (60.0, 10.0, Some("light")),
                (0.0, 0.0, None),
                (10.0, 0.0, None),
                (20.0, 50.0, Some("medium")),
                (120.0, 50.0, Some("medium")),
            ]
        );
        let combined = sequence.combined();
        assert_eq!(combined.duration(), Duration::from_secs(220));
        assert_eq!(combined.level_at(Duration::from_secs(75)), 0.0);
        assert_eq!(combined.level_at(Duration::from_secs(90)), 25.0);
        let mut ran = plan.stages.clone();
        retime(&mut ran, &[Duration::from_millis(10_500)]);
        assert_eq!(ran[2].duration_seconds, 0.0);
        assert_eq!(ran[3].duration_seconds, 10.5);
        assert_eq!(ran[4], plan.stages[4]);
    }
}
