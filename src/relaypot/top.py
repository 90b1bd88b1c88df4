"""`relaypot top`: a live view of the sensors writing to a store, refreshed every few seconds.

On a terminal it is a curses screen with panes (keys in its header line); anywhere else (a pipe,
a log, `--once`) it prints one plain-text snapshot and exits. It only reads the store, so it runs
beside the sensors, over SSH, or on the database host of a fleet.
"""

from __future__ import annotations

import curses
import locale
import os
import re
import sys
import time
from typing import TextIO

from relaypot.analysis.live import Snapshot, snapshot
from relaypot.render.top import PANES, PLAIN_ROWS, plain, screen
from relaypot.storage.database import Database


def shown_store(url: str) -> str:
    """The store's URL without its password."""
    return re.sub(r"//([^/:@]+):[^@/]*@", r"//\1:***@", url)


def run_top(url: str, interval: float, sensor: str | None, once: bool, out: TextIO = sys.stdout) -> None:
    db = Database(url, must_exist=True)
    label = shown_store(url)
    try:
        if once or not out.isatty():
            for line in plain(snapshot(db, sensor=sensor, rows=PLAIN_ROWS), label):
                print(line, file=out)
            return
        locale.setlocale(locale.LC_ALL, "")
        unicode = locale.getpreferredencoding(False).lower().replace("-", "") == "utf8"
        for stale in ("LINES", "COLUMNS"):  # the terminal's own size, not what a shell exported once
            os.environ.pop(stale, None)
        curses.wrapper(_live, db, label, interval, sensor, unicode)
    finally:
        db.close()


def _live(window: curses.window, db: Database, label: str, interval: float, sensor: str | None,
          unicode: bool) -> None:
    curses.curs_set(0)
    window.timeout(200)  # keys are read five times a second; the store is asked every `interval`
    pane = "o"
    snap: Snapshot | None = None
    due = 0.0
    while True:
        now = time.monotonic()
        if snap is None or now >= due:
            # As many rows as the window is tall: a pane of its own fills the screen.
            snap = snapshot(db, sensor=sensor, rows=max(12, window.getmaxyx()[0]))
            due = now + interval
            _draw(window, snap, pane, label, interval, unicode)
        key = window.getch()
        if key in (ord("q"), ord("Q"), 27):
            return
        if 0 <= key < 256 and chr(key) in PANES:
            pane = chr(key)
            _draw(window, snap, pane, label, interval, unicode)
        elif key == curses.KEY_RESIZE:
            _draw(window, snap, pane, label, interval, unicode)


def _draw(window: curses.window, snap: Snapshot, pane: str, label: str, interval: float, unicode: bool) -> None:
    height, width = window.getmaxyx()
    window.erase()
    for row, line in enumerate(screen(snap, pane, label, interval, width - 1, height, unicode)):
        try:
            window.addstr(row, 0, line, curses.A_BOLD if row == 0 else curses.A_NORMAL)
        except curses.error:
            break  # the last cell of a small window
    window.refresh()
