#!/usr/bin/env python3
"""Draws the table of benches/compare.sh as an SVG: one panel per workload, every
system side by side as a horizontal bar, tidings' rows coloured. Standard library only.

    python3 benches/chart.py target/criterion/tidings-results.json benches/results.svg

The input is the JSON that benches/compare.sh writes next to criterion's results:
{"when": ..., "rows": [{"workload", "system", "flavor", "value", "unit", "better", optional
"cores", "p99", "peak"}]}.
"""
import json
import sys
from html import escape

PANEL_W = 470
BAR_X = 200  # bars start here; system names to the left
BAR_W = 175  # the longest bar; value labels to its right
ROW_H = 17
HEAD_H = 40
GAP = 20
COLS = 2

TIDINGS = "#1b7f79"
TIDINGS_MANY = "#4fb3a9"
PEER = "#8a8f98"
SPIN = "#c9ccd1"  # a peer whose win comes from spinning more threads than cores


def colour(system):
    if system.startswith("tidings") and "many" in system:
        return TIDINGS_MANY
    if system.startswith("tidings"):
        return TIDINGS
    if "busy_spin" in system:
        return SPIN
    return PEER


def fmt(v, unit):
    if v is None:
        return "missing"
    if unit.startswith("M events"):
        return f"{v:.1f} M/s"
    if unit.startswith("KiB"):
        return f"{v:.1f} KiB"
    return f"{v:.0f} ns" if v >= 100 else f"{v:.1f} ns"


def panel(rows, x0, y0):
    first = rows[0]
    unit, better = first["unit"], first["better"]
    values = [r["value"] for r in rows if r["value"] is not None]
    values += [r["p99"] for r in rows if r.get("p99") is not None]
    top = max(values) if values else 1.0
    out = [
        f'<text x="{x0}" y="{y0 + 16}" class="title">{escape(first["workload"])}</text>',
        f'<text x="{x0}" y="{y0 + 31}" class="note">{escape(unit)}, '
        f'{"higher" if better == "higher" else "lower"} is better</text>',
    ]
    y = y0 + HEAD_H
    for r in rows:
        label = r["system"]
        if r.get("flavor") and r["flavor"] not in ("single thread",) and first["workload"].startswith("W6"):
            label = f'{label} ({r["flavor"].split(",")[0]})'
        out.append(f'<text x="{x0 + BAR_X - 6}" y="{y + 12}" class="name">{escape(label)}</text>')
        v = r["value"]
        if v is not None:
            w = max(1.0, BAR_W * v / top)
            out.append(f'<rect x="{x0 + BAR_X}" y="{y + 2}" width="{w:.1f}" height="{ROW_H - 5}" '
                       f'fill="{colour(r["system"])}"/>')
            text = fmt(v, unit)
            end = w
            if r.get("p99") is not None:
                w99 = max(1.0, BAR_W * r["p99"] / top)
                out.append(f'<line x1="{x0 + BAR_X + w:.1f}" y1="{y + ROW_H / 2:.1f}" '
                           f'x2="{x0 + BAR_X + w99:.1f}" y2="{y + ROW_H / 2:.1f}" '
                           f'stroke="{colour(r["system"])}" stroke-width="2"/>')
                out.append(f'<line x1="{x0 + BAR_X + w99:.1f}" y1="{y + 3}" '
                           f'x2="{x0 + BAR_X + w99:.1f}" y2="{y + ROW_H - 3}" '
                           f'stroke="{colour(r["system"])}" stroke-width="2"/>')
                text = f'p50 {v:.0f}, p99 {r["p99"]:.0f} ns'
                end = max(w, w99)
            if r.get("peak") is not None:
                text += f' (peak {r["peak"] / 1024:.1f} MiB)'
            if r.get("cores"):
                text += f' · {r["cores"]} cores'
            out.append(f'<text x="{x0 + BAR_X + end + 4:.1f}" y="{y + 12}" class="value">'
                       f'{escape(text)}</text>')
        else:
            out.append(f'<text x="{x0 + BAR_X + 4}" y="{y + 12}" class="value">missing</text>')
        y += ROW_H
    return out, y - y0


def main():
    src, dst = sys.argv[1], sys.argv[2]
    with open(src) as f:
        data = json.load(f)
    panels = {}
    for r in data["rows"]:
        panels.setdefault(r["workload"], []).append(r)
    names = list(panels)
    body = []
    col_y = [GAP + 30] * COLS
    for i, name in enumerate(names):
        col = col_y.index(min(col_y))
        x0 = GAP + col * (PANEL_W + GAP + 150)
        out, h = panel(panels[name], x0, col_y[col])
        body += out
        col_y[col] += h + GAP
    width = GAP + COLS * (PANEL_W + GAP + 150)
    height = max(col_y) + GAP
    legend = (
        f'<text x="{GAP}" y="22" class="title">tidings and its peers, one run of '
        f'benches/compare.sh ({escape(data.get("when", ""))})</text>'
        f'<rect x="{width - 610}" y="10" width="12" height="12" fill="{TIDINGS}"/>'
        f'<text x="{width - 594}" y="21" class="note">tidings, one event per call</text>'
        f'<rect x="{width - 440}" y="10" width="12" height="12" fill="{TIDINGS_MANY}"/>'
        f'<text x="{width - 424}" y="21" class="note">tidings, recv_many</text>'
        f'<rect x="{width - 315}" y="10" width="12" height="12" fill="{PEER}"/>'
        f'<text x="{width - 299}" y="21" class="note">peers</text>'
        f'<rect x="{width - 250}" y="10" width="12" height="12" fill="{SPIN}"/>'
        f'<text x="{width - 234}" y="21" class="note">busy-spin (1 thread per reader)</text>'
    )
    svg = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif">',
        "<style>.title{font-size:13px;font-weight:bold}.note{font-size:11px;fill:#555}"
        ".name{font-size:11px;text-anchor:end}.value{font-size:10px;fill:#333}</style>",
        f'<rect width="{width}" height="{height}" fill="white"/>',
        legend,
        *body,
        "</svg>",
    ]
    with open(dst, "w") as f:
        f.write("\n".join(svg) + "\n")


if __name__ == "__main__":
    main()
