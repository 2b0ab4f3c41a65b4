//! Response transforms: how a channel's spend turns into effect (carryover, then
//! diminishing returns), chosen per channel from the data, and what they imply for the
//! switch-off return, the marginal return and the response curve.
//!
//! With a per-channel transform `f(s) = Hill(adstock_θ(s); K, S)` (`f(0) = 0`), the model
//! `Y = m(X) + τ(X)·f(s) + ε` is partially linear in the transformed treatment, so the
//! orthogonal machinery of the causal forest applies to `T = f(s)` unchanged
//! (CAUSAL_NOTES.md). Then, over a channel's rows,
//!
//! - switch-off lift `Σ τ(xᵢ)·f(aᵢ)` (what the window would lose with the channel's spend
//!   at zero, carryover inside the window included, since `a = 0` when spend is 0);
//! - marginal return `Σ τ(xᵢ)·f′(aᵢ)·aᵢ / Σ sᵢ` (the derivative of the lift with respect to
//!   a common scale of the channel's spend, at scale 1: adstock is linear, so scaling
//!   spend scales every `aᵢ`);
//! - response curve `Σ τ(xᵢ)·f(k·aᵢ)` at spend scales `k`.
//!
//! The transform (θ, half-saturation, shape) is chosen by the cross-fitted R-loss of a
//! constant-effect partially linear model, per channel, over a grid
//! ([`ResponseOptions`]); every transform the data cannot reject widens the intervals by
//! how far it moves the estimate (`select_response`).

use std::collections::{BTreeMap, HashMap};

use rayon::prelude::*;
use statrs::distribution::{ChiSquared, ContinuousCDF};

use crate::forest::{ForestParams, OobSmoother};
use crate::prepare::adstock;
use crate::{Error, Result};

/// Diminishing returns: a Hill curve on the adstocked exposure `a`,
/// `f(a) = K·x^S / (1 + x^S)` with `x = a / K`, so that `f(0) = 0` and, for `S = 1`, the
/// slope at zero is 1 (the return per unit of the first dollar is `τ`).
///
/// `K` is set per entity (campaign): `half_saturation ×` the entity's mean adstocked
/// exposure over its rows, so one relative value describes campaigns of any size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HillCurve {
    /// Half-saturation exposure as a multiple of the entity's mean exposure. Range: > 0.
    pub half_saturation: f64,
    /// Hill exponent `S`. Range: > 0.
    pub shape: f64,
}

impl HillCurve {
    pub(crate) fn value(&self, a: f64, k: f64) -> f64 {
        if a <= 0.0 || k <= 0.0 {
            return 0.0;
        }
        let p = (a / k).powf(self.shape);
        k * p / (1.0 + p)
    }

    /// `f′(a)·a`: the elasticity of the curve times its value.
    pub(crate) fn slope_times_exposure(&self, a: f64, k: f64) -> f64 {
        if a <= 0.0 || k <= 0.0 {
            return 0.0;
        }
        let p = (a / k).powf(self.shape);
        k * self.shape * p / ((1.0 + p) * (1.0 + p))
    }
}

/// One channel's response transform: geometric carryover `a_t = s_t + θ·a_{t−1}`, then an
/// optional Hill curve (`None`: linear in the adstocked spend).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResponseTransform {
    /// Geometric adstock decay θ. Range: [0, 1).
    pub adstock_decay: f64,
    /// Diminishing returns, or `None` for a linear response.
    pub saturation: Option<HillCurve>,
}

impl ResponseTransform {
    /// Parses a pinned transform as written on the command line: `CHANNEL=DECAY` (linear
    /// after carryover) or `CHANNEL=DECAY:HALF_SATURATION:SHAPE` (a Hill curve, its
    /// half-saturation a multiple of the campaign's mean adstocked exposure), e.g.
    /// `meta=0.3:1:1.5`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] naming the text when it has another form or a value is
    /// not a number (ranges are checked by [`ResponseOptions::validate`]).
    pub fn parse_pin(s: &str) -> Result<(String, ResponseTransform)> {
        let bad = || {
            Error::param(
                "pin_curve",
                s,
                "CHANNEL=DECAY or CHANNEL=DECAY:HALF_SATURATION:SHAPE, e.g. meta=0.3:1:1.5",
            )
        };
        let (channel, spec) = s.split_once('=').ok_or_else(bad)?;
        let channel = channel.trim();
        let values: Vec<f64> = spec
            .split(':')
            .map(|v| v.trim().parse::<f64>().map_err(|_| bad()))
            .collect::<Result<_>>()?;
        let saturation = match values[..] {
            [_] => None,
            [_, half_saturation, shape] => Some(HillCurve {
                half_saturation,
                shape,
            }),
            _ => return Err(bad()),
        };
        if channel.is_empty() {
            return Err(bad());
        }
        Ok((
            channel.to_string(),
            ResponseTransform {
                adstock_decay: values[0],
                saturation,
            },
        ))
    }

    /// The text [`ResponseTransform::parse_pin`] reads after `CHANNEL=`, e.g. `0.3:1:1.5`.
    pub fn pin_text(&self) -> String {
        match self.saturation {
            None => self.adstock_decay.to_string(),
            Some(h) => format!("{}:{}:{}", self.adstock_decay, h.half_saturation, h.shape),
        }
    }

    /// The identity: no carryover, linear response.
    pub const LINEAR: ResponseTransform = ResponseTransform {
        adstock_decay: 0.0,
        saturation: None,
    };

    /// Short description, e.g. `adstock 0.5, Hill K = 1 × mean exposure, shape 2`.
    pub fn describe(&self) -> String {
        let mut s = format!("adstock {}", self.adstock_decay);
        match self.saturation {
            Some(h) => s.push_str(&format!(
                ", Hill half-saturation {} × mean exposure, shape {}",
                h.half_saturation, h.shape
            )),
            None => s.push_str(", linear"),
        }
        s
    }
}

/// A transform evaluated on a channel's rows (all vectors have the panel's length; rows of
/// other channels are 0).
#[derive(Debug, Clone)]
pub(crate) struct Evaluated {
    /// Adstocked exposure `a`.
    pub(crate) exposure: Vec<f64>,
    /// Per-row half-saturation `K` of the row's entity (0 without saturation).
    pub(crate) k: Vec<f64>,
    /// `f(a)`: the transformed treatment.
    pub(crate) t: Vec<f64>,
    /// `f′(a)·a`.
    pub(crate) g: Vec<f64>,
    /// The factor `t` and `g` carry (1 from [`ResponseTransform::evaluate`]; see
    /// [`Evaluated::in_spend_units`]), which [`Evaluated::scaled`] applies too.
    pub(crate) unit: f64,
}

impl ResponseTransform {
    /// Evaluates the transform on the rows of `series` (entity series in time order).
    pub(crate) fn evaluate(
        &self,
        w: &[f64],
        series: &[Vec<usize>],
        dates: Option<&[i32]>,
    ) -> Evaluated {
        let n = w.len();
        let a = adstock(w, series, dates, self.adstock_decay);
        let mut out = Evaluated {
            exposure: vec![0.0; n],
            k: vec![0.0; n],
            t: vec![0.0; n],
            g: vec![0.0; n],
            unit: 1.0,
        };
        for s in series {
            if s.is_empty() {
                continue;
            }
            let mean = s.iter().map(|&i| a[i]).sum::<f64>() / s.len() as f64;
            for &i in s {
                out.exposure[i] = a[i];
                match self.saturation {
                    None => {
                        out.t[i] = a[i];
                        out.g[i] = a[i];
                    }
                    Some(h) => {
                        let k = h.half_saturation * mean;
                        out.k[i] = k;
                        out.t[i] = h.value(a[i], k);
                        out.g[i] = h.slope_times_exposure(a[i], k);
                    }
                }
            }
        }
        out
    }
}

impl Evaluated {
    /// The transform rescaled so that its total over `rows` equals the raw spend's
    /// (`t` and `g` times `Σ w / Σ f(a)`; unchanged when either total is not positive).
    ///
    /// A pure change of units: every lift (`Σ τ·f(a)`, `Σ τ·f′(a)·a`, the curve) is the
    /// same whatever the unit of `f`, since the effect per unit scales inversely. It
    /// matters when one estimator sees every channel at once: a Hill curve far above
    /// its half-saturation, or carryover, puts `f(a)` at a fraction or a multiple of the
    /// spend, so the channels' effects per unit of `f` differ by that factor (up to 5–15×
    /// over the search's grid) and a forest that pools rows of several channels in a
    /// leaf would average effects of different units. In spend units each channel's
    /// effect per unit of `f` is of the size of its return on spend.
    pub(crate) fn in_spend_units(mut self, w: &[f64], rows: &[usize]) -> Self {
        let spend: f64 = rows.iter().map(|&i| w[i]).sum();
        let total: f64 = rows.iter().map(|&i| self.t[i]).sum();
        let unit = spend / total;
        if spend > 0.0 && total > 0.0 && unit.is_finite() {
            for &i in rows {
                self.t[i] *= unit;
                self.g[i] *= unit;
            }
            self.unit *= unit;
        }
        self
    }

    /// `f(scale·a)` on the rows of `rows` (0 elsewhere), with each entity's `K` fixed.
    pub(crate) fn scaled(
        &self,
        transform: &ResponseTransform,
        scale: f64,
        rows: &[usize],
    ) -> Vec<f64> {
        let mut out = vec![0.0; self.t.len()];
        for &i in rows {
            let a = scale * self.exposure[i];
            out[i] = self.unit
                * match transform.saturation {
                    None => a,
                    Some(h) => h.value(a, self.k[i]),
                };
        }
        out
    }
}

/// How the response transforms are chosen (a field of
/// [`AttributionOptions`](crate::AttributionOptions)).
///
/// | Name | Default | Meaning | Range |
/// |---|---|---|---|
/// | `saturation` | true | search Hill curves (false: linear in the adstocked spend, [`ResponseOptions::linear`]) | |
/// | `adstock_grid` | 0, 0.1, …, 0.8 | decays searched when the roles' adstock is [`Adstock::Auto`](crate::Adstock::Auto) | each in [0, 1) |
/// | `half_saturations` | 0.25, 0.5, 1, 2, 4 | Hill half-saturations searched (× the entity's mean exposure) | each > 0 |
/// | `shapes` | 1, 1.5, 2, 3 | Hill shapes searched | each > 0 |
/// | `refine` | true | refine the grid's best transforms locally; refined transforms widen the plausible set, and the best one replaces the grid's best when it passes the gate ([`ResponseOptions::refine`]) | |
/// | `refine_gate` | [`REFINE_GATE`] (5.99) | how much better (on the plausible set's scale) the best refined transform must fit than the grid's best to replace it ([`ResponseOptions::refine_gate`]) | ≥ 0, infinity allowed |
/// | `smoother_trees` | 100 | trees of the forest whose out-of-bag weights residualise every candidate | ≥ 10 |
/// | `curve_scales` | 0, 0.25, …, 2 | spend scales of the response curve | each ≥ 0 |
/// | `pinned` | none | channels whose transform is known and not searched ([`ResponseOptions::pin`]) | decay in [0, 1), Hill values > 0 |
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseOptions {
    /// Whether Hill curves are searched.
    pub saturation: bool,
    /// Adstock decays searched for [`Adstock::Auto`](crate::Adstock::Auto).
    pub adstock_grid: Vec<f64>,
    /// Hill half-saturations searched.
    pub half_saturations: Vec<f64>,
    /// Hill shapes searched.
    pub shapes: Vec<f64>,
    /// Whether the grid's best transforms are refined locally (on by default; `false`:
    /// the grid alone): a pattern search on decay, log half-saturation and shape by the
    /// same loss (beyond the grid's last decay up to 0.95 and its last shape up to 5),
    /// then lattices around the best point found. Every refined transform the data
    /// cannot reject joins the plausible set (widening the intervals); the best one
    /// becomes the set's reference and a candidate for the estimate only when it passes
    /// [`refine_gate`](ResponseOptions::refine_gate). Where the true curve lies between
    /// the grid's points (audit 46a) the grid alone gave one wrong plausible transform
    /// and intervals that missed; refined, they covered (README). Without the gate the
    /// continuous search fitted the loss's noise: on the presets it moved switch-off
    /// errors mostly up, and on linear worlds it chose curves the grid did not.
    pub refine: bool,
    /// The refinement's gate: the best refined transform replaces the grid's best (as
    /// the plausible set's reference and a candidate for the estimate) only when the
    /// grid's best is this far above it on the plausible set's scale,
    /// `n_eff·(L_grid − L_refined)/L_refined ≥ refine_gate`; below, the estimate is the
    /// grid's and the refined points only widen the plausible set (measured against the
    /// grid's best, so the grid's own set and estimate are unchanged). Default
    /// [`REFINE_GATE`] (5.99, `χ²₂`'s 95% quantile). `0`: the refined best always
    /// replaces it (the refinement before the gate); infinity: it never does.
    pub refine_gate: f64,
    /// Trees of the residualising forest.
    pub smoother_trees: usize,
    /// Spend scales of the response curve.
    pub curve_scales: Vec<f64>,
    /// Transforms fixed per channel (by name), not searched.
    pub pinned: BTreeMap<String, ResponseTransform>,
}

/// The default is [`ResponseOptions::auto`]: carryover and saturation are searched unless
/// the user opts out with [`ResponseOptions::linear`].
impl Default for ResponseOptions {
    fn default() -> Self {
        ResponseOptions {
            saturation: true,
            adstock_grid: (0..9).map(|k| k as f64 / 10.0).collect(),
            half_saturations: vec![0.25, 0.5, 1.0, 2.0, 4.0],
            shapes: vec![1.0, 1.5, 2.0, 3.0],
            refine: true,
            refine_gate: REFINE_GATE,
            smoother_trees: 100,
            curve_scales: (0..=8).map(|k| k as f64 / 4.0).collect(),
            pinned: BTreeMap::new(),
        }
    }
}

impl ResponseOptions {
    /// Linear in spend (the opt-out): no saturation search; carryover only as the roles'
    /// adstock says (set [`Adstock::None`](crate::Adstock::None) on the roles for the
    /// model without carryover, as `--response linear` does).
    pub fn linear() -> Self {
        ResponseOptions {
            saturation: false,
            ..ResponseOptions::default()
        }
    }

    /// Saturation searched (the default): Hill curves on the grids of the defaults; with
    /// [`Adstock::Auto`](crate::Adstock::Auto) (the roles' default) carryover is searched
    /// too.
    pub fn auto() -> Self {
        ResponseOptions {
            saturation: true,
            ..ResponseOptions::default()
        }
    }

    /// Parses `linear` ([`ResponseOptions::linear`]) or `auto` ([`ResponseOptions::auto`];
    /// also the empty text, the default), as written on the command line and in
    /// `liftos.toml`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] for any other text.
    pub fn parse(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "linear" => Ok(ResponseOptions::linear()),
            "auto" | "" => Ok(ResponseOptions::auto()),
            other => Err(Error::param("response", other, "`linear` or `auto`")),
        }
    }

    /// Fixes `channel`'s transform instead of searching it: for a curve known from an
    /// experiment or an earlier study. The channel's intervals then carry no uncertainty
    /// about the curve (the search's plausible set is the pinned transform alone), so the
    /// pin is a claim the data are not asked to check. On the sandbox it measures how much
    /// of an estimate's error is the curve's: with every channel pinned to its world's
    /// curve (`sandbox_coverage --oracle-curves`), see the README.
    pub fn pin(mut self, channel: impl Into<String>, transform: ResponseTransform) -> Self {
        self.pinned.insert(channel.into(), transform);
        self
    }

    /// The pinned transforms as `CHANNEL=CURVE` texts joined by `; ` (a results setting),
    /// or `None` when none is pinned.
    pub(crate) fn pinned_setting(&self) -> Option<(String, String)> {
        (!self.pinned.is_empty()).then(|| {
            let texts: Vec<String> = self
                .pinned
                .iter()
                .map(|(c, t)| format!("{c}={}", t.pin_text()))
                .collect();
            ("pinned_curves".to_string(), texts.join("; "))
        })
    }

    /// Checks that every pinned channel is one of `channels`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] naming the first pinned channel the data do not have.
    pub(crate) fn check_pinned(&self, channels: &[String]) -> Result<()> {
        match self.pinned.keys().find(|p| !channels.contains(p)) {
            Some(p) => Err(Error::param(
                "response.pinned",
                p,
                format!("one of the data's channels ({})", channels.join(", ")),
            )),
            None => Ok(()),
        }
    }

    /// The candidates of `channel`: its pinned transform, or the grid's over `decays`.
    pub(crate) fn candidates_for(&self, channel: &str, decays: &[f64]) -> Vec<ResponseTransform> {
        match self.pinned.get(channel) {
            Some(t) => vec![*t],
            None => self.candidates(decays),
        }
    }

    /// The carryover a `--response` choice implies when the user names none: searched
    /// ([`Adstock::Auto`](crate::Adstock::Auto)) with saturation, none otherwise.
    pub fn default_adstock(&self) -> crate::Adstock {
        if self.saturation {
            crate::Adstock::Auto
        } else {
            crate::Adstock::None
        }
    }

    /// Checks every option.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameter`] naming the first invalid option.
    pub fn validate(&self) -> Result<()> {
        if let Some(t) = self
            .adstock_grid
            .iter()
            .find(|t| !(**t >= 0.0 && **t < 1.0))
        {
            return Err(Error::param("response.adstock_grid", t, "decays in [0, 1)"));
        }
        if self.adstock_grid.is_empty() {
            return Err(Error::param(
                "response.adstock_grid",
                "[]",
                "at least one decay",
            ));
        }
        for (name, v) in [
            ("response.half_saturations", &self.half_saturations),
            ("response.shapes", &self.shapes),
        ] {
            if let Some(x) = v.iter().find(|x| !(**x > 0.0 && x.is_finite())) {
                return Err(Error::param(name, x, "finite values > 0"));
            }
            if self.saturation && v.is_empty() {
                return Err(Error::param(name, "[]", "at least one value"));
            }
        }
        if let Some(x) = self
            .curve_scales
            .iter()
            .find(|x| !(**x >= 0.0 && x.is_finite()))
        {
            return Err(Error::param(
                "response.curve_scales",
                x,
                "finite values ≥ 0",
            ));
        }
        for (channel, t) in &self.pinned {
            let ok = (0.0..1.0).contains(&t.adstock_decay)
                && t.saturation.is_none_or(|h| {
                    h.half_saturation > 0.0
                        && h.half_saturation.is_finite()
                        && h.shape > 0.0
                        && h.shape.is_finite()
                });
            if !ok {
                return Err(Error::param(
                    "response.pinned",
                    format!("{channel}: {}", t.describe()),
                    "a decay in [0, 1) and a Hill half-saturation and shape > 0",
                ));
            }
        }
        if self.refine_gate.is_nan() || self.refine_gate < 0.0 {
            return Err(Error::param(
                "response.refine_gate",
                self.refine_gate,
                "a value ≥ 0 (infinity allowed)",
            ));
        }
        if self.smoother_trees < 10 {
            return Err(Error::param(
                "response.smoother_trees",
                self.smoother_trees,
                "at least 10",
            ));
        }
        Ok(())
    }

    /// The candidate transforms for the decays `decays`.
    pub(crate) fn candidates(&self, decays: &[f64]) -> Vec<ResponseTransform> {
        let mut out = Vec::new();
        for &theta in decays {
            out.push(ResponseTransform {
                adstock_decay: theta,
                saturation: None,
            });
            if self.saturation {
                for &k in &self.half_saturations {
                    for &s in &self.shapes {
                        out.push(ResponseTransform {
                            adstock_decay: theta,
                            saturation: Some(HillCurve {
                                half_saturation: k,
                                shape: s,
                            }),
                        });
                    }
                }
            }
        }
        out
    }
}

/// What the search found for one channel.
#[derive(Debug, Clone)]
pub(crate) struct Selection {
    /// The transform the effects are estimated through: among the plausible ones (see
    /// [`select_response`]), the one whose switch-off return is their loss-weighted
    /// median.
    pub(crate) transform: ResponseTransform,
    /// The smoother of the channel's rows (in `rows` order); `None` for a channel too
    /// small to search (its transform is the first candidate).
    pub(crate) smoother: Option<OobSmoother>,
    /// The channel's rows (panel indices), the smoother's order.
    pub(crate) rows: Vec<usize>,
    /// Number of plausible transforms.
    pub(crate) plausible: usize,
    /// How far the plausible transforms move the switch-off lift from the chosen one's
    /// (constant-effect estimates, outcome units): (most negative, most positive).
    pub(crate) shift_switch_off: (f64, f64),
    /// The same for the marginal lift `Σ τ·f′(a)·a`.
    pub(crate) shift_marginal: (f64, f64),
    /// The same for the curve at each of the options' `curve_scales`.
    pub(crate) shift_curve: Vec<(f64, f64)>,
    /// Range of the plausible transforms' switch-off returns (constant-effect estimates,
    /// per unit of spend).
    pub(crate) switch_off_range: (f64, f64),
}

/// Rows a channel needs for the transform search (fewer: the first candidate is used).
pub(crate) const MIN_SEARCH_ROWS: usize = 30;

/// Level of the plausible set the representative transform is chosen from, whatever the
/// intervals' level (which sets only how far they are widened): the point estimates do
/// not depend on the confidence level.
pub(crate) const SELECTION_LEVEL: f64 = 0.95;

/// Sufficient statistics of one candidate: `Σ T̃²`, `Σ T̃Ỹ`, `Σ T`, `Σ f′(a)·a`.
struct CandidateSums {
    tt: f64,
    ty: f64,
    t_total: f64,
    g_total: f64,
}

/// The likelihood-ratio-type statistic of a candidate whose squared-error loss is `loss`
/// against the best's `min`, with `n_eff` effective observations:
/// `n_eff·(loss − min)/min`, which the plausible sets of the panel search
/// ([`select_response`]) and of the business level compare with `χ²₁` at their level.
pub(crate) fn likelihood_excess(n_eff: f64, loss: f64, min: f64) -> f64 {
    n_eff * (loss - min) / min.max(f64::MIN_POSITIVE)
}

/// Codes of the blocks the search's residuals are demeaned within: each entity's rows cut
/// into runs of whole weeks (7-day runs from the epoch) holding about 7 of its rows (one week for a daily
/// series, four for a twice-a-week send), for [`demean`](crate::prepare::demean). Rows in
/// no series get blocks of their own week.
pub(crate) fn entity_blocks(rows: &[usize], series: &[Vec<usize>], dates: &[i32]) -> Vec<u32> {
    let mut weeks_of: HashMap<usize, (usize, i32)> = HashMap::with_capacity(rows.len());
    for (e, s) in series.iter().enumerate() {
        let (Some(&first), Some(&last)) = (s.first(), s.last()) else {
            continue;
        };
        // Rows per week over the entity's span, and the weeks a block needs for ~7 rows.
        let span_weeks = ((dates[last] - dates[first]).max(0) / 7 + 1) as f64;
        let per_week = s.len() as f64 / span_weeks;
        let weeks = (7.0 / per_week.max(1e-9)).ceil().clamp(1.0, 8.0) as i32;
        for &i in s {
            weeks_of.insert(i, (e, weeks));
        }
    }
    let mut codes: HashMap<(usize, i32), u32> = HashMap::new();
    rows.iter()
        .map(|&i| {
            let (e, weeks) = weeks_of.get(&i).copied().unwrap_or((usize::MAX, 1));
            let n = codes.len() as u32;
            *codes
                .entry((e, dates[i].div_euclid(7).div_euclid(weeks)))
                .or_insert(n)
        })
        .collect()
}

/// Default of [`ResponseOptions::refine_gate`]: `χ²₂`'s 95% quantile (5.99).
///
/// The refined best is the best of a search over up to three continuous coordinates, so
/// even where the grid holds the truth it fits the loss's noise better than the grid's
/// best; the plausible set's own threshold (`χ²₁`, 3.84) let that through. Measured gains
/// `n_eff·(L_grid − L_refined)/L_refined` (README): on 20 seeds each of the `realistic`,
/// `saturation` and `carryover` presets at most 2.3, but for one linear-response channel
/// at 4.77 (`carryover` seed 6, Klaviyo: accepted at 3.84, a Hill curve where the truth is
/// linear, switch-off 4.56 → 2.82 against a true 4.25); on audit 46a's off-grid curves
/// 5.5–42.5, 7.4 and more on all but one.
pub const REFINE_GATE: f64 = 5.991_464_547_107_979;

/// Highest carryover decay the local refinement ([`refine_candidates`]) moves to when the
/// decay is searched (the grid stops at 0.8).
pub(crate) const REFINE_MAX_DECAY: f64 = 0.95;

/// Highest Hill shape the local refinement moves to (the grid stops at 3).
pub(crate) const REFINE_MAX_SHAPE: f64 = 5.0;

/// Evaluations of the local refinement's pattern search per start, at most.
const REFINE_MAX_EVALUATIONS: usize = 60;

/// A transform as the refinement's coordinates: decay, log half-saturation, shape.
fn coordinates(t: &ResponseTransform) -> [f64; 3] {
    match t.saturation {
        Some(h) => [t.adstock_decay, h.half_saturation.ln(), h.shape],
        None => [t.adstock_decay, 0.0, 0.0],
    }
}

/// The transform at coordinates `p` (`hill`: with a Hill curve, else linear).
fn at_coordinates(p: [f64; 3], hill: bool) -> ResponseTransform {
    // Round so that the same point reached by two paths is one candidate.
    let r = |v: f64| (v * 1e6).round() / 1e6;
    ResponseTransform {
        adstock_decay: r(p[0]),
        saturation: hill.then(|| HillCurve {
            half_saturation: r(p[1].exp()),
            shape: r(p[2]),
        }),
    }
}

/// Local refinement of the grid search: the transforms between and beyond the grid's
/// points that the loss should see, evaluated by `eval` (a batch at a time; it returns
/// each one's loss and keeps what it needs).
///
/// The grid is coarse (half-saturation ×2 apart, shapes 1, 1.5, 2, 3, decays 0.1 apart up
/// to 0.8), and the loss is sharp where spend moves a lot: a true curve between grid
/// points (half-saturation 2.5 × mean exposure, shape 3) left one grid point plausible,
/// the wrong one, and a switch-off interval 33% above the truth that excluded it (audit
/// 46a, D1); a carryover of 0.85–0.9 was met by a shorter one and a concave curve that put
/// the marginal return 40–60% low (D2). So from the best grid point with a Hill curve and
/// from the best linear one, a compass (pattern) search on decay, log half-saturation and
/// shape, steps half the grid's and halved twice, moves while the loss falls (decay up to
/// [`REFINE_MAX_DECAY`] when the grid searches decays, half-saturation to half the grid's
/// lowest and twice its highest, shape to [`REFINE_MAX_SHAPE`]); then the lattices of
/// half-grid and eighth-grid steps around the best point found are evaluated, so that the
/// plausible set (the candidates whose loss is close to the best's) is measured in the
/// best point's neighbourhood and not only at the grid's points.
fn refine_candidates(
    grid: &[ResponseTransform],
    loss: &[f64],
    mut eval: impl FnMut(&[ResponseTransform]) -> Vec<f64>,
) {
    let fold = |v: &mut dyn Iterator<Item = f64>| {
        v.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
            (lo.min(x), hi.max(x))
        })
    };
    let (d_lo, d_hi) = fold(&mut grid.iter().map(|t| t.adstock_decay));
    let decay_free = d_hi > d_lo;
    let d_hi = if decay_free {
        d_hi.max(REFINE_MAX_DECAY)
    } else {
        d_hi
    };
    let (k_lo, k_hi) = fold(
        &mut grid
            .iter()
            .filter_map(|t| t.saturation.map(|h| h.half_saturation.ln())),
    );
    let (s_lo, s_hi) = fold(&mut grid.iter().filter_map(|t| t.saturation.map(|h| h.shape)));
    let lower = [d_lo, k_lo - std::f64::consts::LN_2, s_lo];
    let upper = [
        d_hi,
        k_hi + std::f64::consts::LN_2,
        s_hi.max(REFINE_MAX_SHAPE),
    ];
    // Half the grid's steps.
    let half = [0.05, 0.5 * std::f64::consts::LN_2, 0.5];
    let mut seen: Vec<(ResponseTransform, f64)> =
        grid.iter().copied().zip(loss.iter().copied()).collect();
    let mut evaluate = |batch: Vec<ResponseTransform>, seen: &mut Vec<(ResponseTransform, f64)>| {
        let new: Vec<ResponseTransform> = batch
            .iter()
            .filter(|t| !seen.iter().any(|(s, _)| s == *t))
            .copied()
            .fold(Vec::new(), |mut v, t| {
                if !v.contains(&t) {
                    v.push(t);
                }
                v
            });
        if !new.is_empty() {
            let l = eval(&new);
            seen.extend(new.into_iter().zip(l));
        }
        batch
            .iter()
            .map(|t| {
                seen.iter()
                    .find(|(s, _)| s == t)
                    .map_or(f64::INFINITY, |(_, l)| *l)
            })
            .collect::<Vec<f64>>()
    };
    let dims = |hill: bool| -> Vec<usize> {
        let mut d = Vec::new();
        if decay_free {
            d.push(0);
        }
        if hill {
            d.extend([1, 2]);
        }
        d
    };
    let best_of = |seen: &[(ResponseTransform, f64)], hill: bool| {
        seen.iter()
            .filter(|(t, l)| t.saturation.is_some() == hill && l.is_finite())
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .copied()
    };
    let neighbour = |p: [f64; 3], d: usize, step: f64| -> [f64; 3] {
        let mut q = p;
        q[d] = (p[d] + step).clamp(lower[d], upper[d]);
        q
    };
    for hill in [true, false] {
        let Some((start, mut f)) = best_of(&seen, hill) else {
            continue;
        };
        let dims = dims(hill);
        if dims.is_empty() {
            continue;
        }
        let mut p = coordinates(&start);
        let budget = seen.len() + REFINE_MAX_EVALUATIONS;
        for level in 0..3 {
            let scale = 0.5f64.powi(level);
            while seen.len() < budget {
                let batch: Vec<ResponseTransform> = dims
                    .iter()
                    .flat_map(|&d| [-1.0, 1.0].map(|sign| (d, sign)))
                    .map(|(d, sign)| at_coordinates(neighbour(p, d, sign * scale * half[d]), hill))
                    .collect();
                let l = evaluate(batch.clone(), &mut seen);
                let Some((k, &lk)) = l.iter().enumerate().min_by(|a, b| a.1.total_cmp(b.1)) else {
                    break;
                };
                if lk < f {
                    f = lk;
                    p = coordinates(&batch[k]);
                } else {
                    break;
                }
            }
        }
    }
    // The neighbourhood of the best point found: every combination of −1, 0, +1 steps
    // in its free coordinates, diagonals included (a ridge along which half-saturation
    // and shape trade off is met by none of the compass moves), at half the grid's steps
    // and at an eighth of them (where the loss is sharp, the plausible set lies within a
    // fraction of a grid step); recentred on a lattice point that is better, at most
    // twice.
    let best_seen = |seen: &[(ResponseTransform, f64)]| {
        seen.iter()
            .filter(|(_, l)| l.is_finite())
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .copied()
    };
    for _ in 0..3 {
        let Some((best, f)) = best_seen(&seen) else {
            return;
        };
        let hill = best.saturation.is_some();
        let p = coordinates(&best);
        let mut lattice = Vec::new();
        for scale in [1.0, 0.25] {
            let mut points = vec![p];
            for d in dims(hill) {
                points = points
                    .into_iter()
                    .flat_map(|q| {
                        [-1.0, 0.0, 1.0].map(|sign| neighbour(q, d, sign * scale * half[d]))
                    })
                    .collect();
            }
            lattice.extend(points);
        }
        let l = evaluate(
            lattice
                .into_iter()
                .map(|q| at_coordinates(q, hill))
                .collect(),
            &mut seen,
        );
        if !l.iter().any(|&v| v < f) {
            break;
        }
    }
}

/// Chooses one channel's transform among `candidates` by the cross-fitted R-loss
/// `L = Σ (Ỹ − β̂ T̃)²` (`Ỹ` residualised on the controls by the out-of-bag predictions of
/// a forest grown on revenue, each candidate's `T̃` by the out-of-bag weights of one forest
/// grown on spend, both then demeaned within each entity's weeks; `β̂` the
/// residual-on-residual slope).
///
/// Revenue's own forest: the R-loss compares candidates on `Y − E[Y | X]`, and the
/// weights of the forest grown on spend, which the search used for revenue too until
/// 2026-12-06, adapt to what moves spend (campaign sizes, budget steps) rather than to
/// what moves revenue. Measured with `sandbox_coverage --preset P --seeds N --trees 300
/// --warnings` (release), spend's weights → revenue's own forest, mean switch-off error
/// of Google Ads / Meta / Klaviyo: `realistic` (100 seeds) 34.5 / 24.1 / 22.6% → 20.7 /
/// 19.4 / 20.2%; `saturation` (100) 24.5 / 20.8 / 25.2% → 21.7 / 19.9 / 21.0%, coverage
/// unchanged; worse on the linear-response presets: `linear` (seeds 1–40) 1.7 / 0.8 /
/// 5.5% → 2.2 / 1.9 / 6.4% (Klaviyo's coverage 40/40 → 39/40, the zero-effect channel
/// significant in 1 of 40 worlds, none before); placebo warnings on `realistic` 7 → 11
/// of 100. It costs one forest per channel (about 6% more CPU per `realistic` world).
/// Tried and not kept (README, "The search residualises revenue by a forest of its
/// own"): each campaign's rows weighted by its residual variance, a slope per campaign,
/// AR(1) whitening.
///
/// The weekly demeaning ([`entity_blocks`]): the forest's fit of the seasons is coarse
/// where demand moves fast (the weeks before Christmas, the holidays), and what it leaves
/// in revenue rises with what it leaves in spend, so a curve that rises faster at high
/// spend fits that leftover better than the true one. Within an entity's week the season
/// is constant and only the day-to-day movement of spend is compared. On the sandbox's
/// `carryover` preset (linear response) the search without it chose S-shaped curves far
/// below their half-saturation (convex over today's spend) whose switch-off return was
/// half the marginal one (seed 3, Meta: 2.32 [1.69, 3.35] against a true 4.88). Within
/// each of that world's Meta campaigns, a regression of revenue on adstocked spend and its
/// square with week and weekday effects (and the return's weekend and holiday shifts) had
/// no square term (|t| < 1.8); with month instead of week effects it was positive
/// (t = 1.1–2.2). Slopes of their own for weekends and holidays in `L` were tried and not
/// kept: with the demeaning they did not help, and alone they made the linear preset
/// worse (Google Ads 1.1% → 4.1%, Klaviyo 4.6% → 9.2% switch-off error on 20 seeds).
///
/// Measured with `sandbox_coverage --trees 300` (dev build), before → after, mean
/// switch-off error of Google Ads / Meta / Klaviyo: `carryover` (20 seeds) 21.0 / 31.6 /
/// 8.3% → 6.5 / 11.6 / 7.6% (Meta's coverage 0.85 → 1.00); `linear` (20 seeds) 1.1 / 0.8 /
/// 4.6% → 1.1 / 0.9 / 5.4%; `saturation` (40 seeds) 53.9 / 30.2 / 26.2% → 22.7 / 16.8 /
/// 23.3% (coverage 0.97 / 1.00 / 0.97 → 1.00 each); `realistic` (20 seeds) 28.7 / 39.7 /
/// 50.2% → 19.7 / 33.2 / 26.8% (coverage 0.95 / 0.95 / 1.00 → 1.00 each), its zero-effect
/// channel significant in 0/20 worlds (2/20 before). Worse: Meta's marginal error on
/// `realistic` 7.5% → 13.1% (coverage 1.00 → 0.95), and `realistic`'s switch-off
/// intervals 11% wider for Google Ads and Meta (median width over truth).
///
/// Observational spend moves within a band (budgets vary by tens of percent), so the data
/// pin down the local slope of the response (the marginal return) much better than its
/// level below the band (the switch-off return): many curves fit almost equally well and
/// extrapolate to zero differently. So the search keeps the set of plausible transforms,
/// `n_eff·(L_c − L_min)/L_min ≤ χ²₁(level)` with `n_eff` the number of calendar weeks (a
/// likelihood-ratio set with the week as the effective observation, since daily outcomes
/// are autocorrelated), estimates through the plausible transform whose switch-off return
/// is the set's loss-weighted median (weights `exp(−excess/2)`; the set at
/// [`SELECTION_LEVEL`] whatever `level`, so the estimate does not depend on it), and reports
/// how far the other plausible transforms move each quantity, which widens the intervals.
///
/// With [`ResponseOptions::refine`] (the default) the grid's candidates are joined by the
/// local refinement's ([`refine_candidates`]). The best refined transform becomes the
/// set's reference (`L_min`) and a candidate for the representative only past the gate
/// ([`ResponseOptions::refine_gate`], [`REFINE_GATE`]); otherwise the reference, the
/// representative's candidates and so the estimate are the grid's, and the refined
/// transforms within the threshold of the grid's best only join the plausible set.
#[allow(clippy::too_many_arguments)]
pub(crate) fn select_response(
    rows: &[usize],
    controls: &[&[f64]],
    y: &[f64],
    w: &[f64],
    series: &[Vec<usize>],
    dates: Option<&[i32]>,
    candidates: &[ResponseTransform],
    options: &ResponseOptions,
    level: f64,
    seed: u64,
) -> Result<Selection> {
    if rows.len() < MIN_SEARCH_ROWS {
        // Too few rows to residualise anything: the first candidate (the roles' first
        // decay, linear), no widening; the estimator's own interval stands.
        return Ok(Selection {
            transform: candidates
                .first()
                .copied()
                .unwrap_or(ResponseTransform::LINEAR),
            smoother: None,
            rows: rows.to_vec(),
            plausible: 1,
            shift_switch_off: (0.0, 0.0),
            shift_marginal: (0.0, 0.0),
            shift_curve: vec![(0.0, 0.0); options.curve_scales.len()],
            switch_off_range: (f64::NAN, f64::NAN),
        });
    }
    let x: Vec<Vec<f64>> = controls
        .iter()
        .map(|v| rows.iter().map(|&i| v[i]).collect())
        .collect();
    let xs: Vec<&[f64]> = x.iter().map(Vec::as_slice).collect();
    let w_sub: Vec<f64> = rows.iter().map(|&i| w[i]).collect();
    let params = ForestParams::default()
        .with_num_trees(options.smoother_trees)
        .with_seed(seed);
    let smoother = OobSmoother::fit(&xs, &w_sub, &params, Some(0.1))?;
    let y_sub: Vec<f64> = rows.iter().map(|&i| y[i]).collect();
    // Revenue is residualised by a forest grown on revenue: the R-loss needs E[Y | X],
    // and the weights of the forest grown on spend adapt to what moves spend (campaign
    // sizes, budget steps), not to what moves revenue (the season, the holidays).
    let y_hat = OobSmoother::fit(&xs, &y_sub, &params, Some(0.1))?.apply(&y_sub);
    let mut y_res: Vec<f64> = y_sub.iter().zip(&y_hat).map(|(a, b)| a - b).collect();
    let blocks = dates.map(|d| entity_blocks(rows, series, d));
    let demean = |v: &mut [f64]| {
        if let Some(codes) = &blocks {
            crate::prepare::demean(v, codes);
        }
    };
    demean(&mut y_res);
    // Effective observations: calendar weeks (or runs of 7 rows without dates).
    let nb = match dates {
        Some(d) => {
            let mut weeks: Vec<i32> = rows.iter().map(|&i| d[i].div_euclid(7)).collect();
            weeks.sort_unstable();
            weeks.dedup();
            weeks.len()
        }
        None => rows.len().div_ceil(7),
    };
    let yy: f64 = y_res.iter().map(|v| v * v).sum();
    let score = |c: &ResponseTransform| -> Option<CandidateSums> {
        let ev = c.evaluate(w, series, dates);
        let t_sub: Vec<f64> = rows.iter().map(|&i| ev.t[i]).collect();
        let t_hat = smoother.apply(&t_sub);
        let mut t_res: Vec<f64> = t_sub.iter().zip(&t_hat).map(|(a, b)| a - b).collect();
        demean(&mut t_res);
        let mut s = CandidateSums {
            tt: 0.0,
            ty: 0.0,
            t_total: 0.0,
            g_total: 0.0,
        };
        for (k, &i) in rows.iter().enumerate() {
            let tr = t_res[k];
            s.tt += tr * tr;
            s.ty += tr * y_res[k];
            s.t_total += t_sub[k];
            s.g_total += ev.g[i];
        }
        (s.tt > 0.0 && s.tt.is_finite()).then_some(s)
    };
    let loss_of = |s: &Option<CandidateSums>| -> f64 {
        s.as_ref()
            .map_or(f64::INFINITY, |s| yy - s.ty * s.ty / s.tt)
    };
    let grid_len = candidates.len();
    let mut candidates: Vec<ResponseTransform> = candidates.to_vec();
    let mut sums: Vec<Option<CandidateSums>> = candidates.par_iter().map(score).collect();
    if options.refine && candidates.len() > 1 {
        let loss: Vec<f64> = sums.iter().map(loss_of).collect();
        let (mut more, mut more_sums) = (Vec::new(), Vec::new());
        refine_candidates(&candidates, &loss, |batch| {
            let s: Vec<Option<CandidateSums>> = batch.par_iter().map(score).collect();
            let l = s.iter().map(loss_of).collect();
            more.extend_from_slice(batch);
            more_sums.extend(s);
            l
        });
        candidates.extend(more);
        sums.extend(more_sums);
    }
    let loss: Vec<f64> = sums.iter().map(loss_of).collect();
    let finite_min = |range: std::ops::Range<usize>| {
        range
            .filter(|&c| loss[c].is_finite())
            .min_by(|&a, &b| loss[a].total_cmp(&loss[b]))
    };
    let best = loss
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, l)| l.is_finite())
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .ok_or_else(|| Error::NoVariation {
            what: "the channel's transformed spend after the controls".into(),
        })?;
    // Plausible transforms: a likelihood-ratio-type set with the week as the effective
    // observation (daily outcomes are autocorrelated): n_eff·(L_c − L_min)/L_min ≤ χ²₁.
    let n_eff = nb.max(2) as f64;
    let chi2 =
        ChiSquared::new(1.0).map_err(|e| Error::param("confidence_level", e, "a valid level"))?;
    // The gate (`refine_gate`, see REFINE_GATE): the best refined point replaces the
    // grid's best only when it fits that much better; the search's best fits the loss's
    // noise too.
    let grid_best = finite_min(0..grid_len);
    let best_refined = finite_min(grid_len..candidates.len());
    let gain = grid_best.map_or(f64::INFINITY, |g| likelihood_excess(n_eff, loss[g], best.1));
    let accepted = candidates.len() > grid_len && gain >= options.refine_gate;
    // Rejected, the grid's best stays the reference: the grid's plausible set and
    // estimate are the grid's own, and the refined points within the threshold of it
    // (those that fit better included) only widen the set.
    let reference = match grid_best {
        Some(g) if !accepted => loss[g],
        _ => best.1,
    };
    let excess = |c: usize| likelihood_excess(n_eff, loss[c], reference);
    let set_at = |q: f64| -> Vec<usize> {
        (0..candidates.len())
            .filter(|&c| loss[c].is_finite() && excess(c) <= q)
            .collect()
    };
    // The set the intervals are widened by is at the interval's level; the representative
    // is chosen from the set at SELECTION_LEVEL whatever the level, so that the point
    // estimates do not depend on the level of the intervals.
    let plausible = set_at(chi2.inverse_cdf(level));
    // The representative is chosen among the grid's points and the best refined one
    // only: the refinement samples the best point's neighbourhood densely, and a median
    // over that sample follows the best point, which where the loss is flat is one of
    // many fits (on 20 `realistic` seeds, choosing among every refined point raised
    // Meta's switch-off error from 17% to 39%). Where the loss is sharp the grid's points
    // fall out of the set and the best refined point is chosen.
    let selection_set: Vec<usize> = set_at(chi2.inverse_cdf(SELECTION_LEVEL))
        .into_iter()
        .filter(|&c| c < grid_len || (accepted && Some(c) == best_refined))
        .collect();
    let spend: f64 = w_sub.iter().sum();
    let beta = |c: usize| -> f64 { sums[c].as_ref().map_or(0.0, |s| s.ty / s.tt) };
    let cheap = |c: usize| -> (f64, f64) {
        sums[c]
            .as_ref()
            .map_or((0.0, 0.0), |s| (beta(c) * s.t_total, beta(c) * s.g_total))
    };
    // Likelihood weights of the selection set.
    let weights: Vec<f64> = selection_set
        .iter()
        .map(|&c| (-0.5 * excess(c)).exp())
        .collect();
    let total_w: f64 = weights.iter().sum();
    // The representative: the loss-weighted median of the switch-off lifts. The
    // plausible switch-off lifts are skewed: a curve far above its half-saturation
    // extrapolates to many times the marginal return (shape 1, `K` = ¼ of the mean
    // exposure: 5×; shape 3: 20×), one close to linear to about 1×. The mean of such a
    // set follows its few steepest curves; the median does not (on 40 seeds of the
    // saturation preset it cut the switch-off error from 62/44/32% to 54/30/26% and the
    // marginal error from 16/13/9% to 10/8/10%, coverage unchanged).
    let mut by_lift: Vec<(f64, f64, usize)> = selection_set
        .iter()
        .zip(&weights)
        .map(|(&c, &w)| (cheap(c).0, w, c))
        .collect();
    by_lift.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.2.cmp(&b.2)));
    let mut below = 0.0;
    let chosen = by_lift
        .iter()
        .find(|(_, w, _)| {
            below += w;
            below >= 0.5 * total_w
        })
        .map_or(best.0, |&(_, _, c)| c);
    let (c0, m0) = cheap(chosen);
    let range = |v: &mut dyn Iterator<Item = f64>| -> (f64, f64) {
        v.fold((0.0f64, 0.0f64), |(lo, hi), x| (lo.min(x), hi.max(x)))
    };
    let shift_switch_off = range(&mut plausible.iter().map(|&c| cheap(c).0 - c0));
    let shift_marginal = range(&mut plausible.iter().map(|&c| cheap(c).1 - m0));
    let curve_at = |c: usize| -> Vec<f64> {
        let ev = candidates[c].evaluate(w, series, dates);
        options
            .curve_scales
            .iter()
            .map(|&k| {
                let v = ev.scaled(&candidates[c], k, rows);
                beta(c) * rows.iter().map(|&i| v[i]).sum::<f64>()
            })
            .collect()
    };
    let base_curve = curve_at(chosen);
    let mut shift_curve = vec![(0.0f64, 0.0f64); base_curve.len()];
    for &c in &plausible {
        for (k, v) in curve_at(c).into_iter().enumerate() {
            let d = v - base_curve[k];
            shift_curve[k].0 = shift_curve[k].0.min(d);
            shift_curve[k].1 = shift_curve[k].1.max(d);
        }
    }
    let switch_off_range = plausible
        .iter()
        .map(|&c| cheap(c).0 / spend)
        .fold((c0 / spend, c0 / spend), |(lo, hi), x| {
            (lo.min(x), hi.max(x))
        });
    Ok(Selection {
        transform: candidates[chosen],
        smoother: Some(smoother),
        rows: rows.to_vec(),
        plausible: plausible.len(),
        shift_switch_off,
        shift_marginal,
        shift_curve,
        switch_off_range,
    })
}

/// Cinelli & Hazlett's (2020) robustness value for a t-statistic with `df` residual degrees
/// of freedom: the partial R² that a hidden confounder would need with both the treatment
/// and the outcome to bring the estimate to zero (`q = 1`), and, for `crit > 0`, to make
/// the interval reach zero.
pub fn robustness_value(t: f64, df: f64, crit: f64) -> f64 {
    if !(t.is_finite() && df > 1.0) {
        return f64::NAN;
    }
    let f = t.abs() / df.sqrt() - crit / (df - 1.0).sqrt();
    if f <= 0.0 {
        return 0.0;
    }
    0.5 * ((f.powi(4) + 4.0 * f * f).sqrt() - f * f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_hold_about_a_week_of_each_entitys_rows() {
        // Entity 0 daily over 14 days (rows 0..14); entity 1 twice a week over 8 weeks
        // (rows 14..30). Weeks are runs of 7 days from the epoch; day 19740 starts week
        // 2820, a multiple of 4.
        let start = 19740;
        let mut dates: Vec<i32> = (0..14).map(|d| start + d).collect();
        for w in 0..8 {
            dates.push(start + 7 * w);
            dates.push(start + 7 * w + 3);
        }
        let series = vec![(0..14).collect::<Vec<usize>>(), (14..30).collect()];
        let rows: Vec<usize> = (0..30).collect();
        let codes = entity_blocks(&rows, &series, &dates);
        // Daily: one block per week (2); twice a week: four weeks per block (2).
        let n = codes.iter().max().map_or(0, |m| m + 1);
        assert_eq!(n, 4);
        assert_eq!(codes[0], codes[6]);
        assert_ne!(codes[6], codes[7]);
        assert_eq!(codes[14], codes[21]);
        assert_ne!(codes[21], codes[22]);
        assert_ne!(codes[0], codes[14]);
        let mut v: Vec<f64> = (0..30).map(f64::from).collect();
        crate::prepare::demean(&mut v, &codes);
        for b in 0..n {
            let s: f64 = (0..30).filter(|&k| codes[k] == b).map(|k| v[k]).sum();
            assert!(s.abs() < 1e-9);
        }
        assert!((v[0] + 3.0).abs() < 1e-12);
    }

    #[test]
    fn hill_value_and_slope() {
        let h = HillCurve {
            half_saturation: 1.0,
            shape: 1.0,
        };
        // x = 1: f = K/2, f'·a = K·1·1/4.
        assert!((h.value(2.0, 2.0) - 1.0).abs() < 1e-12);
        assert!((h.slope_times_exposure(2.0, 2.0) - 0.5).abs() < 1e-12);
        // Slope at zero is 1 for shape 1.
        assert!((h.value(1e-6, 2.0) / 1e-6 - 1.0).abs() < 1e-5);
        // f'·a against a finite difference for shape 2.
        let h2 = HillCurve {
            half_saturation: 1.0,
            shape: 2.0,
        };
        let (a, k, e) = (1.3, 2.0, 1e-6);
        let fd = (h2.value(a * (1.0 + e), k) - h2.value(a * (1.0 - e), k)) / (2.0 * e);
        assert!((fd - h2.slope_times_exposure(a, k)).abs() < 1e-6);
    }

    #[test]
    fn defaults_search_carryover_and_saturation_linear_opts_out() {
        assert_eq!(ResponseOptions::default(), ResponseOptions::auto());
        assert_eq!(ResponseOptions::parse("").unwrap(), ResponseOptions::auto());
        assert_eq!(
            crate::AttributionOptions::default().response,
            ResponseOptions::auto()
        );
        assert_eq!(crate::CausalRoles::default().adstock, crate::Adstock::Auto);
        assert_eq!(
            ResponseOptions::default().default_adstock(),
            crate::Adstock::Auto
        );
        let linear = ResponseOptions::parse("linear").unwrap();
        assert!(!linear.saturation);
        assert_eq!(linear.default_adstock(), crate::Adstock::None);
        assert_eq!(linear.candidates(&[0.0]), vec![ResponseTransform::LINEAR]);
    }

    #[test]
    fn pinned_curves_parse_validate_and_replace_the_search() {
        let (name, t) = ResponseTransform::parse_pin(" meta = 0.3 : 1 : 1.5").unwrap();
        assert_eq!(name, "meta");
        let hill = ResponseTransform {
            adstock_decay: 0.3,
            saturation: Some(HillCurve {
                half_saturation: 1.0,
                shape: 1.5,
            }),
        };
        assert_eq!(t, hill);
        assert_eq!(hill.pin_text(), "0.3:1:1.5");
        let (_, linear) = ResponseTransform::parse_pin("google_ads=0.5").unwrap();
        assert_eq!(linear.adstock_decay, 0.5);
        assert_eq!(linear.saturation, None);
        for bad in [
            "meta",
            "=0.3",
            "meta=x",
            "meta=0.3:1",
            "meta=0.3:1:2:3",
            "meta=",
        ] {
            let err = ResponseTransform::parse_pin(bad).unwrap_err().to_string();
            assert!(err.contains("CHANNEL=DECAY"), "{bad}: {err}");
        }
        let options = ResponseOptions::auto().pin("meta", hill);
        assert_eq!(options.candidates_for("meta", &[0.0, 0.5]), vec![hill]);
        assert_eq!(
            options.candidates_for("google_ads", &[0.0]),
            ResponseOptions::auto().candidates(&[0.0])
        );
        assert!(options.validate().is_ok());
        assert_eq!(
            options.pinned_setting(),
            Some(("pinned_curves".to_string(), "meta=0.3:1:1.5".to_string()))
        );
        assert_eq!(ResponseOptions::auto().pinned_setting(), None);
        for t in [
            ResponseTransform {
                adstock_decay: 1.0,
                saturation: None,
            },
            ResponseTransform {
                adstock_decay: 0.2,
                saturation: Some(HillCurve {
                    half_saturation: 0.0,
                    shape: 1.0,
                }),
            },
        ] {
            let err = ResponseOptions::auto()
                .pin("meta", t)
                .validate()
                .unwrap_err();
            assert!(err.to_string().contains("meta"), "{err}");
        }
        let names = ["meta".to_string(), "klaviyo".to_string()];
        assert!(options.check_pinned(&names).is_ok());
        let err = ResponseOptions::auto()
            .pin("tv", linear)
            .check_pinned(&names)
            .unwrap_err()
            .to_string();
        assert!(err.contains("tv") && err.contains("meta, klaviyo"), "{err}");
    }

    /// Four campaigns over two years, daily: spend in 14-day budget steps that follow
    /// demand, revenue a campaign baseline times demand (10% noise) plus
    /// `beta · c · Hill(s; half_saturation · mean spend, shape)` (`c` puts the effect at the
    /// mean spend at `beta` times it), as audit 46a's generator does. Returns the
    /// selection over the default grid and the true switch-off return (`Σ effect / Σ spend`).
    fn off_grid_world(seed: u64, options: &ResponseOptions) -> (Selection, f64) {
        let hill = HillCurve {
            half_saturation: 2.5,
            shape: 3.0,
        };
        search_world(seed, options, Some(hill))
    }

    /// [`off_grid_world`]'s world with the response `curve` (its half-saturation × the
    /// campaign's mean spend), or linear (`None`: the effect 3 × spend).
    fn search_world(
        seed: u64,
        options: &ResponseOptions,
        curve: Option<HillCurve>,
    ) -> (Selection, f64) {
        use rand::{Rng, SeedableRng};
        let beta = 3.0;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut z = || rng.sample::<f64, _>(rand_distr::StandardNormal);
        let (days, start) = (730usize, 19723i32);
        let weekday = [0.0, -0.03, -0.02, 0.0, 0.05, 0.12, 0.08];
        let demand: Vec<f64> = (0..days)
            .map(|t| {
                let d = start + t as i32;
                1.0 + 0.25 * (2.0 * std::f64::consts::PI * ((t % 365) as f64 - 80.0) / 365.25).sin()
                    + weekday[(d + 3).rem_euclid(7) as usize]
            })
            .collect();
        let (mut w, mut y, mut dates, mut series) = (vec![], vec![], vec![], vec![]);
        let (mut dow, mut doy, mut camp) = (vec![], vec![], vec![]);
        let (mut effect_total, mut spend_total) = (0.0, 0.0);
        for c in 0..4 {
            let budget = 1000.0 * (0.6 * z()).exp();
            let mut step = 1.0;
            let spend: Vec<f64> = (0..days)
                .map(|t| {
                    if t % 14 == 0 {
                        step = (0.35 * z()).exp();
                    }
                    budget * demand[t].powf(1.5) * (0.15 * z()).exp() * step
                })
                .collect();
            let mean = spend.iter().sum::<f64>() / days as f64;
            let response = |s: f64| match curve {
                Some(h) => {
                    let k = h.half_saturation * mean;
                    beta * mean * h.value(s, k) / h.value(mean, k)
                }
                None => beta * s,
            };
            let mut s = vec![];
            for t in 0..days {
                let effect = response(spend[t]);
                effect_total += effect;
                spend_total += spend[t];
                s.push(w.len());
                w.push(spend[t]);
                y.push(3.0 * budget * demand[t] * (1.0 + 0.1 * z()) + effect);
                dates.push(start + t as i32);
                dow.push(((start + t as i32 + 3).rem_euclid(7)) as f64);
                doy.push((t % 365) as f64);
                camp.push(c as f64);
            }
            series.push(s);
        }
        let rows: Vec<usize> = (0..w.len()).collect();
        let controls: Vec<&[f64]> = vec![&dow, &doy, &camp];
        let candidates = options.candidates(&options.adstock_grid);
        let sel = select_response(
            &rows,
            &controls,
            &y,
            &w,
            &series,
            Some(&dates),
            &candidates,
            options,
            0.95,
            seed,
        )
        .unwrap();
        (sel, effect_total / spend_total)
    }

    /// Audit 46a, D1: an S-shaped Hill curve between the grid's points (half-saturation
    /// 2.5 × mean spend, shape 3). On the grid alone one transform was plausible (K = 4,
    /// S = 2) and its switch-off return ~40% above the truth; refined (the default, the
    /// gate passed: the grid's best is far outside the plausible set around the refined
    /// one), the plausible switch-off returns reach the truth.
    #[test]
    fn an_off_grid_s_shaped_curve_is_found_by_the_refinement() {
        let grid_only = ResponseOptions {
            refine: false,
            ..ResponseOptions::auto()
        };
        let refined = ResponseOptions::auto();
        for seed in [1, 2] {
            let (sel, truth) = off_grid_world(seed, &refined);
            let (grid, _) = off_grid_world(seed, &grid_only);
            eprintln!(
                "seed {seed}: truth {truth:.3}; refined {} range {:.3}..{:.3} ({} plausible); grid {} range {:.3}..{:.3} ({})",
                sel.transform.pin_text(),
                sel.switch_off_range.0,
                sel.switch_off_range.1,
                sel.plausible,
                grid.transform.pin_text(),
                grid.switch_off_range.0,
                grid.switch_off_range.1,
                grid.plausible,
            );
            // The grid alone (today's defect): one plausible transform, > 25% high.
            assert!(grid.switch_off_range.0 > 1.25 * truth, "seed {seed}: grid");
            // Refined: the plausible switch-off returns (constant-effect estimates, before
            // the estimator's own sampling interval) reach within 5% of the truth
            // (measured: 4.54..4.57 against 4.39, 3.97..4.33 against 4.10; grid 6.23, 5.95).
            let (lo, hi) = sel.switch_off_range;
            assert!(
                lo <= 1.05 * truth && truth <= 1.05 * hi,
                "seed {seed}: {lo:.3}..{hi:.3} against {truth:.3}"
            );
        }
    }

    /// A linear world (effect 3 × spend, no carryover; the grid holds the truth): the
    /// refinement's best fits the loss's noise only a little better than the grid's best
    /// (far below the gate), so the estimate stays the grid's and the refined points only
    /// widen the plausible set (measured, seeds 1–4: grid 2 plausible, switch-off
    /// 2.33–2.38..3.00–3.04; gated 12–17 plausible, 2.19–2.28..3.12–3.13; truth 3). The
    /// case the gate was built for, a noise fit that moves the estimate, does not occur
    /// in this small world; it did on the `carryover` preset (README, seed 6's Klaviyo).
    #[test]
    fn the_gate_keeps_the_grid_estimate_where_the_refinement_fits_noise() {
        let grid_only = ResponseOptions {
            refine: false,
            ..ResponseOptions::auto()
        };
        for seed in [1, 2, 3, 4] {
            let (grid, truth) = search_world(seed, &grid_only, None);
            let (sel, _) = search_world(seed, &ResponseOptions::auto(), None);
            eprintln!(
                "seed {seed}: truth {truth:.3}; grid {} {:.3}..{:.3} ({}); gated {} {:.3}..{:.3} ({})",
                grid.transform.pin_text(),
                grid.switch_off_range.0,
                grid.switch_off_range.1,
                grid.plausible,
                sel.transform.pin_text(),
                sel.switch_off_range.0,
                sel.switch_off_range.1,
                sel.plausible,
            );
            // Gated: the grid's transform, its plausible set widened, never narrowed.
            assert_eq!(sel.transform, grid.transform, "seed {seed}");
            assert!(sel.plausible > grid.plausible, "seed {seed}");
            assert!(
                sel.switch_off_range.0 <= grid.switch_off_range.0 + 1e-9
                    && sel.switch_off_range.1 >= grid.switch_off_range.1 - 1e-9,
                "seed {seed}"
            );
            // The plausible switch-off returns reach the truth.
            let (lo, hi) = sel.switch_off_range;
            assert!(
                lo <= truth && truth <= hi,
                "seed {seed}: {lo:.3}..{hi:.3} against {truth:.3}"
            );
        }
    }

    #[test]
    fn the_gate_is_chi_squared_two_at_95_percent() {
        let q = ChiSquared::new(2.0).unwrap().inverse_cdf(0.95);
        assert!((q - REFINE_GATE).abs() < 1e-9, "{q}");
        assert_eq!(ResponseOptions::default().refine_gate, REFINE_GATE);
        assert!(ResponseOptions::default().refine);
        for bad in [-1.0, f64::NAN] {
            let options = ResponseOptions {
                refine_gate: bad,
                ..ResponseOptions::auto()
            };
            assert!(options.validate().is_err(), "{bad}");
        }
        let never = ResponseOptions {
            refine_gate: f64::INFINITY,
            ..ResponseOptions::auto()
        };
        assert!(never.validate().is_ok());
    }

    #[test]
    fn robustness_values() {
        // t = 0: nothing to explain away.
        assert_eq!(robustness_value(0.0, 100.0, 0.0), 0.0);
        // Cinelli & Hazlett's Darfur example: t = 4.18, df = 783, RV ≈ 0.139, RV_0.05 ≈ 0.076.
        assert!((robustness_value(4.18, 783.0, 0.0) - 0.139).abs() < 0.002);
        assert!((robustness_value(4.18, 783.0, 1.963) - 0.076).abs() < 0.002);
    }

    #[test]
    fn evaluated_transform_is_zero_at_zero_spend_and_carries_over() {
        let w = [1.0, 0.0, 2.0];
        let series = vec![vec![0, 1, 2]];
        let tr = ResponseTransform {
            adstock_decay: 0.5,
            saturation: Some(HillCurve {
                half_saturation: 1.0,
                shape: 1.0,
            }),
        };
        let ev = tr.evaluate(&w, &series, Some(&[0, 1, 2]));
        assert_eq!(ev.exposure, vec![1.0, 0.5, 2.25]);
        assert!(ev.t.iter().all(|v| *v > 0.0));
        let zero = ev.scaled(&tr, 0.0, &[0, 1, 2]);
        assert!(zero.iter().all(|v| *v == 0.0));
        let one = ev.scaled(&tr, 1.0, &[0, 1, 2]);
        for (a, b) in one.iter().zip(&ev.t) {
            assert!((a - b).abs() < 1e-12);
        }
    }

    #[test]
    fn spend_units_keep_every_lift_and_put_the_total_at_the_spend() {
        // Two channels' rows; the first channel far above its half-saturation, so f(a)
        // is a fraction of its spend.
        let w = [4.0, 6.0, 5.0, 7.0, 3.0];
        let series = vec![vec![0, 1, 2]];
        let rows = [0, 1, 2];
        let tr = ResponseTransform {
            adstock_decay: 0.3,
            saturation: Some(HillCurve {
                half_saturation: 0.25,
                shape: 1.0,
            }),
        };
        let raw = tr.evaluate(&w, &series, Some(&[0, 1, 2, 0, 1]));
        let spend: f64 = rows.iter().map(|&i| w[i]).sum();
        let raw_total: f64 = rows.iter().map(|&i| raw.t[i]).sum();
        assert!(raw_total < 0.3 * spend, "{raw_total} vs {spend}");
        let ev = raw.clone().in_spend_units(&w, &rows);
        let total: f64 = rows.iter().map(|&i| ev.t[i]).sum();
        assert!((total - spend).abs() < 1e-9, "{total}");
        // Other rows untouched.
        assert_eq!(&ev.t[3..], &raw.t[3..]);
        // A lift Σ τ·v with the effect per unit rescaled inversely is the same, for
        // f(a), f′(a)·a and the curve at any scale (the unit applies to `scaled` too).
        let u = ev.unit;
        assert!((u - spend / raw_total).abs() < 1e-12);
        let lift = |v: &[f64], tau: f64| rows.iter().map(|&i| tau * v[i]).sum::<f64>();
        assert!((lift(&ev.t, 1.0 / u) - lift(&raw.t, 1.0)).abs() < 1e-9);
        assert!((lift(&ev.g, 1.0 / u) - lift(&raw.g, 1.0)).abs() < 1e-9);
        for k in [0.0, 0.5, 1.0, 2.0] {
            let a = lift(&ev.scaled(&tr, k, &rows), 1.0 / u);
            let b = lift(&raw.scaled(&tr, k, &rows), 1.0);
            assert!((a - b).abs() < 1e-9, "scale {k}: {a} vs {b}");
        }
        // Nothing to rescale: no spend.
        let none = raw.clone().in_spend_units(&[0.0; 5], &rows);
        assert_eq!(none.unit, 1.0);
        assert_eq!(none.t, raw.t);
    }
}
