#!/usr/bin/env python3
"""LiftOS transform vs pandas: unify -> validate -> clean on raw platform exports.

Generates raw CSV exports for Meta Ads, Google Ads and Klaviyo (the connectors' column
names; duplicates, restatements, gaps, EUR accounts with a few missing rates, messy
campaign names, bad dates, empty and negative spend, spikes), then runs the same steps
in LiftOS (the `transform_pipeline` example of liftos-transform, release build) and in
pandas (written the way a pandas user would), each in its own process. It checks that
both produce the same totals and prints wall time, peak memory and the ratios.

    python3 -m venv benches/.venv && benches/.venv/bin/pip install pandas
    benches/.venv/bin/python benches/transform_vs_pandas.py --rows 1000000 [--rows 10000000] [--repeat 5]

Data go to a temporary directory (or --keep DIR). Seeded: the same --seed gives the same
files. With --repeat N each side runs N times (alternating) and the medians are shown:
on a shared machine single runs vary by 10-20%.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DAYS = 366  # 2024
TODAY = "2024-12-31"
MISSING_EUR_RATES = ["2024-02-29", "2024-07-04", "2024-11-28"]


# ----------------------------------------------------------------------------- data

def generate(out: Path, rows: int, seed: int) -> dict:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    dates = pd.date_range("2024-01-01", periods=DAYS, freq="D")
    date_text = np.array(dates.strftime("%Y-%m-%d"))

    def skeleton(n_target):
        n_camp = max(1, round(n_target / (DAYS * 0.98)))
        camp = np.repeat(np.arange(n_camp), DAYS)
        day = np.tile(np.arange(DAYS), n_camp)
        keep = rng.random(camp.size) > 0.02  # ~2% of days missing: gaps to fill
        return camp[keep], day[keep]

    def names(camp):
        base = pd.Series(camp).astype(str)
        clean = "Campaign " + base + " Summer Sale"
        messy = "  campaign " + base + "   SUMMER  sale "
        return np.where(rng.random(camp.size) < 0.1, messy, clean)

    def metrics(n):
        imp = rng.integers(200, 20_000, n)
        clicks = (imp * rng.uniform(0.005, 0.05, n)).astype(np.int64)
        spend = np.round(imp * rng.uniform(0.002, 0.02, n), 2)
        spend = np.where(rng.random(n) < 0.001, np.round(spend * 25, 2), spend)  # spikes
        conv = np.round(clicks * rng.uniform(0.0, 0.1, n), 2)
        value = np.round(conv * rng.uniform(20, 80, n), 2)
        clicks = np.where(rng.random(n) < 0.0005, imp + 5, clicks)  # impossible clicks
        return imp, clicks, spend, conv, value

    def messy_rows(df, date_col, spend_col, restate):
        n = len(df)
        bad_date = rng.random(n) < 0.0005
        df.loc[bad_date, date_col] = "n/a"
        neg = rng.random(n) < 0.0005
        df.loc[neg, spend_col] = -df.loc[neg, spend_col]
        empty = rng.random(n) < 0.0005
        df[spend_col] = df[spend_col].astype(object)
        df.loc[empty, spend_col] = ""
        dup = df.sample(frac=0.005, random_state=int(rng.integers(1 << 31)))
        restated = restate(df.sample(frac=0.005, random_state=int(rng.integers(1 << 31))).copy())
        return pd.concat([df, dup, restated], ignore_index=True)

    shares = {"meta": 0.45, "google_ads": 0.45, "klaviyo": 0.10}
    counts = {}

    def draw(source):
        """The source's share of the rows: campaigns, days and their metrics."""
        camp, day = skeleton(rows * shares[source])
        return (camp, day, *metrics(camp.size))

    def write(source, df, date_col, spend_col, restate):
        """The source's export made messy, written as `<source>.csv`."""
        df = messy_rows(df, date_col, spend_col, restate)
        df.to_csv(out / f"{source}.csv", index=False)
        counts[source] = len(df)

    camp, day, imp, clicks, spend, conv, value = draw("meta")
    account = camp // 10
    meta = pd.DataFrame({
        "date_start": date_text[day],
        "account_id": "act_" + pd.Series(account).astype(str),
        "account_currency": np.where(account % 4 == 0, "EUR", "USD"),
        "campaign_id": "m" + pd.Series(camp).astype(str),
        "campaign_name": names(camp),
        "spend": spend, "impressions": imp, "clicks": clicks,
        "conversions": conv, "conversion_values": value,
    })

    def restate_meta(r):
        r["conversions"] = r["conversions"] + 1
        r["conversion_values"] = r["conversion_values"] + 10
        return r
    write("meta", meta, "date_start", "spend", restate_meta)

    camp, day, imp, clicks, spend, conv, value = draw("google_ads")
    google = pd.DataFrame({
        "segments.date": date_text[day],
        "customer.id": (1_000_000_000 + camp // 10).astype(str),
        "customer.currency_code": "USD",
        "campaign.id": (5_000_000 + camp).astype(str),
        "campaign.name": names(camp),
        "metrics.cost_micros": np.round(spend * 1e6).astype(np.int64),
        "metrics.impressions": imp, "metrics.clicks": clicks,
        "metrics.conversions": conv, "metrics.conversions_value": value,
    })

    def restate_google(r):
        r["metrics.conversions"] = r["metrics.conversions"] + 1
        return r
    write("google_ads", google, "segments.date", "metrics.cost_micros", restate_google)

    camp, day, imp, clicks, spend, conv, value = draw("klaviyo")
    hour = rng.integers(12, 24, camp.size)
    minute = rng.integers(0, 60, camp.size)
    sent = pd.Series(date_text[day]) + "T" + pd.Series(hour).map("{:02d}".format) + ":" \
        + pd.Series(minute).map("{:02d}".format) + ":00Z"
    klaviyo = pd.DataFrame({
        "sent_at": sent,
        "account_id": "kl_" + pd.Series(camp // 50).astype(str),
        "campaign_id": "k" + pd.Series(camp).astype(str),
        "campaign_name": names(camp),
        "currency": "USD",
        "recipients": imp, "clicks": clicks, "placed_order_count": conv,
        "revenue": value, "spend": np.round(imp * 0.001, 3),
    })

    def restate_klaviyo(r):
        r["revenue"] = r["revenue"] + 5
        return r
    write("klaviyo", klaviyo, "sent_at", "spend", restate_klaviyo)

    rates = []
    for d in date_text:
        if d not in MISSING_EUR_RATES:
            rates.append((d, "EUR", round(1.05 + 0.05 * rng.random(), 4)))
        rates.append((d, "GBP", round(1.25 + 0.05 * rng.random(), 4)))
    pd.DataFrame(rates, columns=["date", "currency", "rate"]).to_csv(out / "rates.csv", index=False)
    return counts


# ----------------------------------------------------------------------------- pandas

def normalize_name(name: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", name).split()).lower()


def pandas_pipeline(d: Path) -> dict:
    import numpy as np
    import pandas as pd

    times = {}
    start = t = time.perf_counter()
    meta = pd.read_csv(d / "meta.csv", dtype={"account_id": str, "campaign_id": str})
    google = pd.read_csv(d / "google_ads.csv", dtype={"customer.id": str, "campaign.id": str})
    klaviyo = pd.read_csv(d / "klaviyo.csv", dtype={"account_id": str, "campaign_id": str})
    rates = pd.read_csv(d / "rates.csv", parse_dates=["date"])
    times["1_read"] = time.perf_counter() - t

    # unify
    t = time.perf_counter()
    num = lambda s: pd.to_numeric(s, errors="coerce")
    m = pd.DataFrame({
        "date": pd.to_datetime(meta["date_start"], format="%Y-%m-%d", errors="coerce"),
        "channel": "meta", "account_id": meta["account_id"], "campaign_id": meta["campaign_id"],
        "campaign": meta["campaign_name"], "currency": meta["account_currency"],
        "spend": num(meta["spend"]), "impressions": meta["impressions"], "clicks": meta["clicks"],
        "conversions": meta["conversions"], "revenue": meta["conversion_values"],
    })
    g = pd.DataFrame({
        "date": pd.to_datetime(google["segments.date"], format="%Y-%m-%d", errors="coerce"),
        "channel": "google_ads", "account_id": google["customer.id"],
        "campaign_id": google["campaign.id"], "campaign": google["campaign.name"],
        "currency": google["customer.currency_code"],
        "spend": num(google["metrics.cost_micros"]) / 1e6,
        "impressions": google["metrics.impressions"], "clicks": google["metrics.clicks"],
        "conversions": google["metrics.conversions"], "revenue": google["metrics.conversions_value"],
    })
    sent = pd.to_datetime(klaviyo["sent_at"], utc=True, errors="coerce", format="ISO8601")
    k = pd.DataFrame({
        "date": sent.dt.tz_convert("America/New_York").dt.tz_localize(None).dt.normalize(),
        "channel": "klaviyo", "account_id": klaviyo["account_id"],
        "campaign_id": klaviyo["campaign_id"], "campaign": klaviyo["campaign_name"],
        "currency": klaviyo["currency"], "spend": num(klaviyo["spend"]),
        "impressions": klaviyo["recipients"], "clicks": klaviyo["clicks"],
        "conversions": klaviyo["placed_order_count"], "revenue": klaviyo["revenue"],
    })
    u = pd.concat([m, g, k], ignore_index=True)
    required = ["date", "channel", "campaign", "currency", "spend", "impressions", "clicks",
                "conversions", "revenue"]
    bad = u[required].isna().any(axis=1)
    unify_quarantined = int(bad.sum())
    u = u[~bad].reset_index(drop=True)
    u["impressions"] = u["impressions"].astype("int64")
    u["clicks"] = u["clicks"].astype("int64")
    times["2_unify"] = time.perf_counter() - t

    # validate
    t = time.perf_counter()
    key = ["channel", "account_id", "campaign_id"]
    issues = {
        "clicks_exceed_impressions:clicks": int((u["clicks"] > u["impressions"]).sum()),
        "spend_without_impressions:spend": int(((u["spend"] > 0) & (u["impressions"] == 0)).sum()),
        "revenue_without_conversions:revenue": int(((u["revenue"] > 0) & (u["conversions"] == 0)).sum()),
        "future_dates:date": int((u["date"] > pd.Timestamp(TODAY)).sum()),
        "duplicate_keys": int(u.duplicated(subset=["date"] + key).sum()),
        "missing_currency:currency": int((u["currency"].isna() | (u["currency"].str.strip() == "")).sum()),
    }
    for c in ["spend", "conversions", "revenue", "impressions", "clicks"]:
        issues[f"negative_values:{c}"] = int((u[c] < 0).sum())
    for c in ["spend", "conversions", "revenue"]:
        issues[f"non_finite_values:{c}"] = int((~np.isfinite(u[c])).sum())
    grouped = u.groupby(key, sort=False)
    span = grouped["date"].agg(["min", "max", "nunique"])
    issues["date_gaps:date"] = int(((span["max"] - span["min"]).dt.days + 1 - span["nunique"]).sum())
    med = grouped["spend"].transform("median")
    absdev = (u["spend"] - med).abs()
    dev_groups = absdev.groupby([u[c] for c in key], sort=False)
    mad = dev_groups.transform("median")
    mean_ad = dev_groups.transform("mean")
    size = grouped["spend"].transform("size")
    scale = np.where(mad > 0, mad / 0.6745, np.where(mean_ad > 0, 1.253314 * mean_ad, np.nan))
    z = (u["spend"] - med) / scale
    issues["spend_spike:spend"] = int(((z > 3.5) & (size >= 7)).sum())
    accounts = u.groupby(["channel", "account_id"], sort=False)["currency"].transform("nunique")
    issues["mixed_currency:currency"] = int((accounts > 1).sum())
    issues = {k_: v for k_, v in issues.items() if v}
    times["3_validate"] = time.perf_counter() - t

    # clean
    t = time.perf_counter()
    money = u[["spend", "conversions", "revenue"]]
    counts = u[["impressions", "clicks"]]
    unusable = (~np.isfinite(money).all(axis=1)) | (money < 0).any(axis=1) | (counts < 0).any(axis=1) \
        | (u["campaign"].str.strip() == "") | (u["currency"].str.strip() == "")
    quarantined = int(unusable.sum())
    held = [u.loc[unusable, key + ["date"]]]  # quarantined rows: their days are not filled
    u = u[~unusable]
    # Duplicate keys (no `_pulled_at` in these exports): the last row in load order is
    # kept; a row equal in every value to it or to an earlier removed row is dropped, any
    # other goes to quarantine (which of two differing rows is right is not known).
    every_value = ["date"] + key + ["campaign", "currency", "spend", "impressions", "clicks",
                                    "conversions", "revenue"]
    last = ~u.duplicated(subset=["date"] + key, keep="last")
    rest = u[~last]
    same_as_kept = rest.merge(u.loc[last, every_value], on=every_value, how="left",
                              indicator=True)["_merge"].eq("both").to_numpy()
    seen_before = rest.duplicated(subset=every_value, keep="first").to_numpy()
    conflicting = rest[~(same_as_kept | seen_before)]
    quarantined += len(conflicting)
    held.append(conflicting[key + ["date"]])
    dropped = len(rest) - len(conflicting)
    u = u[last].copy()
    u["campaign_original"] = u["campaign"]
    uniques = u["campaign"].unique()
    u["campaign"] = u["campaign"].map(dict(zip(uniques, map(normalize_name, uniques))))
    u = u.merge(rates, on=["date", "currency"], how="left")
    reporting = u["currency"] == "USD"
    no_rate = ~reporting & u["rate"].isna()
    quarantined += int(no_rate.sum())
    held.append(u.loc[no_rate, key + ["date"]])
    u = u[~no_rate]
    rate = u["rate"].where(~reporting, 1.0)
    u["spend"] = u["spend"] * rate
    u["revenue"] = u["revenue"] * rate
    u["currency"] = "USD"
    u = u.drop(columns="rate")
    spans = u.groupby(key, sort=False).agg(start=("date", "min"), end=("date", "max"),
                                           campaign=("campaign", "last")).reset_index()
    length = (spans["end"] - spans["start"]).dt.days + 1
    full = spans.loc[spans.index.repeat(length)].reset_index(drop=True)
    offset = full.groupby(key, sort=False).cumcount()
    full["date"] = full["start"] + pd.to_timedelta(offset, unit="D")
    merged = full[key + ["date", "campaign"]].merge(
        u[key + ["date"]], on=key + ["date"], how="left", indicator=True)
    fill = merged[merged["_merge"] == "left_only"].drop(columns="_merge")
    held = pd.concat(held, ignore_index=True).drop_duplicates()
    fill = fill.merge(held, on=key + ["date"], how="left", indicator=True)
    fill = fill[fill["_merge"] == "left_only"].drop(columns="_merge")
    fill = fill.assign(currency="USD", spend=0.0, impressions=0, clicks=0, conversions=0.0,
                       revenue=0.0, filled=True)
    u["filled"] = False
    out = pd.concat([u, fill], ignore_index=True)
    times["4_clean"] = time.perf_counter() - t
    total = time.perf_counter() - start
    return {
        "rows_in": len(meta) + len(google) + len(klaviyo),
        "unified_rows": int(len(m) + len(g) + len(k) - unify_quarantined),
        "unify_quarantined": unify_quarantined,
        "issues": issues,
        "rows_out": len(out),
        "filled": len(fill),
        "quarantined": quarantined + unify_quarantined,
        "dropped_duplicates": dropped,
        "spend": float(out["spend"].sum()),
        "revenue": float(out["revenue"].sum()),
        "conversions": float(out["conversions"].sum()),
        "impressions": int(out["impressions"].sum()),
        "clicks": int(out["clicks"].sum()),
        "seconds": times,
        "total_seconds": total,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }


# ----------------------------------------------------------------------------- driver

def build_liftos() -> str:
    cmd = ["cargo", "build", "--release", "-p", "liftos-transform", "--no-default-features",
           "--example", "transform_pipeline", "--message-format=json-render-diagnostics"]
    out = subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.PIPE, text=True).stdout
    for line in out.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg.get("executable") \
                and msg["target"]["name"] == "transform_pipeline":
            return msg["executable"]
    raise SystemExit("could not find the transform_pipeline executable")


def run(cmd) -> tuple[dict, float]:
    t = time.perf_counter()
    proc = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True)
    return json.loads(proc.stdout.strip().splitlines()[-1]), time.perf_counter() - t


def median_run(runs: list[tuple[dict, float]]) -> tuple[dict, float]:
    """The runs' results with every timing and the peak memory replaced by its median."""
    import statistics
    first = dict(runs[0][0])
    first["seconds"] = {k: statistics.median(r["seconds"][k] for r, _ in runs)
                        for k in first["seconds"]}
    first["total_seconds"] = statistics.median(r["total_seconds"] for r, _ in runs)
    first["peak_rss_mib"] = statistics.median(r["peak_rss_mib"] for r, _ in runs)
    return first, statistics.median(w for _, w in runs)


def compare(a: dict, b: dict) -> list[str]:
    problems = []
    for k in ["rows_in", "unified_rows", "unify_quarantined", "rows_out", "filled",
              "quarantined", "dropped_duplicates", "impressions", "clicks"]:
        if a[k] != b[k]:
            problems.append(f"{k}: liftos {a[k]} != pandas {b[k]}")
    for k in ["spend", "revenue", "conversions"]:
        if abs(a[k] - b[k]) > 1e-9 * max(1.0, abs(b[k])):
            problems.append(f"{k}: liftos {a[k]!r} != pandas {b[k]!r}")
    for k in sorted(set(a["issues"]) | set(b["issues"])):
        if a["issues"].get(k, 0) != b["issues"].get(k, 0):
            problems.append(f"issue {k}: liftos {a['issues'].get(k, 0)} != pandas {b['issues'].get(k, 0)}")
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, action="append", help="total raw rows (repeatable)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--keep", type=Path, help="write the data here instead of a temp dir")
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs of each side (alternating); medians are shown")
    ap.add_argument("--pandas-worker", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.pandas_worker:
        print(json.dumps(pandas_pipeline(args.pandas_worker)))
        return

    exe = build_liftos()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"{os.cpu_count()} CPUs; load average {load} (1, 5, 15 min) before the runs")
    for rows in args.rows or [1_000_000]:
        with tempfile.TemporaryDirectory() as tmp:
            d = args.keep / str(rows) if args.keep else Path(tmp)
            d.mkdir(parents=True, exist_ok=True)
            t = time.perf_counter()
            counts = generate(d, rows, args.seed)
            print(f"\n== {sum(counts.values()):,} raw rows ({counts}); generated in "
                  f"{time.perf_counter() - t:.1f}s")
            lifts, pands = [], []
            for _ in range(max(1, args.repeat)):
                lifts.append(run([exe, str(d)]))
                pands.append(run([sys.executable, __file__, "--pandas-worker", str(d)]))
            problems = [p for (a, _), (b, _) in zip(lifts, pands) for p in compare(a, b)]
            lift, lift_wall = median_run(lifts)
            pand, pand_wall = median_run(pands)
            if args.repeat > 1:
                print(f"medians of {args.repeat} runs each")
            print(f"load average now {os.getloadavg()[0]:.2f}")
            print(f"{'step':<12}{'LiftOS s':>10}{'pandas s':>10}{'ratio':>8}")
            for step in sorted(lift["seconds"]):
                a, b = lift["seconds"][step], pand["seconds"][step]
                print(f"{step:<12}{a:>10.3f}{b:>10.3f}{b / a:>7.1f}x")
            a, b = lift["total_seconds"], pand["total_seconds"]
            print(f"{'pipeline':<12}{a:>10.3f}{b:>10.3f}{b / a:>7.1f}x")
            print(f"{'process':<12}{lift_wall:>10.3f}{pand_wall:>10.3f}{pand_wall / lift_wall:>7.1f}x")
            a, b = lift["peak_rss_mib"], pand["peak_rss_mib"]
            print(f"{'peak MiB':<12}{a:>10.0f}{b:>10.0f}{b / a:>7.1f}x")
            print(f"totals: rows_out={lift['rows_out']:,} filled={lift['filled']:,} "
                  f"quarantined={lift['quarantined']:,} dropped={lift['dropped_duplicates']:,} "
                  f"spend={lift['spend']:.2f} revenue={lift['revenue']:.2f}")
            if problems:
                print("MISMATCH between LiftOS and pandas:\n  " + "\n  ".join(problems))
                sys.exit(1)
            print("totals and issue counts match")


if __name__ == "__main__":
    main()
