//! Automated retraining from a store: model versions, triggers and their history.
//!
//! Each fit is a version under `STORE/models/<timestamp>/`: the pipeline's
//! `results.json`, `run.json` and tables, `settings.toml` (the config it ran with; it
//! never holds secrets) and `fingerprint.json` (what data it saw: last complete day, a
//! hash of the unified rows, spend shares, data quality, the trigger). A version is
//! written into a hidden temporary directory and renamed into place when complete, so
//! an interrupted fit leaves no half version (its temporary directory is removed by the
//! next retrain).
//!
//! [`retrain_if_due`] fits a new version when a trigger fires:
//!
//! | Trigger | Default | Fires when |
//! |---|---|---|
//! | first fit | — | the store has no version yet |
//! | `new_days` | 7 | at least this many new complete days since the last version |
//! | `quality` | 0.05 | completeness or accuracy moved by more than this, or an issue appeared or went away (1 turns it off) |
//! | `spend_drift` | 0.10 | the channels' spend shares over the last `drift_window_days` (28) moved by more than this (total variation distance) |
//!
//! Data that did not change (same fingerprint) never triggers a fit.
//! [`history`] reads every version back and tells how each channel's return moved,
//! flagging a channel whose new interval excludes the previous estimate. A version is a
//! directory named by its timestamp ([`is_version_id`]) holding `fingerprint.json`;
//! anything else in the models directory (a notes folder, a backup copy) is skipped, and
//! [`models`] names it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Date32Type, Float64Type};
use arrow::row::{RowConverter, SortField};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::pipeline::{Outputs, PipelineBuilder};
use crate::{Error, Result};

/// The models directory of a store.
pub const MODELS_DIR: &str = "models";

/// When to retrain; see the [module docs](self).
#[derive(Debug, Clone, PartialEq)]
pub struct RetrainPolicy {
    /// New complete days that trigger a fit.
    pub new_days: u32,
    /// Move of completeness or accuracy that triggers a fit.
    pub quality: f64,
    /// Total variation distance of the spend shares that triggers a fit.
    pub spend_drift: f64,
    /// Days the spend shares are measured over.
    pub drift_window_days: u32,
}

impl Default for RetrainPolicy {
    fn default() -> Self {
        RetrainPolicy {
            new_days: 7,
            quality: 0.05,
            spend_drift: 0.10,
            drift_window_days: 28,
        }
    }
}

/// What data a version saw (`fingerprint.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataState {
    /// Last complete day analysed.
    pub complete_through: NaiveDate,
    /// FNV-1a 64 of the unified rows (row format), hex.
    pub fingerprint: String,
    /// Unified rows.
    pub rows: usize,
    /// Each channel's share of the spend over the drift window.
    pub spend_share: BTreeMap<String, f64>,
    /// Data-quality completeness score.
    pub completeness: f64,
    /// Data-quality accuracy score.
    pub accuracy: f64,
    /// The rules with findings.
    pub issues: Vec<String>,
}

/// Why a version was fitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Trigger {
    /// The store had no version.
    FirstFit,
    /// New complete days.
    NewDays {
        /// How many.
        days: i64,
    },
    /// Data quality changed.
    Quality {
        /// What moved.
        detail: String,
    },
    /// The spend mix drifted.
    SpendDrift {
        /// Total variation distance of the shares.
        distance: f64,
    },
}

impl std::fmt::Display for Trigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Trigger::FirstFit => write!(f, "first fit"),
            Trigger::NewDays { days } => write!(f, "{days} new complete days"),
            Trigger::Quality { detail } => write!(f, "data quality changed ({detail})"),
            Trigger::SpendDrift { distance } => {
                write!(f, "spend mix drifted (distance {distance:.3})")
            }
        }
    }
}

/// `fingerprint.json` of a version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionFingerprint {
    /// The data it saw.
    pub data: DataState,
    /// Why it was fitted.
    pub trigger: Trigger,
    /// The store's commit it read.
    pub store_commit: u64,
}

/// A version on disk.
#[derive(Debug, Clone, PartialEq)]
pub struct Version {
    /// Its directory name (a UTC timestamp).
    pub id: String,
    /// Its directory.
    pub dir: PathBuf,
    /// Its `fingerprint.json`.
    pub fingerprint: VersionFingerprint,
}

/// What [`retrain_if_due`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct RetrainOutcome {
    /// The data now in the store.
    pub state: DataState,
    /// The version fitted, if a trigger fired.
    pub version: Option<Version>,
    /// Why not, when no version was fitted.
    pub skipped: Option<String>,
}

fn io_error(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        source,
    }
}

/// A version's JSON file, at most [`MAX_WHOLE_FILE`](liftos_core::fs::MAX_WHOLE_FILE).
fn read_whole(path: &Path) -> Result<String> {
    liftos_core::fs::read_to_string_limited(path, liftos_core::fs::MAX_WHOLE_FILE)
        .map_err(|e| io_error(path, e))
}

/// FNV-1a 64 over `bytes`, continuing from `hash`.
fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// The [`DataState`] of a unified table and its quality report.
fn data_state(
    table: &RecordBatch,
    quality: &liftos_transform::QualityReport,
    complete_through: NaiveDate,
    policy: &RetrainPolicy,
) -> Result<DataState> {
    let converter = RowConverter::new(
        table
            .columns()
            .iter()
            .map(|c| SortField::new(c.data_type().clone()))
            .collect(),
    )?;
    let rows = converter.convert_columns(table.columns())?;
    let mut hash = 0xcbf2_9ce4_8422_2325;
    for r in rows.iter() {
        hash = fnv1a(hash, r.as_ref());
    }
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    let from = (complete_through - epoch).num_days() as i32
        - i32::try_from(policy.drift_window_days).unwrap_or(i32::MAX)
        + 1;
    let mut spend: BTreeMap<String, f64> = BTreeMap::new();
    if let (Some(d), Some(c), Some(s)) = (
        table.column_by_name(liftos_transform::unified::DATE),
        table.column_by_name(liftos_transform::unified::CHANNEL),
        table.column_by_name(liftos_transform::unified::SPEND),
    ) && let (Some(d), Some(c), Some(s)) = (
        d.as_primitive_opt::<Date32Type>(),
        c.as_string_opt::<i32>(),
        s.as_primitive_opt::<Float64Type>(),
    ) {
        for i in 0..table.num_rows() {
            if d.is_valid(i) && d.value(i) >= from && c.is_valid(i) && s.is_valid(i) {
                *spend.entry(c.value(i).to_owned()).or_default() += s.value(i);
            }
        }
    }
    let total: f64 = spend.values().sum();
    let spend_share = spend
        .into_iter()
        .map(|(k, v)| (k, if total > 0.0 { v / total } else { 0.0 }))
        .collect();
    let mut issues: Vec<String> = quality.issues.iter().map(|i| i.rule.clone()).collect();
    issues.sort();
    issues.dedup();
    Ok(DataState {
        complete_through,
        fingerprint: format!("{hash:016x}"),
        rows: table.num_rows(),
        spend_share,
        completeness: quality.completeness_score,
        accuracy: quality.accuracy_score,
        issues,
    })
}

/// The trigger that fires for `now` after `last`, if any.
pub fn trigger(
    last: Option<&DataState>,
    now: &DataState,
    policy: &RetrainPolicy,
) -> Option<Trigger> {
    let Some(last) = last else {
        return Some(Trigger::FirstFit);
    };
    if last.fingerprint == now.fingerprint {
        return None;
    }
    let days = (now.complete_through - last.complete_through).num_days();
    if days >= i64::from(policy.new_days.max(1)) {
        return Some(Trigger::NewDays { days });
    }
    let moved = |a: f64, b: f64| (a - b).abs() > policy.quality;
    if moved(last.completeness, now.completeness) || moved(last.accuracy, now.accuracy) {
        return Some(Trigger::Quality {
            detail: format!(
                "completeness {:.3} → {:.3}, accuracy {:.3} → {:.3}",
                last.completeness, now.completeness, last.accuracy, now.accuracy
            ),
        });
    }
    if policy.quality < 1.0 && last.issues != now.issues {
        return Some(Trigger::Quality {
            detail: format!(
                "issues [{}] → [{}]",
                last.issues.join(", "),
                now.issues.join(", ")
            ),
        });
    }
    let channels: std::collections::BTreeSet<&String> = last
        .spend_share
        .keys()
        .chain(now.spend_share.keys())
        .collect();
    let distance = 0.5
        * channels
            .iter()
            .map(|c| {
                (last.spend_share.get(*c).copied().unwrap_or(0.0)
                    - now.spend_share.get(*c).copied().unwrap_or(0.0))
                .abs()
            })
            .sum::<f64>();
    if distance > policy.spend_drift {
        return Some(Trigger::SpendDrift { distance });
    }
    None
}

/// Whether `name` is a version's directory name as [`retrain_if_due`] writes it: a UTC
/// timestamp `YYYYMMDDTHHMMSS.mmmZ`, with `-N` when two fits share a millisecond.
pub fn is_version_id(name: &str) -> bool {
    let (stamp, n) = match name.split_once('-') {
        Some((stamp, n)) => (stamp, Some(n)),
        None => (name, None),
    };
    let digits = |s: &[u8]| !s.is_empty() && s.iter().all(u8::is_ascii_digit);
    let b = stamp.as_bytes();
    b.len() == 20
        && digits(&b[..8])
        && b[8] == b'T'
        && digits(&b[9..15])
        && b[15] == b'.'
        && digits(&b[16..19])
        && b[19] == b'Z'
        && n.is_none_or(|n| digits(n.as_bytes()))
}

/// The models directory of a store: its versions, oldest first, and the entries that are
/// not versions.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Models {
    /// The versions, oldest first.
    pub versions: Vec<Version>,
    /// The names of the entries that are not versions and were skipped: a directory not
    /// named as [`retrain_if_due`] names versions (`notes/`, `backup-q1/`), one so named
    /// without `fingerprint.json` (a version is renamed into place only once it has
    /// one), a file. Hidden entries (`.tmp-*`, a fit under way or interrupted) are not
    /// listed.
    pub foreign: Vec<String>,
}

/// Every version of the store in `store`, oldest first, and the entries of its models
/// directory that are not versions (skipped, named in [`Models::foreign`]).
///
/// # Errors
///
/// [`Error::Io`] when the models directory cannot be read; [`Error::Report`] naming a
/// version whose `fingerprint.json` is unreadable.
pub fn models(store: &Path) -> Result<Models> {
    let dir = store.join(MODELS_DIR);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Models::default()),
        Err(e) => return Err(io_error(&dir, e)),
    };
    let mut out = Models::default();
    for e in entries {
        let e = e.map_err(|err| io_error(&dir, err))?;
        let id = e.file_name().to_string_lossy().into_owned();
        if id.starts_with('.') {
            continue;
        }
        let path = e.path().join("fingerprint.json");
        if !(is_version_id(&id) && e.path().is_dir() && path.is_file()) {
            out.foreign.push(id);
            continue;
        }
        let text = read_whole(&path)?;
        let fingerprint: VersionFingerprint = serde_json::from_str(&text)
            .map_err(|err| Error::Report(format!("{}: {err}", path.display())))?;
        out.versions.push(Version {
            id,
            dir: e.path(),
            fingerprint,
        });
    }
    out.versions.sort_by(|a, b| a.id.cmp(&b.id));
    out.foreign.sort();
    Ok(out)
}

/// Every version of the store in `store`, oldest first; entries of the models directory
/// that are not versions are skipped ([`models`] names them).
///
/// # Errors
///
/// As [`models`].
pub fn versions(store: &Path) -> Result<Vec<Version>> {
    Ok(models(store)?.versions)
}

/// Checks the data in the store against the last version and fits a new one when a
/// trigger fires (or always, with `force`).
///
/// `builder` is the pipeline to fit (its sources are read from the store; its outputs
/// are replaced by the version's directory, without the HTML report); `start` is its
/// first day; `settings` is the config text saved with the version.
///
/// # Errors
///
/// The pipeline's errors; [`Error::Io`] for the version's files.
pub async fn retrain_if_due(
    builder: PipelineBuilder,
    store: &Path,
    start: NaiveDate,
    settings: &str,
    policy: &RetrainPolicy,
    force: bool,
) -> Result<RetrainOutcome> {
    let (complete_through, commit) = {
        let s = liftos_transform::store::Store::open(store)?;
        let last = s
            .sources()
            .values()
            .filter_map(|x| x.last_complete())
            .min()
            .ok_or_else(|| Error::InvalidPipeline {
                field: "store".into(),
                message: format!(
                    "{} holds no source; run `liftos sync` first",
                    store.display()
                ),
            })?;
        (last, s.commits())
    };
    if complete_through < start {
        return Err(Error::InvalidPipeline {
            field: "store".into(),
            message: format!(
                "the store is complete through {complete_through} only, before the first day {start}"
            ),
        });
    }
    let builder = builder
        .store(store)
        .date_range(start, complete_through)
        .progress(false);
    let checker = builder.clone().build()?;
    let pulls = checker.pull().await?;
    let unified = checker.unify(&pulls)?;
    let quality = checker.validate(&unified.table)?;
    let state = data_state(&unified.table, &quality, complete_through, policy)?;
    let all = versions(store)?;
    let last = all.last().map(|v| &v.fingerprint.data);
    let fired = match trigger(last, &state, policy) {
        Some(t) => t,
        None if force => Trigger::Quality {
            detail: "forced".into(),
        },
        None => {
            let why = match last {
                Some(l) if l.fingerprint == state.fingerprint => {
                    "the data did not change".to_owned()
                }
                Some(l) => format!(
                    "{} new complete day(s) since the last version (retrain at {}), quality and spend mix steady",
                    (state.complete_through - l.complete_through).num_days(),
                    policy.new_days
                ),
                None => String::new(),
            };
            return Ok(RetrainOutcome {
                state,
                version: None,
                skipped: Some(why),
            });
        }
    };
    let models = store.join(MODELS_DIR);
    std::fs::create_dir_all(&models).map_err(|e| io_error(&models, e))?;
    // Temporary directories of fits that never finished.
    if let Ok(entries) = std::fs::read_dir(&models) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(".tmp-") {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    let mut id = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ").to_string();
    let mut n = 1;
    while models.join(&id).exists() {
        id = format!("{}-{n}", chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"));
        n += 1;
    }
    let tmp = models.join(format!(".tmp-{id}"));
    let pipeline = builder
        .outputs(Outputs::new(&tmp).with_report(false))
        .build()?;
    pipeline.run().await?;
    let fingerprint = VersionFingerprint {
        data: state.clone(),
        trigger: fired,
        store_commit: commit,
    };
    let text = serde_json::to_string_pretty(&fingerprint)
        .map_err(|e| Error::Report(format!("fingerprint.json: {e}")))?;
    crate::io::write_bytes_atomically(&tmp.join("fingerprint.json"), text.as_bytes())?;
    crate::io::write_bytes_atomically(&tmp.join("settings.toml"), settings.as_bytes())?;
    let dir = models.join(&id);
    std::fs::rename(&tmp, &dir).map_err(|e| io_error(&dir, e))?;
    Ok(RetrainOutcome {
        state,
        version: Some(Version {
            id,
            dir,
            fingerprint,
        }),
        skipped: None,
    })
}

/// One channel's estimate in one version.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelEstimate {
    /// Version id.
    pub version: String,
    /// Last complete day it saw.
    pub complete_through: NaiveDate,
    /// Incremental return on spend (`NaN`: the version did not estimate it).
    pub iroas: f64,
    /// Its interval.
    pub lower: f64,
    /// Its interval.
    pub upper: f64,
    /// Whether this interval excludes the previous version's estimate.
    pub shifted: bool,
}

/// Each channel's estimates across the versions of `store`, oldest first.
///
/// # Errors
///
/// As [`versions`]; [`Error::Report`] naming a `results.json` that cannot be read.
pub fn history(store: &Path) -> Result<BTreeMap<String, Vec<ChannelEstimate>>> {
    let mut out: BTreeMap<String, Vec<ChannelEstimate>> = BTreeMap::new();
    for v in versions(store)? {
        let path = v.dir.join("results.json");
        let text = read_whole(&path)?;
        let json: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::Report(format!("{}: {e}", path.display())))?;
        let channels = json["channels"].as_array().cloned().unwrap_or_default();
        // A version that reports effects at zero or above is compared with the previous
        // estimate floored the same way: a channel fitted at -0.01 before the convention
        // (or with it switched off) and reported at 0.00 [0.00, 0.39] has not moved.
        let non_negative = json["settings"]["non_negative"].as_str() == Some("true");
        for c in channels {
            let Some(name) = c["channel"].as_str() else {
                continue;
            };
            // A channel the version could not estimate (`null` in the JSON) keeps its line,
            // as not estimated, and is compared with nothing.
            let number = |k: &str| c[k].as_f64().unwrap_or(f64::NAN);
            let (iroas, lower, upper) = (
                number("incremental_roas"),
                number("incremental_roas_ci_lower"),
                number("incremental_roas_ci_upper"),
            );
            let series = out.entry(name.to_owned()).or_default();
            let previous = series.iter().rev().find(|e| e.iroas.is_finite());
            let shifted = previous.is_some_and(|prev| {
                let prev = if non_negative {
                    prev.iroas.max(0.0)
                } else {
                    prev.iroas
                };
                prev < lower || prev > upper
            });
            series.push(ChannelEstimate {
                version: v.id.clone(),
                complete_through: v.fingerprint.data.complete_through,
                iroas,
                lower,
                upper,
                shifted,
            });
        }
    }
    Ok(out)
}

/// The channels whose estimate in version `version` has an interval that excludes their
/// previous version's estimate, one sentence each (what `liftos watch` prints after a
/// retrain).
pub fn shifts_in(history: &BTreeMap<String, Vec<ChannelEstimate>>, version: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (channel, series) in history {
        let Some(k) = series.iter().position(|e| e.version == version) else {
            continue;
        };
        let e = &series[k];
        if let (true, Some(prev)) = (e.shifted, k.checked_sub(1).map(|j| &series[j])) {
            out.push(format!(
                "SHIFT: `{channel}`: iROAS {:.3} [{:.3}, {:.3}] excludes the previous version's estimate {:.3} ({})",
                e.iroas, e.lower, e.upper, prev.iroas, prev.version
            ));
        }
    }
    out
}

/// [`history`] as text: per channel one line per version, with the change and a flag
/// when the new interval excludes the previous estimate.
pub fn format_history(history: &BTreeMap<String, Vec<ChannelEstimate>>) -> String {
    let mut s = String::new();
    for (channel, series) in history {
        let _ = writeln!(s, "{channel}");
        let mut prev: Option<f64> = None;
        for e in series {
            let change = prev.map_or_else(String::new, |p| format!("{:+.3}", e.iroas - p));
            let flag = match prev {
                Some(p) if e.shifted => {
                    format!("  SHIFT: the interval excludes the previous estimate {p:.3}")
                }
                _ => String::new(),
            };
            if !e.iroas.is_finite() {
                let _ = writeln!(
                    s,
                    "  {}  through {}  iROAS not estimated in this version",
                    e.version, e.complete_through
                );
                continue;
            }
            let line = format!(
                "  {}  through {}  iROAS {:.3} [{:.3}, {:.3}] {change:>7}{flag}",
                e.version, e.complete_through, e.iroas, e.lower, e.upper
            );
            let _ = writeln!(s, "{}", line.trim_end());
            prev = Some(e.iroas);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retrain_reports_the_channels_whose_interval_excludes_the_previous_estimate() {
        let day = NaiveDate::from_ymd_opt(2024, 2, 1).unwrap();
        let e =
            |version: &str, iroas: f64, lower: f64, upper: f64, shifted: bool| ChannelEstimate {
                version: version.into(),
                complete_through: day,
                iroas,
                lower,
                upper,
                shifted,
            };
        let mut h = BTreeMap::new();
        h.insert(
            "meta".to_owned(),
            vec![e("v1", 2.0, 1.5, 2.5, false), e("v2", 3.1, 2.6, 3.6, true)],
        );
        h.insert(
            "google_ads".to_owned(),
            vec![e("v1", 1.0, 0.5, 1.5, false), e("v2", 1.2, 0.7, 1.7, false)],
        );
        assert_eq!(
            shifts_in(&h, "v2"),
            [
                "SHIFT: `meta`: iROAS 3.100 [2.600, 3.600] excludes the previous version's estimate 2.000 (v1)"
            ]
        );
        assert!(shifts_in(&h, "v1").is_empty());
    }

    /// A version reported at zero or above (`settings.non_negative` = "true") is compared
    /// with the previous estimate floored the same way: a channel fitted at -0.01 by an
    /// older version and reported at 0.00 [0.00, 0.39] now has not moved; a real move
    /// is still flagged, and a version without the setting compares as fitted.
    #[test]
    fn a_channel_floored_at_zero_is_no_shift() {
        let store = tempfile::tempdir().unwrap();
        let id = |k: u32| format!("20240201T00000{k}.000Z");
        let version = |id: &str, settings: serde_json::Value, tiktok: [f64; 3], meta: [f64; 3]| {
            let dir = store.path().join(MODELS_DIR).join(id);
            std::fs::create_dir_all(&dir).unwrap();
            let fingerprint = VersionFingerprint {
                data: state("2024-02-01", id, 0.5),
                trigger: Trigger::FirstFit,
                store_commit: 0,
            };
            let fingerprint = serde_json::to_string(&fingerprint).unwrap();
            std::fs::write(dir.join("fingerprint.json"), fingerprint).unwrap();
            let channel = |name: &str, [e, lo, hi]: [f64; 3]| {
                serde_json::json!({"channel": name, "incremental_roas": e,
                    "incremental_roas_ci_lower": lo, "incremental_roas_ci_upper": hi})
            };
            let results = serde_json::json!({"settings": settings,
                "channels": [channel("tiktok", tiktok), channel("meta", meta)]});
            std::fs::write(dir.join("results.json"), results.to_string()).unwrap();
        };
        version(&id(1), serde_json::json!({}), [-0.01, -0.80, 0.39], [2.0, 1.5, 2.5]);
        let floored = serde_json::json!({"non_negative": "true"});
        version(&id(2), floored, [0.0, 0.0, 0.39], [3.1, 2.6, 3.6]);
        let fitted = serde_json::json!({"non_negative": "false"});
        version(&id(3), fitted.clone(), [-0.2, -0.5, -0.05], [3.0, 2.5, 3.5]);
        // A version that could not estimate Meta (`null`s in its JSON) keeps Meta's line,
        // and the next one is compared with the last estimate there was.
        version(&id(4), fitted.clone(), [-0.2, -0.5, -0.05], [f64::NAN; 3]);
        version(&id(5), fitted, [-0.2, -0.5, -0.05], [5.0, 4.5, 5.5]);
        let h = history(store.path()).unwrap();
        let shifted = |c: &str| h[c].iter().map(|e| e.shifted).collect::<Vec<_>>();
        assert_eq!(shifted("tiktok"), [false, false, true, false, false]);
        assert_eq!(shifted("meta"), [false, true, false, false, true]);
        let text = format_history(&h);
        assert!(text.contains(&format!("{}  through 2024-02-01  iROAS not estimated", id(4))), "{text}");
        assert!(text.contains("+2.000  SHIFT: the interval excludes the previous estimate 3.000"), "{text}");
    }

    /// Entries of the models directory that LiftOS did not write (a notes folder, a
    /// backup copy with or without its `fingerprint.json`, a file) are skipped and named;
    /// a hidden fit under way is neither; a damaged version is still an error.
    #[test]
    fn entries_that_are_not_versions_are_skipped_and_named() {
        let store = tempfile::tempdir().unwrap();
        let models_dir = store.path().join(MODELS_DIR);
        let id = "20261207T013803.816Z";
        let version = models_dir.join(id);
        std::fs::create_dir_all(&version).unwrap();
        let fingerprint = VersionFingerprint {
            data: state("2024-01-31", "a", 0.5),
            trigger: Trigger::FirstFit,
            store_commit: 1,
        };
        let text = serde_json::to_string(&fingerprint).unwrap();
        std::fs::write(version.join("fingerprint.json"), &text).unwrap();
        std::fs::write(version.join("results.json"), r#"{"channels": []}"#).unwrap();
        for dir in ["notes", "backup-before-q1-review", ".tmp-20261207T013900.000Z"] {
            std::fs::create_dir_all(models_dir.join(dir)).unwrap();
        }
        // A whole copy: it has a fingerprint, but it is not named as a version (it
        // would sort after every timestamp and pass for the newest).
        let copy = models_dir.join("copy");
        std::fs::create_dir_all(&copy).unwrap();
        std::fs::write(copy.join("fingerprint.json"), &text).unwrap();
        // Named as a version, without a fingerprint: never renamed into place by a fit.
        std::fs::create_dir_all(models_dir.join("20261207T020000.000Z")).unwrap();
        std::fs::write(models_dir.join("README.txt"), "notes").unwrap();
        let m = models(store.path()).unwrap();
        assert_eq!(
            m.versions.iter().map(|v| v.id.as_str()).collect::<Vec<_>>(),
            [id]
        );
        assert_eq!(
            m.foreign,
            [
                "20261207T020000.000Z",
                "README.txt",
                "backup-before-q1-review",
                "copy",
                "notes"
            ]
        );
        assert_eq!(history(store.path()).unwrap().len(), 0);
        std::fs::write(version.join("fingerprint.json"), "{").unwrap();
        let err = models(store.path()).unwrap_err().to_string();
        assert!(err.contains(id) && err.contains("fingerprint.json"), "{err}");
    }

    #[test]
    fn version_ids_are_the_timestamps_a_fit_writes() {
        for id in ["20261207T013803.816Z", "20261207T013803.816Z-2"] {
            assert!(is_version_id(id), "{id}");
        }
        for name in [
            "notes",
            "20261207T013803Z",
            "20261207T013803.816Z-",
            "20261207T013803.816Z-x",
            "2026120éT013803.816Z",
            "backup-20261207T013803.816Z",
        ] {
            assert!(!is_version_id(name), "{name}");
        }
    }

    fn state(day: &str, fp: &str, meta: f64) -> DataState {
        DataState {
            complete_through: day.parse().unwrap(),
            fingerprint: fp.into(),
            rows: 10,
            spend_share: [
                ("meta".to_owned(), meta),
                ("google_ads".to_owned(), 1.0 - meta),
            ]
            .into_iter()
            .collect(),
            completeness: 1.0,
            accuracy: 1.0,
            issues: Vec::new(),
        }
    }

    #[test]
    fn triggers_fire_on_first_fit_new_days_quality_and_spend_drift_only() {
        let p = RetrainPolicy::default();
        let a = state("2024-02-01", "a", 0.5);
        assert_eq!(trigger(None, &a, &p), Some(Trigger::FirstFit));
        assert_eq!(trigger(Some(&a), &a, &p), None, "same data");
        let b = state("2024-02-03", "b", 0.52);
        assert_eq!(trigger(Some(&a), &b, &p), None, "2 days, steady mix");
        let c = state("2024-02-08", "c", 0.5);
        assert_eq!(
            trigger(Some(&a), &c, &p),
            Some(Trigger::NewDays { days: 7 })
        );
        let d = state("2024-02-02", "d", 0.7);
        assert!(
            matches!(trigger(Some(&a), &d, &p), Some(Trigger::SpendDrift { distance }) if (distance - 0.2).abs() < 1e-9)
        );
        let mut e = state("2024-02-02", "e", 0.5);
        e.issues = vec!["date_gaps".into()];
        assert!(matches!(
            trigger(Some(&a), &e, &p),
            Some(Trigger::Quality { .. })
        ));
    }
}
