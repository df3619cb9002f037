#!/usr/bin/env python3
"""The table, plot and summary of bench/retune_releases.sh from its work folder.

  retune_releases_report.py --work W --releases RELEASES.jsonl --n N [--splice bench/RESULTS.md
      --png-copy bench/retune_releases.png] [--command "..."] [--label "quick run"]

Reads W/p1.{train,eval}.json (the release-1 patch) and, for every later release,
W/rel-NN/{always.train,always.eval,never.eval,retune,retune.eval}.json. Writes W/results.json,
W/table.md, W/summary.md and W/retune_releases.png. Means, retune counts and seconds are over
releases 2..N, where the policies differ (release 1 trains the one patch all three start from).
With --splice the section between <!-- retune_releases:begin --> and <!-- retune_releases:end -->
of that file gets the command, the plot's link, the table and the summary.
"""
import argparse
import json
import os
import shutil
import struct
import sys
import zlib

POLICIES = ["always", "never", "retune"]
NAMES = {"always": "Always", "never": "Never", "retune": "ReTune"}
COLORS = {"always": (31, 119, 180), "never": (214, 39, 40), "retune": (44, 160, 44)}


def load(path):
    with open(path) as f:
        return json.load(f)


def collect(work, releases, n):
    kinds = {}
    with open(releases) as f:
        for line in f:
            r = json.loads(line)
            kinds[r["release"]] = r["kind"]
    p1_train, p1_eval = load(f"{work}/p1.train.json"), load(f"{work}/p1.eval.json")
    first = {"decision": "train", "approval": p1_eval["tool_call_exact_match"], "loss": p1_eval.get("eval_loss"),
             "seconds": p1_train["seconds"]}
    rows = [{"release": 1, "kind": kinds.get(1, "?"), "entries": p1_eval["conversations"],
             **{p: dict(first) for p in POLICIES}}]
    for i in range(2, n + 1):
        d = f"{work}/rel-{i:02d}"
        names = ["always.train", "always.eval", "never.eval", "retune", "retune.eval"]
        if not all(os.path.exists(f"{d}/{x}.json") for x in names):
            print(f"retune_releases_report: release {i} is not done; the report stops at release {i - 1} of {n}",
                  file=sys.stderr)
            break
        at, ae, ne = load(f"{d}/always.train.json"), load(f"{d}/always.eval.json"), load(f"{d}/never.eval.json")
        rj, re_ = load(f"{d}/retune.json"), load(f"{d}/retune.eval.json")
        ap = rj["applied"]
        dec = rj["decision"]
        if dec == "retune" and ap.get("kept_old"):
            dec = "retune (old kept)"
        wall = None
        if os.path.exists(f"{d}/retune.wall"):
            wall = float(open(f"{d}/retune.wall").read())
        rows.append({
            "release": i, "kind": kinds.get(i, "?"),
            "always": {"decision": "retrain", "approval": ae["tool_call_exact_match"], "loss": ae.get("eval_loss"),
                       "seconds": at["seconds"], "steps": at["steps"]},
            "never": {"decision": "forced", "approval": ne["tool_call_exact_match"], "loss": ne.get("eval_loss"),
                      "seconds": 0.0, "steps": 0},
            "retune": {"decision": dec, "approval": re_["tool_call_exact_match"], "loss": re_.get("eval_loss"),
                       "seconds": ap.get("seconds", 0.0) if rj["decision"] == "retune" else 0.0,
                       "steps": ap.get("steps", 0) if rj["decision"] == "retune" else 0,
                       "statistic": rj["statistic"], "threshold": rj["threshold"], "kappa_flip": rj["kappa_flip"],
                       "wall_seconds": wall},
        })
    return rows


def summarize(rows, kappa, k):
    later = rows[1:]
    m = len(later)
    mean = {p: 100 * sum(r[p]["approval"] for r in later) / m for p in POLICIES}
    secs = {p: sum(r[p]["seconds"] for r in later) for p in POLICIES}
    steps = {p: sum(r[p]["steps"] for r in later) for p in POLICIES}
    retunes = sum(1 for r in later if r["retune"]["decision"].startswith("retune"))
    large = [r["release"] for r in later if r["kind"] == "large"]
    s = {"releases": len(rows), "entries": rows[0]["entries"], "mean_approval": mean, "training_seconds": secs, "training_steps": steps, "retunes": retunes,
         "always_retrains": m, "kappa": kappa, "k": k}
    s["seconds_saved"] = secs["always"] - secs["retune"]
    s["seconds_saved_fraction"] = s["seconds_saved"] / secs["always"] if secs["always"] > 0 else None
    within = mean["retune"] >= mean["always"] - 3
    few = retunes <= m / 3
    s["within_3_of_always"], s["at_most_a_third"] = within, few
    if large:
        after = [r for r in later if r["release"] >= large[0]]
        s["first_large_drift"] = large[0]
        s["after_drift"] = {p: 100 * sum(r[p]["approval"] for r in after) / len(after) for p in POLICIES}
        s["above_never_by"] = s["after_drift"]["retune"] - s["after_drift"]["never"]
        s["ten_above_never"] = s["above_never_by"] >= 10
    else:
        s["first_large_drift"], s["ten_above_never"] = None, False
    s["target_met"] = bool(within and few and s["ten_above_never"])
    return s


def fmt_loss(v):
    return "-" if v is None else f"{v:.3f}"


def table_md(rows):
    out = ["| release | kind | Always: approval / loss / s | Never: approval / loss | "
           "ReTune: decision (statistic / threshold) / approval / loss / s |",
           "| ---: | --- | --- | --- | --- |"]
    for r in rows:
        a, nv, t = r["always"], r["never"], r["retune"]
        dec = t["decision"]
        if "statistic" in t and t["threshold"] > 0:
            dec += f" ({t['statistic'] / t['threshold']:.2g}x)"
        out.append(f"| {r['release']} | {r['kind']} | {100 * a['approval']:.1f}% / {fmt_loss(a['loss'])} / "
                   f"{a['seconds']:.0f} | {100 * nv['approval']:.1f}% / {fmt_loss(nv['loss'])} | "
                   f"{dec} / {100 * t['approval']:.1f}% / {fmt_loss(t['loss'])} / {t['seconds']:.0f} |")
    return "\n".join(out) + "\n"


def yes(b):
    return "met" if b else "not met"


def summary_md(s):
    m = s["always_retrains"]
    mean, secs = s["mean_approval"], s["training_seconds"]
    lines = [
        f"Releases 2..{s['releases']} ({m} of them; release 1 trains the one patch all three policies start from); "
        f"approval on {s['entries']} held-out entries:",
        "",
        f"- mean approval: Always {mean['always']:.1f}%, Never {mean['never']:.1f}%, ReTune {mean['retune']:.1f}%",
        f"- retrainings: Always {m}, ReTune {s['retunes']} (kappa {s['kappa']:g}, k {s['k']:g}), Never 0",
        f"- training seconds: Always {secs['always']:.0f}, ReTune {secs['retune']:.0f}: "
        f"{s['seconds_saved']:.0f} s saved against Always"
        + (f" ({100 * s['seconds_saved_fraction']:.0f}%)" if s["seconds_saved_fraction"] is not None else "")
        + f"; optimizer steps: Always {s['training_steps']['always']}, ReTune {s['training_steps']['retune']}",
    ]
    if s["first_large_drift"] is not None:
        ad = s["after_drift"]
        lines.append(f"- from the first large drift (release {s['first_large_drift']}) on: Always {ad['always']:.1f}%, "
                     f"Never {ad['never']:.1f}%, ReTune {ad['retune']:.1f}% (ReTune - Never: "
                     f"{s['above_never_by']:+.1f} points)")
    lines += [
        "",
        "Target (ReTune within 3 points of Always with at most a third of its retunes, and at least 10 points "
        "above Never after the first large drift): **" + yes(s["target_met"]) + "**",
        f"- within 3 points of Always: {yes(s['within_3_of_always'])} "
        f"({mean['retune'] - mean['always']:+.1f} points)",
        f"- at most a third of Always's retunes: {yes(s['at_most_a_third'])} ({s['retunes']} of {m}, "
        f"at most {m // 3})",
        f"- at least 10 points above Never after the first large drift: {yes(s['ten_above_never'])}"
        + (f" ({s['above_never_by']:+.1f} points)" if s["first_large_drift"] is not None else " (no large drift)"),
    ]
    return "\n".join(lines) + "\n"


def plot_matplotlib(rows, path, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    x = [r["release"] for r in rows]
    fig, ax = plt.subplots(figsize=(8, 4.2), dpi=100)
    for r in rows:
        if r["kind"] == "large":
            ax.axvspan(r["release"] - 0.5, r["release"] + 0.5, color="0.92", lw=0)
    styles = {"always": ("o-", "Always (retrain every release)"), "never": ("s--", "Never (release-1 patch forced)"),
              "retune": ("^-", "ReTune")}
    for p in POLICIES:
        c = tuple(v / 255 for v in COLORS[p])
        ax.plot(x, [100 * r[p]["approval"] for r in rows], styles[p][0], color=c, label=styles[p][1], ms=5)
    rt = [r for r in rows[1:] if r["retune"]["decision"].startswith("retune")]
    if rt:
        ax.scatter([r["release"] for r in rt], [100 * r["retune"]["approval"] for r in rt], s=150, facecolors="none",
                   edgecolors="black", linewidths=1.5, zorder=5, label="ReTune retunes")
    ax.set_xlabel("release (shaded: large)")
    ax.set_ylabel("approval (% exact calls)")
    ax.set_xticks(x)
    ax.set_ylim(-2, 102)
    ax.set_title(title, fontsize=11 if len(title) < 70 else 8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_plain(rows, path):
    """A small PNG without matplotlib: shaded large releases, a line and square markers per policy
    (Always blue, Never red, ReTune green), ReTune's retunes ringed in black; no text."""
    w, h, l, r_, t, b = 640, 360, 40, 20, 20, 30
    img = [[(255, 255, 255)] * w for _ in range(h)]
    n = len(rows)
    sx = lambda rel: l + (rel - 1) * (w - l - r_) / max(1, n - 1)
    sy = lambda a: h - b - a * (h - t - b)

    def dot(x, y, c, rad=1):
        for yy in range(int(y) - rad, int(y) + rad + 1):
            for xx in range(int(x) - rad, int(x) + rad + 1):
                if 0 <= xx < w and 0 <= yy < h:
                    img[yy][xx] = c

    def line(x0, y0, x1, y1, c):
        steps = int(max(abs(x1 - x0), abs(y1 - y0))) + 1
        for i in range(steps + 1):
            dot(x0 + (x1 - x0) * i / steps, y0 + (y1 - y0) * i / steps, c)

    half = (w - l - r_) / max(1, n - 1) / 2
    for row in rows:
        if row["kind"] == "large":
            for yy in range(t, h - b):
                for xx in range(int(sx(row["release"]) - half), int(sx(row["release"]) + half)):
                    if l <= xx < w - r_:
                        img[yy][xx] = (235, 235, 235)
    for a in (0, 0.25, 0.5, 0.75, 1.0):
        line(l, sy(a), w - r_, sy(a), (200, 200, 200))
    line(l, t, l, h - b, (0, 0, 0))
    line(l, h - b, w - r_, h - b, (0, 0, 0))
    for p in POLICIES:
        pts = [(sx(row["release"]), sy(row[p]["approval"])) for row in rows]
        for (x0, y0), (x1, y1) in zip(pts, pts[1:]):
            line(x0, y0, x1, y1, COLORS[p])
        for x, y in pts:
            dot(x, y, COLORS[p], 3)
    for row in rows[1:]:
        if row["retune"]["decision"].startswith("retune"):
            x, y = sx(row["release"]), sy(row["retune"]["approval"])
            for i in range(64):
                import math
                dot(x + 8 * math.cos(i * math.pi / 32), y + 8 * math.sin(i * math.pi / 32), (0, 0, 0), 0)
    raw = b"".join(b"\x00" + bytes(v for px in img[y] for v in px) for y in range(h))

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + \
        chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", required=True)
    ap.add_argument("--releases", required=True)
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--kappa", type=float, default=0.5)
    ap.add_argument("--k", type=float, default=0.25)
    ap.add_argument("--patch-steps", type=int)
    ap.add_argument("--command", default="bash bench/retune_releases.sh")
    ap.add_argument("--label", default="")
    ap.add_argument("--splice")
    ap.add_argument("--png-copy")
    a = ap.parse_args()
    rows = collect(a.work, a.releases, a.n)
    if len(rows) < 2:
        sys.exit("retune_releases_report: no release after the first is done yet")
    if len(rows) < a.n:
        a.label = ", ".join(x for x in [a.label, f"releases 1-{len(rows)} of {a.n}"] if x)
    s = summarize(rows, a.kappa, a.k)
    with open(f"{a.work}/results.json", "w") as f:
        json.dump({"summary": s, "releases": rows, "patch_steps": a.patch_steps, "label": a.label}, f, indent=1)
    table, summary = table_md(rows), summary_md(s)
    open(f"{a.work}/table.md", "w").write(table)
    open(f"{a.work}/summary.md", "w").write(summary)
    png = f"{a.work}/retune_releases.png"
    title = "Mood Journal approval per release" + (f" ({a.label})" if a.label else "")
    try:
        plot_matplotlib(rows, png, title)
    except ImportError:
        print("retune_releases_report: no matplotlib; plotting without text", file=sys.stderr)
        plot_plain(rows, png)
    if os.path.getsize(png) >= 1 << 20:
        sys.exit(f"retune_releases_report: {png} is {os.path.getsize(png)} bytes, over 1 MiB")
    if a.png_copy:
        shutil.copyfile(png, a.png_copy)
    if a.splice:
        begin, end = "<!-- retune_releases:begin -->", "<!-- retune_releases:end -->"
        doc = open(a.splice).read()
        if begin not in doc or end not in doc:
            sys.exit(f"retune_releases_report: {a.splice} has no {begin} ... {end} markers")
        link = os.path.relpath(a.png_copy or png, os.path.dirname(os.path.abspath(a.splice)))
        label = f" ({a.label})" if a.label else ""
        block = (f"{begin}\n```sh\n{a.command}\n```\n\n![approval per release]({link})\n\n"
                 + (f"**{a.label[0].upper() + a.label[1:]}.**\n\n" if a.label else "") + table + "\n" + summary + end)
        head, rest = doc.split(begin, 1)
        tmp = a.splice + ".tmp"
        open(tmp, "w").write(head + block + rest.split(end, 1)[1])
        os.replace(tmp, a.splice)
        print(f"retune_releases_report: spliced into {a.splice}", file=sys.stderr)


if __name__ == "__main__":
    main()
