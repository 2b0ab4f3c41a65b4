#!/usr/bin/env python3
"""LiftOS business-level analysis vs Google's Meridian on the same sandbox worlds.

For each preset and seed, `liftos-sandbox export` writes a simulated world (`unified.csv`:
every channel's daily spend; `business.csv`: the business's own daily revenue;
`truth.json`: each channel's switch-off incremental return by re-simulation, noise fixed).
Then, on exactly the same data:

- LiftOS: `liftos analyze --input unified.csv --business-outcome business.csv
  --confidence LEVEL --bootstrap B --json F` (release build), one process per fit;
- Meridian: a national model (no geos: the worlds have none) of the daily revenue KPI
  (`kpi_type="revenue"`), each channel's daily spend as its media and as its spend,
  Meridian's default priors (ROI prior LogNormal(0.2, 0.9), geometric adstock with
  max_lag 8, Hill), calendar controls (six weekday dummies, a US federal holiday flag,
  a Black Friday / Cyber Monday flag) and one knot every 28 days for the baseline (LiftOS
  uses the same calendar information and a level with knots every 28 days; Meridian's
  national default is a single knot, `--meridian-spec default` runs that instead;
  `--peak-season MM-DD:MM-DD` gives both the business's own peak season: a Meridian
  control, LiftOS's `--calendar-config` in place of its default seasons), NUTS
  with `--chains` chains, `--adapt` adaptation, `--burnin` burn-in and `--keep` kept draws
  per chain. One process per fit (a worker mode of this script), so `--timeout` can stop it.

`--return-scale F` exports every world with each channel's true return multiplied by F
(`liftos-sandbox export --return-scale`): the same spend, baselines and noise, returns F
times as large, to see which estimates follow the data and which stay where a prior puts
them.

Both report each channel's switch-off return over the window: LiftOS's `incremental_roas`,
Meridian's `Analyzer.roi()` (the change in expected revenue when that channel's spend is
set to zero, divided by its spend; point estimate = posterior mean, interval = the
equal-tailed posterior interval at `--level`). The truth is the sandbox's
`business_incremental_roas`: the business total's actual minus re-simulated revenue with
the channel off, over the world's window (carryover inside the window included, on days
the channel has no row too; for `spillover` it counts the part of Meta's effect that lands
in Google Ads' rows, since the business total sees it). Per
channel: absolute % error, whether the interval covers the truth, and for the zero-effect
channel `tiktok` its |iROAS| and whether its interval excludes 0 (a false positive).
Wall time: LiftOS's whole process; Meridian's model build + sampling + ROI (TensorFlow
import and data loading not counted).

    python3 -m venv benches/.venv && benches/.venv/bin/pip install google-meridian
    CARGO_TARGET_DIR=/work/target cargo build --release --bin liftos --bin liftos-sandbox
    benches/.venv/bin/python benches/business_vs_meridian.py [--presets linear,saturation,carryover,spillover] [--seeds 3] [--timeout 900]

Binaries: `--liftos PATH` / `--sandbox PATH`, else `$CARGO_TARGET_DIR/release/...`, else
`target/release/...`. Everything (worlds, each fit's JSON and log, `results.json`,
`results.md`) goes to `--out` (default benches/out/business_vs_meridian). `--only liftos`
or `--only meridian` runs one side (the other's earlier results in --out are reused when
present).
"""

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PRESETS = "linear,saturation,carryover,spillover"


# ----------------------------------------------------------------------------- binaries

def find_binary(name: str, given: str | None) -> Path:
    if given:
        p = Path(given)
        if not p.is_file():
            sys.exit(f"error: {name}: {p} does not exist")
        return p
    candidates = []
    if os.environ.get("CARGO_TARGET_DIR"):
        candidates.append(Path(os.environ["CARGO_TARGET_DIR"]) / "release" / name)
    candidates.append(ROOT / "target" / "release" / name)
    for c in candidates:
        if c.is_file():
            return c
    sys.exit(
        f"error: no release `{name}` binary (looked in {', '.join(str(c) for c in candidates)}); "
        f"build it with `cargo build --release --bin {name}` or pass --{name.split('-')[-1]} PATH"
    )


# ----------------------------------------------------------------------------- data

def daily_frames(world: Path):
    """The business's daily revenue and each channel's daily spend (0 on days without a row)."""
    import pandas as pd

    unified = pd.read_csv(world / "unified.csv", usecols=["date", "channel", "spend"])
    business = pd.read_csv(world / "business.csv", usecols=["date", "revenue"])
    spend = unified.pivot_table(index="date", columns="channel", values="spend", aggfunc="sum")
    spend = spend.reindex(business["date"]).fillna(0.0)
    spend.index.name = "date"
    return business, spend


def parse_season(text: str) -> tuple:
    """`MM-DD:MM-DD` -> ((month, day), (month, day))."""
    try:
        a, b = text.split(":")
        (m1, d1), (m2, d2) = (tuple(int(x) for x in v.split("-")) for v in (a, b))
    except ValueError:
        sys.exit(f"error: --peak-season {text!r}: expected MM-DD:MM-DD, e.g. 11-15:12-24")
    return (m1, d1), (m2, d2)


def season_flag(dates, season: tuple) -> "pd.Series":
    """1.0 on the days of the yearly season `((m1, d1), (m2, d2))` (within one year)."""
    import pandas as pd

    d = pd.to_datetime(pd.Series(dates))
    key = d.dt.month * 100 + d.dt.day
    lo, hi = season[0][0] * 100 + season[0][1], season[1][0] * 100 + season[1][1]
    return ((key >= lo) & (key <= hi)).astype(float)


def season_toml(season: tuple) -> str:
    """The same season as a `liftos analyze --calendar-config` file (it replaces the
    calendar's default seasons)."""
    (m1, d1), (m2, d2) = season
    return (
        'country = "US"\n\n[[business.peak_seasons]]\nname = "peak"\n'
        f'start = {{ date = {{ kind = "fixed", month = {m1}, day = {d1} }} }}\n'
        f'end = {{ date = {{ kind = "fixed", month = {m2}, day = {d2} }} }}\n'
    )


def calendar_controls(dates) -> "pd.DataFrame":
    """Weekday dummies (Mon..Sat; Sunday is the reference), US federal holidays, Black Friday
    and Cyber Monday: the calendar the sandbox's baseline follows."""
    import pandas as pd
    from pandas.tseries.holiday import USFederalHolidayCalendar

    d = pd.to_datetime(pd.Series(dates))
    out = pd.DataFrame({"time": d.dt.strftime("%Y-%m-%d")})
    for i, name in enumerate(["mon", "tue", "wed", "thu", "fri", "sat"]):
        out[f"dow_{name}"] = (d.dt.weekday == i).astype(float)
    hol = USFederalHolidayCalendar().holidays(d.min(), d.max())
    out["holiday"] = d.isin(hol).astype(float)
    events = set()
    for y in range(d.min().year, d.max().year + 1):
        nov = pd.date_range(f"{y}-11-01", f"{y}-11-30")
        thanksgiving = nov[nov.weekday == 3][3]
        events.add(thanksgiving + pd.Timedelta(days=1))  # Black Friday
        events.add(thanksgiving + pd.Timedelta(days=4))  # Cyber Monday
    out["commercial_event"] = d.isin(events).astype(float)
    return out


# ----------------------------------------------------------------------------- Meridian worker

def meridian_worker(args) -> None:
    """Fits Meridian on one world (`--meridian-worker DIR`) and writes DIR/meridian.json."""
    import numpy as np
    import pandas as pd

    world = Path(args.meridian_worker)
    business, spend = daily_frames(world)
    channels = list(spend.columns)
    df = pd.DataFrame({"time": business["date"].astype(str), "revenue": business["revenue"]})
    for c in channels:
        df[f"{c}_spend"] = spend[c].to_numpy()
    controls = []
    if args.meridian_spec == "calendar":
        cal = calendar_controls(df["time"])
        if args.peak_season:
            cal["peak_season"] = season_flag(cal["time"], parse_season(args.peak_season)).to_numpy()
        controls = [c for c in cal.columns if c != "time" and cal[c].sum() > 0]
        for c in controls:
            df[c] = cal[c].to_numpy()

    from meridian import version as meridian_version
    from meridian.analysis import analyzer
    from meridian.data import data_frame_input_data_builder as dfb
    from meridian.model import model, spec

    t0, c0 = time.perf_counter(), time.process_time()
    builder = dfb.DataFrameInputDataBuilder(kpi_type="revenue")
    builder = builder.with_kpi(df, kpi_col="revenue", time_col="time")
    builder = builder.with_media(
        df,
        media_cols=[f"{c}_spend" for c in channels],
        media_spend_cols=[f"{c}_spend" for c in channels],
        media_channels=channels,
        time_col="time",
    )
    if controls:
        builder = builder.with_controls(df, control_cols=controls, time_col="time")
    data = builder.build()
    n = len(df)
    knots = None
    if args.meridian_spec == "calendar":
        knots = max(2, math.ceil((n - 1) / args.knot_days) + 1)
    mmm = model.Meridian(input_data=data, model_spec=spec.ModelSpec(knots=knots))
    mmm.sample_posterior(
        n_chains=args.chains,
        n_adapt=args.adapt,
        n_burnin=args.burnin,
        n_keep=args.keep,
        seed=args.fit_seed,
    )
    a = analyzer.Analyzer(mmm)
    roi = np.asarray(a.roi(use_posterior=True))  # (chains, draws, channels)
    seconds = time.perf_counter() - t0
    cpu_seconds = time.process_time() - c0
    rhat = {}
    try:
        for k, v in a.get_rhat().items():
            v = np.asarray(v)
            if v.size and np.isfinite(v).any():
                rhat[k] = float(np.nanmax(v))
    except Exception as e:  # convergence diagnostics are informative only
        rhat["error"] = str(e)
    draws = roi.reshape(-1, roi.shape[-1])
    lo_q, hi_q = (1 - args.level) / 2, 1 - (1 - args.level) / 2
    out = {
        "tool": "meridian",
        "version": getattr(meridian_version, "__version__", "?"),
        "spec": args.meridian_spec,
        "knots": knots,
        "controls": controls,
        "sampling": {"chains": args.chains, "adapt": args.adapt, "burnin": args.burnin, "keep": args.keep},
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "max_rhat": max((v for v in rhat.values() if isinstance(v, float)), default=None),
        "rhat": rhat,
        "channels": {
            c: {
                "iroas": float(np.mean(draws[:, i])),
                "median": float(np.median(draws[:, i])),
                "lower": float(np.quantile(draws[:, i], lo_q)),
                "upper": float(np.quantile(draws[:, i], hi_q)),
            }
            for i, c in enumerate(channels)
        },
    }
    (world / "meridian.json").write_text(json.dumps(out, indent=2))


# ----------------------------------------------------------------------------- one world

def children_cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_logged(cmd, log: Path, timeout: float, env=None):
    """Runs cmd with its output in log; returns (ok, seconds, note)."""
    t0 = time.perf_counter()
    with open(log, "w") as f:
        try:
            p = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            return False, time.perf_counter() - t0, f"timeout after {timeout:.0f} s"
    seconds = time.perf_counter() - t0
    if p.returncode != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-3:]
        return False, seconds, f"exit {p.returncode}: " + " | ".join(tail)
    return True, seconds, ""


def export_world(args, sandbox: Path, preset: str, seed: int, world: Path) -> None:
    world.mkdir(parents=True, exist_ok=True)
    if (world / "truth.json").is_file() and (world / "business.csv").is_file():
        return
    ok, _, note = run_logged(
        [str(sandbox), "export", "--out", str(world), "--preset", preset, "--seed", str(seed),
         *(["--return-scale", str(args.return_scale)] if args.return_scale != 1.0 else [])],
        world / "export.log",
        args.timeout,
    )
    if not ok:
        raise RuntimeError(f"liftos-sandbox export {preset} seed {seed}: {note}")


def fit_liftos(args, liftos: Path, world: Path) -> dict:
    out = world / "liftos.json"
    cmd = [
        str(liftos), "analyze",
        "--input", str(world / "unified.csv"),
        "--business-outcome", str(world / "business.csv"),
        "--confidence", str(args.level),
        "--bootstrap", str(args.bootstrap),
        "--json", str(out),
    ]
    if args.peak_season:
        config = world / "calendar.toml"
        config.write_text(season_toml(parse_season(args.peak_season)))
        cmd += ["--calendar-config", str(config)]
    if out.exists():
        out.unlink()
    c0 = children_cpu()
    ok, seconds, note = run_logged(cmd, world / "liftos.log", args.timeout)
    cpu_seconds = children_cpu() - c0
    if not ok:
        return {"error": note, "seconds": seconds}
    j = json.loads(out.read_text())
    channels = {}
    for c in j["channels"]:
        channels[c["channel"]] = {
            "iroas": c["incremental_roas"],
            "lower": c["incremental_roas_ci_lower"],
            "upper": c["incremental_roas_ci_upper"],
        }
    return {"tool": "liftos", "seconds": seconds, "cpu_seconds": cpu_seconds, "channels": channels}


def fit_meridian(args, world: Path) -> dict:
    out = world / "meridian.json"
    if out.exists():
        out.unlink()
    cmd = [
        sys.executable, str(Path(__file__).resolve()),
        "--meridian-worker", str(world),
        "--meridian-spec", args.meridian_spec,
        "--knot-days", str(args.knot_days),
        *(["--peak-season", args.peak_season] if args.peak_season else []),
        "--chains", str(args.chains), "--adapt", str(args.adapt),
        "--burnin", str(args.burnin), "--keep", str(args.keep),
        "--level", str(args.level), "--fit-seed", str(args.fit_seed),
    ]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    ok, seconds, note = run_logged(cmd, world / "meridian.log", args.timeout, env)
    if not ok or not out.exists():
        return {"error": note or "no meridian.json written", "seconds": seconds}
    j = json.loads(out.read_text())
    j["process_seconds"] = seconds
    return j


def business_truth(t: dict) -> float:
    """A channel's business-level switch-off return (`incremental_roas` in a truth.json
    written before the sandbox reported carryover on days without a row)."""
    return t.get("business_incremental_roas", t["incremental_roas"])


def score(truth: dict, fit: dict) -> dict:
    """Per channel: estimate, interval, truth, abs % error (|iROAS| for a zero-effect channel),
    covers, significant (interval excludes 0)."""
    rows = {}
    if "channels" not in fit:
        return rows
    for t in truth["channels"]:
        name = t["channel"]
        e = fit["channels"].get(name)
        if e is None or e["iroas"] is None or e["lower"] is None or e["upper"] is None:
            continue
        true = business_truth(t)
        zero = bool(t["zero_effect"])
        rows[name] = {
            "truth": true,
            "zero_effect": zero,
            "iroas": e["iroas"],
            "lower": e["lower"],
            "upper": e["upper"],
            "error": abs(e["iroas"]) if zero else abs(e["iroas"] - true) / abs(true),
            "covers": e["lower"] <= true <= e["upper"],
            "significant": e["lower"] > 0 or e["upper"] < 0,
        }
    return rows


# ----------------------------------------------------------------------------- report

def fmt_interval(r: dict) -> str:
    return f"{r['iroas']:.2f} [{r['lower']:.2f}, {r['upper']:.2f}]"


def ok_values(results: list, tool: str, key: str) -> list:
    return [r["fits"][tool][key] for r in results
            if tool in r["fits"] and "error" not in r["fits"][tool] and r["fits"][tool].get(key) is not None]


def med(xs: list) -> str:
    return f"{statistics.median(xs):.1f}" if xs else "-"


def tables(results: list, tools: list, level: float) -> str:
    pct = f"{level:.0%}"
    lines = []
    presets = list(dict.fromkeys(r["preset"] for r in results))
    summary = []
    for preset in presets:
        rs = [r for r in results if r["preset"] == preset]
        lines.append(f"\n### {preset}\n")
        head = "| seed | channel | truth |" + "".join(f" {t} iROAS [{pct}] | {t} err |" for t in tools)
        lines.append(head)
        lines.append("|" + "---|" * (3 + 2 * len(tools)))
        for r in rs:
            for t in r["truth"]["channels"]:
                name = t["channel"]
                label = f"{name} (no effect)" if t["zero_effect"] else name
                cells = [str(r["seed"]), label, f"{business_truth(t):.2f}"]
                for tool in tools:
                    s = r["scores"].get(tool, {}).get(name)
                    if s is None:
                        err = r["fits"].get(tool, {}).get("error", "missing")
                        cells += [f"failed ({err[:40]})", ""]
                        continue
                    mark = "" if s["covers"] else " ✗"
                    if s["zero_effect"]:
                        err = f"{s['error']:.2f}" + (" sig." if s["significant"] else "")
                    else:
                        err = f"{s['error']:.0%}"
                    cells += [fmt_interval(s) + mark, err]
                lines.append("| " + " | ".join(cells) + " |")
        secs = {tool: ok_values(rs, tool, "seconds") for tool in tools}
        cpus = {tool: ok_values(rs, tool, "cpu_seconds") for tool in tools}
        lines.append("")
        lines.append("per fit, median wall / CPU seconds: " + ", ".join(
            f"{tool} {med(secs[tool])} / {med(cpus[tool])}" for tool in tools))
        for tool in tools:
            effect = [s for r in rs for s in r["scores"].get(tool, {}).values() if not s["zero_effect"]]
            zero = [s for r in rs for s in r["scores"].get(tool, {}).values() if s["zero_effect"]]
            summary.append({
                "preset": preset, "tool": tool,
                "mean_abs_error": statistics.mean(s["error"] for s in effect) if effect else None,
                "coverage": (sum(s["covers"] for s in effect), len(effect)),
                "zero_abs": statistics.mean(s["error"] for s in zero) if zero else None,
                "zero_covers": (sum(s["covers"] for s in zero), len(zero)),
                "zero_significant": (sum(s["significant"] for s in zero), len(zero)),
                "median_seconds": statistics.median(secs[tool]) if secs[tool] else None,
                "median_cpu_seconds": statistics.median(cpus[tool]) if cpus[tool] else None,
                "fits": len(secs[tool]),
            })
    lines.append("\n### Summary\n")
    lines.append(f"Effect channels: mean absolute % error of the switch-off iROAS and coverage of the {pct} "
                 "intervals; zero-effect channel: mean |iROAS|, and how often its interval excludes 0.\n")
    lines.append("| preset | tool | mean abs error | coverage | zero-effect mean abs iROAS | zero-effect significant | median wall s/fit | median CPU s/fit |")
    lines.append("|---|---|---|---|---|---|---|---|")
    for s in summary:
        f = lambda v, p=False: "-" if v is None else (f"{v:.0%}" if p else f"{v:.2f}")
        lines.append(
            f"| {s['preset']} | {s['tool']} | {f(s['mean_abs_error'], True)} | {s['coverage'][0]}/{s['coverage'][1]} | "
            f"{f(s['zero_abs'])} | {s['zero_significant'][0]}/{s['zero_significant'][1]} | "
            f"{med([s['median_seconds']] if s['median_seconds'] is not None else [])} | "
            f"{med([s['median_cpu_seconds']] if s['median_cpu_seconds'] is not None else [])} |")
    if len(tools) == 2:
        all_secs = {t: ok_values(results, t, "seconds") for t in tools}
        all_cpus = {t: ok_values(results, t, "cpu_seconds") for t in tools}
        for t in tools:
            effect = [s for r in results for s in r["scores"].get(t, {}).values() if not s["zero_effect"]]
            zero = [s for r in results for s in r["scores"].get(t, {}).values() if s["zero_effect"]]
            if effect:
                lines.append(
                    f"\nAll presets, {t}: mean abs error {statistics.mean(s['error'] for s in effect):.0%}, "
                    f"coverage {sum(s['covers'] for s in effect)}/{len(effect)}, zero-effect significant "
                    f"{sum(s['significant'] for s in zero)}/{len(zero)}, median {med(all_secs[t])} s wall, "
                    f"{med(all_cpus[t])} s CPU per fit")
        if all(all_secs[t] for t in tools):
            ratio = statistics.median(all_secs["meridian"]) / statistics.median(all_secs["liftos"])
            text = f"\nSpeed: Meridian's median fit takes {ratio:.1f}× LiftOS's wall time"
            if all(all_cpus[t] for t in tools):
                cratio = statistics.median(all_cpus["meridian"]) / statistics.median(all_cpus["liftos"])
                text += f", {cratio:.1f}× its CPU time"
            lines.append(text + ".")
    failed = [(r["preset"], r["seed"], t, f["error"]) for r in results for t, f in r["fits"].items() if "error" in f]
    for p, s, t, e in failed:
        lines.append(f"\nfailed: {p} seed {s} {t}: {e}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- main

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", default=DEFAULT_PRESETS, help=f"comma-separated (default {DEFAULT_PRESETS})")
    ap.add_argument("--seeds", type=int, default=3, help="seeds per preset (default 3)")
    ap.add_argument("--first-seed", type=int, default=1, help="first seed (default 1)")
    ap.add_argument("--liftos", help="the release `liftos` binary")
    ap.add_argument("--sandbox", help="the release `liftos-sandbox` binary")
    ap.add_argument("--bootstrap", type=int, default=199, help="LiftOS bootstrap replicates (default 199, its default)")
    ap.add_argument("--level", type=float, default=0.95, help="interval level of both tools (default 0.95)")
    ap.add_argument("--chains", type=int, default=2, help="Meridian NUTS chains (default 2)")
    ap.add_argument("--adapt", type=int, default=500, help="Meridian adaptation draws per chain (default 500)")
    ap.add_argument("--burnin", type=int, default=500, help="Meridian burn-in draws per chain (default 500)")
    ap.add_argument("--keep", type=int, default=1000, help="Meridian kept draws per chain (default 1000)")
    ap.add_argument("--meridian-spec", choices=["calendar", "default"], default="calendar",
                    help="calendar: weekday/holiday/event controls and a knot every --knot-days days (default); "
                         "default: Meridian's national default (no controls, one knot)")
    ap.add_argument("--knot-days", type=int, default=28, help="days between Meridian's knots (default 28)")
    ap.add_argument("--peak-season", metavar="MM-DD:MM-DD",
                    help="the business's own peak season, given to both tools: a Meridian control "
                         "and LiftOS's --calendar-config (replacing its default seasons); "
                         "the sandbox's demand is up from 11-15 to 12-24")
    ap.add_argument("--return-scale", type=float, default=1.0,
                    help="multiply every channel's true return by this (liftos-sandbox export --return-scale); "
                         "such worlds are kept in PRESET_SEED_xF directories of --out")
    ap.add_argument("--fit-seed", type=int, default=1, help="Meridian's sampling seed (default 1)")
    ap.add_argument("--timeout", type=float, default=900, help="seconds before a fit is stopped (default 900)")
    ap.add_argument("--only", choices=["liftos", "meridian"], help="run one side; reuse the other's results in --out")
    ap.add_argument("--out", type=Path, default=ROOT / "benches" / "out" / "business_vs_meridian")
    ap.add_argument("--meridian-worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if not 0 < args.level < 1:
        sys.exit("error: --level must be in (0, 1)")
    if args.meridian_worker:
        meridian_worker(args)
        return

    sandbox = find_binary("liftos-sandbox", args.sandbox)
    liftos = find_binary("liftos", args.liftos) if args.only != "meridian" else None
    if args.only != "liftos":
        try:
            import meridian  # noqa: F401
        except ImportError:
            sys.exit("error: Meridian is not installed in this Python: "
                     "python3 -m venv benches/.venv && benches/.venv/bin/pip install google-meridian")
    tools = ["liftos", "meridian"]
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    wall = time.perf_counter()
    # Seeds outside, presets inside: a run stopped early still has every preset.
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        for preset in args.presets.split(","):
            # Worlds are cached by name: a return scale gets its own directory.
            scale = "" if args.return_scale == 1.0 else f"_x{args.return_scale:g}"
            world = args.out / f"{preset}_{seed}{scale}"
            export_world(args, sandbox, preset, seed, world)
            truth = json.loads((world / "truth.json").read_text())
            fits = {}
            for tool in tools:
                cached = world / f"{tool}.result.json"
                if args.only and args.only != tool:
                    if cached.is_file():
                        fits[tool] = json.loads(cached.read_text())
                    continue
                fit = fit_liftos(args, liftos, world) if tool == "liftos" else fit_meridian(args, world)
                cached.write_text(json.dumps(fit, indent=2))
                fits[tool] = fit
                status = fit.get("error") or "ok"
                print(f"{preset} seed {seed} {tool}: {fit['seconds']:.1f} s, {status}", flush=True)
            results.append({
                "preset": preset, "seed": seed, "truth": truth, "fits": fits,
                "scores": {t: score(truth, f) for t, f in fits.items()},
            })
            write_report(args, results, tools, wall, final=False)
    write_report(args, results, tools, wall, final=True)


def write_report(args, results: list, tools: list, wall: float, final: bool) -> None:
    """results.md and results.json in --out (after every world, so a stopped run keeps them)."""
    order = {p: i for i, p in enumerate(args.presets.split(","))}
    results = sorted(results, key=lambda r: (order[r["preset"]], r["seed"]))
    used = [t for t in tools if any(t in r["fits"] for r in results)]
    text = tables(results, used, args.level)
    versions = {}
    if any("meridian" in r["fits"] for r in results):
        m = next(r["fits"]["meridian"] for r in results if "meridian" in r["fits"] and "version" in r["fits"]["meridian"]) \
            if any("version" in r["fits"].get("meridian", {}) for r in results) else {}
        versions["meridian"] = {k: m.get(k) for k in ("version", "spec", "knots", "controls", "sampling")}
        rh = [r["fits"]["meridian"].get("max_rhat") for r in results if r["fits"].get("meridian", {}).get("max_rhat")]
        if rh:
            text += f"\n\nMeridian max R-hat over all parameters, per fit: median {statistics.median(rh):.2f}, worst {max(rh):.2f}"
    header = (f"# LiftOS vs Meridian, business level\n\ncommand: {' '.join(sys.argv)}\n"
              f"level {args.level:.0%}; LiftOS bootstrap {args.bootstrap}; Meridian {json.dumps(versions.get('meridian'))}\n"
              f"total wall time {time.perf_counter() - wall:.0f} s{'' if final else ' (run in progress)'}\n")
    if final:
        print(header + text)
    (args.out / "results.md").write_text(header + text + "\n")
    (args.out / "results.json").write_text(json.dumps(
        {"command": sys.argv, "level": args.level, "bootstrap": args.bootstrap, "versions": versions,
         "results": results}, indent=2))
    if final:
        print(f"\nWrote {args.out / 'results.md'} and results.json")


if __name__ == "__main__":
    main()
