"""One line per finished session on the terminal: source, HELO, commands, messages; attacker text escaped."""

from __future__ import annotations

import sys
from typing import TextIO

from relaypot.escape import terminal
from relaypot.events import Auth, Command, Helo, MessageReceived, Record, SessionClosed, SessionOpened

MAX_VERBS = 12


class ConsoleSummary:
    """An in-loop bus listener: keeps a little state per open session, prints it at the close."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout
        self.open: dict[str, dict] = {}

    def __call__(self, record: Record) -> None:
        event = record.event
        if isinstance(event, SessionOpened):
            self.open[record.session] = {"verbs": [], "helo": None, "messages": 0, "auth": 0}
            return
        state = self.open.get(record.session)
        if state is None:
            return
        if isinstance(event, Command):
            if len(state["verbs"]) < MAX_VERBS:
                state["verbs"].append(event.verb or "?")
        elif isinstance(event, Helo) and state["helo"] is None:
            state["helo"] = f"{event.verb} {event.hostname}"
        elif isinstance(event, MessageReceived):
            state["messages"] += 1
        elif isinstance(event, Auth):
            state["auth"] += 1
        elif isinstance(event, SessionClosed):
            del self.open[record.session]
            verbs = " ".join(terminal(v, 16) for v in state["verbs"])
            if event.commands > MAX_VERBS:
                verbs += " …"
            line = (f"{record.ts[:19]}Z {record.src_ip} {terminal(state['helo'], 60)} [{verbs or '-'}] "
                    f"messages={state['messages']} auth={state['auth']} {event.reason} {event.duration:.2f}s "
                    f"{record.session}")
            print(line, file=self.stream, flush=True)
