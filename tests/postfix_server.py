"""The real Postfix 3.7.11 on loopback, from the reference configuration the captures were made
with (tests/reference/postfix/config: Debian's "Internet Site" main.cf, and master.cf with its
plain smtpd listener; ../shared/reference-transcripts/configs/postfix-3.7.11), as the store's
tests start their own PostgreSQL: a private directory under /tmp, nothing delivered, no system
service touched. The differential tests of the stealth issue drive it beside the persona.

Postfix's master runs as root and its daemons as the `postfix` user the Debian package makes
(.ci/run installs it for smtp-source).
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

CONFIG = Path(__file__).resolve().parent / "reference" / "postfix" / "config"
PLACEHOLDER_ROOT, PLACEHOLDER_PORT = "/tmp/pf", "2600"  # as the captures' configuration has them


def _unavailable(why: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{why}; .ci/run must provide it")
    pytest.skip(why)


class PostfixServer:
    def __init__(self) -> None:
        self.postfix = shutil.which("postfix") or "/usr/sbin/postfix"
        if not Path(self.postfix).exists():
            _unavailable("Postfix is not installed (apt-get install postfix)")
        if os.geteuid() != 0:
            _unavailable("the real Postfix's master runs as root")
        try:
            self.user = pwd.getpwnam("postfix")
        except KeyError:
            _unavailable("there is no postfix user (the Debian package makes it)")
        self.root = Path(tempfile.mkdtemp(prefix="relaypot-postfix-"))
        os.chmod(self.root, 0o755)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.etc = self.root / "etc"

    def __enter__(self) -> PostfixServer:
        for directory in ("etc", "spool", "data"):
            (self.root / directory).mkdir()
        for name in ("main.cf", "master.cf"):
            text = (CONFIG / name).read_text().replace(PLACEHOLDER_ROOT, str(self.root))
            (self.etc / name).write_text(text.replace(f"127.0.0.1:{PLACEHOLDER_PORT}", f"127.0.0.1:{self.port}"))
        (self.etc / "aliases").write_text("postmaster: root\n")
        self._run("postalias", "-c", str(self.etc), str(self.etc / "aliases"))
        self._run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(self.etc / "key.pem"),
                  "-out", str(self.etc / "cert.pem"), "-subj", "/CN=mail.example.com", "-days", "30")
        os.chown(self.root / "data", self.user.pw_uid, self.user.pw_gid)
        self._run(self.postfix, "-c", str(self.etc), "start")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
                    if sock.recv(512).startswith(b"220 "):
                        return self
            except OSError:
                time.sleep(0.1)
        self.__exit__(None, None, None)
        raise RuntimeError(f"Postfix did not answer on 127.0.0.1:{self.port}: {self.log()}")

    def __exit__(self, *exc: object) -> None:
        subprocess.run([self.postfix, "-c", str(self.etc), "stop"], capture_output=True, timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)

    def log(self) -> str:
        path = self.root / "maillog"
        return path.read_text(errors="replace")[-2000:] if path.exists() else "(no log)"

    def _run(self, *argv: str) -> None:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[:2])} failed: {result.stderr.strip()}")
