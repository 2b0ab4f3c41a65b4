//! Shared helpers of the LiftOS benchmark programs (`src/bin`); the Criterion benches
//! live in `benches/`.

/// The error type of the benchmark programs.
pub type BoxError = Box<dyn std::error::Error>;

/// The median of `v` (the mean of the two middle values for an even count; NaN when
/// empty).
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let k = s.len();
    if k == 0 {
        f64::NAN
    } else if k % 2 == 1 {
        s[k / 2]
    } else {
        0.5 * (s[k / 2 - 1] + s[k / 2])
    }
}

/// The value after flag `name` in `args`, parsed, or `default` when the flag is absent;
/// an error names the flag and the value it could not parse.
pub fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> Result<T, BoxError> {
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(i) => {
            let v = args.get(i + 1).ok_or(format!("{name} needs a value"))?;
            v.parse()
                .map_err(|_| format!("{name}: `{v}` is not a valid value").into())
        }
    }
}

/// `base` with every channel's response transform pinned to the world's own: its decay,
/// and its Hill curve, relative to the mean exposure where the world's is relative to a
/// campaign's budget (an approximation).
pub fn world_curves(
    world: &liftos_sandbox::World,
    base: liftos_causal::ResponseOptions,
) -> liftos_causal::ResponseOptions {
    use liftos_causal::{HillCurve, ResponseTransform};
    use liftos_sandbox::Saturation;
    world.config().channels.iter().fold(base, |r, c| {
        let saturation = match c.saturation {
            Saturation::Hill {
                half_saturation,
                shape,
            } => Some(HillCurve {
                half_saturation,
                shape,
            }),
            Saturation::Off => None,
        };
        r.pin(
            c.name.clone(),
            ResponseTransform {
                adstock_decay: c.adstock_decay,
                saturation,
            },
        )
    })
}
