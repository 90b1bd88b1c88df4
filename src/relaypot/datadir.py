"""The data directory: made private, checked before root hands it over, handed over safely.

What relaypot keeps there is captured secrets (passwords, messages), so the directory is 0750 and
its files 0640 or stricter. When root starts the sensor with `--user`, the account it becomes owns
the directory's contents afterwards and may plant anything there: a symbolic link, a hard link to a
file of root's. So root changes only what relaypot itself made (the names below, owned by root,
not links), never follows a link, and refuses a directory that is a system one, or not empty and
not relaypot's.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import stat
from pathlib import Path

from relaypot.errors import ConfigError

log = logging.getLogger(__name__)

DIR_MODE = 0o750
FILE_MODE = 0o640
UMASK = 0o027  # whatever relaypot creates: no write for the group, nothing for others

# Everything relaypot creates in a data directory, as glob patterns of top-level names.
OURS = ("events.jsonl", "events-*.jsonl", "events-*.jsonl.gz", "relaypot.sqlite", "relaypot.sqlite-*", "no-delivery",
        "messages", "tls", "spool", "geo", "relaypot.lock")

# Directories that are the system's, never a honeypot's data directory to hand to its account.
SYSTEM = frozenset({
    "/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32", "/media", "/mnt",
    "/opt", "/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/usr/bin", "/usr/lib",
    "/usr/local", "/usr/local/bin", "/usr/local/lib", "/usr/sbin", "/usr/share", "/var", "/var/backups",
    "/var/cache", "/var/lib", "/var/local", "/var/lock", "/var/log", "/var/mail", "/var/opt", "/var/run",
    "/var/spool", "/var/tmp",
})


def is_ours(name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in OURS)


def prepare(directory: Path, hand_to: str = "") -> bool:
    """Create `directory` (0750) or check it; tighten what older versions left readable by all.
    True when this call created it.

    `hand_to`: the account that root will hand the directory to (`--user`); the directory must
    then be neither a system directory nor hold anything relaypot did not make.
    """
    handing_over = bool(hand_to) and os.geteuid() == 0
    if handing_over:
        _check_for_hand_over(directory, hand_to)
    created = not directory.exists()
    try:
        directory.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"[sensor] data_dir: cannot create {directory}: {exc.strerror}") from None
    _tighten(directory)
    return created


def lock(directory: Path) -> int:
    """Hold `relaypot.lock` for as long as the process lives (the kernel lets go at any exit): two
    sensors writing one directory would interleave their journals and fight over the store.
    Returns the open descriptor; ConfigError naming the process that holds it."""
    import fcntl  # noqa: PLC0415 (POSIX only)

    path = directory / "relaypot.lock"
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE)
    except OSError as exc:
        raise ConfigError(f"[sensor] data_dir: cannot open {path}: {exc.strerror}") from None
    if os.fstat(fd).st_nlink > 1:
        os.close(fd)
        raise ConfigError(f"[sensor] data_dir: {path} has other hard links; remove it")
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
        os.close(fd)
        raise ConfigError(f"[sensor] data_dir: {directory} is in use by another relaypot (process {holder}); "
                          "give each sensor a --data-dir of its own") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def remove_if_unused(directory: Path) -> bool:
    """After a start that failed: remove the directory this run created if it still holds nothing
    but what the start made (empty directories, the lock, empty files of relaypot's). True when
    it is gone."""
    top = str(directory)
    for root, dirs, files in os.walk(directory, topdown=False):
        for name in files:
            path = os.path.join(root, name)
            if root != top or not is_ours(name) or (name != "relaypot.lock" and os.path.getsize(path)):
                return False
        for name in files:
            os.unlink(os.path.join(root, name))
        for name in dirs:
            try:
                os.rmdir(os.path.join(root, name))
            except OSError:
                return False
    try:
        directory.rmdir()
    except OSError:
        return False
    return True


def _check_for_hand_over(directory: Path, user: str) -> None:
    text = str(directory)
    if text in SYSTEM or directory == Path.home():
        raise ConfigError(f"[sensor] data_dir: {text} is a system directory; with --user, give relaypot a "
                          "directory of its own, such as /var/lib/relaypot")
    try:
        info = os.stat(directory, follow_symlinks=False)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ConfigError(f"[sensor] data_dir: cannot examine {text}: {exc.strerror}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise ConfigError(f"[sensor] data_dir: {text} is not a directory")
    uid = _uid_of(user)
    if info.st_uid not in (0, uid):
        raise ConfigError(f"[sensor] data_dir: {text} belongs to uid {info.st_uid}, neither root nor {user}")
    foreign = sorted(name for name in os.listdir(directory) if not is_ours(name))
    if foreign:
        shown = ", ".join(repr(name) for name in foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        raise ConfigError(f"[sensor] data_dir: {text} holds what relaypot did not make ({shown}); with --user, "
                          "use an empty directory or one only relaypot has written to")


def _uid_of(user: str) -> int:
    import pwd  # noqa: PLC0415 (POSIX only)

    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        raise ConfigError(f"[run] user: no such user {user!r}") from None


def _tighten(directory: Path) -> None:
    """0750 for the directory and 0640 for relaypot's files in it, where they are ours to change."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        info = os.fstat(fd)
        if info.st_uid == os.geteuid() and info.st_mode & ~DIR_MODE & 0o777:
            os.fchmod(fd, stat.S_IMODE(info.st_mode) & DIR_MODE)
        for name in os.listdir(fd):
            if not is_ours(name):
                continue
            try:
                entry = os.stat(name, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                continue
            if entry.st_uid != os.geteuid() or stat.S_ISLNK(entry.st_mode):
                continue
            mask = DIR_MODE if stat.S_ISDIR(entry.st_mode) else FILE_MODE
            if entry.st_mode & ~mask & 0o777:
                os.chmod(name, stat.S_IMODE(entry.st_mode) & mask, dir_fd=fd, follow_symlinks=False)
    except NotImplementedError:  # a platform without fchmodat's no-follow: leave the modes
        pass
    finally:
        os.close(fd)


def hand_over(directory: Path, uid: int, gid: int) -> int:
    """Give `uid` what root made in the directory: the directory and relaypot's entries in it,
    where root owns them. Never through a link: symbolic links are skipped, every path is
    resolved against an open directory, and a file with more than one hard link stays root's.
    Returns how many entries changed owner."""
    changed = 0
    top = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        if _give(top, None, uid, gid):
            changed += 1
        for name in os.listdir(top):
            if not is_ours(name):
                continue
            entry = os.stat(name, dir_fd=top, follow_symlinks=False)
            if stat.S_ISDIR(entry.st_mode):
                for _, _, files, dir_fd in os.fwalk(name, dir_fd=top, follow_symlinks=False):
                    changed += _give(dir_fd, None, uid, gid)
                    for file_name in files:
                        changed += _give(dir_fd, file_name, uid, gid)
            else:
                changed += _give(top, name, uid, gid)
    finally:
        os.close(top)
    return changed


def _give(dir_fd: int, name: str | None, uid: int, gid: int) -> bool:
    """chown one entry (the open directory itself when `name` is None) if root made it."""
    info = os.fstat(dir_fd) if name is None else os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    if info.st_uid != 0:
        return False  # already the user's, or someone else's: not root's to give
    if stat.S_ISLNK(info.st_mode) or not (stat.S_ISDIR(info.st_mode) or stat.S_ISREG(info.st_mode)):
        log.warning("data directory: not handing over %r: not a plain file or directory", name)
        return False
    if stat.S_ISREG(info.st_mode) and info.st_nlink > 1:
        log.warning("data directory: not handing over %r: it has %d hard links", name, info.st_nlink)
        return False
    if name is None:
        os.fchown(dir_fd, uid, gid)
    else:
        os.chown(name, uid, gid, dir_fd=dir_fd, follow_symlinks=False)
    return True
