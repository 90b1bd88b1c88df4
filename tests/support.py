"""Test support: a real sensor on 127.0.0.1 (port 0) in a background thread, external tools, sessions."""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from relaypot import app, config
from relaypot.personas import model
from relaypot.protocol.session import Session
from relaypot.protocol.settings import SessionSettings
from relaypot.sinks.memory import MemorySink

REFERENCE = Path(__file__).parent / "reference"


def fetch(url: str, query: str) -> list[tuple]:
    """The rows a query returns, from a store on either engine."""
    from relaypot.storage.database import Database

    db = Database(url, must_exist=True)
    try:
        return [tuple(row) for row in db.query(query)]
    finally:
        db.close()


def require(tool: str) -> str:
    """The path of an external tool; a test skips without it locally but fails in CI (.ci/run installs it)."""
    path = shutil.which(tool) or next(
        (str(p) for p in (Path("/usr/sbin") / tool, Path("/usr/bin") / tool) if p.exists()), None
    )
    if path:
        return path
    if os.environ.get("CI"):
        pytest.fail(f"{tool} is not installed; .ci/run must install it")
    pytest.skip(f"{tool} is not installed (CI installs it)")


class RunningSensor:
    """`relaypot run` in a thread, with a MemorySink beside the JSONL and SQLite sinks."""

    def __init__(self, data_dir: Path, loop: str = "uvloop", **options: Any) -> None:
        overrides = {
            ("smtp", "listen"): ["127.0.0.1:0"],
            ("sensor", "data_dir"): str(data_dir),
            ("sensor", "name"): "test-sensor",
            ("run", "quiet"): True,
            # No lookups unless a test brings its own DNS server (tests/enrich): no network here.
            ("enrich", "enabled"): False,
        }
        for key, value in options.items():
            table, _, name = key.partition("__")
            overrides[(table, name)] = value
        env = {"RELAYPOT_STORE_FLUSH_INTERVAL": "0.05"}
        self.settings = config.load(environ=env, overrides=overrides)
        self.memory = MemorySink()
        self.sensor = app.build(self.settings, extra_sinks=(self.memory,))
        self.data_dir = self.sensor.data_dir
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        # The sensor's own choice (uvloop) unless a test asks for asyncio's loop, the fallback.
        self.loop = app.new_event_loop() if loop == "uvloop" else asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._main, daemon=True)
        self.thread.start()
        if not self._ready.wait(15):
            raise RuntimeError("the sensor did not start")
        if self._error:
            raise self._error

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self._stop = asyncio.Event()

        def ready(bound: list[tuple[str, int]]) -> None:
            self.host, self.port = bound[0]
            self._ready.set()

        try:
            self.loop.run_until_complete(app.serve(self.sensor, on_ready=ready, stop=self._stop))
        except BaseException as exc:
            self._error = exc
            self._ready.set()
        finally:
            self.loop.close()

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    def stop(self) -> None:
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self._stop.set)
            self.thread.join(30)

    def records(self, kind: str | None = None) -> list:
        return [r for r in list(self.memory.records) if kind is None or r.kind == kind]

    def wait_for(self, kind: str, count: int = 1, timeout: float = 10.0) -> list:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.records(kind)
            if len(found) >= count:
                return found
            time.sleep(0.02)
        raise AssertionError(f"waited {timeout}s for {count} {kind} records; have {len(self.records(kind))}")

    def sql(self, query: str) -> list[tuple]:
        """Rows from this sensor's store, whichever engine `[store] url` names."""
        return fetch(self.settings.store_url, query)


def make_session(persona: str = "exchange2000", hostname: str = "mail.example.com", tls: bool = False,
                 client_ip: str = "192.0.2.10", **limits: Any) -> Session:
    from relaypot.protocol.settings import SessionLimits

    settings = SessionSettings(
        model.load(persona), hostname, hostname, limits=SessionLimits(**limits), tls_available=tls,
        clock=lambda: 1_231_702_320.0, rng=random.Random(7),
    )
    return Session(settings, client_ip, 40000, "198.51.100.1", 25, "198.51.100.1:25")
