"""SMTP sessions from the scanner's network namespace, as a script the stack tests and
bench/stack_personality.py run there: `smtp_client.py MODE SIZE [SESSIONS]`. Each session is
EHLO, STARTTLS and EHLO again when MODE is `tls`, MAIL, RCPT, DATA of a SIZE-byte message, QUIT.
Prints one JSON object: each session's reply codes, each session's seconds, the message's size."""

from __future__ import annotations

import json
import smtplib
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/, for support

from stack.netns import SENSOR_IP
from support import lenient_tls_client


def session(tls: bool, body: bytes) -> list[int]:
    codes = []
    with smtplib.SMTP(SENSOR_IP, 25, timeout=120) as client:
        codes.append(client.ehlo("scanner.example.org")[0])
        if tls:
            codes.append(client.starttls(context=lenient_tls_client())[0])
            codes.append(client.ehlo("scanner.example.org")[0])
        codes.append(client.mail("probe@scanner.example.org")[0])
        codes.append(client.rcpt("victim@example.net")[0])
        codes.append(client.data(body)[0])
    return codes


def main() -> None:
    mode, size = sys.argv[1], int(sys.argv[2])
    sessions = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    body = b"Subject: through the rewriter\r\n\r\n" + (b"x" * 78 + b"\r\n") * (size // 80)
    codes, seconds = [], []
    for _ in range(sessions):
        began = time.perf_counter()
        codes.append(session(mode == "tls", body))
        seconds.append(time.perf_counter() - began)
    print(json.dumps({"codes": codes, "seconds": seconds, "sent": len(body)}))


if __name__ == "__main__":
    main()
