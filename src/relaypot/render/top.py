"""`relaypot top`'s screens: a snapshot (analysis/live.py) as lines of text, one pane at a time.

Pure: the caller gives the width and whether the terminal takes Unicode; every value an attacker
chose (HELO classes are ours, but user names, passwords, subjects are theirs) is escaped.
"""

from __future__ import annotations

from typing import Any

from relaypot.escape import terminal
from relaypot.numbers import count

PLAIN_ROWS = 50  # rows of each list in a plain snapshot (`--once`, a pipe)
PANES = {"o": "overview", "s": "sources", "r": "relay probes", "c": "credentials", "h": "HELO classes"}
BARS_UNICODE = "▁▂▃▄▅▆▇█"
BARS_ASCII = " .:-=+*#"


def sparkline(values: list[int], unicode: bool = True) -> str:
    bars = BARS_UNICODE if unicode else BARS_ASCII
    top = max(values, default=0)
    if top == 0:
        return bars[0] * len(values)
    return "".join(bars[min(len(bars) - 1, (value * (len(bars) - 1) + top - 1) // top)] for value in values)


def _time(ts: str | None) -> str:
    return (ts or "")[11:19]


def _table(rows: list[list[str]], header: list[str]) -> list[str]:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=False)]
    return ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=False)).rstrip()
            for row in [header, *rows]]


def _table_or_none(rows: list[list[str]], header: list[str]) -> list[str]:
    return _table(rows, header) if rows else ["  none today"]


def header(snap: Any, pane: str, store: str, interval: float) -> list[str]:
    keys = "  ".join(f"[{key}] {name}" for key, name in PANES.items())
    return [f"relaypot top  {snap.taken:%Y-%m-%d %H:%M:%S} UTC  every {interval:g} s  {terminal(store, 60)}",
            f"{keys}  [q] quit    showing: {PANES[pane]}", ""]


def title(snap: Any, store: str) -> str:
    return f"relaypot top  {snap.taken:%Y-%m-%d %H:%M:%S} UTC  {terminal(store, 60)}"


def activity(snap: Any, unicode: bool) -> list[str]:
    last = snap.per_minute[-1] if snap.per_minute else 0
    lines = [f"sessions per minute, last hour (now {last}, peak {max(snap.per_minute, default=0)}):",
             "  " + sparkline(snap.per_minute, unicode),
             f"open sessions {snap.open_sessions}   today: {count(snap.sessions_today, 'session')} from "
             f"{count(snap.sources_today, 'source')}"]
    if len(snap.sensors) > 1:
        lines.append("sensors today: " + ", ".join(f"{terminal(name, 40)} {count}" for name, count in snap.sensors))
    return lines


def sources(snap: Any, limit: int) -> list[str]:
    rows = [[_time(s["last"]), s["src_ip"], str(s["sessions"]), s["country"] or "-",
             f"AS{s['asn']}" if s["asn"] else "-", s["dnsbl"], terminal(s["os"], 24)] for s in snap.sources[:limit]]
    return ["newest sources:", *_table(rows, ["last", "source", "sessions", "cc", "network", "dnsbl", "os"])]


def probes(snap: Any, limit: int) -> list[str]:
    rows = [[_time(p["ts"]), p["src_ip"], terminal(p["family"], 30), terminal(p["subject"], 100)]
            for p in snap.probes[:limit]]
    return ["newest relay probes:", *_table_or_none(rows, ["time", "source", "probe", "subject"])]


def credentials(snap: Any, limit: int) -> list[str]:
    rows = [[_time(c["ts"]), c["src_ip"], c["mechanism"], terminal(c["username"], 32), terminal(c["password"], 32),
             c["outcome"]] for c in snap.credentials[:limit]]
    columns = ["time", "source", "mechanism", "user", "password", "outcome"]
    return ["newest credentials:", *_table_or_none(rows, columns)]


def helo_classes(snap: Any) -> list[str]:
    rows = [[terminal(name, 30), str(count)] for name, count in snap.helo_classes]
    return ["HELO classes today:", *_table_or_none(rows, ["class", "sessions"])]


def screen(snap: Any, pane: str, store: str, interval: float, width: int, height: int,
           unicode: bool = True) -> list[str]:
    """The lines of one screen, cut to width and height."""
    lines = header(snap, pane, store, interval)
    if pane == "o":
        room = max(3, (height - 12) // 3)
        lines += [*activity(snap, unicode), "", *sources(snap, room), "", *probes(snap, room), "",
                  *credentials(snap, room), "", *helo_classes(snap)[:6]]
    elif pane == "s":
        lines += sources(snap, height)
    elif pane == "r":
        lines += probes(snap, height)
    elif pane == "c":
        lines += credentials(snap, height)
    else:
        lines += helo_classes(snap)
    return [line[:width] for line in lines[:height]]


def plain(snap: Any, store: str) -> list[str]:
    """Everything, once, for a pipe or a log (`--once`)."""
    return [title(snap, store), "", *activity(snap, unicode=False), "", *sources(snap, PLAIN_ROWS), "",
            *probes(snap, PLAIN_ROWS), "", *credentials(snap, PLAIN_ROWS), "", *helo_classes(snap)]
