//! LiftOS causal forest benchmark: generate a grf-style design as CSV, or fit the forest
//! on CSV data and report wall time, peak memory, CATE RMSE and interval coverage.
//!
//! ```text
//! forest_bench generate --rows 10000 --test 5000 --covariates 10 --seed 1 --out DIR
//! forest_bench fit --train DIR/train.csv --test DIR/test.csv --trees 2000 [--seed 42]
//!     [--nuisance-local-linear 0.1]
//! ```
//!
//! `fit` uses grf's defaults; `--nuisance-local-linear λ` makes Ŷ and Ŵ local linear
//! forests (`CausalForestParams::nuisance_local_linear`).
//!
//! The design: X ~ U(0,1)^p, τ(x) = ζ(x₁)ζ(x₂) with ζ(x) = 1 + 1/(1 + e^{−20(x−1/3)}),
//! W = 2x₃ + x₁ + N(0,1) (confounded), Y = 3x₃ + 2x₄ + τ(x)W + N(0,1). CSV columns
//! `x1..xp,w,y,tau`. `fit` prints one JSON line; `benches/econml_forest.py` runs both
//! this and EconML on the same files and prints the comparison.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use liftos_causal::{CausalDataset, CausalForestParams};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

type BoxError = Box<dyn std::error::Error>;

fn zeta(x: f64) -> f64 {
    1.0 + 1.0 / (1.0 + (-20.0 * (x - 1.0 / 3.0)).exp())
}

struct Table {
    x: Vec<Vec<f64>>,
    w: Vec<f64>,
    y: Vec<f64>,
    tau: Vec<f64>,
}

fn simulate(n: usize, p: usize, rng: &mut ChaCha8Rng) -> Table {
    let mut x = vec![Vec::with_capacity(n); p];
    let (mut w, mut y, mut tau) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for _ in 0..n {
        for col in x.iter_mut() {
            col.push(rng.random::<f64>());
        }
        let i = w.len();
        let t = zeta(x[0][i]) * zeta(x[1][i]);
        let e1: f64 = StandardNormal.sample(rng);
        let e2: f64 = StandardNormal.sample(rng);
        let wi = 2.0 * x[2][i] + x[0][i] + e1;
        y.push(3.0 * x[2][i] + 2.0 * x[3][i] + t * wi + e2);
        w.push(wi);
        tau.push(t);
    }
    Table { x, w, y, tau }
}

fn write_csv(path: &Path, t: &Table) -> Result<(), BoxError> {
    let mut f = BufWriter::new(File::create(path)?);
    let p = t.x.len();
    let header: Vec<String> = (1..=p)
        .map(|j| format!("x{j}"))
        .chain(["w", "y", "tau"].map(String::from))
        .collect();
    writeln!(f, "{}", header.join(","))?;
    for i in 0..t.w.len() {
        for col in &t.x {
            write!(f, "{:.17},", col[i])?;
        }
        writeln!(f, "{:.17},{:.17},{:.17}", t.w[i], t.y[i], t.tau[i])?;
    }
    Ok(())
}

fn read_csv(path: &Path) -> Result<Table, BoxError> {
    let f = BufReader::new(File::open(path).map_err(|e| format!("{}: {e}", path.display()))?);
    let mut lines = f.lines();
    let header = lines
        .next()
        .ok_or_else(|| format!("{}: empty file", path.display()))??;
    let names: Vec<&str> = header.split(',').collect();
    let p = names.iter().filter(|n| n.starts_with('x')).count();
    if names.len() != p + 3 {
        return Err(format!("{}: expected columns x1..xp,w,y,tau", path.display()).into());
    }
    let mut t = Table {
        x: vec![Vec::new(); p],
        w: Vec::new(),
        y: Vec::new(),
        tau: Vec::new(),
    };
    for (row, line) in lines.enumerate() {
        let line = line?;
        let vals = line
            .split(',')
            .map(|v| v.trim().parse::<f64>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{} row {}: {e}", path.display(), row + 2))?;
        if vals.len() != p + 3 {
            return Err(format!(
                "{} row {}: {} fields, expected {}",
                path.display(),
                row + 2,
                vals.len(),
                p + 3
            )
            .into());
        }
        for (col, v) in t.x.iter_mut().zip(&vals) {
            col.push(*v);
        }
        t.w.push(vals[p]);
        t.y.push(vals[p + 1]);
        t.tau.push(vals[p + 2]);
    }
    Ok(t)
}

/// Peak resident memory of this process in MiB (Linux `VmHWM`), if available.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// CPU seconds (user + system) used by this process so far, from `/proc/self/stat`
/// (clock ticks of 1/100 s, the Linux default).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

fn arg<T: std::str::FromStr>(
    args: &[String],
    name: &str,
    default: Option<T>,
) -> Result<T, BoxError> {
    match args.iter().position(|a| a == name) {
        Some(i) => {
            let v = args
                .get(i + 1)
                .ok_or_else(|| format!("{name} needs a value"))?;
            v.parse::<T>()
                .map_err(|_| format!("{name}: cannot parse `{v}`").into())
        }
        None => default.ok_or_else(|| format!("missing {name}").into()),
    }
}

fn generate(args: &[String]) -> Result<(), BoxError> {
    let rows: usize = arg(args, "--rows", None)?;
    let test: usize = arg(args, "--test", Some(5000))?;
    let p: usize = arg(args, "--covariates", Some(10))?;
    let seed: u64 = arg(args, "--seed", Some(1))?;
    let out: PathBuf = arg(args, "--out", None)?;
    if p < 4 {
        return Err("--covariates must be at least 4".into());
    }
    std::fs::create_dir_all(&out)?;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    write_csv(&out.join("train.csv"), &simulate(rows, p, &mut rng))?;
    write_csv(&out.join("test.csv"), &simulate(test, p, &mut rng))?;
    Ok(())
}

fn fit(args: &[String]) -> Result<(), BoxError> {
    let train = read_csv(&arg::<PathBuf>(args, "--train", None)?)?;
    let test = read_csv(&arg::<PathBuf>(args, "--test", None)?)?;
    let trees: usize = arg(args, "--trees", Some(2000))?;
    let seed: u64 = arg(args, "--seed", Some(42))?;
    let local_linear: Option<f64> = if args.iter().any(|a| a == "--nuisance-local-linear") {
        Some(arg(args, "--nuisance-local-linear", None)?)
    } else {
        None
    };
    let names: Vec<String> = (1..=train.x.len()).map(|j| format!("x{j}")).collect();

    let start = Instant::now();
    let mut data = CausalDataset::new(&train.y, &train.w)?;
    for (name, col) in names.iter().zip(&train.x) {
        data = data.with_covariate(name, col)?;
    }
    let forest = CausalForestParams::default()
        .with_num_trees(trees)
        .with_seed(seed)
        .with_nuisance_local_linear(local_linear)
        .build()?
        .fit_forest(&data)?;
    let fit_s = start.elapsed().as_secs_f64();
    let refs: Vec<&[f64]> = test.x.iter().map(Vec::as_slice).collect();
    let pred = forest.predict(&refs)?;
    let total_s = start.elapsed().as_secs_f64();
    let cpu_s = cpu_seconds().unwrap_or(f64::NAN);
    let ate = forest.average_effect(None)?;

    let n = pred.len() as f64;
    let rmse = (pred
        .iter()
        .zip(&test.tau)
        .map(|(p, t)| (p.tau - t).powi(2))
        .sum::<f64>()
        / n)
        .sqrt();
    let covered = pred
        .iter()
        .zip(&test.tau)
        .filter(|(p, t)| {
            let (lo, hi) = p.interval(0.95);
            lo <= **t && **t <= hi
        })
        .count() as f64
        / n;
    let true_ate = train.tau.iter().sum::<f64>() / train.tau.len() as f64;
    println!(
        "{{\"model\":\"liftos\",\"rows\":{},\"trees\":{},\"threads\":{},\"fit_s\":{:.3},\"fit_predict_s\":{:.3},\"cpu_s\":{:.2},\"peak_rss_mib\":{:.1},\"forest_mib\":{:.1},\"cate_rmse\":{:.4},\"coverage\":{:.4},\"mean_se\":{:.4},\"nuisance\":\"{}\",\"ate\":{:.4},\"ate_ci_lower\":{:.4},\"ate_ci_upper\":{:.4},\"true_ate\":{:.4}}}",
        train.w.len(),
        trees,
        std::thread::available_parallelism().map_or(1, usize::from),
        fit_s,
        total_s,
        cpu_s,
        peak_rss_mib().unwrap_or(f64::NAN),
        forest.memory_bytes() as f64 / (1024.0 * 1024.0),
        rmse,
        covered,
        pred.iter().map(|p| p.std_err()).sum::<f64>() / n,
        local_linear.map_or("forest".to_string(), |l| format!("local linear {l}")),
        ate.estimate,
        ate.ci_lower,
        ate.ci_upper,
        true_ate
    );
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let result = match args.get(1).map(String::as_str) {
        Some("generate") => generate(&args[2..]),
        Some("fit") => fit(&args[2..]),
        _ => Err("usage: forest_bench generate --rows N --out DIR | fit --train FILE --test FILE [--trees N]".into()),
    };
    if let Err(e) = result {
        eprintln!("forest_bench: {e}");
        std::process::exit(1);
    }
}
