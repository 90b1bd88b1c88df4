"""File descriptors: the limit raised as far as the system allows, connections sized under it, and
running out of them noticed, counted and logged once per interval instead of once per client.

Every connection holds a descriptor; so do the stores, the message files being written, DNS
lookups and the loop itself. Past the limit, accept() fails: asyncio's loop then reports every
attempt (hundreds a second), and uvloop's (libuv) silently closes the waiting connections. So
max_connections is fitted under the limit with room for the rest, and the sweeper watches how
many descriptors are open.
"""

from __future__ import annotations

import errno
import logging
import os
import resource
from typing import Any

log = logging.getLogger(__name__)

RESERVED = 96  # descriptors kept for everything but connections: stores, files, loop, threads
LOG_EVERY = 60.0  # seconds between two log lines about running out
_ACCEPT_ERRORS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


def raise_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass  # some systems cap it lower than their hard limit says (nr_open)
    return soft


def fit_connections(requested: int, limit: int, reserved: int) -> int:
    """The most connections that leave `reserved` descriptors free under `limit` (at least 1)."""
    return max(1, min(requested, limit - reserved))


class DescriptorWatch:
    """Counts accept() failures (asyncio's loop reports them) and seconds spent out of
    descriptors (any loop: the sweeper's look at /proc/self/fd), logging once per LOG_EVERY."""

    def __init__(self) -> None:
        self.accept_failures = 0
        self.exhausted_checks = 0
        self._logged_at = float("-inf")

    def install(self, loop: Any) -> None:
        """Route the loop's accept failures here; anything else to the handler it had."""
        previous = loop.get_exception_handler()

        def handler(loop: Any, context: dict) -> None:
            exc = context.get("exception")
            if isinstance(exc, OSError) and exc.errno in _ACCEPT_ERRORS and "accept" in context.get("message", ""):
                self.accept_failures += 1
                self._report(loop.time(), f"accept() failed: {exc.strerror}")
                return
            if previous is not None:
                previous(loop, context)
            else:
                loop.default_exception_handler(context)

        loop.set_exception_handler(handler)

    def check(self, now: float) -> None:
        """The sweeper's look, once a second: are (nearly) all descriptors in use?"""
        limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        try:
            in_use = len(os.listdir("/proc/self/fd"))
        except OSError as exc:
            if exc.errno not in (errno.EMFILE, errno.ENFILE):
                return  # not Linux: asyncio's reports still count
            in_use = limit  # even the look needed a descriptor
        if limit != resource.RLIM_INFINITY and in_use >= limit - 2:
            self.exhausted_checks += 1
            self._report(now, f"{in_use} of {limit} file descriptors in use")

    def _report(self, now: float, what: str) -> None:
        if now - self._logged_at < LOG_EVERY:
            return
        self._logged_at = now
        log.error("out of file descriptors (%s): new connections are refused or dropped by the system "
                  "(accept failures: %d; seconds found out of descriptors: %d). Raise `ulimit -n` or lower "
                  "[limits] max_connections", what, self.accept_failures, self.exhausted_checks)
