"""Benchmark: SMTP sessions through `relaypot stack`'s rewriter beside the same sessions without it.

As root, in two network namespaces of its own (tests/stack/netns.py: the sensor, the scanner,
a veth pair on 198.18.0.0/15), it runs the exchange2000 sensor with STARTTLS forced on, and from
the scanner's side smtplib sessions (EHLO, STARTTLS, EHLO, MAIL, RCPT, DATA of `--size` bytes,
10 MiB by default), `--repeat` interleaved rounds with and without `relaypot stack`. It prints
the median seconds per session of each and their ratio, and what the rewriter counted.

    sudo python3 bench/stack_personality.py [--size 10485760] [--sessions 3] [--repeat 3]

Figures, never assertions: read them, and put them in your notes with the command.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from stack.netns import Namespaces, sensor, stack, stop  # noqa: E402


def round_of(ns: Namespaces, work: Path, with_stack: bool, size: int, sessions: int) -> tuple[list[float], str]:
    run = sensor(ns, work / f"data-{time.monotonic_ns()}", "exchange2000", env={"RELAYPOT_TLS_STARTTLS": "yes"})
    running = stack(ns, work / "state.json", "exchange2000") if with_stack else None
    said = ""
    try:
        times = ns.smtp_client("tls", size, sessions, timeout=600)["seconds"]
    finally:
        if running is not None:
            said = stop(running).strip().splitlines()[-1]
        stop(run)
    return times, said


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=10 * 1024 * 1024, help="message bytes (default 10 MiB)")
    parser.add_argument("--sessions", type=int, default=3, help="sessions per round (default 3)")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved rounds (default 3)")
    args = parser.parse_args()
    ns = Namespaces()
    results: dict[bool, list[float]] = {False: [], True: []}
    counted = ""
    try:
        with tempfile.TemporaryDirectory(prefix="relaypot-stack-bench-") as tmp:
            for _ in range(args.repeat):
                for with_stack in (False, True):
                    times, said = round_of(ns, Path(tmp), with_stack, args.size, args.sessions)
                    results[with_stack] += times
                    counted = said or counted
    finally:
        ns.remove()
    plain, dressed = statistics.median(results[False]), statistics.median(results[True])
    mib = args.size / 1024 / 1024
    print(f"one session: EHLO, STARTTLS (TLS 1.0), EHLO, MAIL, RCPT, DATA of {mib:.1f} MiB; "
          f"{args.repeat} rounds x {args.sessions} sessions each")
    print(f"{'':24}{'median s':>10}{'MiB/s':>10}")
    print(f"{'without relaypot stack':24}{plain:10.3f}{mib / plain:10.1f}")
    print(f"{'through the rewriter':24}{dressed:10.3f}{mib / dressed:10.1f}")
    print(f"ratio {dressed / plain:.2f}x; rewriter: {counted.removeprefix('relaypot stack: ')}")


if __name__ == "__main__":
    main()
