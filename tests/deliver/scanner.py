"""A raw SMTP client for messages no polite client sends as they are (bare CR and LF, lines
that start with a dot, UTF-8 addresses): the file's bytes go after DATA exactly as they are,
then CRLF.CRLF.

    python3 scanner.py SOURCE HOST:PORT HELO TO[,TO...] FILE

prints {"replies": [...]} with every reply's first line.
"""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path


def main() -> None:
    source, server, helo, to, path = sys.argv[1:6]
    host, _, port = server.rpartition(":")
    data = Path(path).read_bytes()
    replies = []
    with socket.create_connection((host, int(port)), timeout=30, source_address=(source, 0)) as conn:
        stream = conn.makefile("rb")

        def reply() -> str:
            while True:
                line = stream.readline().decode("utf-8", "replace").rstrip("\r\n")
                if line[3:4] != "-":
                    replies.append(line)
                    return line

        def say(line: str) -> str:
            conn.sendall(line.encode("utf-8") + b"\r\n")
            return reply()

        reply()
        say(f"EHLO {helo}")
        smtputf8 = " SMTPUTF8" if not to.isascii() else ""
        say(f"MAIL FROM:<scan@webscan.example>{smtputf8}")
        for recipient in to.split(","):
            say(f"RCPT TO:<{recipient}>")
        if say("DATA").startswith("354"):
            conn.sendall(data + (b"" if data.endswith(b"\r\n") else b"\r\n") + b".\r\n")
            reply()
        say("QUIT")
    print(json.dumps({"replies": replies}))


if __name__ == "__main__":
    main()
