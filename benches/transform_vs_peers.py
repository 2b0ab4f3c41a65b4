#!/usr/bin/env python3
"""LiftOS vs polars, DuckDB and pandas: unify -> remove duplicates -> normalize campaign
names on raw platform exports, whole processes, same totals.

The data are transform_vs_pandas.py's raw Meta Ads, Google Ads and Klaviyo CSV exports
(imported from it: duplicates, restatements, bad dates, empty and negative spend, messy
campaign names). Each contender runs in its own process and ends with the same totals:

- LiftOS CLI: `liftos unify` -> `liftos clean --fix
  remove_duplicates,normalize_campaign_names` (two processes, Parquet between them), and
  the same with `liftos validate` between them (its report is work the others do not do);
- LiftOS SQL: the same work as one DataFusion query run by `liftos sql`;
- polars (lazy, one plan), DuckDB (one SQL query), pandas (eager).
- with --cluster: the `liftos sql` query on a `liftos cluster` of 1 and of 2 Ballista
  executors on this machine (a `liftos` built with the `distributed` feature, on by
  default), and, when liftos_cli runs, the CLI chain with `--cluster` (the executors read
  the input files; the steps run in the CLI's process).

What each contender produces (`--sink`): by default (`parquet`) every one writes the
cleaned table (date, channel, account, campaign ids and name, currency and the five
measures) as a Parquet file, which is what the CLI's commands produce, and the totals are
read from each file afterwards, outside the timed process. With `--sink totals` the peers
and `liftos sql` only compute the totals and write nothing, while the CLI's commands
still write their Parquet files and read the totals back (the comparison the README's
earlier rows used).

SQL has no row order, so the SQL versions keep the "latest pull" of a duplicated key as
the row with the largest revenue, then conversions (the generator's restatements only
raise them); polars and pandas keep the last row in file order, LiftOS its own rule. The
SQL versions do not NFKC-normalize names (DataFusion has no such function; the generated
names are ASCII). The totals check shows they all agree.

    python3 -m venv benches/.venv && benches/.venv/bin/pip install pandas polars duckdb numpy pyarrow
    cargo build --release --bin liftos
    benches/.venv/bin/python benches/transform_vs_peers.py --rows 3000000 [--rows 30000000] [--cluster] [--sink parquet|totals] [--only liftos_cli,polars,...] [--liftos target/release/liftos]

Wall time is the whole process (or processes) as seen from here; peak memory is the
largest resident set of any of the contender's processes (for a cluster run: the client's
plus the scheduler's and every executor's, added).
"""

import argparse
import json
import math
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import transform_vs_pandas as tvp  # noqa: E402  (the generator and name normalization)

ROOT = tvp.ROOT
TOTALS = ["rows_out", "campaigns", "impressions", "clicks", "spend", "revenue", "conversions"]

MAPPING = """# The benchmark's Klaviyo account reports in New York time.
[sources.klaviyo]
timezone = "America/New_York"
"""


# ----------------------------------------------------------------------------- SQL

def sql_query(dialect: str, meta: str, google: str, klaviyo: str, rows: bool = False) -> str:
    """The work as one query; `meta`, `google`, `klaviyo` are table expressions. With
    `rows`, the query gives the cleaned table's rows (to write), else its totals."""
    if dialect == "duckdb":
        meta_date = "try_strptime(date_start, '%Y-%m-%d')::DATE"
        klaviyo_date = ("(try_strptime(sent_at, '%Y-%m-%dT%H:%M:%SZ') AT TIME ZONE 'UTC' "
                        "AT TIME ZONE 'America/New_York')::DATE")
        num = "TRY_CAST({} AS DOUBLE)"
        norm = "lower(trim(regexp_replace({}, '\\s+', ' ', 'g')))"
        text = "CAST({} AS VARCHAR)"
    else:  # DataFusion
        meta_date = "try_cast(date_start AS DATE)"
        klaviyo_date = ("CAST(arrow_cast(arrow_cast(try_cast(sent_at AS TIMESTAMP), "
                        "'Timestamp(Nanosecond, Some(\"UTC\"))'), "
                        "'Timestamp(Nanosecond, Some(\"America/New_York\"))') AS DATE)")
        num = "try_cast({} AS DOUBLE)"
        norm = "lower(btrim(regexp_replace({}, '\\s+', ' ', 'g')))"
        text = "CAST({} AS VARCHAR)"
    return f"""
WITH u AS (
  SELECT {meta_date} AS date, 'meta' AS channel, {text.format('account_id')} AS account_id,
         {text.format('campaign_id')} AS campaign_id, campaign_name AS campaign,
         account_currency AS currency, {num.format('spend')} AS spend,
         impressions, clicks, CAST(conversions AS DOUBLE) AS conversions,
         CAST(conversion_values AS DOUBLE) AS revenue
  FROM {meta}
  UNION ALL
  SELECT {meta_date.replace('date_start', '"segments.date"')}, 'google_ads',
         {text.format('"customer.id"')}, {text.format('"campaign.id"')}, "campaign.name",
         "customer.currency_code", {num.format('"metrics.cost_micros"')} / 1e6,
         "metrics.impressions", "metrics.clicks", CAST("metrics.conversions" AS DOUBLE),
         CAST("metrics.conversions_value" AS DOUBLE)
  FROM {google}
  UNION ALL
  SELECT {klaviyo_date}, 'klaviyo', {text.format('account_id')},
         {text.format('campaign_id')}, campaign_name, currency, {num.format('spend')},
         recipients, clicks, CAST(placed_order_count AS DOUBLE), CAST(revenue AS DOUBLE)
  FROM {klaviyo}
), usable AS (
  SELECT * FROM u
  WHERE date IS NOT NULL AND channel IS NOT NULL AND campaign IS NOT NULL
    AND currency IS NOT NULL AND spend IS NOT NULL AND impressions IS NOT NULL
    AND clicks IS NOT NULL AND conversions IS NOT NULL AND revenue IS NOT NULL
    AND spend >= 0 AND conversions >= 0 AND revenue >= 0 AND impressions >= 0
    AND clicks >= 0 AND spend < CAST('inf' AS DOUBLE)
    AND conversions < CAST('inf' AS DOUBLE) AND revenue < CAST('inf' AS DOUBLE)
    AND trim(campaign) <> '' AND trim(currency) <> ''
), latest AS (
  SELECT *, row_number() OVER (PARTITION BY date, channel, account_id, campaign_id
                               ORDER BY revenue DESC, conversions DESC) AS pull
  FROM usable
), clean AS (
  SELECT date, channel, account_id, campaign_id, {norm.format('campaign')} AS campaign,
         currency, spend, impressions, clicks, conversions, revenue
  FROM latest WHERE pull = 1
)
""" + ("SELECT * FROM clean" if rows else """SELECT count(*) AS rows_out, count(DISTINCT campaign) AS campaigns,
       sum(impressions) AS impressions, sum(clicks) AS clicks, sum(spend) AS spend,
       sum(revenue) AS revenue, sum(conversions) AS conversions
FROM clean
""")


# ----------------------------------------------------------------------------- workers

def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def parquet_totals(path: Path) -> dict:
    """The totals of a cleaned table written as Parquet (read after the timed run)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    table = pq.read_table(path, columns=["campaign", "spend", "impressions", "clicks",
                                         "conversions", "revenue"])
    total = lambda col: pc.sum(table[col]).as_py()  # noqa: E731
    return {"rows_out": table.num_rows,
            "campaigns": len(pc.unique(table["campaign"])),
            "impressions": int(total("impressions")), "clicks": int(total("clicks")),
            "spend": float(total("spend")), "revenue": float(total("revenue")),
            "conversions": float(total("conversions"))}


def polars_worker(d: Path, out: Path | None) -> dict:
    import polars as pl

    text = {"spend": pl.Utf8, "account_id": pl.Utf8, "campaign_id": pl.Utf8}
    meta = pl.scan_csv(d / "meta.csv", schema_overrides={**text, "date_start": pl.Utf8})
    google = pl.scan_csv(d / "google_ads.csv", schema_overrides={
        "customer.id": pl.Utf8, "campaign.id": pl.Utf8, "segments.date": pl.Utf8,
        "metrics.cost_micros": pl.Utf8})
    klaviyo = pl.scan_csv(d / "klaviyo.csv", schema_overrides={**text, "sent_at": pl.Utf8})
    num = lambda c: pl.col(c).cast(pl.Float64, strict=False)  # noqa: E731
    day = lambda c: pl.col(c).str.to_date("%Y-%m-%d", strict=False)  # noqa: E731
    f64 = lambda c: pl.col(c).cast(pl.Float64)  # noqa: E731
    i64 = lambda c: pl.col(c).cast(pl.Int64)  # noqa: E731
    u = pl.concat([
        meta.select(date=day("date_start"), channel=pl.lit("meta"), account_id="account_id",
                    campaign_id="campaign_id", campaign="campaign_name",
                    currency="account_currency", spend=num("spend"),
                    impressions=i64("impressions"), clicks=i64("clicks"),
                    conversions=f64("conversions"), revenue=f64("conversion_values")),
        google.select(date=day("segments.date"), channel=pl.lit("google_ads"),
                      account_id="customer.id", campaign_id="campaign.id",
                      campaign="campaign.name", currency="customer.currency_code",
                      spend=num("metrics.cost_micros") / 1e6,
                      impressions=i64("metrics.impressions"), clicks=i64("metrics.clicks"),
                      conversions=f64("metrics.conversions"),
                      revenue=f64("metrics.conversions_value")),
        klaviyo.select(date=pl.col("sent_at").str.to_datetime(
                           "%Y-%m-%dT%H:%M:%SZ", time_zone="UTC", strict=False)
                       .dt.convert_time_zone("America/New_York").dt.date(),
                       channel=pl.lit("klaviyo"), account_id="account_id",
                       campaign_id="campaign_id", campaign="campaign_name",
                       currency="currency", spend=num("spend"),
                       impressions=i64("recipients"), clicks=i64("clicks"),
                       conversions=f64("placed_order_count"), revenue=f64("revenue")),
    ])
    money = ["spend", "conversions", "revenue"]
    usable = (pl.all_horizontal(pl.all().is_not_null())
              & pl.all_horizontal([pl.col(c) >= 0 for c in money + ["impressions", "clicks"]])
              & pl.all_horizontal([pl.col(c).is_finite() for c in money])
              & (pl.col("campaign").str.strip_chars() != "")
              & (pl.col("currency").str.strip_chars() != ""))
    clean = (u.filter(usable)
             .unique(subset=["date", "channel", "account_id", "campaign_id"], keep="last",
                     maintain_order=True)
             .with_columns(campaign=pl.col("campaign").str.normalize("NFKC")
                           .str.replace_all(r"\s+", " ").str.strip_chars().str.to_lowercase()))
    if out:
        clean.sink_parquet(out)
        return {"peak_mib": peak_mib()}
    totals = clean.select(
        rows_out=pl.len(), campaigns=pl.col("campaign").n_unique(),
        impressions=pl.col("impressions").sum(), clicks=pl.col("clicks").sum(),
        spend=pl.col("spend").sum(), revenue=pl.col("revenue").sum(),
        conversions=pl.col("conversions").sum()).collect().to_dicts()[0]
    return {**totals, "peak_mib": peak_mib()}


def duckdb_worker(d: Path, out: Path | None) -> dict:
    import duckdb

    def scan(name, types):
        cols = ", ".join(f"'{c}': '{t}'" for c, t in types.items())
        return f"read_csv('{d / name}', header=true, types={{{cols}}})"
    query = sql_query(
        "duckdb",
        scan("meta.csv", {"date_start": "VARCHAR", "spend": "VARCHAR", "account_id": "VARCHAR",
                          "campaign_id": "VARCHAR"}),
        scan("google_ads.csv", {"segments.date": "VARCHAR", "metrics.cost_micros": "VARCHAR",
                                "customer.id": "VARCHAR", "campaign.id": "VARCHAR"}),
        scan("klaviyo.csv", {"sent_at": "VARCHAR", "spend": "VARCHAR", "account_id": "VARCHAR",
                             "campaign_id": "VARCHAR"}),
        rows=out is not None,
    )
    con = duckdb.connect()
    if out:
        con.execute(f"COPY ({query}) TO '{out}' (FORMAT parquet)")
        return {"peak_mib": peak_mib()}
    row = con.execute(query).fetchone()
    names = [c[0] for c in con.description]
    return {**dict(zip(names, row)), "peak_mib": peak_mib()}


def pandas_worker(d: Path, out: Path | None) -> dict:
    import numpy as np
    import pandas as pd

    meta = pd.read_csv(d / "meta.csv", dtype={"account_id": str, "campaign_id": str})
    google = pd.read_csv(d / "google_ads.csv", dtype={"customer.id": str, "campaign.id": str})
    klaviyo = pd.read_csv(d / "klaviyo.csv", dtype={"account_id": str, "campaign_id": str})
    num = lambda s: pd.to_numeric(s, errors="coerce")  # noqa: E731
    day = lambda s: pd.to_datetime(s, format="%Y-%m-%d", errors="coerce")  # noqa: E731
    sent = pd.to_datetime(klaviyo["sent_at"], utc=True, errors="coerce", format="ISO8601")
    u = pd.concat([
        pd.DataFrame({"date": day(meta["date_start"]), "channel": "meta",
                      "account_id": meta["account_id"], "campaign_id": meta["campaign_id"],
                      "campaign": meta["campaign_name"], "currency": meta["account_currency"],
                      "spend": num(meta["spend"]), "impressions": meta["impressions"],
                      "clicks": meta["clicks"], "conversions": meta["conversions"],
                      "revenue": meta["conversion_values"]}),
        pd.DataFrame({"date": day(google["segments.date"]), "channel": "google_ads",
                      "account_id": google["customer.id"], "campaign_id": google["campaign.id"],
                      "campaign": google["campaign.name"],
                      "currency": google["customer.currency_code"],
                      "spend": num(google["metrics.cost_micros"]) / 1e6,
                      "impressions": google["metrics.impressions"],
                      "clicks": google["metrics.clicks"],
                      "conversions": google["metrics.conversions"],
                      "revenue": google["metrics.conversions_value"]}),
        pd.DataFrame({"date": sent.dt.tz_convert("America/New_York").dt.tz_localize(None)
                      .dt.normalize(), "channel": "klaviyo",
                      "account_id": klaviyo["account_id"], "campaign_id": klaviyo["campaign_id"],
                      "campaign": klaviyo["campaign_name"], "currency": klaviyo["currency"],
                      "spend": num(klaviyo["spend"]), "impressions": klaviyo["recipients"],
                      "clicks": klaviyo["clicks"], "conversions": klaviyo["placed_order_count"],
                      "revenue": klaviyo["revenue"]}),
    ], ignore_index=True)
    u = u[~u.isna().any(axis=1)]
    money = u[["spend", "conversions", "revenue"]]
    usable = np.isfinite(money).all(axis=1) & (money >= 0).all(axis=1) \
        & (u[["impressions", "clicks"]] >= 0).all(axis=1) \
        & (u["campaign"].str.strip() != "") & (u["currency"].str.strip() != "")
    u = u[usable].drop_duplicates(subset=["date", "channel", "account_id", "campaign_id"],
                                  keep="last")
    uniques = u["campaign"].unique()
    campaign = u["campaign"].map(dict(zip(uniques, map(tvp.normalize_name, uniques))))
    if out:
        u.assign(campaign=campaign).to_parquet(out, index=False)
        return {"peak_mib": peak_mib()}
    return {"rows_out": len(u), "campaigns": int(campaign.nunique()),
            "impressions": int(u["impressions"].sum()), "clicks": int(u["clicks"].sum()),
            "spend": float(u["spend"].sum()), "revenue": float(u["revenue"].sum()),
            "conversions": float(u["conversions"].sum()), "peak_mib": peak_mib()}


def liftos_cli_worker(liftos: str, d: Path, cluster: str | None = None,
                      validate: bool = False, out: Path | None = None) -> dict:
    """unify -> [validate ->] clean, Parquet between the processes. With `out`, the
    cleaned table is written there and the driver reads its totals afterwards; without,
    the totals are read here from the cleaned file (inside the timed process, as the
    other contenders compute theirs). With `cluster`, each command has the cluster's
    executors read its input files (`--cluster`)."""
    (d / "mapping.toml").write_text(MAPPING)
    u, c = d / "unified.parquet", out or d / "clean.parquet"
    steps = [
        [liftos, "unify", "--input", f"meta={d / 'meta.csv'}",
         "--input", f"google_ads={d / 'google_ads.csv'}",
         "--input", f"klaviyo={d / 'klaviyo.csv'}", "--mapping", str(d / "mapping.toml"),
         "--out", str(u)],
        [liftos, "validate", "--input", str(u)],
        [liftos, "clean", "--input", str(u), "--fix",
         "remove_duplicates,normalize_campaign_names", "--out", str(c)],
    ]
    if not validate:
        steps.pop(1)
    if cluster:
        steps = [step + ["--cluster", cluster] for step in steps]
    t = time.perf_counter()
    for step in steps:
        subprocess.run(step, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    if out:
        return {"peak_mib": peak, "inner_wall": wall}
    return {**parquet_totals(c), "peak_mib": peak, "inner_wall": wall}


def liftos_sql_args(liftos: str, d: Path, out: Path | None = None) -> list[str]:
    args = [liftos, "sql", "--input", f"meta={d / 'meta.csv'}",
            "--input", f"google={d / 'google_ads.csv'}",
            "--input", f"klaviyo={d / 'klaviyo.csv'}",
            sql_query("datafusion", "meta", "google", "klaviyo", rows=out is not None)]
    if out:
        args += ["--out", str(out), "--show", "0"]
    return args


def liftos_sql_worker(liftos: str, d: Path, cluster: str | None,
                      out: Path | None = None) -> dict:
    args = liftos_sql_args(liftos, d, out)
    if cluster:
        args += ["--cluster", cluster]
    text = subprocess.run(args, check=True, stdout=subprocess.PIPE, text=True).stdout
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    if out:
        return {"peak_mib": peak}
    lines = [l for l in text.splitlines() if l.startswith("|")]
    names = [c.strip() for c in lines[0].strip("|").split("|")]
    values = [c.strip() for c in lines[1].strip("|").split("|")]
    result = {}
    for n, v in zip(names, values):
        result[n] = float(v) if any(ch in v for ch in ".eE") else int(v)
    result["peak_mib"] = peak
    return result


# ----------------------------------------------------------------------------- driver

def run_worker(kind: str, d: Path, liftos: str, cluster: str | None = None,
               out: Path | None = None) -> tuple[dict, float]:
    """Runs one contender in its own process; with `out`, it writes the cleaned table there
    and its totals are read from that file afterwards (not timed)."""
    cmd = [sys.executable, __file__, "--worker", kind, "--data", str(d), "--liftos", liftos]
    if cluster:
        cmd += ["--cluster-url", cluster]
    if out:
        out.unlink(missing_ok=True)
        cmd += ["--out", str(out)]
    t = time.perf_counter()
    proc = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if out:
        result.update(parquet_totals(out))
    return result, wall


def vm_hwm_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (from /proc/PID/task/*/children)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                pass
    return out


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_cluster(liftos: str, executors: int) -> tuple[subprocess.Popen, str]:
    # `liftos cluster` takes a fixed port (1-65535); a free one is picked here.
    proc = subprocess.Popen([liftos, "cluster", "--executors", str(executors), "--port",
                             str(free_port())],
                            stdout=subprocess.PIPE, text=True)
    for line in proc.stdout:
        if "ready" in line:
            url = next(w for w in line.split() if w.startswith("df://")).rstrip(";,.")
            return proc, url
    raise SystemExit(f"liftos cluster --executors {executors} ended without a ready line")


def compare(name: str, a: dict, ref: dict) -> list[str]:
    problems = []
    for k in TOTALS:
        x, y = a[k], ref[k]
        same = math.isclose(x, y, rel_tol=1e-9) if isinstance(y, float) else x == y
        if not same:
            problems.append(f"{name} {k}: {x!r} != {y!r}")
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, action="append", help="total raw rows (repeatable)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--keep", type=Path, help="write the data here instead of a temp dir")
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    ap.add_argument("--liftos", default=str(target / "release/liftos"),
                    help="the liftos binary (a release build; default: "
                         "$CARGO_TARGET_DIR/release/liftos)")
    ap.add_argument("--cluster", action="store_true",
                    help="also run the liftos sql query on 1 and 2 local Ballista executors")
    ap.add_argument("--only", help="comma-separated contenders to run (default: all)")
    ap.add_argument("--sink", choices=["parquet", "totals"], default="parquet",
                    help="parquet (default): every contender writes the cleaned table as "
                         "Parquet, as LiftOS's commands do, and the totals are read from "
                         "the files afterwards; totals: the peers only compute the totals "
                         "(LiftOS's commands still write their files)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--cluster-url", help=argparse.SUPPRESS)
    args = ap.parse_args()
    liftos = args.liftos
    if args.worker:
        d, out = args.data, args.out
        result = {
            "polars": lambda: polars_worker(d, out),
            "duckdb": lambda: duckdb_worker(d, out),
            "pandas": lambda: pandas_worker(d, out),
            "liftos_cli": lambda: liftos_cli_worker(liftos, d, args.cluster_url, False, out),
            "liftos_cli_validate": lambda: liftos_cli_worker(liftos, d, args.cluster_url,
                                                             True, out),
            "liftos_sql": lambda: liftos_sql_worker(liftos, d, args.cluster_url, out),
        }[args.worker]()
        print(json.dumps(result))
        return
    if not Path(liftos).is_file():
        raise SystemExit(f"{liftos}: no liftos binary; cargo build --release --bin liftos")

    contenders = ["liftos_sql", "liftos_cli", "liftos_cli_validate", "polars", "duckdb",
                  "pandas"]
    if args.only:
        contenders = [c for c in contenders if c in args.only.split(",")]
    labels = {"liftos_sql": "LiftOS `liftos sql` (one query)",
              "liftos_cli": "LiftOS CLI unify -> clean",
              "liftos_cli_validate": "LiftOS CLI unify -> validate -> clean",
              "polars": "polars (lazy)", "duckdb": "DuckDB (SQL)", "pandas": "pandas"}
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"{os.cpu_count()} CPUs; load average {load} (1, 5, 15 min) before the runs; {liftos}")
    print("every contender writes the cleaned table as Parquet" if args.sink == "parquet"
          else "the peers compute the totals only; LiftOS's commands write their files")
    failed = False
    for rows in args.rows or [3_000_000]:
        with tempfile.TemporaryDirectory() as tmp:
            d = args.keep / str(rows) if args.keep else Path(tmp)
            d.mkdir(parents=True, exist_ok=True)
            t = time.perf_counter()
            if not (d / "klaviyo.csv").exists():
                counts = tvp.generate(d, rows, args.seed)
            else:
                counts = {"reused": str(d)}
            size = sum((d / f).stat().st_size for f in ["meta.csv", "google_ads.csv",
                                                        "klaviyo.csv"]) / 2**30
            print(f"\n== {rows:,} raw rows requested ({counts}), {size:.2f} GiB of CSV; "
                  f"generated in {time.perf_counter() - t:.1f}s")
            results = {}
            sink = (lambda name: d / f"out_{name}.parquet") if args.sink == "parquet" \
                else (lambda name: None)
            for c in contenders:
                results[labels[c]] = run_worker(c, d, liftos, out=sink(c))
            if args.cluster:
                for n in [1, 2]:
                    proc, url = start_cluster(liftos, n)
                    try:
                        kinds = [("liftos_sql", "`liftos sql --cluster`")]
                        if "liftos_cli" in contenders:
                            kinds.append(("liftos_cli", "CLI unify -> clean --cluster"))
                        for kind, label in kinds:
                            r, wall = run_worker(kind, d, liftos, url,
                                                 out=sink(f"{kind}_cluster{n}"))
                            # The cluster's parts' peaks so far (the scheduler and the
                            # executors live through both contenders).
                            r["peak_mib"] += sum(vm_hwm_mib(p) for p in process_tree(proc.pid))
                            results[f"LiftOS {label}, {n} executor(s)"] = (r, wall)
                    finally:
                        proc.send_signal(signal.SIGTERM)
                        try:
                            proc.wait(timeout=30)
                        except subprocess.TimeoutExpired:
                            proc.kill()
            ref_name = next(iter(results))
            ref = results[ref_name][0]
            problems = [p for name, (r, _) in results.items() for p in compare(name, r, ref)]
            base_wall, base_mem = results[ref_name][1], ref["peak_mib"]
            print(f"load average now {os.getloadavg()[0]:.2f}; ratios are to {ref_name}")
            print(f"| tool | wall s | peak MiB | wall ratio | memory ratio |")
            print(f"|---|---:|---:|---:|---:|")
            for name, (r, wall) in results.items():
                print(f"| {name} | {wall:.2f} | {r['peak_mib']:.0f} | "
                      f"{wall / base_wall:.2f}x | {r['peak_mib'] / base_mem:.2f}x |")
            print("totals: " + ", ".join(f"{k}={ref[k]:,}" if isinstance(ref[k], int)
                                          else f"{k}={ref[k]:.2f}" for k in TOTALS))
            if problems:
                print("MISMATCH:\n  " + "\n  ".join(problems))
                failed = True
            else:
                print("every contender gives the same totals")
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
