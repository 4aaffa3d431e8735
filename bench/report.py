#!/usr/bin/env python3
"""Turns bench/run.sh's raw results into Markdown tables (Python standard library only).

  report.py RESULTS_TSV TTFE_JSON

RESULTS_TSV has a header line, then one line per wrk run:
  run case conns target rps p50_us p99_us requests errors cpu_us_per_req
(target is direct, nginx or gateway; cpu_us_per_req is nan for direct).
The median over runs is taken for each metric of each (case, conns, target) separately.
"""

import json
import statistics
import sys
from collections import defaultdict

CASE_LABEL = {
    "json": "JSON",
    "sse": "SSE 6 events",
    "sse40": "SSE 43 events",
    "sse2000": "SSE 2,003 events",
}


def ms(us: float) -> str:
    v = us / 1000.0
    if v < 1:
        return f"{v:.3f}"
    if v < 100:
        return f"{v:.2f}"
    return f"{v:.1f}"


def ratio(num: float, den: float) -> str:
    return f"{num / den:.2f}" if den > 0 else "n/a"


def load(path: str) -> list:
    rows = []
    with open(path, encoding="utf-8") as f:
        header = f.readline().split()
        for line in f:
            if line.strip():
                rows.append(dict(zip(header, line.split())))
    return rows


def wrk_table(rows: list) -> str:
    groups = defaultdict(list)
    order = []
    for r in rows:
        key = (r["case"], int(r["conns"]))
        if key not in order:
            order.append(key)
        groups[key + (r["target"],)].append(r)

    def med(key, field):
        vals = [float(r[field]) for r in groups.get(key, [])]
        return statistics.median(vals) if vals else float("nan")

    def cpu(key):
        vals = [float(r["cpu_us_per_req"]) for r in groups.get(key, [])]
        vals = [v for v in vals if v == v]  # drop nan
        return statistics.median(vals) if vals else float("nan")

    out = [
        "| Case | Conns | nginx rps | gateway rps | rps gw/nginx | nginx CPU µs/req "
        "| gateway CPU µs/req | CPU gw/nginx | nginx p50 ms | gateway p50 ms | gateway p99 ms "
        "| direct rps |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for case, conns in order:
        d = (case, conns, "direct")
        n = (case, conns, "nginx")
        g = (case, conns, "gateway")
        out.append(
            "| {} | {} | {:.0f} | {:.0f} | {} | {:.1f} | {:.1f} | {} | {} | {} | {} | {:.0f} |".format(
                CASE_LABEL.get(case, case),
                conns,
                med(n, "rps"),
                med(g, "rps"),
                ratio(med(g, "rps"), med(n, "rps")),
                cpu(n),
                cpu(g),
                ratio(cpu(g), cpu(n)),
                ms(med(n, "p50_us")),
                ms(med(g, "p50_us")),
                ms(med(g, "p99_us")),
                med(d, "rps"),
            )
        )
    errs = [r for r in rows if int(r["errors"]) > 0]
    if errs:
        out.append("")
        out.append("**Errors** (socket errors, timeouts or HTTP status > 399, as counted by wrk):")
        for r in errs:
            out.append(
                f"- {CASE_LABEL.get(r['case'], r['case'])}, {r['conns']} conns, {r['target']}, "
                f"run {r['run']}: {r['errors']} errors in {r['requests']} requests"
            )
    return "\n".join(out)


def ttfe_table(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        t = json.load(f)
    d, g = t["direct"], t["gateway"]
    dc, gc = d["content"], g["content"]
    return "\n".join(
        [
            "| Target | Requests | First event median ms | First event p90 ms | First content median ms | First content p90 ms |",
            "|---|---:|---:|---:|---:|---:|",
            f"| direct (mock) | {d['n']} | {d['median_ms']:.2f} | {d['p90_ms']:.2f} | {dc['median_ms']:.2f} | {dc['p90_ms']:.2f} |",
            f"| through relaygate | {g['n']} | {g['median_ms']:.2f} | {g['p90_ms']:.2f} | {gc['median_ms']:.2f} | {gc['p90_ms']:.2f} |",
            f"| gateway − direct | | {g['median_ms'] - d['median_ms']:+.2f} | {g['p90_ms'] - d['p90_ms']:+.2f} | {gc['median_ms'] - dc['median_ms']:+.2f} | {gc['p90_ms'] - dc['p90_ms']:+.2f} |",
        ]
    )


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    rows = load(sys.argv[1])
    if not rows:
        sys.exit("report.py: no wrk results")
    print("### Throughput and latency (median of runs)")
    print()
    print(wrk_table(rows))
    print()
    print("### Time to first SSE event (events 5 ms apart)")
    print()
    print(ttfe_table(sys.argv[2]))


if __name__ == "__main__":
    main()
