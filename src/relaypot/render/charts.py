"""The report's charts with matplotlib (Agg, no display): SVG text for the page, PNG files for papers."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

from relaypot import escape

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # after choosing the backend
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType  # matplotlib 3.9+; for the type checker only

STYLE: dict[RcKeyType, Any] = {
    # Labels may hold attacker text: never let "$...$" become mathtext.
    "text.parse_math": False,
    # Text drawn as paths: nothing in the SVG is text an attacker wrote, and no font is fetched.
    "svg.fonttype": "path",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.dpi": 100,
    "savefig.dpi": 150,
}
COLOR = "#3b6ea8"
ACCENT = "#c0504d"


def _figure(width: float = 8.0, height: float = 3.0) -> Figure:
    # Constrained layout keeps a legend above the axes inside the picture, off the bars.
    with plt.rc_context(STYLE):
        return plt.figure(figsize=(width, height), layout="constrained")


def _counts(ax: Any, axis: str = "y", empty: bool = False) -> None:
    """Counts are whole numbers from zero: no 2.5 sessions, no negative axis on an empty chart,
    which says it has no data instead."""
    scale = ax.yaxis if axis == "y" else ax.xaxis
    scale.set_major_locator(MaxNLocator(integer=True))
    scale.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
    if axis == "y":
        ax.set_ylim(0, None if not empty else 1)
    else:
        ax.set_xlim(0, None if not empty else 1)
    if empty:
        ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center", color="#777")
        (ax.set_xticks if axis == "y" else ax.set_yticks)([])  # no categories: no made-up scale either


def _label(text: Any, limit: int = 40) -> str:
    """A chart label: bounded, free of mathtext markers, and every invisible or control character
    written as its \\x.. or \\u.... escape, as the text report and the page show it (a bidi
    override would reverse the rest of the label; "?" would hide what was sent)."""
    clean = escape.visible(str(text))
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


def activity(report: dict[str, Any]) -> Figure:
    series = report["activity"]["series"]
    fig = _figure()
    ax = fig.add_subplot()
    xs = range(len(series))
    bars = ax.bar(xs, [p["sessions"] for p in series], width=1.0 if len(series) > 60 else 0.8, color=COLOR,
                  label="sessions")
    _time_axis(ax, [p["t"] for p in series])
    ax.set_ylabel("sessions per " + report["activity"]["bucket"])
    _counts(ax, empty=not any(p["sessions"] for p in series))
    ax.set_title("Activity on the SMTP port", loc="left")
    if series:
        # Sources are counted on an axis of their own: a million sessions from a thousand
        # sources would otherwise draw the sources as a line on the floor.
        right = ax.twinx()
        line = right.plot(xs, [p["sources"] for p in series], color=ACCENT, marker="." if len(series) <= 60 else None,
                          linewidth=1.2, label="distinct sources")
        right.set_ylabel("distinct sources", color=ACCENT)
        right.spines["right"].set_visible(True)
        _counts(right)
        ax.legend(handles=[bars, *line], frameon=False, loc="lower right", bbox_to_anchor=(1, 1), ncol=2,
                  borderaxespad=0.2)
    return fig


def helo_classes(report: dict[str, Any]) -> Figure:
    classes = report["helo"]["classes"]
    fig = _figure(8, 3)
    ax = fig.add_subplot()
    names = list(classes)
    ax.barh(names[::-1], [classes[n] for n in names][::-1], color=COLOR)
    ax.set_xlabel("sessions")
    _counts(ax, "x", empty=not any(classes.values()))
    ax.set_title("HELO/EHLO identity", loc="left")
    return fig


def commands(report: dict[str, Any]) -> Figure:
    uses = report["commands"]
    fig = _figure(8, 3)
    ax = fig.add_subplot()
    verbs = list(uses)
    ax.bar(verbs, [uses[v] for v in verbs], color=COLOR)
    ax.set_ylabel("uses")
    _counts(ax, empty=not verbs)
    ax.set_title("Preferred commands", loc="left")
    ax.tick_params(axis="x", labelrotation=45)
    return fig


def relay_probes(report: dict[str, Any]) -> Figure:
    series = report["relay_probes"]["over_time"]
    fig = _figure()
    ax = fig.add_subplot()
    ax.bar(range(len(series)), [p["probes"] for p in series], width=1.0 if len(series) > 60 else 0.8, color=ACCENT)
    _time_axis(ax, [p["t"] for p in series])
    ax.set_ylabel("probe messages")
    _counts(ax, empty=not any(p["probes"] for p in series))
    ax.set_title("Open-relay probes over time", loc="left")
    return fig


def _ranking(labels: list[str], sessions: list[int], title: str) -> Figure:
    """Horizontal bars, the largest on top, one row per label."""
    fig = _figure(8, 0.5 + 0.25 * max(len(labels), 4))
    ax = fig.add_subplot()
    ax.barh([_label(text) for text in labels][::-1], sessions[::-1], color=COLOR)
    ax.set_xlabel("sessions")
    _counts(ax, "x", empty=not labels)
    ax.set_title(title, loc="left")
    return fig


def top_sources(report: dict[str, Any]) -> Figure:
    sources = report["sources"][:15]
    return _ranking([s["src_ip"] for s in sources], [s["sessions"] for s in sources], "Top sources")


def countries(report: dict[str, Any]) -> Figure:
    ranked = report["origins"]["countries"][:15]
    return _ranking([c["country"] for c in ranked], [c["sessions"] for c in ranked],
                    "Sessions by country of the source")


MAX_TICKS = 8
HOUR_STEPS = (1, 2, 3, 6, 12, 24, 48, 72, 168, 336, 672)  # hours between ticks: each divides a day, or whole days
DAY_STEPS = (1, 2, 7, 14, 28, 56, 112, 364)  # days between ticks (7 and over: on Mondays)
MIN_SLOTS = 8  # a series shorter than this is centred with bars of a usual width


def ticks(labels: list[str]) -> list[int]:
    """Which buckets get a tick: at most MAX_TICKS, on round times (every 6 hours at 00, 06, 12,
    18; every other day at midnight; weekly on Mondays), never every 30 hours from wherever the
    data began."""
    if not labels:
        return []
    hourly = len(labels[0]) == 13
    steps = HOUR_STEPS if hourly else DAY_STEPS
    # A step's ticks can fall one short of the span's length over it: allow for the partial ends.
    step = next((s for s in steps if len(labels) / s <= MAX_TICKS - 1), steps[-1])
    chosen = [i for i, label in enumerate(labels) if _on_step(label, step, hourly)]
    # Past the longest step (years of days): every n-th of those round times.
    return chosen[:: -(-len(chosen) // MAX_TICKS)] or [0]


def _on_step(label: str, step: int, hourly: bool) -> bool:
    day = date.fromisoformat(label[:10])
    if hourly:
        hour = int(label[11:13])
        return hour % step == 0 if step < 24 else hour == 0 and day.toordinal() % (step // 24) == 0
    if step >= 7:
        return day.weekday() == 0 and (day.toordinal() // 7) % (step // 7) == 0
    return day.toordinal() % step == 0


def _time_axis(ax: Any, labels: list[str]) -> None:
    """Ticks on round times (`ticks`), as `2026-11-30 05:00` or `2026-11-30`."""
    chosen = ticks(labels)
    ax.set_xticks(chosen)
    ax.set_xticklabels([_label(labels[i].replace("T", " ") + (":00" if len(labels[i]) == 13 else ""))
                        for i in chosen], rotation=30, ha="right")
    if labels:
        # A few buckets are drawn as bars of a usual width, centred; from MIN_SLOTS on, the
        # series fills the width (a 10-day report is ten wide bars, not 40% of the axis).
        pad = max(0.6, (MIN_SLOTS - len(labels)) / 2)
        ax.set_xlim(-pad, len(labels) - 1 + pad)


CHARTS: dict[str, tuple[str, Callable[[dict[str, Any]], Figure]]] = {
    "activity": ("Activity over time", activity),
    "helo-classes": ("HELO/EHLO classes", helo_classes),
    "commands": ("Preferred commands", commands),
    "relay-probes": ("Relay probes over time", relay_probes),
    "top-sources": ("Top sources", top_sources),
    "countries": ("Sessions by country", countries),
}


def svg(name: str, report: dict[str, Any]) -> str:
    """One chart as an inline <svg> element (no XML prolog, ids unique to the chart)."""
    fig = CHARTS[name][1](report)
    buffer = io.StringIO()
    with plt.rc_context({**STYLE, "svg.hashsalt": name}):
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    plt.close(fig)
    text = buffer.getvalue()
    text = text[text.index("<svg"):]
    # matplotlib names its defs with short ids; prefix them so five charts in one page never clash.
    return re.sub(r'(id="|url\(#|xlink:href="#|href="#)', lambda m: f"{m.group(1)}{name}-", text)


def write_pngs(report: dict[str, Any], directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (_, make) in CHARTS.items():
        fig = make(report)
        path = directory / f"{name}.png"
        with plt.rc_context(STYLE):
            fig.savefig(path, format="png")
        plt.close(fig)
        written.append(path)
    return written
