"""Benchmark: the sans-IO session's CPU per conversation, beside an older relaypot's, in one run.

The session alone (no sockets, no store, no records written): smtp-source's conversation (EHLO,
MAIL, RCPT, DATA, a 1000-byte message, QUIT) through `protocol.session.Session`, the message
"stored" at once. What a refactoring of the session costs shows here first, without the noise
of sockets and disks that `throughput.py` carries (its rounds vary by ±10 %).

    python3 bench/session_cpu.py [--baseline CHECKOUT | --watch] [--persona postfix] [--sessions 20000] [--repeat 5]

`--baseline` runs the same conversation under the relaypot of CHECKOUT (a `git worktree` of an
older commit), each in a process of its own, the rounds interleaved; each round prints the
fastest of `--repeat` timings, and the summary their medians and ratio. `--watch` runs it with
the attack catalogue's watch fed every record and the message, as each connection feeds it,
beside the session alone: what matching costs an ordinary session. Figures, never assertions.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from statistics import median

CONVERSATION = (b"EHLO client.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n"
                b"Subject: x\r\n\r\n" + b"y" * 900 + b"\r\n.\r\nQUIT\r\n")


def measure(persona: str, sessions: int, repeat: int, watch: bool = False) -> float:
    """The fastest of `repeat` timings of `sessions` conversations, in µs of CPU per conversation;
    with `watch`, every record and the message also go through the attack catalogue's watch."""
    import random
    import time

    from relaypot.personas import model
    from relaypot.protocol.listener import ListenerContext
    from relaypot.protocol.outputs import Deliver, StoredMessage
    from relaypot.protocol.session import Session

    context = ListenerContext(model.load(persona), "mail.example.com", "mail.example.com", clock=time.time,
                              rng=random.Random(0))
    stored = StoredMessage("0" * 64, "messages/x.eml", 1000)

    def one() -> None:
        session = Session(context, "192.0.2.1", 40000, "127.0.0.1", 25, "127.0.0.1:25")
        session.start()
        out = session.receive_data(CONVERSATION)
        while any(isinstance(item, Deliver) for item in out):
            out = session.message_stored(stored)
        session.finish("quit")

    if watch:
        from relaypot.events import Event
        from relaypot.judgements.attacks import WATCHED, Watch, catalogue

        plain, listing = one, catalogue()

        def one() -> None:
            watcher = Watch(listing)
            session = Session(context, "192.0.2.1", 40000, "127.0.0.1", 25, "127.0.0.1:25")
            items = session.start() + session.receive_data(CONVERSATION)
            while True:
                delivered = [item for item in items if isinstance(item, Deliver)]
                for item in items:
                    if type(item) in WATCHED:
                        watcher.see(item)
                for item in delivered:
                    watcher.message(item.body)
                if not delivered:
                    break
                items = session.message_stored(stored)
            for item in session.finish("quit"):
                if isinstance(item, Event) and type(item) in WATCHED:
                    watcher.see(item)

        del plain

    for _ in range(sessions // 10):  # warm up
        one()
    timings = []
    for _ in range(repeat):
        start = time.process_time()
        for _ in range(sessions):
            one()
        timings.append((time.process_time() - start) / sessions * 1e6)
    return min(timings)


def run(source: Path | None, args: argparse.Namespace, watch: bool = False) -> float:
    env = dict(os.environ)
    if source is not None:
        env["PYTHONPATH"] = str(source)
    result = subprocess.run([sys.executable, __file__, "--child", "--persona", args.persona, "--sessions",
                             str(args.sessions), "--repeat", str(args.repeat), *(["--watch"] if watch else [])],
                            capture_output=True, text=True, env=env, check=True)
    return float(result.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", metavar="CHECKOUT", help="an older relaypot checkout to run beside this one")
    parser.add_argument("--persona", default="postfix")
    parser.add_argument("--sessions", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--watch", action="store_true", help="the session with the attack watch, beside it alone")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(f"{measure(args.persona, args.sessions, args.repeat, args.watch):.2f}")
        return
    base = None
    if args.baseline:
        base = Path(args.baseline).resolve() / "src"
        if not (base / "relaypot").is_dir():
            sys.exit(f"--baseline: no relaypot source under {base}")
    print(f"# the sans-IO session, persona {args.persona}: {args.sessions} conversations, fastest of "
          f"{args.repeat}, {args.rounds} interleaved rounds; Python {sys.version.split()[0]}")
    here = Path(__file__).resolve().parents[1] / "src"
    if args.watch:
        base = here
    name, other = ("session+watch", "session alone") if args.watch else ("relaypot", "relaypot-base")
    mine, theirs = [], []
    for n in range(args.rounds):
        mine.append(run(here, args, args.watch))
        line = f"round {n + 1}: {name} {mine[-1]:.1f} µs/session"
        if base is not None:
            theirs.append(run(base, args))
            line += f", {other} {theirs[-1]:.1f} µs/session"
        print(line, flush=True)
    print(f"{name} (median) {median(mine):.1f} µs of CPU per session")
    if theirs:
        print(f"{other} (median) {median(theirs):.1f} µs; {name} / {other}: "
              f"{median(mine) / median(theirs):.2f}x (rounds: "
              + ", ".join(f"{a / b:.2f}" for a, b in zip(mine, theirs)) + ")")


if __name__ == "__main__":
    main()
