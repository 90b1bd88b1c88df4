"""The real Postfix 3.7.11 on loopback, from the reference configuration the captures were made
with (tests/reference/postfix/config: Debian's "Internet Site" main.cf; master.cf with the plain
smtpd listener, the one with Dovecot SASL the postfix persona is, and Debian's submission and
submissions services; ../shared/reference-transcripts/configs/postfix-3.7.11), with its Dovecot
2.3 as the SASL server, as the store's tests start their own PostgreSQL: a private directory
under /tmp, nothing delivered, no system service touched. The differential tests drive it beside
the persona.

Postfix's master runs as root and its daemons as the `postfix` user the Debian package makes
(.ci/run installs it for smtp-source); Dovecot's master as root, its auth process as the
`dovecot` user of dovecot-core.
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

from support import free_port, unavailable

CONFIG = Path(__file__).resolve().parent / "reference" / "postfix" / "config"
PLACEHOLDER_ROOT, DOVECOT_ROOT = "/tmp/pf", "/tmp/dovecot"  # as the captures' configuration has them
# the listeners of master.cf, by the port the captures' configuration gives them
LISTENERS = {"plain": 2600, "sasl": 2601, "submission": 2603, "submissions": 2604}
ACCOUNT = ("user", "secret")  # the one login Dovecot takes, as in the captures


class PostfixServer:
    def __init__(self) -> None:
        self.postfix = shutil.which("postfix") or "/usr/sbin/postfix"
        if not Path(self.postfix).exists():
            unavailable("Postfix is not installed (apt-get install postfix)")
        if os.geteuid() != 0:
            unavailable("the real Postfix's master runs as root")
        try:
            self.user = pwd.getpwnam("postfix")
        except KeyError:
            unavailable("there is no postfix user (the Debian package makes it)")
        self.dovecot = shutil.which("dovecot") or "/usr/sbin/dovecot"
        if not Path(self.dovecot).exists():
            unavailable("Dovecot is not installed (apt-get install dovecot-core)")
        self.root = Path(tempfile.mkdtemp(prefix="relaypot-postfix-"))
        os.chmod(self.root, 0o755)
        self.ports = {name: free_port() for name in LISTENERS}
        self.port = self.ports["plain"]
        self.etc = self.root / "etc"

    def __enter__(self) -> PostfixServer:
        for directory in ("etc", "spool", "data", "dovecot", "dovecot/home"):
            (self.root / directory).mkdir()
        for name in ("main.cf", "master.cf", "dovecot.conf"):
            text = (CONFIG / name).read_text().replace(DOVECOT_ROOT, str(self.root / "dovecot"))
            text = text.replace(PLACEHOLDER_ROOT, str(self.root))
            for listener, port in LISTENERS.items():
                text = text.replace(f"127.0.0.1:{port}", f"127.0.0.1:{self.ports[listener]}")
            (self.etc / name).write_text(text)
        (self.root / "dovecot" / "users").write_text(":".join(ACCOUNT) + "\n")
        (self.etc / "aliases").write_text("postmaster: root\n")
        self._run("postalias", "-c", str(self.etc), str(self.etc / "aliases"))
        # the certificate as Debian's make-ssl-cert makes the "snakeoil" one a fresh Postfix presents
        # (ssl-cert 1.1.2: RSA 2048, the host name as CN and as its one DNS name, 3650 days)
        self._run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(self.etc / "key.pem"),
                  "-out", str(self.etc / "cert.pem"), "-subj", "/CN=mail.example.com", "-days", "3650",
                  "-addext", "subjectAltName=DNS:mail.example.com")
        os.chown(self.root / "data", self.user.pw_uid, self.user.pw_gid)
        self._run(self.postfix, "-c", str(self.etc), "start")
        # Dovecot's auth socket lives in Postfix's queue directory (private/auth), made by the start
        self._run(self.dovecot, "-c", str(self.etc / "dovecot.conf"), daemon=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if (self.root / "spool" / "private" / "auth").exists() and self._greets(self.port):
                return self
            time.sleep(0.1)
        self.__exit__(None, None, None)
        raise RuntimeError(f"Postfix and Dovecot did not start on 127.0.0.1:{self.port}: {self.log()}")

    def __exit__(self, *exc: object) -> None:
        subprocess.run([self.dovecot, "-c", str(self.etc / "dovecot.conf"), "stop"], capture_output=True, timeout=60)
        subprocess.run([self.postfix, "-c", str(self.etc), "stop"], capture_output=True, timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)

    @staticmethod
    def _greets(port: int) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                return sock.recv(512).startswith(b"220 ")
        except OSError:
            return False

    def log(self) -> str:
        found = []
        for path in (self.root / "maillog", self.root / "dovecot" / "dovecot.log"):
            found.append(path.read_text(errors="replace")[-2000:] if path.exists() else f"(no {path.name})")
        return "\n".join(found)

    def _run(self, *argv: str, daemon: bool = False) -> None:
        """A command that must succeed; a daemon's output goes to a file, not a pipe it would hold open."""
        with tempfile.TemporaryFile() as errors:
            result = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=errors if daemon else subprocess.PIPE,
                                    stderr=errors, timeout=120)
            if result.returncode != 0:
                errors.seek(0)
                raise RuntimeError(f"{' '.join(argv[:2])} failed: {errors.read().decode(errors='replace').strip()}")
