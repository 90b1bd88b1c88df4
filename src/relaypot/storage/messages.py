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

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


class MessageStore:
    """Content-addressed: the same message sent a thousand times is stored once.

    `store()` returns only after the bytes are written to the file system (and fsync'd when
    `fsync` is set), so the session's 250 never precedes the message reaching the disk.
    A message is written straight to its final name (open with O_EXCL, write, close: three system
    calls). A crash mid-write can leave a short file, but no record ever names it, and the next
    copy of that message finds the size wrong and replaces it atomically.
    """

    def __init__(self, root: Path, max_bytes: int, fsync: bool = False) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.fsync = fsync
        self._root = str(root)
        self._prefix = root.name
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
        subdir = sha[:2]
        rel = f"{subdir}/{sha}.eml"
        path = f"{self._root}/{rel}"
        size = len(body)
        summary = summarize(body)
        relpath = f"{self._prefix}/{rel}"
        with self._lock:
            if self.used + size > self.max_bytes:
                if _has_copy(path, size):
                    return StoredMessage(sha, relpath, size, summary)
                return StoredMessage(sha, relpath, size, summary, refused=f"message store full ({self.used} bytes)")
            self.used += size
        try:
            if subdir not in self._dirs:
                os.makedirs(f"{self._root}/{subdir}", exist_ok=True)
                self._dirs.add(subdir)
            self._write(path, body)
        except FileExistsError:
            with self._lock:
                self.used -= size
            if not _has_copy(path, size):
                self._replace(path, body)
        except OSError as exc:
            with self._lock:
                self.used -= size
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                return StoredMessage(sha, relpath, size, summary, refused=f"disk full: {exc.strerror}")
            log.error("cannot store message %s: %s", sha, exc)
            return StoredMessage(sha, relpath, size, summary, refused=f"cannot write: {exc.strerror}")
        return StoredMessage(sha, relpath, size, summary)

    def _write(self, path: str, body: bytes, flags: int = _CREATE) -> None:
        """Write a new file whole, or leave none: a full disk must not leave an empty or cut .eml."""
        fd = os.open(path, flags, 0o640)
        try:
            view = memoryview(body)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            if self.fsync:
                os.fsync(fd)
        except BaseException:
            os.close(fd)
            try:
                os.unlink(path)
            except OSError:
                pass
            raise
        os.close(fd)

    def _replace(self, path: str, body: bytes) -> None:
        """Rewrite a short (crash-cut) copy atomically: a reader never sees half a message."""
        tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
        self._write(tmp, body, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.replace(tmp, path)


def _has_copy(path: str, size: int) -> bool:
    """A whole copy is there; its time is refreshed, so that `relaypot prune` (which removes only
    files untouched since its cutoff) never takes a body that was just received again."""
    try:
        if os.stat(path).st_size != size:
            return False
        os.utime(path)
    except OSError:
        return False
    return True
