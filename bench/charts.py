"""Draws SVG bar charts for docs/benchmarks.md from the result tables in bench/results/*.md.
Each chart compares the systems of ONE run (ratios are what count). No external assets."""
import html, os, re, sys

out_dir = sys.argv[1] if len(sys.argv) > 1 else "docs/benchmarks"
os.makedirs(out_dir, exist_ok=True)

def table(path):
    rows = []
    for line in open(path):
        if line.startswith("|") and not re.match(r"^\|\s*-", line) and "---" not in line:
            cells = [c.strip().strip("*") for c in line.strip().strip("|").split("|")]
            rows.append(cells)
    return rows

def number(text):
    m = re.search(r"[-+]?\d+(?:\.\d+)?", text.replace(",", ""))
    return float(m.group()) if m else None

def bars(name, title, unit, items):
    width, bar_h, label_w = 720, 26, 220
    top = max(v for _, v in items) or 1
    h = 40 + len(items) * (bar_h + 8)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h}" font-family="sans-serif" font-size="13">',
             f'<text x="0" y="18" font-weight="bold">{html.escape(title)}</text>']
    for i, (label, value) in enumerate(items):
        y = 32 + i * (bar_h + 8)
        w = (width - label_w - 140) * value / top
        parts.append(f'<text x="0" y="{y + 17}">{html.escape(label)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="#4a7bd0"/>')
        parts.append(f'<text x="{label_w + w + 6:.1f}" y="{y + 17}">{value:,.1f}{html.escape(unit)}</text>')
    parts.append("</svg>")
    open(os.path.join(out_dir, name), "w").write("\n".join(parts) + "\n")
    return name

made = []
if os.path.exists("bench/results/forwarding.md"):
    rows = [r for r in table("bench/results/forwarding.md") if len(r) >= 3 and number(r[1]) is not None
            and not r[0].startswith("gateway vs")]
    rows = [r for r in rows if r[0] in ("upstream direct (reference)", "nginx reverse proxy", "astro-gateway")]
    if rows:
        made.append(bars("forwarding-rps.svg", "Forwarding: requests/s (one run, 50 connections)", " req/s",
                         [(r[0], number(r[1])) for r in rows]))
if os.path.exists("bench/results/coalescing.md"):
    rows = [r for r in table("bench/results/coalescing.md") if r and r[0] in ("gateway", "nginx")]
    if rows:
        made.append(bars("coalescing-followers.svg", "Coalescing: follower p50 latency, 200 ms upstream", " ms",
                         [(r[0], number(r[3])) for r in rows]))
if os.path.exists("bench/results/denied.md"):
    rows = [r for r in table("bench/results/denied.md") if r and r[0] in ("gateway", "nginx")]
    if rows:
        made.append(bars("denied-rps.svg", "Denied requests: requests/s", " req/s", [(r[0], number(r[1])) for r in rows]))
print("\n".join(made))
