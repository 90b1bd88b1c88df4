"""Raw messages as `.eml` files named by their sha256, under a byte budget."""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import threading
from pathlib import Path

from relaypot.errors import StorageError
from relaypot.protocol.outputs import StoredMessage
from relaypot.storage.summary import summarize

log = logging.getLogger(__name__)


class MessageStore:
    """Content-addressed: the same message sent a thousand times is stored once.

    `store()` returns only after the bytes are written to the file system (and fsync'd when
    `fsync` is set), so the session's 250 never precedes the message reaching the disk.
    """

    def __init__(self, root: Path, max_bytes: int, fsync: bool = False) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.fsync = fsync
        self._dirs: set[str] = set()
        self._lock = threading.Lock()  # store() runs in the loop or in a worker thread
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the message directory {root}: {exc.strerror}") from None
        self.used = self._measure()

    def _measure(self) -> int:
        total = 0
        for dirpath, _, files in os.walk(self.root):
            for name in files:
                if name.endswith(".eml"):
                    try:
                        total += os.stat(os.path.join(dirpath, name)).st_size
                    except OSError:
                        pass
        return total

    def store(self, body: bytes) -> StoredMessage:
        sha = hashlib.sha256(body).hexdigest()
        rel = f"{sha[:2]}/{sha}.eml"
        path = self.root / rel
        size = len(body)
        summary = summarize(body)
        relpath = f"{self.root.name}/{rel}"
        if path.exists():
            return StoredMessage(sha, relpath, size, summary)
        with self._lock:
            if self.used + size > self.max_bytes:
                return StoredMessage(sha, relpath, size, summary, refused=f"message store full ({self.used} bytes)")
            self.used += size
        try:
            self._write(path, sha[:2], body)
        except OSError as exc:
            with self._lock:
                self.used -= size
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                return StoredMessage(sha, relpath, size, summary, refused=f"disk full: {exc.strerror}")
            log.error("cannot store message %s: %s", sha, exc)
            return StoredMessage(sha, relpath, size, summary, refused=f"cannot write: {exc.strerror}")
        return StoredMessage(sha, relpath, size, summary)

    def _write(self, path: Path, subdir: str, body: bytes) -> None:
        if subdir not in self._dirs:
            (self.root / subdir).mkdir(exist_ok=True)
            self._dirs.add(subdir)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        try:
            view = memoryview(body)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            if self.fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        # Atomic: a reader never sees half a message under its final name.
        os.replace(tmp, path)
