"""The real OpenSMTPD 6.8.0p2 on loopback (Debian 12's opensmtpd), unpacked from its package into a
private root (tests/debian_packages.py) and run from there in the foreground (smtpd -d) with the
reference configuration (tests/reference/opensmtpd/config/smtpd.conf, from
../shared/reference-transcripts/configs/opensmtpd-6.8.0p2): its plain listener, the one the
battery was captured on. Runtime files live in a private /tmp directory; nothing is delivered
off the machine (the configuration relays nowhere; local mail goes to a maildir there).

Two things are the package's, made as its maintainer script makes them where they are missing:
the system users opensmtpd and opensmtpq (adduser --system) and their home,
/var/lib/opensmtpd/empty, which smtpd chroots into. Its queue, /var/spool/smtpd, is compiled in;
smtpd makes it itself. The harness the opensmtpd persona's conformance tests stand on (issue 27).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from debian_packages import greeted, stop, system_user, unpack
from support import free_port, unavailable

CONFIG = Path(__file__).resolve().parent / "reference" / "opensmtpd" / "config" / "smtpd.conf"
PACKAGES = ("opensmtpd",)
PLACEHOLDER_ROOT = "/tmp/osmtpd"  # where the captures' configuration keeps its files
CHROOT = Path("/var/lib/opensmtpd/empty")


class OpenSmtpdServer:
    def __init__(self) -> None:
        if os.geteuid() != 0:
            unavailable("OpenSMTPD's smtpd starts as root and drops to its own users")
        self.dir = Path(tempfile.mkdtemp(prefix="relaypot-opensmtpd-"))
        os.chmod(self.dir, 0o755)
        self.root = self.dir / "root"
        self.run = self.dir / "run"
        self.port = free_port()
        self.tls_port = free_port()
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> OpenSmtpdServer:
        unpack(PACKAGES, self.root)
        for name in ("opensmtpd", "opensmtpq"):
            system_user(name, CHROOT)
        CHROOT.mkdir(parents=True, exist_ok=True)
        (self.run / "maildir").mkdir(parents=True)
        self._credentials()
        text = CONFIG.read_text().replace(PLACEHOLDER_ROOT, str(self.run))
        text = text.replace("file:/etc/aliases", f"file:{self.run / 'aliases'}")
        text = text.replace("port 2620", f"port {self.port}").replace("port 2621", f"port {self.tls_port}")
        config = self.dir / "smtpd.conf"
        config.write_text(text)
        self.process = subprocess.Popen([str(self.root / "usr" / "sbin" / "smtpd"), "-d", "-f", str(config)],
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=(self.dir / "stderr").open("wb"))
        if greeted(self.process, self.port):
            return self
        log = self.log()
        self.__exit__(None, None, None)
        raise RuntimeError(f"OpenSMTPD did not answer on 127.0.0.1:{self.port}: {log}")

    def _credentials(self) -> None:
        """A certificate for the TLS listener, an empty credentials table and the aliases file,
        as the captures' run had them."""
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
                        "-subj", "/CN=mail.example.com", "-keyout", str(self.run / "key.pem"),
                        "-out", str(self.run / "cert.pem")], check=True, capture_output=True, timeout=60)
        os.chmod(self.run / "key.pem", 0o600)
        (self.run / "creds").write_text("")
        os.chmod(self.run / "creds", 0o640)
        (self.run / "aliases").write_text("postmaster: root\n")

    def __exit__(self, *exc: object) -> None:
        stop(self.process)
        shutil.rmtree(self.dir, ignore_errors=True)

    def log(self) -> str:
        path = self.dir / "stderr"
        return path.read_text(errors="replace")[-2000:] if path.exists() else "(no stderr)"

