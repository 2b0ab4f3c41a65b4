#!/usr/bin/env python3
"""LiftOS vs EconML: per-channel incremental ROAS on the sandbox world (issue #6).

For each --seed, `liftos demo --seed S --trees K --out DIR` simulates the sandbox world
(known causal truth), runs the whole LiftOS pipeline on it and writes:

- DIR/world_unified.csv          the unified table (date, channel, campaign, spend, revenue, ...)
- DIR/truth.json                 per channel: true incremental ROAS, naive ROAS, ...
- DIR/pipeline/results.json      LiftOS estimates with intervals (channels[].incremental_roas, ...)
- DIR/pipeline/enriched.parquet  the table joined with the LiftOS calendar

Then, each in its own process, timed (wall clock) with peak resident memory measured:

1. LiftOS: `liftos analyze --input DIR/world_unified.csv --trees K --seed S
   --no-cross-validation --json FILE` (the estimation alone; the demo's own `analyze`
   stage, which also runs a 5-fold time-blocked accuracy check, is read from its stdout
   and printed too). The LiftOS *estimates* shown are the demo's pipeline/results.json.
2. EconML CausalForestDML, fitted the way a Python user would: Y = revenue, T = spend,
   X = channel one-hot + campaign one-hot + calendar (day_of_week, month, day_of_year,
   trend = days since the first date, is_weekend, is_holiday, is_commercial_event,
   is_business_day, is_month_end, is_quarter_end; the calendar columns are the LiftOS
   calendar's, taken per date from enriched.parquet), W = None;
   n_estimators = K (the same trees as LiftOS), min_samples_leaf=5, honest=True,
   inference=True (bootstrap of little bags), max_samples=0.45 (default), cv=2 (shuffled
   KFold, EconML's default), nuisances RandomForestRegressor(100 trees, min_samples_leaf=5),
   n_jobs=--econml-jobs (default -1), random_state=S. No clustering (EconML's forest has none).
3. EconML LinearDML (unless --skip-linear): X = campaign one-hot (first dropped; the
   channel is a sum of its campaigns) + is_weekend + is_holiday + is_commercial_event,
   W = the other calendar columns, same nuisances and cv, HC0 standard errors
   (StatsModelsLinearRegression, EconML's default final model).

Per-channel iROAS of EconML (the estimand of LiftOS and of the truth:
revenue lift / spend = sum_i tau_i s_i / sum_i s_i over the channel's rows, s = spend):

- CausalForestDML: inf = est.effect_inference(X_c) (T0=0, T1=1, i.e. the per-row marginal
  effect tau(x_i) with its BLB standard error se_i). Point = sum_i a_i tau_i with
  a_i = s_i / sum s. Standard error = sqrt(sum_i a_i se_i^2): the spend-weighted version of
  EconML's own `ate_inference(X_c).stderr_mean` = sqrt(mean_i se_i^2), which EconML documents
  as a conservative upper bound (it ignores the averaging of independent noise). The
  unweighted `est.ate_inference(X_c)` (mean_point, conf_int_mean) is also recorded.
- LinearDML: theta(x) is linear in x, so the spend-weighted mean is theta(x_bar_w) with
  x_bar_w the spend-weighted mean feature row; est.const_marginal_effect_inference(x_bar_w)
  gives its exact (HC0) standard error.

All intervals are 95% normal intervals. Printed per seed and channel: truth, naive ROAS,
LiftOS estimate [interval], EconML estimate(s) [interval], whether each interval covers the
truth; then wall time, CPU and peak memory of each process; then coverage over all seeds.

    python3 -m venv benches/.venv && benches/.venv/bin/pip install econml pandas
    benches/.venv/bin/python benches/econml_attribution.py --seed 42 --seed 7 --trees 500 \
        [--liftos target/debug/liftos] [--json out.json] [--keep DIR]

The `liftos` binary is passed by path (default /work/target/debug/liftos; build it with
`cargo build -p liftos --bin liftos`, ideally `--release`). Seeded: the same seeds and
trees give the same world and the same LiftOS numbers. EconML is seeded (random_state = S)
but with n_jobs=-1 its CausalForestDML numbers vary between runs in about the 4th
significant digit (thread scheduling inside its forest); --econml-jobs 1 makes them
bit-identical, at the cost of using one core.

Peak memory: LiftOS = max RSS of its process (from wait4); EconML = max RSS of the worker
process (wait4) and the peak of the summed RSS of the worker and any child processes
(joblib/loky workers; sampled every 50 ms). CPU of child processes is sampled too (a lower
bound). Default --trees is 500; the grf/LiftOS default is 2000.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

DEFAULT_LIFTOS = "/work/target/debug/liftos"
CALENDAR = ["day_of_week", "month", "day_of_year", "is_weekend", "is_holiday", "is_commercial_event",
            "is_business_day", "is_month_end", "is_quarter_end"]
TAU_DRIVERS = ["is_weekend", "is_holiday", "is_commercial_event"]
Z95 = 1.959963984540054
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ----------------------------------------------------------------------------- measuring

def _proc_children() -> dict:
    """Map pid -> (ppid, rss_kib, cpu_s) for every readable process."""
    out = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
            fields = stat.rsplit(")", 1)[1].split()
            ppid = int(fields[1])
            cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
            rss = int(fields[21]) * os.sysconf("SC_PAGE_SIZE") / 1024
        except (OSError, IndexError, ValueError):
            continue
        out[int(name)] = (ppid, rss, cpu)
    return out


def run_measured(cmd, stdout_path: Path, env=None) -> dict:
    """Runs `cmd`, returns wall seconds, rusage of the process and sampled tree RSS/CPU."""
    with open(stdout_path, "w") as out, open(stdout_path.with_suffix(".err"), "w") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        peak_tree_kib = 0.0
        cpu_seen = {}  # pid -> max cpu seconds seen (descendants only)
        done = threading.Event()

        def sample():
            nonlocal peak_tree_kib
            while not done.is_set():
                procs = _proc_children()
                tree = {proc.pid}
                grew = True
                while grew:
                    grew = False
                    for pid, (ppid, _, _) in procs.items():
                        if ppid in tree and pid not in tree:
                            tree.add(pid)
                            grew = True
                peak_tree_kib = max(peak_tree_kib, sum(procs[p][1] for p in tree if p in procs))
                for p in tree:
                    if p != proc.pid and p in procs:
                        cpu_seen[p] = max(cpu_seen.get(p, 0.0), procs[p][2])
                done.wait(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        done.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({proc.returncode}); "
                           f"see {stdout_path.with_suffix('.err')}:\n"
                           + stdout_path.with_suffix(".err").read_text()[-2000:])
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime + sum(cpu_seen.values()), 2),
        "peak_rss_mib": round(usage.ru_maxrss / 1024.0, 1),
        "peak_tree_rss_mib": round(max(peak_tree_kib, usage.ru_maxrss) / 1024.0, 1),
    }


# ----------------------------------------------------------------------------- data

def load_table(demo: Path, liftos: str):
    """The unified table with the calendar controls (per date, from the LiftOS calendar)."""
    import pandas as pd

    df = pd.read_csv(demo / "world_unified.csv")
    enriched = demo / "pipeline" / "enriched.parquet"
    try:
        cal = pd.read_parquet(enriched, columns=["date"] + CALENDAR)
    except ImportError:  # no pyarrow/fastparquet: let LiftOS convert the parquet to CSV
        csv = demo / "enriched.csv"
        if not csv.exists():
            subprocess.run([liftos, "sql", "--input", f"e={enriched}", "select * from e", "--out", str(csv)],
                           check=True, stdout=subprocess.DEVNULL)
        cal = pd.read_csv(csv, usecols=["date"] + CALENDAR)
    cal["date"] = cal["date"].astype(str)
    cal = cal.drop_duplicates("date")
    for c in CALENDAR:
        if cal[c].dtype == object:
            cal[c] = cal[c].map({"true": 1, "false": 0, True: 1, False: 0})
        cal[c] = cal[c].astype(float)
    n = len(df)
    df = df.merge(cal, on="date", how="left", validate="many_to_one")
    if len(df) != n or df[CALENDAR].isna().any().any():
        raise ValueError(f"{enriched}: calendar columns missing for some dates of world_unified.csv")
    dates = pd.to_datetime(df["date"])
    df["trend"] = (dates - dates.min()).dt.days.astype(float)
    return df


# ----------------------------------------------------------------------------- EconML worker

def econml_worker(model: str, demo: Path, trees: int, seed: int, liftos: str, jobs: int) -> None:
    import numpy as np
    import pandas as pd
    from sklearn.ensemble import RandomForestRegressor

    df = load_table(demo, liftos)
    y = df["revenue"].to_numpy(float)
    t = df["spend"].to_numpy(float)
    channels = sorted(df["channel"].unique())

    def nuisance():
        return RandomForestRegressor(n_estimators=100, min_samples_leaf=5, n_jobs=jobs, random_state=seed)

    start = time.perf_counter()
    if model == "cf":
        from econml.dml import CausalForestDML

        X = pd.concat([pd.get_dummies(df["channel"], prefix="ch", dtype=float),
                       pd.get_dummies(df["campaign"], prefix="cp", dtype=float),
                       df[CALENDAR + ["trend"]]], axis=1)
        est = CausalForestDML(model_y=nuisance(), model_t=nuisance(), n_estimators=trees, min_samples_leaf=5,
                              honest=True, inference=True, cv=2, n_jobs=jobs, random_state=seed)
        est.fit(y, t, X=X.to_numpy(float))
    elif model == "linear":
        from econml.dml import LinearDML

        X = pd.concat([pd.get_dummies(df["campaign"], prefix="cp", dtype=float, drop_first=True),
                       df[TAU_DRIVERS]], axis=1)
        W = df[[c for c in CALENDAR if c not in TAU_DRIVERS] + ["trend"]]
        est = LinearDML(model_y=nuisance(), model_t=nuisance(), cv=2, random_state=seed)
        est.fit(y, t, X=X.to_numpy(float), W=W.to_numpy(float))
    else:
        raise ValueError(f"unknown model {model}")
    fit_s = time.perf_counter() - start

    Xn = X.to_numpy(float)
    out = []
    for ch in channels:
        mask = (df["channel"] == ch).to_numpy()
        s = t[mask]
        a = s / s.sum()
        xc = Xn[mask]
        if model == "cf":
            inf = est.effect_inference(xc)
            tau, se = np.ravel(inf.point_estimate), np.ravel(inf.stderr)
            point = float(a @ tau)
            stderr = float(np.sqrt(a @ se**2))
        else:
            xbar = (a @ xc).reshape(1, -1)
            inf = est.const_marginal_effect_inference(xbar)
            point = float(np.ravel(inf.point_estimate)[0])
            stderr = float(np.ravel(inf.stderr)[0])
        pop = est.ate_inference(xc)  # EconML's built-in: unweighted mean over the rows
        lo_u, hi_u = pop.conf_int_mean(alpha=0.05)
        out.append({
            "channel": ch,
            "rows": int(mask.sum()),
            "iroas": point,
            "std_err": stderr,
            "ci_lower": point - Z95 * stderr,
            "ci_upper": point + Z95 * stderr,
            "ate_inference_mean": float(np.ravel(pop.mean_point)[0]),
            "ate_inference_ci_lower": float(np.ravel(lo_u)[0]),
            "ate_inference_ci_upper": float(np.ravel(hi_u)[0]),
        })
    total_s = time.perf_counter() - start
    print(json.dumps({"model": model, "rows": int(len(y)), "features": int(Xn.shape[1]), "trees": trees,
                      "fit_s": round(fit_s, 2), "fit_inference_s": round(total_s, 2), "channels": out}))


# ----------------------------------------------------------------------------- driver

STAGE = re.compile(r"^analyze\s+([\d.]+)\s+(\d+)\s+([\d.]+)\s*$", re.M)


def run_seed(seed: int, trees: int, liftos: str, work: Path, skip_linear: bool, jobs: int) -> dict:
    demo = work / f"seed{seed}"
    if demo.exists():
        shutil.rmtree(demo)
    demo_run = run_measured([liftos, "demo", "--seed", str(seed), "--trees", str(trees), "--out", str(demo)],
                            work / f"demo{seed}.out")
    text = (work / f"demo{seed}.out").read_text()
    m = STAGE.search(text)
    demo_run["analyze_stage_s"] = float(m.group(1)) if m else None
    demo_run["analyze_stage_peak_rss_mib"] = float(m.group(3)) if m else None

    truth = {c["channel"]: c for c in json.loads((demo / "truth.json").read_text())["channels"]}
    results = json.loads((demo / "pipeline" / "results.json").read_text())
    lift = {c["channel"]: c for c in results["channels"]}
    analyze_seed = int(results.get("seed", seed))

    an_json = work / f"analyze{seed}.json"
    analyze = run_measured([liftos, "analyze", "--input", str(demo / "world_unified.csv"), "--trees", str(trees),
                            "--seed", str(analyze_seed), "--no-cross-validation", "--json", str(an_json)],
                           work / f"analyze{seed}.out")
    analyze["channels"] = {c["channel"]: c["incremental_roas"] for c in json.loads(an_json.read_text())["channels"]}

    # Convert the parquet once here (if pandas cannot read it) so workers do not time it.
    load_table(demo, liftos)
    econ = {}
    for model in ["cf"] + ([] if skip_linear else ["linear"]):
        out = work / f"econml_{model}{seed}.out"
        meas = run_measured([sys.executable, __file__, "--econml-worker", model, str(demo), "--trees", str(trees),
                             "--seed", str(seed), "--liftos", liftos, "--econml-jobs", str(jobs)], out)
        res = json.loads(out.read_text().strip().splitlines()[-1])
        res.update(meas)
        res["channels"] = {c["channel"]: c for c in res["channels"]}
        econ[model] = res

    rows = []
    for ch in truth:  # truth.json's channel order
        tr = truth[ch]["incremental_roas"]
        lo = lift[ch]
        row = {
            "seed": seed,
            "channel": ch,
            "truth": tr,
            "naive_roas": truth[ch]["naive_roas"],
            "zero_effect": truth[ch].get("zero_effect", False),
            "liftos": lo["incremental_roas"],
            "liftos_ci": [lo["incremental_roas_ci_lower"], lo["incremental_roas_ci_upper"]],
            "liftos_analyze_run": analyze["channels"].get(ch),
        }
        for model, res in econ.items():
            c = res["channels"][ch]
            row[f"econml_{model}"] = c["iroas"]
            row[f"econml_{model}_ci"] = [c["ci_lower"], c["ci_upper"]]
            row[f"econml_{model}_ate_inference"] = c["ate_inference_mean"]
            row[f"econml_{model}_ate_inference_ci"] = [c["ate_inference_ci_lower"], c["ate_inference_ci_upper"]]
        rows.append(row)
    return {
        "seed": seed,
        "trees": trees,
        "rows": results.get("rows"),
        "liftos_analyze_seed": analyze_seed,
        "channels": rows,
        "timing": {
            "liftos_demo": demo_run,
            "liftos_analyze": {k: v for k, v in analyze.items() if k != "channels"},
            **{f"econml_{m}": {k: v for k, v in r.items() if k != "channels"} for m, r in econ.items()},
        },
    }


def covers(ci, truth) -> bool:
    return ci[0] <= truth <= ci[1]


def fmt_ci(est, ci) -> str:
    return f"{est:6.2f} [{ci[0]:5.2f}, {ci[1]:5.2f}]"


def print_seed(r: dict, models) -> None:
    print(f"\nseed {r['seed']}: {r['rows']} rows, {r['trees']} trees (LiftOS analyze seed {r['liftos_analyze_seed']})")
    head = ["channel", "truth", "naive", "LiftOS [95% CI]", "cov"]
    names = {"cf": "EconML CF (spend-wtd)", "linear": "LinearDML (spend-wtd)"}
    for m in models:
        head += [names[m] + " [95% CI]", "cov"]
    print(" | ".join(head))
    print(" | ".join("---" for _ in head))
    for c in r["channels"]:
        cells = [c["channel"], f"{c['truth']:.2f}", f"{c['naive_roas']:.2f}", fmt_ci(c["liftos"], c["liftos_ci"]),
                 "yes" if covers(c["liftos_ci"], c["truth"]) else "NO"]
        for m in models:
            ci = c[f"econml_{m}_ci"]
            cells += [fmt_ci(c[f"econml_{m}"], ci), "yes" if covers(ci, c["truth"]) else "NO"]
        print(" | ".join(cells))
    print("\nEconML built-in ate_inference(X_channel) (unweighted mean of effect over the channel's rows):")
    print("channel | truth | " + " | ".join(f"{m} ate_inference [95% CI] | cov" for m in models))
    print(" | ".join("---" for _ in range(2 + 2 * len(models))))
    for c in r["channels"]:
        cells = [c["channel"], f"{c['truth']:.2f}"]
        for m in models:
            ci = c[f"econml_{m}_ate_inference_ci"]
            cells += [fmt_ci(c[f"econml_{m}_ate_inference"], ci), "yes" if covers(ci, c["truth"]) else "NO"]
        print(" | ".join(cells))
    t = r["timing"]
    print("\nprocess | wall s | CPU s | peak RSS MiB (process) | peak RSS MiB (process tree)")
    print("--- | --- | --- | --- | ---")
    d = t["liftos_demo"]
    print(f"liftos demo (whole pipeline) | {d['wall_s']} | {d['cpu_s']} | {d['peak_rss_mib']} | {d['peak_tree_rss_mib']}")
    print(f"  of which the demo's analyze stage (incl. 5-fold CV) | {d['analyze_stage_s']} | | "
          f"{d['analyze_stage_peak_rss_mib']} (at stage end) |")
    a = t["liftos_analyze"]
    print(f"liftos analyze --no-cross-validation | {a['wall_s']} | {a['cpu_s']} | {a['peak_rss_mib']} | "
          f"{a['peak_tree_rss_mib']}")
    for m in models:
        e = t[f"econml_{m}"]
        print(f"EconML {'CausalForestDML' if m == 'cf' else 'LinearDML'} (load+fit+inference; fit {e['fit_s']} s) | "
              f"{e['wall_s']} | {e['cpu_s']} | {e['peak_rss_mib']} | {e['peak_tree_rss_mib']}")


def print_summary(all_runs, models) -> None:
    cols = [("LiftOS", "liftos_ci")] + [(f"EconML {m} spend-wtd", f"econml_{m}_ci") for m in models] + \
           [(f"EconML {m} ate_inference", f"econml_{m}_ate_inference_ci") for m in models]
    est_key = {"liftos_ci": "liftos", **{f"econml_{m}_ci": f"econml_{m}" for m in models},
               **{f"econml_{m}_ate_inference_ci": f"econml_{m}_ate_inference" for m in models}}
    rows = [c for r in all_runs for c in r["channels"]]
    print(f"\nAll seeds ({', '.join(str(r['seed']) for r in all_runs)}), {len(rows)} channel estimates:")
    print("model | intervals covering truth | mean abs error | mean CI width | zero-effect channel flagged (CI excludes 0)")
    print("--- | --- | --- | --- | ---")
    for name, key in cols:
        cov = sum(covers(c[key], c["truth"]) for c in rows)
        mae = sum(abs(c[est_key[key]] - c["truth"]) for c in rows) / len(rows)
        width = sum(c[key][1] - c[key][0] for c in rows) / len(rows)
        zero = [c for c in rows if c["zero_effect"]]
        fp = sum(not covers(c[key], 0.0) for c in zero)
        print(f"{name} | {cov}/{len(rows)} | {mae:.3f} | {width:.3f} | {fp}/{len(zero)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, action="append", help="sandbox world seed (repeatable); default 42 and 7")
    ap.add_argument("--trees", type=int, default=500, help="trees of LiftOS's forest and of CausalForestDML")
    ap.add_argument("--liftos", default=DEFAULT_LIFTOS, help=f"path of the liftos binary (default {DEFAULT_LIFTOS})")
    ap.add_argument("--skip-linear", action="store_true", help="do not fit LinearDML")
    ap.add_argument("--econml-jobs", type=int, default=-1,
                    help="n_jobs of EconML and its nuisance forests (default -1 = all CPUs; 1 = bit-reproducible)")
    ap.add_argument("--json", type=Path, help="write all results as JSON here")
    ap.add_argument("--keep", type=Path, help="keep the demo outputs and logs in this directory")
    ap.add_argument("--econml-worker", nargs=2, metavar=("MODEL", "DIR"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.econml_worker:
        econml_worker(args.econml_worker[0], Path(args.econml_worker[1]), args.trees, args.seed[0], args.liftos,
                      args.econml_jobs)
        return
    if args.trees % 4 != 0:
        ap.error("--trees must be a multiple of 4 (CausalForestDML's subforest_size)")
    liftos = str(Path(args.liftos).resolve())
    if not os.access(liftos, os.X_OK):
        ap.error(f"{liftos} is not an executable liftos binary")
    seeds = args.seed or [42, 7]
    models = ["cf"] + ([] if args.skip_linear else ["linear"])
    start = time.perf_counter()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        for seed in seeds:
            r = run_seed(seed, args.trees, liftos, work, args.skip_linear, args.econml_jobs)
            print_seed(r, models)
            sys.stdout.flush()
            runs.append(r)
    print_summary(runs, models)
    total = time.perf_counter() - start
    print(f"\ntotal wall time {total:.1f} s; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    if args.json:
        args.json.write_text(json.dumps({"liftos": liftos, "trees": args.trees, "seeds": seeds,
                                         "econml_jobs": args.econml_jobs,
                                         "total_wall_s": round(total, 1), "runs": runs}, indent=1))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
