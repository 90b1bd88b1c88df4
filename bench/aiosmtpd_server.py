"""The benchmark's reference server: aiosmtpd with a trivial accept-and-drop handler."""

from __future__ import annotations

from aiosmtpd.smtp import SMTP

from serve import serve


class Drop:
    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's name for the hook
        return "250 OK"


if __name__ == "__main__":
    serve(lambda: SMTP(Drop(), hostname="bench.example"))
