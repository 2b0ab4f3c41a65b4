#!/usr/bin/env python3
"""Development cross-check of the built-in public holidays against the Python `holidays`
package (never needed by the build or the tests).

    python3 -m venv /tmp/hvenv && /tmp/hvenv/bin/pip install holidays
    /tmp/hvenv/bin/python liftos-calendar/scripts/holidays_diff.py [FIRST LAST]

Prints, per country/subdivision, the dates present on one side only (names are not
compared: ours are English labels). Exit status 1 when any date differs.
"""
import subprocess
import sys

import holidays

CODES = ["US", "GB", "GB-ENG", "GB-WLS", "GB-SCT", "GB-NIR", "CA", "AU", "DE", "DE-BY", "FR"]
first, last = (int(sys.argv[1]), int(sys.argv[2])) if len(sys.argv) > 2 else (1975, 2100)
total = 0
for code in CODES:
    country, _, subdiv = code.partition("-")
    ref = holidays.country_holidays(country, subdiv=subdiv or None, years=range(first - 1, last + 2))
    theirs = {d.isoformat(): name for d, name in ref.items() if first <= d.year <= last}
    out = subprocess.run(
        ["cargo", "run", "-q", "-p", "liftos-calendar", "--example", "dump_holidays", "--",
         code, str(first), str(last)],
        check=True, capture_output=True, text=True,
    ).stdout
    ours = {}
    for line in out.splitlines():
        d, name = line.split("\t", 1)
        ours.setdefault(d, []).append(name)
    only_ours = sorted(set(ours) - set(theirs))
    only_theirs = sorted(set(theirs) - set(ours))
    total += len(only_ours) + len(only_theirs)
    print(f"{code}: {len(ours)} dates here, {len(theirs)} in holidays {holidays.__version__}; "
          f"{len(only_ours)} only here, {len(only_theirs)} only there")
    for d in only_ours:
        print(f"  + {d} {'; '.join(ours[d])}")
    for d in only_theirs:
        print(f"  - {d} {theirs[d]}")
print(f"total differing dates: {total}")
sys.exit(1 if total else 0)
