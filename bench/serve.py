"""What the benchmark's own servers share: `SCRIPT PORT [uvloop]`, listen on 127.0.0.1, stop on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable


def serve(protocol_factory: Callable[[], asyncio.BaseProtocol]) -> None:
    """Serve `protocol_factory` on 127.0.0.1:PORT (argv[1]), on uvloop when argv[2] is `uvloop`."""
    if len(sys.argv) > 2 and sys.argv[2] == "uvloop":
        import uvloop

        uvloop.install()
    asyncio.run(_main(protocol_factory, int(sys.argv[1])))


async def _main(protocol_factory: Callable[[], asyncio.BaseProtocol], port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(protocol_factory, "127.0.0.1", port, backlog=1024)
    print(f"listening on 127.0.0.1:{server.sockets[0].getsockname()[1]}", file=sys.stderr, flush=True)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    server.close()
