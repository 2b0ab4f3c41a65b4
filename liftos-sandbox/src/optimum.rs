//! The world's own best budget split, by re-simulation: the oracle a budget planner is
//! measured against.
//!
//! Each channel's incremental revenue is additive across channels in these worlds (a
//! row's revenue depends only on its own campaign's spend), so a split's true revenue is
//! the sum of each channel's true response at its spend scale, and the best split for a
//! budget is found by dynamic programming over a grid of the budget on curves measured by
//! re-simulation.

use crate::error::{Error, Result};
use crate::world::{Intervention, World};

/// A split of spend across the world's channels and its true incremental revenue.
#[derive(Debug, Clone, PartialEq)]
pub struct Allocation {
    /// Per channel (configuration order): name and total spend over the world's days.
    pub spend: Vec<(String, f64)>,
    /// Incremental revenue over the world's rows against every channel switched off,
    /// by re-simulation with the noise fixed.
    pub incremental_revenue: f64,
}

impl Allocation {
    /// The spend of the channel called `name`.
    pub fn spend_of(&self, name: &str) -> Option<f64> {
        self.spend.iter().find(|(n, _)| n == name).map(|(_, s)| *s)
    }
}

/// Grid points of each true curve between scale 0 and the largest scale.
const CURVE_POINTS: usize = 100;

impl World {
    /// The channel's true incremental revenue over the world's rows if every row of it
    /// spent `scale ×` its actual spend (re-simulation with the noise fixed).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] for an unknown channel or a scale that is negative or not
    /// finite.
    pub fn incremental_revenue_at(&self, channel: &str, scale: f64) -> Result<f64> {
        let total =
            |i: Intervention<'_>| -> Result<f64> { Ok(self.outcomes(i)?.revenue.iter().sum()) };
        Ok(total(Intervention::ScaleSpend(channel, scale))?
            - total(Intervention::SwitchOff(channel))?)
    }

    /// The true incremental revenue of a split: per channel name, its total spend (a
    /// channel not named keeps its actual spend).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] for an unknown channel, or a spend for a channel that
    /// spent nothing.
    pub fn allocation_revenue(&self, spend: &[(&str, f64)]) -> Result<Allocation> {
        let mut out = Vec::new();
        let mut revenue = 0.0;
        for t in &self.truth().channels {
            let s = spend
                .iter()
                .find(|(n, _)| *n == t.channel)
                .map_or(t.spend, |(_, s)| *s);
            let scale = scale_of(&t.channel, s, t.spend)?;
            revenue += self.incremental_revenue_at(&t.channel, scale)?;
            out.push((t.channel.clone(), s));
        }
        for (name, _) in spend {
            if self.truth().channel(name).is_none() {
                return Err(unknown(name));
            }
        }
        Ok(Allocation {
            spend: out,
            incremental_revenue: revenue,
        })
    }

    /// The world's best split of `budget` (spent in full) with each channel's spend
    /// between `min_scale` and `max_scale` times its actual spend (e.g. 0.5 and 1.5 for
    /// moves of at most 50%), on a grid of `steps` units of the budget (≥ 100), from true
    /// curves measured by re-simulation at 101 scales and interpolated linearly.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidConfig`] when the bounds cannot hold the budget or are invalid.
    pub fn optimal_allocation(
        &self,
        budget: f64,
        min_scale: f64,
        max_scale: f64,
        steps: usize,
    ) -> Result<Allocation> {
        let invalid = |field: &str, message: String| Error::InvalidConfig {
            field: field.into(),
            message,
        };
        if !(0.0..=max_scale).contains(&min_scale) || !max_scale.is_finite() || steps < 100 {
            return Err(invalid(
                "optimal_allocation",
                format!(
                    "needs 0 ≤ min_scale ≤ max_scale (finite) and ≥ 100 steps, got {min_scale}, {max_scale}, {steps}"
                ),
            ));
        }
        let channels: Vec<(&str, f64)> = self
            .truth()
            .channels
            .iter()
            .map(|t| (t.channel.as_str(), t.spend))
            .collect();
        let lo: f64 = channels.iter().map(|c| c.1 * min_scale).sum();
        let hi: f64 = channels.iter().map(|c| c.1 * max_scale).sum();
        if !(budget >= lo * (1.0 - 1e-12) && budget <= hi * (1.0 + 1e-12)) {
            return Err(invalid(
                "optimal_allocation.budget",
                format!("{budget} is outside what the bounds allow [{lo}, {hi}]"),
            ));
        }
        // True curves on a grid of scales.
        let mut curves = Vec::with_capacity(channels.len());
        for (name, _) in &channels {
            let mut curve = Vec::with_capacity(CURVE_POINTS + 1);
            for j in 0..=CURVE_POINTS {
                let k = min_scale + (max_scale - min_scale) * j as f64 / CURVE_POINTS as f64;
                curve.push(self.incremental_revenue_at(name, k)?);
            }
            curves.push(curve);
        }
        let value = |c: usize, extra: f64| -> f64 {
            // `extra` spend above the channel's minimum.
            let span = channels[c].1 * (max_scale - min_scale);
            if span <= 0.0 {
                return curves[c][0];
            }
            let pos = (extra / span * CURVE_POINTS as f64).clamp(0.0, CURVE_POINTS as f64);
            let j = (pos.floor() as usize).min(CURVE_POINTS - 1);
            let t = pos - j as f64;
            curves[c][j] * (1.0 - t) + curves[c][j + 1] * t
        };
        let room = budget - lo;
        let delta = room / steps as f64;
        let neg = f64::NEG_INFINITY;
        let mut best = vec![neg; steps + 1];
        best[0] = 0.0;
        let mut picks: Vec<Vec<usize>> = Vec::with_capacity(channels.len());
        for (c, channel) in channels.iter().enumerate() {
            let span = channel.1 * (max_scale - min_scale);
            let units = if delta > 0.0 {
                ((span / delta) + 1e-9).floor() as usize
            } else {
                0
            }
            .min(steps);
            let g: Vec<f64> = (0..=units).map(|j| value(c, j as f64 * delta)).collect();
            let mut next = vec![neg; steps + 1];
            let mut pick = vec![0usize; steps + 1];
            for u in 0..=steps {
                for (j, gj) in g.iter().enumerate().take(units.min(u) + 1) {
                    if best[u - j] > neg && best[u - j] + gj > next[u] {
                        next[u] = best[u - j] + gj;
                        pick[u] = j;
                    }
                }
            }
            best = next;
            picks.push(pick);
        }
        if best[steps] == neg {
            return Err(invalid(
                "optimal_allocation.budget",
                "the grid cannot place the budget within the bounds".into(),
            ));
        }
        let mut spend = vec![0.0; channels.len()];
        let mut u = steps;
        for c in (0..channels.len()).rev() {
            let j = picks[c][u];
            spend[c] = channels[c].1 * min_scale + j as f64 * delta;
            u -= j;
        }
        let named: Vec<(&str, f64)> = channels
            .iter()
            .zip(&spend)
            .map(|((n, _), s)| (*n, *s))
            .collect();
        // The revenue of the split by exact re-simulation (not the interpolation).
        self.allocation_revenue(&named)
    }
}

fn unknown(name: &str) -> Error {
    Error::InvalidConfig {
        field: "allocation".into(),
        message: format!("no channel called `{name}`"),
    }
}

fn scale_of(name: &str, spend: f64, actual: f64) -> Result<f64> {
    if actual > 0.0 {
        Ok(spend / actual)
    } else if spend == 0.0 {
        Ok(0.0)
    } else {
        Err(Error::InvalidConfig {
            field: "allocation".into(),
            message: format!("channel `{name}` spent nothing, so its spend cannot be scaled"),
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::{Preset, World, WorldConfig};

    /// The optimum beats the actual split and any single move of budget between two
    /// channels, and stays within its bounds.
    #[test]
    fn the_optimum_beats_the_actual_split_and_pairwise_moves() {
        let world = World::generate(&WorldConfig::preset(Preset::Saturation, 2)).unwrap();
        let budget: f64 = world.truth().channels.iter().map(|c| c.spend).sum();
        let actual = world.allocation_revenue(&[]).unwrap();
        let sum_truth: f64 = world
            .truth()
            .channels
            .iter()
            .map(|c| c.incremental_revenue)
            .sum();
        assert!((actual.incremental_revenue - sum_truth).abs() < 1e-6 * sum_truth.abs());
        let best = world.optimal_allocation(budget, 0.5, 1.5, 400).unwrap();
        let total: f64 = best.spend.iter().map(|s| s.1).sum();
        assert!((total - budget).abs() < 1e-6 * budget);
        assert!(best.incremental_revenue >= actual.incremental_revenue);
        for (name, s) in &best.spend {
            let actual = world.truth().channel(name).unwrap().spend;
            assert!(*s >= 0.5 * actual - 1e-6 && *s <= 1.5 * actual + 1e-6);
        }
        // No move of 2% of the budget from one channel to another does better.
        let step = 0.02 * budget;
        for (a, sa) in &best.spend {
            for (b, sb) in &best.spend {
                if a == b {
                    continue;
                }
                let (ta, tb) = (
                    world.truth().channel(a).unwrap().spend,
                    world.truth().channel(b).unwrap().spend,
                );
                let (na, nb) = (sa - step, sb + step);
                if na < 0.5 * ta || nb > 1.5 * tb {
                    continue;
                }
                let split: Vec<(&str, f64)> = best
                    .spend
                    .iter()
                    .map(|(n, s)| {
                        let s = if n == a {
                            na
                        } else if n == b {
                            nb
                        } else {
                            *s
                        };
                        (n.as_str(), s)
                    })
                    .collect();
                let moved = world.allocation_revenue(&split).unwrap();
                assert!(
                    moved.incremental_revenue <= best.incremental_revenue * (1.0 + 1e-3),
                    "{a}→{b}: {} > {}",
                    moved.incremental_revenue,
                    best.incremental_revenue
                );
            }
        }
        assert!(
            world
                .optimal_allocation(10.0 * budget, 0.5, 1.5, 400)
                .is_err()
        );
        assert!(world.allocation_revenue(&[("nope", 1.0)]).is_err());
    }
}
