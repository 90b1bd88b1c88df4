"""The benchmark's floor: a bare asyncio responder that answers SMTP and records nothing."""

from __future__ import annotations

import asyncio

from serve import serve


class Bare(asyncio.Protocol):
    """The replies; `reply` and `message` are where recording_floor.py records (here: nothing)."""

    __slots__ = ("buf", "data", "transport")

    def reply(self, line: bytes, text: bytes) -> None:
        self.transport.write(text)

    def message(self, body: bytes) -> None:
        pass

    def connection_made(self, transport):
        self.transport = transport
        self.buf = b""
        self.data = False
        transport.write(b"220 bench.example ESMTP\r\n")

    def data_received(self, chunk):
        self.buf += chunk
        while True:
            if self.data:
                end = self.buf.find(b"\r\n.\r\n")
                if end < 0:
                    return
                body, self.buf = self.buf[:end + 2], self.buf[end + 5:]
                self.data = False
                self.message(body)
                self.transport.write(b"250 2.0.0 Ok: queued\r\n")
                continue
            end = self.buf.find(b"\r\n")
            if end < 0:
                return
            line, self.buf = self.buf[:end], self.buf[end + 2:]
            verb = line[:4].upper()
            if verb == b"DATA":
                self.data = True
                self.reply(line, b"354 End data with <CR><LF>.<CR><LF>\r\n")
            elif verb == b"QUIT":
                self.reply(line, b"221 2.0.0 Bye\r\n")
                self.transport.close()
                return
            elif verb == b"EHLO":
                self.reply(line, b"250-bench.example\r\n250 PIPELINING\r\n")
            else:
                self.reply(line, b"250 2.0.0 Ok\r\n")


if __name__ == "__main__":
    serve(Bare)
