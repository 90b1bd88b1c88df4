"""The real Sendmail 8.17.1.9 on loopback (Debian 12's sendmail-bin), unpacked with sendmail-base,
sendmail-cf and m4 into a private root (tests/debian_packages.py) and run from there as a daemon
(sendmail -bd -odq) with the reference configuration (tests/reference/sendmail/config/, from
../shared/reference-transcripts/configs/sendmail-8.17.1.9): Debian's generated sendmail.mc
built into sendmail.cf with m4, its access map, service switch and hosts file. Every path the
configuration names under /etc/mail or /tmp/sm is moved into a private /tmp directory; nothing is
delivered (-odq queues every message, and the queue is removed with the directory).

`SendmailServer("tls-auth")` runs the references' TLS-and-AUTH configuration instead
(sendmail-tls-auth.mc): Debian's example starttls.m4 and sasl.m4, as sendmailconfig installs
them, and the certificate, key and DH parameters Debian's update_tls makes, made the same way,
and one account (ACCOUNT) for Cyrus SASL: a sasldb made with sasl2-bin's saslpasswd2, as Debian's
update_auth has an administrator make one, kept in the private directory and named by a
Sendmail.conf holding only its sasldb_path (Cyrus's defaults otherwise: auxprop, sasldb). That file
is read from Cyrus's configuration path, where libsasl2-2 ships /usr/lib/sasl2 empty: the daemon's
mount namespace binds a private directory over it (Sendmail clears its environment, so
SASL_CONF_PATH would not reach the library), and nothing of the system changes.

The daemon runs in a UTS namespace named mail.example.com (see _sendmail). Sendmail trusts
127.0.0.1 itself ("originated locally"), so clients connect from 127.0.0.2 (an address with no
PTR), as the reference battery ran (--source 127.0.0.2). The harness the sendmail
persona's conformance tests stand on (issue 27).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from debian_packages import asking, system_user, unpack
from support import free_port, unavailable

CONFIG = Path(__file__).resolve().parent / "reference" / "sendmail" / "config"
PACKAGES = ("sendmail-bin", "sendmail-base", "sendmail-cf", "m4")
SASL_PACKAGES = ("sasl2-bin",)  # saslpasswd2, which makes the tls-auth variant's account
ACCOUNT = ("user", "secret")  # the tls-auth variant's one login (realm: the host name, as Sendmail passes it)
SASL_CONFIG_DIR = "/usr/lib/sasl2"  # on Cyrus SASL's configuration path; shipped empty by libsasl2-2
PLACEHOLDER_ROOT = "/tmp/sm"  # where the captures' configuration keeps its files
CF_DIR = "/usr/share/sendmail/cf"
SOURCE = "127.0.0.2"  # the client address: no PTR, not trusted, as in the captures
# The lab has no DNS: Sendmail refuses (at RCPT) a sender whose domain its hosts file does not
# name. The battery's sender domain is there (the reference configuration's hosts file); so are
# the further probes' and the differential test's sender domains (they resolve, as most do in the
# wild, and as the persona, which looks no sender domain up, takes them to).
PROBE_SENDER_HOSTS = ("192.0.2.2\tclient.example.org", "192.0.2.3\texample.net", "192.0.2.5\ta_b.example")


class SendmailServer:
    source = SOURCE

    def __init__(self, variant: str = "default", nameserver: str | None = None, ipv6: bool = False) -> None:
        if os.geteuid() != 0:
            unavailable("Sendmail's daemon starts as root")
        if variant == "tls-auth" and not Path(SASL_CONFIG_DIR).is_dir():
            unavailable(f"{SASL_CONFIG_DIR} (libsasl2-2) is missing: the account's Sendmail.conf is bound over it")
        self.variant = variant
        self.nameserver = nameserver  # a DNS server on loopback port 53 the daemon asks (tests/client_names.py)
        self.ipv6 = ipv6  # also listen on ::1 (the inet6 line Debian's sendmail.mc leaves commented out)
        self.dir = Path(tempfile.mkdtemp(prefix="relaypot-sendmail-"))
        os.chmod(self.dir, 0o755)
        self.root = self.dir / "root"
        self.run = self.dir / "run"
        self.port = free_port()

    def __enter__(self) -> SendmailServer:
        unpack(PACKAGES + (SASL_PACKAGES if self.variant == "tls-auth" else ()), self.root)
        for name in ("smmta", "smmsp"):  # sendmail-base's postinst makes them; sendmail.cf names smmta
            system_user(name, Path("/var/lib/sendmail"))
        self.run.mkdir(mode=0o755)
        (self.run / ("mqueue-tls" if self.variant == "tls-auth" else "mqueue")).mkdir(mode=0o700)
        self._config()
        started = subprocess.run(self._sendmail("-bd", "-odq"), capture_output=True, text=True, timeout=60,
                                 stdin=subprocess.DEVNULL)
        if started.returncode == 0 and self._greeted():
            return self
        log = f"{started.stdout}{started.stderr}"
        self.__exit__(None, None, None)
        raise RuntimeError(f"Sendmail did not answer on 127.0.0.1:{self.port}: {log}")

    def _config(self) -> None:
        """sendmail.cf built from the reference sendmail.mc, every path moved into the private directory."""
        cf_dir = self.root / CF_DIR.lstrip("/")
        for path in cf_dir.rglob("*.m4"):  # Debian's m4 files include each other by absolute path
            text = path.read_text()
            if CF_DIR in text:
                path.write_text(text.replace(CF_DIR, str(cf_dir)))
        (self.run / "m4").mkdir()
        for name in ("dialup.m4", "provider.m4"):  # what sendmailconfig leaves empty
            (self.run / "m4" / name).write_text("")
        mc = (CONFIG / f"sendmail-{self.variant}.mc").read_text()
        mc = mc.replace(CF_DIR, str(cf_dir)).replace("/etc/mail/m4/", f"{self.run}/m4/")
        mc = mc.replace(PLACEHOLDER_ROOT, str(self.run))
        if self.ipv6:
            mc = mc.replace("dnl DAEMON_OPTIONS(`Family=inet6, Name=MTA-v6, Port=smtp, Addr=::1')dnl",
                            "DAEMON_OPTIONS(`Family=inet6, Name=MTA-v6, Port=2630, Addr=::1')dnl")
        mc = mc.replace("Port=2630", f"Port={self.port}").replace("Port=2631", f"Port={self.port}")
        if self.variant == "tls-auth":
            self._tls_and_sasl(cf_dir)
            mc = mc.replace("/etc/mail/tls/", f"{self.run}/tls/").replace("/etc/mail/sasl/", f"{self.run}/sasl/")
        built = subprocess.run([str(self.root / "usr/bin/m4")], input=mc, capture_output=True, text=True,
                               check=True, timeout=60)
        cf = built.stdout.replace("/etc/mail/", f"{self.run}/").replace("/var/lib/sendmail/", f"{self.run}/")
        (self.run / "sendmail.cf").write_text(cf)
        for name in ("hosts", "service.switch", "access"):
            shutil.copyfile(CONFIG / name, self.run / name)
        with (self.run / "hosts").open("a") as hosts:  # as example.org is for the battery's sender
            hosts.write("# the sender domains of tests/reference/probes.py and the differential test\n")
            hosts.write("".join(f"{line}\n" for line in PROBE_SENDER_HOSTS))
        shutil.copyfile(self.root / "etc/mail/helpfile", self.run / "helpfile")
        for name in ("local-host-names", "relay-domains", "trusted-users"):
            (self.run / name).write_text("")
        # root has an entry of its own, as on the server the battery was captured from (VRFY root
        # answered "<root@mail.example.com>", without the full name a user has)
        (self.run / "aliases").write_text("postmaster: root\nroot: root\n")
        makemap = [str(self.root / "usr/libexec/sendmail/makemap"), "-C", str(self.run / "sendmail.cf")]
        with (self.run / "access").open() as source:
            subprocess.run([*makemap, "hash", str(self.run / "access")], stdin=source, check=True,
                           capture_output=True, timeout=60)
        subprocess.run(self._sendmail("-bi"), check=True, capture_output=True, timeout=60)  # newaliases

    def _tls_and_sasl(self, cf_dir: Path) -> None:
        """What sendmailconfig adds for TLS and AUTH: the package's example starttls.m4 and sasl.m4,
        and update_tls's files (its openssl commands, its configuration's defaults)."""
        examples = self.root / "usr/share/sendmail/examples"
        for name in ("tls", "sasl"):
            (self.run / name).mkdir(mode=0o755)
            text = (examples / name / f"{name if name == 'sasl' else 'starttls'}.m4").read_text()
            text = text.replace(CF_DIR, str(cf_dir)).replace("/etc/mail/", f"{self.run}/")
            (self.run / name / f"{'sasl' if name == 'sasl' else 'starttls'}.m4").write_text(text)
        tls = self.run / "tls"
        update_tls = (self.root / "usr/share/sendmail/update_tls").read_text()
        config = update_tls.split("cat >$MTA_CFG <<EOT\n", 1)[1].split("\nEOT", 1)[0].replace("\\$ENV", "$ENV")
        (tls / "sendmail-server.cfg").write_text(config)
        (tls / "sendmail-client.cfg").write_text(config.replace("Sendmail Server", "Sendmail Client"))
        env = {**os.environ, "SSL_FQDN": "mail.example.com", "SSL_EMAIL": "admin@mail.example.com"}
        prm, key = tls / "sendmail-common.prm", tls / "sendmail-common.key"

        def openssl(*args: str, stdin: str | None = None) -> None:
            subprocess.run(["openssl", *args], input=stdin, env=env, check=True, capture_output=True, text=True,
                           timeout=300)

        openssl("dsaparam", "-out", str(prm), "2048")
        params = subprocess.run(["openssl", "dhparam", "-dsaparam", "-in", str(prm)], check=True, capture_output=True,
                                text=True, timeout=300).stdout
        with prm.open("a") as out:
            out.write(params)
        openssl("genrsa", "-out", str(key), "2048")
        for role in ("server", "client"):
            cfg, csr, crt = (tls / f"sendmail-{role}.{ext}" for ext in ("cfg", "csr", "crt"))
            openssl("req", "-new", "-config", str(cfg), "-key", str(key), "-out", str(csr), stdin="\n" * 7)
            openssl("x509", "-req", "-extfile", str(cfg), "-signkey", str(key), "-in", str(csr), "-out", str(crt),
                    "-days", "3650")
        for path in (prm, key):
            path.chmod(0o640)
        self._account()

    def _account(self) -> None:
        """ACCOUNT in a sasldb of the private directory, and the Sendmail.conf that names it."""
        sasldb = self.run / "sasldb2"
        user, password = ACCOUNT
        subprocess.run([str(self.root / "usr/sbin/saslpasswd2"), "-f", str(sasldb), "-p", "-c", "-u",
                        "mail.example.com", user], input=password, text=True, check=True, capture_output=True,
                       timeout=60)
        cyrus = self.run / "cyrus-sasl"
        cyrus.mkdir(mode=0o755)
        (cyrus / "Sendmail.conf").write_text(f"sasldb_path: {sasldb}\n")

    def _sendmail(self, *args: str) -> list[str]:
        """sendmail ARGS with the private configuration, in a UTS namespace of its own whose host
        name is the server's (and a mount namespace where a `nameserver` is given): at start
        Sendmail canonicalises the machine's name before it reads its configuration, and where
        that name has no dot and no FQDN it sleeps a minute and retries (daemon.c, "My
        unqualified host name ... unknown"). The tls-auth variant's Cyrus SASL configuration is
        bound over SASL_CONFIG_DIR in a mount namespace of its own."""
        mounts = {SASL_CONFIG_DIR: self.run / "cyrus-sasl"} if self.variant == "tls-auth" else {}
        return asking(self.nameserver, self.dir, mounts=mounts, command=[
            "unshare", "--uts", "sh", "-c", 'hostname mail.example.com && exec "$0" "$@"',
            str(self.root / "usr/libexec/sendmail/sendmail"), "-C", str(self.run / "sendmail.cf"), *args])

    def _greeted(self, timeout: float = 20) -> bool:
        """Whether the daemon answers "220 " (after its greet pause) before `timeout` seconds pass."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=5,
                                              source_address=(SOURCE, 0)) as sock:
                    if sock.recv(512).startswith(b"220 "):
                        return True
            except OSError:
                time.sleep(0.2)
        return False

    def __exit__(self, *exc: object) -> None:
        pid_file = self.run / ("sendmail-tls.pid" if self.variant == "tls-auth" else "sendmail.pid")
        if pid_file.exists():
            try:
                os.kill(int(pid_file.read_text().split()[0]), signal.SIGTERM)
            except (ValueError, ProcessLookupError):
                pass
        shutil.rmtree(self.dir, ignore_errors=True)

    def log(self) -> str:
        return "(Sendmail logs to syslog)"
