#!/usr/bin/env python3
"""Coverage of the LiftOS causal forest's 95% intervals over many seeds (issue #5).

For every seed S = 1..--seeds the Rust bench binary `forest_bench` (benches/src/bin/
forest_bench.rs) writes a fresh grf-style design and fits the LiftOS causal forest on it:

    forest_bench generate --rows N --test T --covariates P --seed S --out DIR
    forest_bench fit --train DIR/train.csv --test DIR/test.csv --trees K --seed S

The design (from forest_bench.rs): X ~ U(0,1)^P, tau(x) = zeta(x1) zeta(x2) with
zeta(x) = 1 + 1/(1 + exp(-20 (x - 1/3))), W = 2 x3 + x1 + N(0,1) (confounded, continuous),
Y = 3 x3 + 2 x4 + tau(x) W + N(0,1). train.csv and test.csv hold x1..xP, w, y and the true
tau. `fit` prints one JSON line: CATE RMSE and pointwise 95% interval coverage of tau on
the test points, and the average effect with its 95% interval (`average_effect(None)`:
the doubly robust mean over the *training* rows, clustered by row).

Truth of the average effect. The primary truth is the one forest_bench reports,
`true_ate` = mean of the true tau over the training rows (the conditional average
treatment effect of the sample, which is what the doubly robust average over the training
rows estimates). Coverage of the population value E[tau(X)] = (E[zeta(U)])^2 =
(1 + (ln(1 + e^(40/3)) - ln(1 + e^(-20/3))) / 20)^2 is reported as well.

Printed: mean and median CATE RMSE; mean pointwise coverage with its spread over seeds and
the share of seeds inside grf's own bar (pointwise miscoverage in [0.005, 0.15]); the share
of seeds whose average-effect interval covers the truth with an exact (Clopper-Pearson)
binomial 95% interval; the mean width of the average-effect interval; the z-scores
(estimate - truth) / SE (SE = half-width / 1.96) against both truths, whose SD should be
near 1 (below 1: the interval is conservative); wall and CPU time. forest_bench does not print pointwise interval widths, so only the average-effect
interval width is reported.

    python3 -m venv benches/.venv && benches/.venv/bin/pip install econml pandas
    benches/.venv/bin/python benches/coverage_experiment.py [--seeds 100] [--rows 2000] \
        [--test 1000] [--trees 500] [--jobs 2] [--bench target/debug/forest_bench] [--json out.json]

(This script itself needs only the Python standard library.) Seeded and reproducible:
seed S drives both the design and the forest, and the forest's result does not depend on
the number of threads, so the same arguments give the same numbers (timings aside).
At most --jobs (default 2) seeds run at once; each gets RAYON_NUM_THREADS = CPUs / jobs
(at least 1) unless RAYON_NUM_THREADS is already set.
"""

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

DEFAULT_BENCH = "/work/target/debug/forest_bench"
POP_ATE = (1.0 + (math.log1p(math.exp(40.0 / 3.0)) - math.log1p(math.exp(-20.0 / 3.0))) / 20.0) ** 2
Z95 = 1.959963984540054


def binom_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p)."""
    if p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 1.0 if k >= n else 0.0
    lp, lq = math.log(p), math.log1p(-p)
    return min(1.0, sum(math.exp(math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * lp + (n - i) * lq)
                        for i in range(0, k + 1)))


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple:
    """Exact two-sided binomial confidence interval for k successes out of n."""
    a = (1.0 - level) / 2.0

    def solve(f, target):  # f increasing in p on [0, 1]
        lo, hi = 0.0, 1.0
        for _ in range(80):
            mid = (lo + hi) / 2.0
            if f(mid) < target:
                lo = mid
            else:
                hi = mid
        return (lo + hi) / 2.0

    lower = 0.0 if k == 0 else solve(lambda p: 1.0 - binom_cdf(k - 1, n, p), a)  # P(X >= k) = a
    upper = 1.0 if k == n else solve(lambda p: 1.0 - binom_cdf(k, n, p), 1.0 - a)  # P(X <= k) = a
    return lower, upper


def run_seed(seed: int, args, work: Path, env: dict) -> dict:
    out = work / f"seed{seed}"
    start = time.perf_counter()
    subprocess.run([args.bench, "generate", "--rows", str(args.rows), "--test", str(args.test),
                    "--covariates", str(args.covariates), "--seed", str(seed), "--out", str(out)],
                   check=True, env=env, capture_output=True, text=True)
    proc = subprocess.run([args.bench, "fit", "--train", str(out / "train.csv"), "--test", str(out / "test.csv"),
                           "--trees", str(args.trees), "--seed", str(seed)],
                          env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"seed {seed}: forest_bench fit failed: {proc.stderr.strip()}")
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    if not args.keep:
        shutil.rmtree(out, ignore_errors=True)
    se = (r["ate_ci_upper"] - r["ate_ci_lower"]) / (2.0 * Z95)
    return {
        "seed": seed,
        "cate_rmse": r["cate_rmse"],
        "coverage": r["coverage"],
        "ate": r["ate"],
        "ate_ci_lower": r["ate_ci_lower"],
        "ate_ci_upper": r["ate_ci_upper"],
        "ate_width": r["ate_ci_upper"] - r["ate_ci_lower"],
        "true_ate": r["true_ate"],
        "ate_covered": r["ate_ci_lower"] <= r["true_ate"] <= r["ate_ci_upper"],
        "pop_ate_covered": r["ate_ci_lower"] <= POP_ATE <= r["ate_ci_upper"],
        "z": (r["ate"] - r["true_ate"]) / se if se > 0 else float("nan"),
        "z_pop": (r["ate"] - POP_ATE) / se if se > 0 else float("nan"),
        "fit_predict_s": r["fit_predict_s"],
        "cpu_s": r["cpu_s"],
        "peak_rss_mib": r["peak_rss_mib"],
        "seed_wall_s": round(time.perf_counter() - start, 3),
    }


def quantile(xs, q: float) -> float:
    s = sorted(xs)
    pos = q * (len(s) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def summarize(rs, args, wall: float) -> dict:
    n = len(rs)
    rmse = [r["cate_rmse"] for r in rs]
    cov = [r["coverage"] for r in rs]
    k = sum(r["ate_covered"] for r in rs)
    kp = sum(r["pop_ate_covered"] for r in rs)
    z = [r["z"] for r in rs]
    zp = [r["z_pop"] for r in rs]
    return {
        "seeds": n,
        "rows": args.rows,
        "test_rows": args.test,
        "covariates": args.covariates,
        "trees": args.trees,
        "jobs": args.jobs,
        "bench": args.bench,
        "rmse_mean": statistics.fmean(rmse),
        "rmse_median": statistics.median(rmse),
        "rmse_sd": statistics.stdev(rmse) if n > 1 else 0.0,
        "coverage_mean": statistics.fmean(cov),
        "coverage_sd": statistics.stdev(cov) if n > 1 else 0.0,
        "coverage_min": min(cov),
        "coverage_p05": quantile(cov, 0.05),
        "coverage_median": statistics.median(cov),
        "coverage_p95": quantile(cov, 0.95),
        "coverage_max": max(cov),
        "coverage_in_grf_bar": sum(0.85 <= c <= 0.995 for c in cov),
        "ate_covered": k,
        "ate_covered_share": k / n,
        "ate_covered_ci": clopper_pearson(k, n),
        "pop_ate": POP_ATE,
        "pop_ate_covered": kp,
        "pop_ate_covered_ci": clopper_pearson(kp, n),
        "ate_width_mean": statistics.fmean(r["ate_width"] for r in rs),
        "ate_bias_mean": statistics.fmean(r["ate"] - r["true_ate"] for r in rs),
        "ate_error_sd": statistics.stdev(r["ate"] - r["true_ate"] for r in rs) if n > 1 else 0.0,
        "ate_se_mean": statistics.fmean(r["ate_width"] / (2 * Z95) for r in rs),
        "z_mean": statistics.fmean(z),
        "z_sd": statistics.stdev(z) if n > 1 else 0.0,
        "z_pop_mean": statistics.fmean(zp),
        "z_pop_sd": statistics.stdev(zp) if n > 1 else 0.0,
        "fit_predict_s_mean": statistics.fmean(r["fit_predict_s"] for r in rs),
        "cpu_s_total": sum(r["cpu_s"] for r in rs),
        "peak_rss_mib_max": max(r["peak_rss_mib"] for r in rs),
        "wall_s": wall,
    }


def print_summary(s: dict) -> None:
    lo, hi = s["ate_covered_ci"]
    plo, phi = s["pop_ate_covered_ci"]
    print(f"\nLiftOS causal forest coverage: {s['seeds']} seeds, N={s['rows']} train, T={s['test_rows']} test, "
          f"p={s['covariates']}, {s['trees']} trees, {s['jobs']} seeds at a time")
    print("metric | value")
    print("--- | ---")
    print(f"CATE RMSE mean / median (SD over seeds) | {s['rmse_mean']:.4f} / {s['rmse_median']:.4f} ({s['rmse_sd']:.4f})")
    print(f"pointwise 95% coverage of tau, mean (SD) | {s['coverage_mean']:.4f} ({s['coverage_sd']:.4f})")
    print(f"pointwise coverage min / 5% / median / 95% / max | {s['coverage_min']:.3f} / {s['coverage_p05']:.3f} / "
          f"{s['coverage_median']:.3f} / {s['coverage_p95']:.3f} / {s['coverage_max']:.3f}")
    print(f"seeds with pointwise coverage in grf's bar [0.85, 0.995] | {s['coverage_in_grf_bar']}/{s['seeds']}")
    print(f"average-effect 95% CI covers mean train tau | {s['ate_covered']}/{s['seeds']} = {s['ate_covered_share']:.3f} "
          f"[{lo:.3f}, {hi:.3f}] (Clopper-Pearson 95%)")
    print(f"average-effect 95% CI covers E[tau] = {s['pop_ate']:.4f} | {s['pop_ate_covered']}/{s['seeds']} = "
          f"{s['pop_ate_covered'] / s['seeds']:.3f} [{plo:.3f}, {phi:.3f}]")
    print(f"average-effect CI width, mean | {s['ate_width_mean']:.4f}")
    print(f"average effect: mean error / SD of error / mean SE | {s['ate_bias_mean']:+.4f} / {s['ate_error_sd']:.4f} / "
          f"{s['ate_se_mean']:.4f}")
    print(f"z = (estimate - mean train tau) / SE: mean (SD), ideal 0 (1) | {s['z_mean']:+.3f} ({s['z_sd']:.3f})")
    print(f"z = (estimate - E[tau]) / SE: mean (SD), ideal 0 (1) | {s['z_pop_mean']:+.3f} ({s['z_pop_sd']:.3f})")
    print(f"fit+predict per seed, mean s | {s['fit_predict_s_mean']:.2f}")
    print(f"forest_bench CPU, total s | {s['cpu_s_total']:.1f}")
    print(f"peak RSS of a fit, max MiB | {s['peak_rss_mib_max']:.1f}")
    print(f"total wall time s | {s['wall_s']:.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=100, help="run seeds 1..=SEEDS (default 100)")
    ap.add_argument("--first-seed", type=int, default=1, help="first seed (default 1)")
    ap.add_argument("--rows", type=int, default=2000, help="training rows N (default 2000)")
    ap.add_argument("--test", type=int, default=1000, help="test rows T (default 1000)")
    ap.add_argument("--covariates", type=int, default=10, help="covariates p (default 10)")
    ap.add_argument("--trees", type=int, default=500, help="trees K (default 500)")
    ap.add_argument("--jobs", type=int, default=2, help="seeds run at once, 1 or 2 (default 2)")
    ap.add_argument("--bench", default=DEFAULT_BENCH, help=f"forest_bench binary (default {DEFAULT_BENCH})")
    ap.add_argument("--per-seed", action="store_true", help="also print one line per seed")
    ap.add_argument("--keep", type=Path, help="keep the generated CSV files in this directory")
    ap.add_argument("--json", type=Path, help="write the summary and every seed's numbers as JSON here")
    args = ap.parse_args()
    if not 1 <= args.jobs <= 2:
        ap.error("--jobs must be 1 or 2")
    if args.seeds < 1:
        ap.error("--seeds must be at least 1")
    args.bench = str(Path(args.bench).resolve())
    if not os.access(args.bench, os.X_OK):
        ap.error(f"{args.bench} is not an executable forest_bench binary")
    env = dict(os.environ)
    env.setdefault("RAYON_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // args.jobs)))
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))

    start = time.perf_counter()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            futures = [pool.submit(run_seed, s, args, work, env) for s in seeds]
            for i, f in enumerate(futures, 1):
                results.append(f.result())
                if i % 10 == 0 or i == len(futures):
                    print(f"{i}/{len(futures)} seeds done ({time.perf_counter() - start:.0f} s)", flush=True)
    wall = time.perf_counter() - start
    results.sort(key=lambda r: r["seed"])

    if args.per_seed:
        cols = ["seed", "cate_rmse", "coverage", "ate", "ate_ci_lower", "ate_ci_upper", "true_ate", "ate_covered",
                "fit_predict_s"]
        print(" | ".join(cols))
        print(" | ".join("---" for _ in cols))
        for r in results:
            print(" | ".join(f"{r[c]:.4f}" if isinstance(r[c], float) else str(r[c]) for c in cols))
    summary = summarize(results, args, wall)
    summary["rayon_num_threads"] = env["RAYON_NUM_THREADS"]
    print_summary(summary)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs at the end")
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "per_seed": results}, indent=1))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
