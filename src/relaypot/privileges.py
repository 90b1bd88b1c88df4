"""Dropping root: load everything the sensor will ever need, hand the data directory over, change user.

After the drop the account may not be able to read the Python installation at all (pyenv under
/root, a venv in a private directory), so a module imported later, or a package's data file read
later, fails in the middle of a session. Everything is therefore loaded before: every codec a
message may name, and a rehearsal of what the sensor does (a session through every verb and
mechanism, the message summary, each record's JSON and rows, each enricher's data). A guard
then logs any import, or read of the installation, that still happens, once each: a bug to fix.
"""

from __future__ import annotations

import importlib
import logging
import os
import pkgutil
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from relaypot import datadir
from relaypot.errors import ConfigError

log = logging.getLogger(__name__)


def ids_of(user: str) -> tuple[int | None, int | None]:
    """(uid, gid) a process forked now must become to match the drop to come; (None, None) when
    nothing will be dropped (no user, not root, or no such user: drop() then says so)."""
    import pwd  # noqa: PLC0415 (POSIX only)

    if not user or os.getuid() != 0:
        return None, None
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return None, None
    return entry.pw_uid, entry.pw_gid


def drop(user: str, data_dir: Path, rehearsals: Iterable[Callable[[], object]] = ()) -> bool:
    """Become `user` after loading everything and handing `data_dir` over. False when there was
    nothing to do (already that user); ConfigError when it cannot be done."""
    import pwd  # noqa: PLC0415 (POSIX only)

    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise ConfigError(f"[run] user: no such user {user!r}") from None
    if os.getuid() != 0:
        if os.getuid() == entry.pw_uid:
            return False
        raise ConfigError(f"[run] user: dropping to {user!r} needs root")
    preload()
    for rehearse in rehearsals:
        rehearse()
    changed = datadir.hand_over(data_dir, entry.pw_uid, entry.pw_gid)
    os.setgroups([])
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)
    _guard_late_loads(_installation_roots())
    log.info("dropped privileges to %s (%d entries of the data directory handed over)", user, changed)
    return True


def preload() -> None:
    """What any sensor may load on first use: codecs, resource readers, traceback formatting."""
    import encodings  # noqa: PLC0415

    for module in pkgutil.iter_modules(encodings.__path__):
        try:
            importlib.import_module(f"encodings.{module.name}")
        except Exception:  # noqa: BLE001 (a platform's codec, e.g. mbcs on POSIX, may not load)
            pass
    for name in ("importlib.readers", "importlib.resources.readers", "linecache", "tokenize", "traceback"):
        importlib.import_module(name)
    try:  # a traceback logged later formats through these
        raise RuntimeError("rehearsal")
    except RuntimeError:
        for handler in logging.getLogger().handlers:
            if handler.formatter is not None:
                handler.formatter.format(logging.LogRecord("relaypot", logging.ERROR, __file__, 0, "rehearsal", (),
                                                           sys.exc_info()))


def _installation_roots() -> tuple[str, ...]:
    """Where Python and its packages live: nothing should be read from there after the drop."""
    import relaypot  # noqa: PLC0415

    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, str(Path(relaypot.__file__).parent)}
    roots.update(path for path in sys.path if path and "site-packages" in path)
    return tuple(sorted(root.rstrip("/") + "/" for root in roots))


def _guard_late_loads(roots: tuple[str, ...]) -> None:
    """Log, once each, a module imported or an installation file opened after the drop."""
    reported: set[str] = set()
    busy = [False]  # logging inside the hook may itself raise audit events

    def hook(event: str, args: tuple) -> None:
        if busy[0]:
            return
        if event == "import":
            name = args[0]
        elif event == "open" and isinstance(args[0], str) and args[0].startswith(roots):
            name = args[0]
        else:
            return
        if name not in reported:
            reported.add(name)
            busy[0] = True
            try:
                log.error("loaded %s after dropping privileges: the user may not be able to read it "
                          "(a relaypot bug; please report it)", name)
            finally:
                busy[0] = False

    sys.addaudithook(hook)
