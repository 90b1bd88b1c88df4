"""Benchmark: what reading a message's lines against the server's line bound costs, beside the
same persona without it, in one run.

OpenSMTPD ends a session on the read that brings a line's 65535th byte, a message's lines too
([lines] max_length_ends: protocol/intake.py looks at each body byte once more as it comes). The
sans-IO session takes one message of `--megabytes` in reads of 64 KiB (as the transport reads),
once with the opensmtpd persona as it is, once with max_length_ends off; both in this process,
the rounds interleaved. Bodies: ordinary lines of 76 bytes, and lines of 65000 bytes (the bound's
worst case: each read ends inside a line, so its start is looked at again).

    python3 bench/body_lines.py [--megabytes 30] [--rounds 3]

Figures, never assertions.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import sys
import time
from statistics import median

READ = 65536


def intake_seconds(bounded: bool, line: int, megabytes: int) -> float:
    """CPU seconds for one session to take a message of `megabytes` in lines of `line` bytes."""
    from relaypot.personas import model
    from relaypot.protocol.listener import ListenerContext, SessionLimits
    from relaypot.protocol.outputs import Deliver, Reply, StoredMessage
    from relaypot.protocol.session import Session

    persona = model.load("opensmtpd")
    if not bounded:
        persona = dataclasses.replace(persona, lines=dataclasses.replace(persona.lines, max_length_ends=False))
    limits = SessionLimits(max_message_size=(megabytes + 1) << 20)
    context = ListenerContext(persona, "mail.example.com", "mail.example.com", limits=limits, clock=time.time,
                              rng=random.Random(0))
    session = Session(context, "192.0.2.1", 40000, "127.0.0.1", 25, "127.0.0.1:25", relay="closed")
    session.start()
    for command in (b"EHLO client.example.org", b"MAIL FROM:<a@client.example.org>",
                    b"RCPT TO:<postmaster@mail.example.com>", b"DATA"):
        out = session.receive_data(command + b"\r\n")
    assert [item for item in out if isinstance(item, Reply)][-1].code == 354
    body = b"Subject: x\r\n\r\n" + (b"z" * line + b"\r\n") * ((megabytes << 20) // (line + 2)) + b".\r\n"
    start = time.process_time()
    delivered = False
    for at in range(0, len(body), READ):
        out = session.receive_data(body[at : at + READ])
        delivered = delivered or any(isinstance(item, Deliver) for item in out)
    elapsed = time.process_time() - start
    assert delivered, "the message was not taken"
    session.message_stored(StoredMessage("0" * 64, "messages/x.eml", len(body)))
    session.finish("quit")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megabytes", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"# a message of {args.megabytes} MB in reads of {READ} bytes, opensmtpd persona; "
          f"{args.rounds} interleaved rounds; Python {sys.version.split()[0]}")
    for line in (76, 65000):
        bounded, plain = [], []
        for _ in range(args.rounds):
            bounded.append(intake_seconds(True, line, args.megabytes))
            plain.append(intake_seconds(False, line, args.megabytes))
        b, p = median(bounded), median(plain)
        print(f"lines of {line:>5} bytes: with the line bound {b * 1000:.1f} ms, without {p * 1000:.1f} ms "
              f"({b / p:.2f}x; {args.megabytes / b:.0f} MB/s with it)")


if __name__ == "__main__":
    main()
