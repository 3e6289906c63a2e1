"""The plot of docs/benchmarks.md (`make bench`, tools/benchtable/page.go): live sessions' round-trip latency as the
load is stepped up, and the real-time streams each engine carries on the machine. Reads the figures as JSON on stdin
({"title", "steps": [{"sessions", "p50_ms", "p99_ms", "held"}], "streams": [{"what", "streams"}]}) and writes an SVG.

usage: python bench_plot.py OUT.svg < figures.json
"""

from __future__ import annotations

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)

plt.rcParams["svg.hashsalt"] = "remotemedia"  # stable ids: the file changes only when the figures do
plt.rcParams["svg.fonttype"] = "none"


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    data = json.load(sys.stdin)
    fig, (lat, bars) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [3, 2]})
    steps = data["steps"]
    if steps:
        n = [s["sessions"] for s in steps]
        lat.plot(n, [s["p50_ms"] for s in steps], "o-", label="p50")
        lat.plot(n, [s["p99_ms"] for s in steps], "s-", label="p99")
        for s in steps:
            if not s["held"]:
                lat.annotate("did not hold", (s["sessions"], s["p99_ms"]), textcoords="offset points", xytext=(-70, -4),
                             fontsize=8)
        lat.set_xscale("log", base=2)
        lat.set_xticks(n, [str(x) for x in n])
        lat.minorticks_off()
        lat.set_yscale("log")
    lat.axhline(20, color="grey", linestyle="--", linewidth=1, label="20 ms")
    lat.set_xlabel("live sessions (remotemedia serve, a socket each)")
    lat.set_ylabel("round trip, ms")
    lat.set_title("Live round-trip latency as sessions are stepped up")
    lat.legend()
    lat.grid(True, which="both", alpha=0.3)
    what = [s["what"] for s in data["streams"]]
    bars.barh(what, [s["streams"] for s in data["streams"]], color=["C0", "C0", "C3", "C3"][: len(what)])
    bars.invert_yaxis()
    bars.set_xlabel("real-time streams on this machine")
    bars.set_title("Streams carried")
    for i, s in enumerate(data["streams"]):
        bars.annotate(f"{s['streams']:.0f}", (s["streams"], i), textcoords="offset points", xytext=(4, -3), fontsize=8)
    fig.suptitle(data.get("title", ""), fontsize=9)
    fig.tight_layout()
    fig.savefig(sys.argv[1], format="svg", metadata={"Date": None})


if __name__ == "__main__":
    main()
