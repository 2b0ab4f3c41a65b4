#!/usr/bin/env python3
"""LiftOS causal forest vs EconML CausalForestDML on the same CSV data.

For each --rows, the Rust bench binary `forest_bench` (release build) writes a seeded
grf-style design (X ~ U(0,1)^10, tau = zeta(x1) zeta(x2), confounded continuous W) as
train.csv / test.csv. Then LiftOS (`forest_bench fit`) and EconML (this script in
worker mode) each fit on train.csv in their own process with the same number of trees
and predict tau(x) with 95% intervals on test.csv. Printed per model: fit+predict wall
time, peak resident memory, CATE RMSE against the true tau, pointwise interval
coverage, the average effect interval; then the EconML / LiftOS ratios.

    python3 -m venv benches/.venv && benches/.venv/bin/pip install econml
    benches/.venv/bin/python benches/econml_forest.py --rows 10000 --rows 100000 --trees 2000

EconML settings: CausalForestDML(n_estimators=trees, min_samples_leaf=5, honest=True,
inference=True, max_samples=0.45 (its default), cv=2) with RandomForestRegressor(100 trees,
min_samples_leaf=5) nuisance models, n_jobs=-1. LiftOS: grf defaults (sample_fraction 0.5,
min_node_size 5, nuisance forests of max(50, trees/4) trees; --liftos-local-linear 0.1 makes
them local linear forests). --skip-econml runs LiftOS alone.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def target_dir() -> Path:
    return Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))


def build() -> Path:
    subprocess.run(
        ["cargo", "build", "--release", "-p", "liftos-benches", "--bin", "forest_bench"],
        cwd=ROOT,
        check=True,
    )
    return target_dir() / "release" / "forest_bench"


def econml_worker(train: str, test: str, trees: int, seed: int) -> None:
    import numpy as np
    from econml.dml import CausalForestDML
    from sklearn.ensemble import RandomForestRegressor

    tr = np.loadtxt(train, delimiter=",", skiprows=1)
    te = np.loadtxt(test, delimiter=",", skiprows=1)
    p = tr.shape[1] - 3
    X, W, Y = tr[:, :p], tr[:, p], tr[:, p + 1]
    Xt, tau_t = te[:, :p], te[:, p + 2]
    start = time.perf_counter()

    def nuisance():
        return RandomForestRegressor(n_estimators=100, min_samples_leaf=5, n_jobs=-1, random_state=seed)

    est = CausalForestDML(
        model_y=nuisance(),
        model_t=nuisance(),
        n_estimators=trees,
        min_samples_leaf=5,
        honest=True,
        inference=True,
        cv=2,
        n_jobs=-1,
        random_state=seed,
    )
    est.fit(Y, W, X=X)
    fit_s = time.perf_counter() - start
    pred = est.effect(Xt)
    lo, hi = est.effect_interval(Xt, alpha=0.05)
    total_s = time.perf_counter() - start
    ate = float(est.ate(X))
    ate_lo, ate_hi = est.ate_interval(X, alpha=0.05)
    print(
        json.dumps(
            {
                "model": "econml",
                "rows": int(len(Y)),
                "trees": trees,
                "fit_s": round(fit_s, 3),
                "fit_predict_s": round(total_s, 3),
                # CPU of this process and of finished children (joblib workers still alive
                # are not counted, so this is a lower bound).
                "cpu_s": round(sum(
                    u.ru_utime + u.ru_stime
                    for u in (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN))
                ), 2),
                "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
                "cate_rmse": round(float(np.sqrt(np.mean((pred - tau_t) ** 2))), 4),
                "coverage": round(float(np.mean((lo <= tau_t) & (tau_t <= hi))), 4),
                "mean_se": round(float(np.mean((hi - lo) / (2 * 1.959964))), 4),
                "ate": round(ate, 4),
                "ate_ci_lower": round(float(np.ravel(ate_lo)[0]), 4),
                "ate_ci_upper": round(float(np.ravel(ate_hi)[0]), 4),
                "true_ate": round(float(np.mean(tr[:, p + 2])), 4),
            }
        )
    )


def run_json(cmd) -> dict:
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, action="append", help="training rows (repeatable); default 10000 and 100000")
    ap.add_argument("--test-rows", type=int, default=5000)
    ap.add_argument("--covariates", type=int, default=10)
    ap.add_argument("--trees", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--skip-econml", action="store_true")
    ap.add_argument("--liftos-local-linear", type=float, metavar="LAMBDA",
                    help="LiftOS: local linear nuisance forests with this ridge penalty (default: grf's plain forests)")
    ap.add_argument("--keep", type=Path, help="keep the CSV files in this directory")
    ap.add_argument("--econml-worker", nargs=2, metavar=("TRAIN", "TEST"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.econml_worker:
        econml_worker(args.econml_worker[0], args.econml_worker[1], args.trees, args.seed)
        return

    binary = build()
    rows_list = args.rows or [10_000, 100_000]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for rows in rows_list:
            out = (args.keep or Path(tmp)) / f"n{rows}"
            subprocess.run(
                [str(binary), "generate", "--rows", str(rows), "--test", str(args.test_rows),
                 "--covariates", str(args.covariates), "--seed", str(args.seed), "--out", str(out)],
                check=True,
            )
            train, test = str(out / "train.csv"), str(out / "test.csv")
            fit_cmd = [str(binary), "fit", "--train", train, "--test", test, "--trees", str(args.trees)]
            if args.liftos_local_linear is not None:
                fit_cmd += ["--nuisance-local-linear", str(args.liftos_local_linear)]
            lift = run_json(fit_cmd)
            print(json.dumps(lift), flush=True)
            results.append(lift)
            if not args.skip_econml:
                econ = run_json([sys.executable, __file__, "--econml-worker", train, test,
                                 "--trees", str(args.trees), "--seed", str(args.seed)])
                print(json.dumps(econ), flush=True)
                results.append(econ)

    cols = ["rows", "model", "fit_predict_s", "cpu_s", "peak_rss_mib", "cate_rmse", "coverage", "mean_se", "ate", "ate_ci_lower", "ate_ci_upper", "true_ate"]
    print()
    print(" | ".join(cols))
    print(" | ".join("---" for _ in cols))
    for r in results:
        print(" | ".join(str(r[c]) for c in cols))
    if not args.skip_econml:
        print()
        print("rows | time EconML/LiftOS | memory EconML/LiftOS | RMSE EconML/LiftOS")
        print("--- | --- | --- | ---")
        for rows in rows_list:
            l = next(r for r in results if r["rows"] == rows and r["model"] == "liftos")
            e = next(r for r in results if r["rows"] == rows and r["model"] == "econml")
            print(f"{rows} | {e['fit_predict_s'] / l['fit_predict_s']:.1f}x | "
                  f"{e['peak_rss_mib'] / l['peak_rss_mib']:.1f}x | {e['cate_rmse'] / l['cate_rmse']:.2f}")


if __name__ == "__main__":
    main()
