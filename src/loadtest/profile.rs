//! Load profiles: the stages of a load test, from a built-in name, a YAML file or the command
//! line.
//!
//! A profile is a load model plus stages, as k6 writes them: each stage moves linearly from the
//! previous stage's level to its own `users` (closed model) or `rate` (open model) over its
//! duration. Built-in profiles:
//!
//! | name | model | what it does |
//! |---|---|---|
//! | `smoke` | closed | 1 user for 30 s: do the scenarios work at all? |
//! | `light` | closed | ramp to 10 users in 10 s, hold 1 min |
//! | `medium` | closed | ramp to 50 users in 20 s, hold 2 min |
//! | `heavy` | closed | ramp to 100 users in 30 s, hold 3 min |
//! | `spike` | closed | 10 users for 20 s, 500 users at once for 30 s, back to 10 for 30 s |
//! | `stress` | open | the breaking-point search: rate up step by step until a threshold breaks |
//!
//! A profile file:
//! ```yaml
//! model: closed            # or open
//! think_time: 1s           # closed model: 1s, 500ms..2s (uniform) or 2/s (pace per user)
//! spawn_rate: 10           # closed model: users started per second at most (default: no limit)
//! stages:
//!   - {duration: 30s, users: 50}    # open model: {duration: 30s, rate: 200/s}
//!   - {duration: 2m, users: 50}
//! ```

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

pub use super::values::ThinkTime;
use super::values::{
    MAX_LOAD_RATE, MAX_USERS, ModelKind, SpawnRateKind, StageDurationKind, StageRateKind,
    StageUsersKind, ThinkTimeKind,
};
use crate::config::scalar::Scalar;
use crate::report::model::{LoadModel, PlanSummary, StageSummary};

/// One stage: move linearly to `target` over `duration`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stage {
    /// Stage length.
    pub duration: Duration,
    /// Users (closed) or requests per second (open) at the end of the stage.
    pub target: f64,
}

/// A complete load plan.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// Built-in name or file path, for the report.
    pub name: String,
    /// Virtual users or arrival rate.
    pub model: LoadModel,
    /// Stages in order; the level starts at 0.
    pub stages: Vec<Stage>,
    /// Pause between a user's requests (closed model).
    pub think_time: ThinkTime,
    /// Users started per second at most (closed model); `None`: follow the stages exactly.
    pub spawn_rate: Option<f64>,
    /// The run is a breaking-point search (`stress`): stages are the rate steps.
    pub breaking_point: bool,
    /// `--iterations=N` (closed model, constant users): each user stops after N iterations,
    /// and the stages' length is only an upper bound.
    pub iterations: Option<u64>,
}

/// Names of the built-in profiles, for help and errors.
pub const BUILT_IN: [&str; 6] = ["smoke", "light", "medium", "heavy", "spike", "stress"];

impl Profile {
    /// A built-in profile by name.
    pub fn built_in(name: &str) -> Option<Profile> {
        let s = |secs: u64, target: f64| Stage {
            duration: Duration::from_secs(secs),
            target,
        };
        let stages = match name {
            "smoke" => vec![s(0, 1.0), s(30, 1.0)],
            "light" => vec![s(10, 10.0), s(60, 10.0)],
            "medium" => vec![s(20, 50.0), s(120, 50.0)],
            "heavy" => vec![s(30, 100.0), s(180, 100.0)],
            "spike" => vec![
                s(0, 10.0),
                s(20, 10.0),
                s(0, 500.0),
                s(30, 500.0),
                s(0, 10.0),
                s(30, 10.0),
            ],
            "stress" => return Some(Profile::stress(10.0, 1.5, Duration::from_secs(30), 12)),
            _ => return None,
        };
        Some(Profile {
            name: name.to_string(),
            model: LoadModel::Closed,
            stages,
            think_time: ThinkTime::default(),
            spawn_rate: None,
            breaking_point: false,
            iterations: None,
        })
    }

    /// The breaking-point search: `steps` open-model steps of `step` each, starting at `start`
    /// requests/s and multiplying the rate by `factor` each step, up to the highest load rate.
    pub fn stress(start: f64, factor: f64, step: Duration, steps: u32) -> Profile {
        let levels = (0..steps)
            .map(|i| start * factor.powi(i as i32))
            .take_while(|rate| *rate <= MAX_LOAD_RATE);
        Profile::search(LoadModel::Open, levels, step)
    }

    /// The breaking-point search on users (`--find-breaking-point=users`): `steps` closed-model
    /// steps of `step` each, from `start` users, ×1.5 per step rounded (at least one more user
    /// each step), up to the most users a run may have.
    pub fn stress_users(start: f64, step: Duration, steps: u32) -> Profile {
        let levels = std::iter::successors(Some(start.round().max(1.0)), |users| {
            Some((users * 1.5).round().max(users + 1.0))
        })
        .take(steps as usize)
        .take_while(|users| *users <= f64::from(MAX_USERS));
        Profile::search(LoadModel::Closed, levels, step)
    }

    /// A breaking-point search: one step of `step` at each level.
    fn search(model: LoadModel, levels: impl Iterator<Item = f64>, step: Duration) -> Profile {
        Profile {
            name: "stress".to_string(),
            model,
            stages: levels
                .map(|target| Stage {
                    duration: step,
                    target,
                })
                .collect(),
            think_time: ThinkTime::default(),
            spawn_rate: None,
            breaking_point: true,
            iterations: None,
        }
    }

    /// A single-level profile from `--users N` (or `--rate R`) and `--duration D`.
    pub fn constant(model: LoadModel, level: f64, duration: Duration) -> Profile {
        Profile {
            name: match model {
                LoadModel::Closed => format!("{level} users"),
                LoadModel::Open => format!("{level}/s"),
            },
            model,
            stages: vec![
                Stage {
                    duration: Duration::ZERO,
                    target: level,
                },
                Stage {
                    duration,
                    target: level,
                },
            ],
            think_time: ThinkTime::default(),
            spawn_rate: None,
            breaking_point: false,
            iterations: None,
        }
    }

    /// Reads a profile file (YAML, see the module docs). Errors name the file and, for syntax
    /// and type errors, the line and column.
    pub fn from_file(path: &Path) -> Result<Profile, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("profile {}: {e}", path.display()))?;
        Profile::from_yaml(&text, &path.display().to_string())
    }

    /// Parses profile YAML; `name` is the file name used in messages and the report.
    pub fn from_yaml(text: &str, name: &str) -> Result<Profile, String> {
        let file: ProfileFile = serde_yaml::from_str(text).map_err(|e| match e.location() {
            Some(l) => format!("{name}:{}:{}: {e}", l.line(), l.column()),
            None => format!("{name}: {e}"),
        })?;
        file.build(name)
    }

    /// Total planned length.
    pub fn duration(&self) -> Duration {
        self.stages.iter().map(|s| s.duration).sum()
    }

    /// The planned level (users or rate) `elapsed` into the run: linear within each stage, from
    /// the previous stage's target (0 before the first stage); 0 after the end.
    pub fn level_at(&self, elapsed: Duration) -> f64 {
        let mut from = 0.0;
        let mut start = Duration::ZERO;
        for stage in &self.stages {
            let end = start + stage.duration;
            if elapsed < end {
                let into = (elapsed - start).as_secs_f64() / stage.duration.as_secs_f64();
                return from + (stage.target - from) * into;
            }
            from = stage.target;
            start = end;
        }
        if elapsed == start { from } else { 0.0 }
    }

    /// Keeps shard `index`'s part of `count` equal parts of the load: users are dealt out
    /// whole, so the shards' users add up exactly to the profile's (100 users over 3 shards run
    /// 33, 33 and 34); rates and the spawn rate are divided evenly.
    pub fn split(&mut self, index: u32, count: u32) {
        let (i, n) = (f64::from(index), f64::from(count.max(1)));
        for stage in &mut self.stages {
            stage.target = match self.model {
                LoadModel::Closed => {
                    (stage.target * (i + 1.0) / n).floor() - (stage.target * i / n).floor()
                }
                LoadModel::Open => stage.target / n,
            };
        }
        if let Some(rate) = self.spawn_rate.as_mut() {
            *rate /= n;
        }
    }

    /// The plan as the report records it.
    pub fn summary(&self) -> PlanSummary {
        PlanSummary {
            profile: self.name.clone(),
            model: self.model,
            stages: self
                .stages
                .iter()
                .map(|s| StageSummary {
                    duration_seconds: s.duration.as_secs_f64(),
                    target: s.target,
                    profile: None,
                })
                .collect(),
            tags: None,
            iterations: self.iterations,
        }
    }
}

/// A profile file as written; every value is read with the one grammar while the YAML is read,
/// so a bad one is refused at its line and column.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileFile {
    model: Option<Scalar<ModelKind>>,
    think_time: Option<Scalar<ThinkTimeKind>>,
    spawn_rate: Option<Scalar<SpawnRateKind>>,
    stages: Vec<StageFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StageFile {
    duration: Scalar<StageDurationKind>,
    users: Option<Scalar<StageUsersKind>>,
    rate: Option<Scalar<StageRateKind>>,
}

impl ProfileFile {
    fn build(self, name: &str) -> Result<Profile, String> {
        let model = self.model.map_or(LoadModel::Closed, Scalar::into_inner);
        if self.stages.is_empty() {
            return Err(format!("{name}: stages: at least one stage is needed"));
        }
        let stages = self
            .stages
            .iter()
            .enumerate()
            .map(|(i, s)| {
                s.build(model)
                    .map_err(|e| format!("{name}: stages[{i}]: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let think_time = match self.think_time {
            Some(_) if model == LoadModel::Open => {
                return Err(format!(
                    "{name}: think_time: only the closed model has think time"
                ));
            }
            Some(think) => think.into_inner(),
            None => ThinkTime::default(),
        };
        Ok(Profile {
            name: name.to_string(),
            model,
            stages,
            think_time,
            spawn_rate: self.spawn_rate.map(Scalar::into_inner),
            breaking_point: false,
            iterations: None,
        })
    }
}

impl StageFile {
    fn build(&self, model: LoadModel) -> Result<Stage, String> {
        let target = match (model, &self.users, &self.rate) {
            (LoadModel::Closed, Some(users), None) => f64::from(users.0),
            (LoadModel::Open, None, Some(rate)) => rate.0,
            (LoadModel::Closed, _, _) => {
                return Err("the closed model needs `users` (and no `rate`) per stage".to_string());
            }
            (LoadModel::Open, _, _) => {
                return Err("the open model needs `rate` (and no `users`) per stage".to_string());
            }
        };
        Ok(Stage {
            duration: self.duration.0,
            target,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn levels_ramp_linearly_between_stage_targets() {
        let light = Profile::built_in("light").unwrap();
        assert_eq!(light.duration(), secs(70.0));
        assert_eq!(light.level_at(secs(0.0)), 0.0);
        assert_eq!(light.level_at(secs(5.0)), 5.0);
        assert_eq!(light.level_at(secs(30.0)), 10.0);
        assert_eq!(light.level_at(secs(70.0)), 10.0);
        assert_eq!(light.level_at(secs(71.0)), 0.0);
        let spike = Profile::built_in("spike").unwrap();
        assert_eq!(spike.level_at(secs(19.9)), 10.0);
        assert_eq!(spike.level_at(secs(20.0)), 500.0);
        assert_eq!(spike.level_at(secs(50.0)), 10.0);
    }

    #[test]
    fn every_built_in_exists_and_stress_steps_up() {
        for name in BUILT_IN {
            assert!(Profile::built_in(name).is_some(), "{name}");
        }
        let stress = Profile::built_in("stress").unwrap();
        assert!(stress.breaking_point);
        assert_eq!(stress.stages[0].target, 10.0);
        assert_eq!(stress.stages[1].target, 15.0);
        let capped = Profile::stress(50_000.0, 1.5, Duration::from_secs(1), 12);
        assert_eq!(
            capped.stages.len(),
            2,
            "75000/s is the last step under 100000/s"
        );
        assert!(Profile::built_in("huge").is_none());
        let users = Profile::stress_users(1.0, Duration::from_secs(1), 8);
        assert_eq!(users.model, LoadModel::Closed);
        let levels: Vec<f64> = users.stages.iter().map(|s| s.target).collect();
        assert_eq!(levels, [1.0, 2.0, 3.0, 5.0, 8.0, 12.0, 18.0, 27.0]);
        let top = Profile::stress_users(5000.0, Duration::from_secs(1), 12);
        assert_eq!(
            top.stages.len(),
            2,
            "7500 users is the last step under 10000"
        );
    }

    #[test]
    fn profile_files_parse_with_located_errors() {
        let p = Profile::from_yaml(
            "model: open\nstages:\n  - {duration: 10s, rate: 50/s}\n  - {duration: 1m, rate: 100/s}\n",
            "p.yml",
        )
        .unwrap();
        assert_eq!(p.model, LoadModel::Open);
        assert_eq!(p.stages[1].target, 100.0);
        assert_eq!(p.level_at(secs(5.0)), 25.0);

        let err =
            Profile::from_yaml("stages:\n  - {duration: 10s, userz: 5}\n", "p.yml").unwrap_err();
        assert!(err.starts_with("p.yml:2:"), "{err}");
        assert!(err.contains("unknown field `userz`"), "{err}");
        let err =
            Profile::from_yaml("stages:\n  - {duration: 10s, rate: 5/s}\n", "p.yml").unwrap_err();
        assert_eq!(
            err,
            "p.yml: stages[0]: the closed model needs `users` (and no `rate`) per stage"
        );
        let err = Profile::from_yaml(
            "model: open\nthink_time: 1s\nstages: [{duration: 1s, rate: 1/s}]\n",
            "p.yml",
        )
        .unwrap_err();
        assert!(err.contains("only the closed model"), "{err}");
    }

    #[test]
    fn the_shipped_example_profile_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/profiles/ramp-hold.yml");
        let p = Profile::from_file(&path).unwrap();
        assert_eq!(p.duration(), secs(160.0));
        assert_eq!(p.spawn_rate, Some(20.0));
        assert_eq!(p.think_time, ThinkTime::Uniform(secs(0.5), secs(1.5)));
    }

    #[test]
    fn shards_take_their_share_of_the_load() {
        let users: Vec<f64> = (0..3)
            .map(|i| {
                let mut p = Profile::constant(LoadModel::Closed, 100.0, secs(10.0));
                p.split(i, 3);
                p.stages[1].target
            })
            .collect();
        assert_eq!(users, vec![33.0, 33.0, 34.0]);
        let mut p = Profile::constant(LoadModel::Open, 90.0, secs(10.0));
        p.split(2, 3);
        assert_eq!(p.stages[1].target, 30.0);
    }
}
