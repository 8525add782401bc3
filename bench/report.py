#!/usr/bin/env python3
"""Turns bench/report.sh's raw outputs into report.csv, report.md (the tables BENCHMARKS.md
quotes) and report.svg (throughput per endpoint, SQLite beside PostgreSQL, and one instance
beside two, on a log scale). Standard library only.

    python3 bench/report.py bench/results
"""
import csv
import math
import os
import re
import sys

out = sys.argv[1] if len(sys.argv) > 1 else "bench/results"
raw = os.path.join(out, "raw")
NUM = r"([0-9.]+)"


def read(name):
    path = os.path.join(raw, name)
    return open(path).read().splitlines() if os.path.exists(path) else []


rows = []  # (setup, endpoint, connections, per_s, p50, p99, failed)


def simple(backend, mode, endpoint):
    """load.sh's `label requests/s p50 p99 failed` lines; the label is the connections or
    `name@connections`."""
    for line in read(f"{backend}-{mode}.txt"):
        m = re.match(r"^(\S+)\s+" + r"\s+".join([NUM] * 3) + r"\s+(\d+)$", line.strip())
        if not m or not re.match(r"^([a-z]+@)?\d+$", m.group(1)):
            continue
        label = m.group(1)
        name, _, conns = label.rpartition("@")
        ep = {"cc": "client_credentials", "userinfo": "userinfo", "password": "password"}.get(name, endpoint)
        rows.append((backend, ep, int(conns), float(m.group(2)), float(m.group(3)), float(m.group(4)), int(m.group(5))))


for backend in ("sqlite", "postgres"):
    simple(backend, "token", "client_credentials")
    simple(backend, "introspect", "introspect")
    simple(backend, "refresh", "refresh")
    simple(backend, "userinfo", "userinfo")
    simple(backend, "password", "password")
    for line in read(f"{backend}-code.txt"):
        parts = line.split()
        if len(parts) == 10 and parts[0] in ("session", "remembered", "consent"):
            rows.append((backend, f"code ({parts[0]})", int(parts[1]), float(parts[2]),
                         float(parts[3]), float(parts[4]), int(parts[9])))

for n in (1, 2):
    lines = read(f"soak-{n}.txt")
    conns = next((int(m.group(1)) for m in (re.search(r"(\d+) connections", l) for l in lines) if m), 0)
    for line in lines:
        m = re.match(r"^([a-z_]+)\s+(\d+)\s+" + r"\s+".join([NUM] * 4) + r"\s+(.*)$", line)
        if not m or m.group(1) == "operation":
            continue
        answers = m.group(7)
        bad = sum(int(k) for s, k in re.findall(r"(\d{3})×(\d+)", answers) if int(s) >= 500)
        bad += int(re.search(r"transport=(\d+)", answers).group(1))
        ep = {"code_round_trip": "code (session)"}.get(m.group(1), m.group(1))
        rows.append((f"postgres, {n} instance{'s' if n > 1 else ''}, nginx, mixed", ep, conns,
                     float(m.group(3)), float(m.group(4)), float(m.group(5)), bad))

with open(os.path.join(out, "report.csv"), "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["setup", "endpoint", "connections", "per_s", "p50_ms", "p99_ms", "failed"])
    w.writerows(rows)

with open(os.path.join(out, "report.md"), "w") as f:
    machine = read("machine.txt")
    f.write("Machine: " + "; ".join(machine) + "\n\n")
    f.write("| setup | endpoint | connections | per s | p50 ms | p99 ms | failed |\n|---|---|---:|---:|---:|---:|---:|\n")
    for r in rows:
        f.write(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]:,.0f} | {r[4]:.2f} | {r[5]:.2f} | {r[6]} |\n")


# --- the chart: each endpoint at its best load level, one bar per setup ------------------
best = {}
for setup, ep, conns, per_s, *_ in rows:
    key = (ep, setup)
    if key not in best or per_s > best[key][1]:
        best[key] = (conns, per_s)
endpoints = sorted({ep for ep, _ in best}, key=lambda e: -max(v[1] for (x, _), v in best.items() if x == e))
setups = sorted({s for _, s in best}, key=lambda s: (not s.startswith("sqlite"), s))
colours = ["#4878a8", "#e08a3c", "#5aa469", "#b45a9b", "#888888"]
bar, gap, left, width = 11, 10, 190, 560
height = 60 + len(endpoints) * (len(setups) * bar + gap) + 20 * len(setups)
top = max(v[1] for v in best.values())
decades = range(0, math.ceil(math.log10(top)) + 1)
scale = lambda v: left + width * (math.log10(max(v, 1)) / max(decades[-1], 1))
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 90}" height="{height}" font-family="sans-serif" font-size="11">',
       f'<text x="{left}" y="18" font-size="13" font-weight="bold">gatehouse: requests (or round trips) per second, log scale</text>']
for d in decades:
    x = scale(10 ** d)
    svg.append(f'<line x1="{x:.1f}" y1="28" x2="{x:.1f}" y2="{height - 20 * len(setups) - 10}" stroke="#ddd"/>')
    svg.append(f'<text x="{x:.1f}" y="40" text-anchor="middle" fill="#666">{10 ** d:,}</text>')
y = 50
for ep in endpoints:
    svg.append(f'<text x="{left - 6}" y="{y + len(setups) * bar / 2 + 4:.0f}" text-anchor="end">{ep}</text>')
    for i, setup in enumerate(setups):
        if (ep, setup) in best:
            conns, v = best[(ep, setup)]
            svg.append(f'<rect x="{left}" y="{y}" width="{scale(v) - left:.1f}" height="{bar - 2}" fill="{colours[i % len(colours)]}"/>')
            svg.append(f'<text x="{scale(v) + 4:.1f}" y="{y + bar - 3}" fill="#333">{v:,.0f} (c{conns})</text>')
        y += bar
    y += gap
for i, setup in enumerate(setups):
    svg.append(f'<rect x="{left}" y="{y + 20 * i}" width="12" height="10" fill="{colours[i % len(colours)]}"/>')
    svg.append(f'<text x="{left + 18}" y="{y + 20 * i + 9}">{setup}</text>')
svg.append("</svg>")
with open(os.path.join(out, "report.svg"), "w") as f:
    f.write("\n".join(svg) + "\n")
print(f"{len(rows)} rows: {out}/report.csv, {out}/report.md, {out}/report.svg")
