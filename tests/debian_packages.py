"""A Debian package's files without installing it: `apt-get download` into a cache, `dpkg -x` into
a private root. Debian's MTAs conflict as installed packages (each provides
mail-transport-agent, and the suite keeps Postfix for smtp-source); unpacked side by side, each
in a root of its own, they do not, and nothing of the system changes."""

from __future__ import annotations

import grp
import os
import pwd
import shlex
import shutil
import socket
import subprocess
import time
from pathlib import Path

from support import unavailable

# Downloaded packages are kept between runs (they are what the registry serves for this release)
CACHE = Path(os.environ.get("RELAYPOT_DEB_CACHE", "/tmp/relaypot-debs"))


def unpack(packages: tuple[str, ...], root: Path) -> None:
    """Each package's files under `root`, as `dpkg -x` lays them out (no maintainer scripts run)."""
    for tool in ("apt-get", "dpkg"):
        if shutil.which(tool) is None:
            unavailable(f"{tool} is missing (a Debian system is needed to unpack {', '.join(packages)})")
    CACHE.mkdir(parents=True, exist_ok=True)
    missing = [name for name in packages if not _cached(name)]
    if missing:
        result = subprocess.run(["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root", *missing],
                                cwd=CACHE, capture_output=True, text=True, timeout=600)
        if result.returncode != 0 or any(not _cached(name) for name in missing):
            unavailable(f"apt-get download {' '.join(missing)} failed: {result.stderr.strip()[-300:]}")
    root.mkdir(parents=True, exist_ok=True)
    for name in packages:
        subprocess.run(["dpkg", "-x", str(_cached(name)), str(root)], check=True, capture_output=True, timeout=120)


def _cached(name: str) -> Path | None:
    found = sorted(CACHE.glob(f"{name}_*.deb"))
    return found[-1] if found else None


def greeted(process: subprocess.Popen, port: int, timeout: float = 20) -> bool:
    """Whether the server `process` started answers "220 " on 127.0.0.1:`port` before it exits
    or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                if sock.recv(512).startswith(b"220 "):
                    return True
        except OSError:
            time.sleep(0.1)
    return False


def stop(process: subprocess.Popen | None) -> None:
    """Ask the server to end, and make it end."""
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()


def system_user(name: str, home: Path) -> None:
    """A system user and its own group, as a package's postinst makes them (adduser --system
    --ingroup NAME) where they are missing."""
    try:
        grp.getgrnam(name)
    except KeyError:
        subprocess.run(["groupadd", "--system", name], check=True, capture_output=True, timeout=60)
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir", str(home), "--gid", name,
                        "--shell", "/usr/sbin/nologin", name], check=True, capture_output=True, timeout=60)


def asking(nameserver: str | None, directory: Path, command: list[str],
           mounts: dict[str, Path] | None = None) -> list[str]:
    """`command` run where the C library asks `nameserver` (on port 53, the only one it asks) for
    names: its own /etc/resolv.conf, bind-mounted in a mount namespace of its own. `mounts`: more
    of the system's paths (each one that exists) with a private file or directory bound over it
    there. Exec all the way: the process started is the server's."""
    binds = dict(mounts or {})
    if nameserver:
        resolv = directory / "resolv.conf"
        resolv.write_text(f"nameserver {nameserver}\noptions timeout:1 attempts:1\n")
        binds["/etc/resolv.conf"] = resolv
    if not binds:
        return command
    script = " && ".join(f"mount --bind {shlex.quote(str(source))} {shlex.quote(target)}"
                         for target, source in binds.items())
    return ["unshare", "--mount", "sh", "-c", f'{script} && exec "$0" "$@"', *command]
