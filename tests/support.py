"""The test toolbox, one of each: a sans-IO session and its Driver, a real sensor on 127.0.0.1 (port 0)
in a background thread, `relaypot` as a process, store queries on either engine, external tools."""

from __future__ import annotations

import asyncio
import codecs
import json
import os
import random
import re
import shutil
import smtplib
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from relaypot import app, config
from relaypot.events import Command, Helo, Record, SessionClosed, SessionOpened
from relaypot.personas import model
from relaypot.protocol import driver as protocol_driver
from relaypot.protocol.listener import ListenerContext
from relaypot.protocol.session import Session
from relaypot.sinks.memory import MemorySink

REFERENCE = Path(__file__).parent / "reference"


RELAYPOT = [sys.executable, "-m", "relaypot.cli"]


def relaypot(*args: str, env: dict[str, str] | None = None, timeout: float = 120,
             text: bool = True) -> subprocess.CompletedProcess:
    """`relaypot ARGS` as a user runs it, in a process of its own; `env` adds to the environment."""
    return subprocess.run([*RELAYPOT, *args], capture_output=True, text=text,
                          timeout=timeout, env={**os.environ, **(env or {})})


def fetch(url: str, query: str) -> list[tuple]:
    """The rows a query returns, from a store on either engine."""
    from relaypot.storage.database import Database

    db = Database(url, must_exist=True)
    try:
        return [tuple(row) for row in db.query(query)]
    finally:
        db.close()


def start(data_dir: Path, *extra: str, env: dict | None = None,
          preexec: Callable[[], None] | None = None) -> tuple[subprocess.Popen, int]:
    """`relaypot run` on 127.0.0.1, port 0; returns the process and the port it printed."""
    proc = subprocess.Popen(
        [*RELAYPOT, "run", "--listen", "127.0.0.1:0", "--data-dir", str(data_dir), "--sensor", "cli-test", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "RELAYPOT_ENRICH_ENABLED": "false", **(env or {})}, preexec_fn=preexec,
    )
    seen = []
    for _ in range(20):  # log lines (a certificate being made, say) may come first
        line = proc.stderr.readline()
        seen.append(line)
        match = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        if match:
            proc.early_stderr = "".join(seen)  # type: ignore[attr-defined]  (what start read)
            return proc, int(match.group(1))
        if not line:
            break
    proc.kill()
    raise AssertionError("".join(seen))


def send(port: int, n: int) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.sendmail(f"s{n}@spam.example", [f"r{n}@victim.example"], f"Subject: message {n}\r\n\r\nbody\r\n")


def jsonl(data_dir: Path) -> list[dict]:
    lines = (data_dir / "events.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def sql(data_dir: Path, query: str) -> list[tuple]:
    """`fetch` from the SQLite store of a sensor run with `--data-dir data_dir`."""
    return fetch(f"sqlite:///{data_dir / 'relaypot.sqlite'}", query)


def session_records(session: str, day: str = "2026-11-27", helo: str = "bot.example") -> list[Record]:
    events = [
        SessionOpened(src_port=1, dst_ip="192.0.2.1", dst_port=25, listener="0.0.0.0:25", persona="postfix",
                      hostname="mx.example", banner="220 mx.example ESMTP"),
        Helo(verb="EHLO", hostname=helo),
        Command(verb="EHLO", argument=helo, raw_line=f"EHLO {helo}\r\n".encode(), reply_code=250, reply="250 ok"),
        SessionClosed(reason="quit", duration=0.5, bytes_in=10, bytes_out=20, commands=1, messages=0),
    ]
    return [Record(session, n + 1, f"{day}T10:00:0{n}.000000Z", "s1", "203.0.113.5", e) for n, e in enumerate(events)]


def read_reply(sock: socket.socket, timeout: float = 5.0) -> bytes:
    """One complete (possibly multi-line) reply."""
    sock.settimeout(timeout)
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
        lines = data.split(b"\r\n")
        if len(lines) > 1 and any(len(l) >= 4 and l[3:4] == b" " for l in lines[:-1]):
            return data


def read_replies(sock: socket.socket, count: int, timeout: float = 5.0) -> bytes:
    """Exactly `count` complete replies, however the reads split them."""
    sock.settimeout(timeout)
    data = b""
    while sum(1 for l in data.split(b"\r\n")[:-1] if l[3:4] == b" ") < count:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def read_until_closed(sock: socket.socket, timeout: float = 5.0) -> bytes:
    sock.settimeout(timeout)
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except (TimeoutError, ConnectionResetError):
            return data
        if not chunk:
            return data
        data += chunk


# ------------------------------------------------------------------ the reference transcripts

# A listener whose relay policy is "open" (the default) departs from the real server on purpose:
# where real Postfix refuses a relay recipient ("454 4.7.1 <victim@example.net>: Relay access
# denied"), it accepts it as RCPT or VRFY of a deliverable address would be. Everything else,
# unknown local users included, is the real server's.
_RELAY_DENIED = re.compile(rb"^454 4\.7\.1 <(.*)>: Relay access denied\r\n", re.M)
_EXIM_RELAY_DENIED = re.compile(rb"^550 relay not permitted\r\n", re.M)
_SENDMAIL_RELAY_DENIED = re.compile(
    rb"^550 5\.7\.1 (.*)\.\.\. Relaying denied\. IP name lookup failed \[[^]\r\n]*\]\r\n", re.M)
_OPENSMTPD_RELAY_DENIED = re.compile(rb"^550 Invalid recipient: <[^>]*@(?!mail\.example\.com>|localhost>)[^>]*>\r\n",
                                     re.M | re.I)


def as_open_relay(conversation: dict, skip: int = 0) -> bytes:
    """The real server's replies (from its `skip`th on) as an open listener gives them: each relay
    refusal becomes what the command naming that address gets when it is taken (the command the
    client sent last before the reply, where it names the address)."""
    client = b"".join(unesc(text) for direction, text in conversation["exchange"] if direction == "C")
    replies, said = [], b""
    for direction, text in conversation["exchange"]:
        if direction == "C":
            said = unesc(text)
        else:
            replies.append(_taken(unesc(text), said, client))
    return b"".join(replies[skip:])


def _taken(reply: bytes, said: bytes, client: bytes) -> bytes:
    def postfix(match: re.Match) -> bytes:
        address = match.group(1)
        naming = [line for line in said.split(b"\r\n") if address in line]
        for line in naming or client.split(b"\r\n"):
            if line[:4].upper() == b"VRFY" and address in line:
                return b"252 2.0.0 " + line[5:] + b"\r\n"
        return b"250 2.1.5 Ok\r\n"

    # Exim names no address in its refusal; its VRFY says "252 Administrative prohibition" to all
    reply = _EXIM_RELAY_DENIED.sub(b"250 Accepted\r\n", reply)
    # OpenSMTPD says the same to a relay and to an unknown local user: only the relay is taken
    reply = _OPENSMTPD_RELAY_DENIED.sub(b"250 2.1.5 Destination address valid: Recipient ok\r\n", reply)
    # Sendmail names the address as the client wrote it
    reply = _SENDMAIL_RELAY_DENIED.sub(rb"250 2.1.5 \1... Recipient ok\r\n", reply)
    return _RELAY_DENIED.sub(postfix, reply)


def unesc(text: str) -> bytes:
    return codecs.decode(text, "unicode_escape").encode("latin-1")


def normalize(data: bytes) -> bytes:
    """Queue ids and challenges differ on every run; nothing else may."""
    data = re.sub(rb"queued as [0-9A-F]{8,12}", b"queued as QUEUEID", data)
    data = re.sub(rb"id=[0-9A-Za-z]{6}-[0-9A-Za-z]{6}-[0-9A-Za-z]{2}\r\n", b"id=MESSAGEID\r\n", data)  # Exim's
    data = re.sub(rb"250 2\.0\.0 [0-9a-f]{8} Message accepted", b"250 2.0.0 MSGID Message accepted",
                  data)  # OpenSMTPD's
    data = re.sub(rb"[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d [+-]\d{4}", b"DATE", data)
    data = re.sub(rb"[A-Z][a-z]{2}, \d\d? [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT", b"DATE", data)  # Sendmail's
    data = re.sub(rb"250 2\.0\.0 [0-9A-Za-x]{14} Message accepted", b"250 2.0.0 QUEUEID Message accepted",
                  data)  # Sendmail's
    data = re.sub(rb"^334 bm9uY2U9[A-Za-z0-9+/=]+\r\n", b"334 DIGEST-CHALLENGE\r\n", data, flags=re.M)  # DIGEST-MD5
    return re.sub(rb"^334 PD[A-Za-z0-9+/=]+\r\n", b"334 CHALLENGE\r\n", data, flags=re.M)


def expected_from_reference(conversation: dict, relay: str = "open", skip: int = 0) -> bytes:
    """What the persona must answer: the real server's bytes (from its `skip`th reply on), through
    an open listener's eyes unless `relay` is "closed" (queue ids and challenges normalised)."""
    if relay == "open":
        return normalize(as_open_relay(conversation, skip))
    replies = [unesc(text) for direction, text in conversation["exchange"] if direction == "S"]
    return normalize(b"".join(replies[skip:]))


POSTFIX_REFERENCE = json.loads((REFERENCE / "postfix" / "battery.json").read_text())


def lenient_tls_client() -> ssl.SSLContext:
    """A client that checks nothing and takes TLS 1.0 and any suite, as spam tools do: exchange2000
    speaks only TLS 1.0, which Python's default client refuses."""
    import warnings

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_ciphers("ALL:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
    return context


def require(tool: str) -> str:
    """The path of an external tool; a test skips without it locally but fails in CI (.ci/run installs it)."""
    path = shutil.which(tool) or next(
        (str(p) for p in (Path("/usr/sbin") / tool, Path("/usr/bin") / tool) if p.exists()), None
    )
    if path:
        return path
    if os.environ.get("CI"):
        pytest.fail(f"{tool} is not installed; .ci/run must install it")
    pytest.skip(f"{tool} is not installed (CI installs it)")


def unavailable(why: str) -> None:
    """A part a test needs is missing: it skips locally, and fails in CI (.ci/run must provide it)."""
    if os.environ.get("CI"):
        pytest.fail(f"{why}; .ci/run must provide it")
    pytest.skip(why)


def free_port() -> int:
    """A loopback TCP port nothing listens on now, for a server a test starts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require_root(tests: str, why: str) -> None:
    """Root, for tests that make network namespaces: skipped without it locally, failed in CI."""
    if os.geteuid() == 0:
        return
    if os.environ.get("CI"):
        pytest.fail(f"the {tests} tests need root (CI runs as root)")
    pytest.skip(f"the {tests} tests need root: {why}")


def ip(*args: str) -> None:
    """iproute2's `ip`, which must succeed."""
    subprocess.run(["ip", *args], check=True, capture_output=True)


def ready_for_tls(address: tuple[str, int], timeout: float = 5.0,
                  reply_timeout: float = 5.0) -> tuple[socket.socket, bytes]:
    """A raw connection that has said EHLO and STARTTLS: the socket, and the reply to STARTTLS
    (each reply waited for `reply_timeout` seconds)."""
    sock = socket.create_connection(address, timeout=timeout)
    read_reply(sock, reply_timeout)
    sock.sendall(b"EHLO client.example.org\r\n")
    read_reply(sock, reply_timeout)
    sock.sendall(b"STARTTLS\r\n")
    return sock, read_reply(sock, reply_timeout)


class RunningSensor:
    """`relaypot run` in a thread, with a MemorySink beside the JSONL and SQLite sinks."""

    def __init__(self, data_dir: Path, loop: str = "uvloop", **options: Any) -> None:
        overrides = {
            ("smtp", "listen"): ["127.0.0.1:0"],
            ("sensor", "data_dir"): str(data_dir),
            ("sensor", "name"): "test-sensor",
            ("run", "quiet"): True,
            ("smtp", "hostname"): "mail.example.com",  # the name the references were captured under
            # No lookups unless a test brings its own DNS server (tests/enrich): no network here.
            ("enrich", "enabled"): False,
            ("deception", "client_lookups"): False,
        }
        for key, value in options.items():
            table, _, name = key.partition("__")
            overrides[(table, name)] = value
        env = {"RELAYPOT_STORE_FLUSH_INTERVAL": "0.05"}
        self.settings = config.load(environ=env, overrides=overrides)
        self.memory = MemorySink()
        self.sensor = app.make_sensor(self.settings, extra_sinks=(self.memory,))
        self.data_dir = self.sensor.data_dir
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        # The sensor's own choice (uvloop) unless a test asks for asyncio's loop, the fallback.
        self.loop = app.new_event_loop() if loop == "uvloop" else asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._main, daemon=True)
        self.thread.start()
        if not self._ready.wait(15):
            raise RuntimeError("the sensor did not start")
        if self._error:
            raise self._error

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self._stop = asyncio.Event()

        def ready(bound: list[tuple[str, int]]) -> None:
            self.host, self.port = bound[0]
            self.bound = bound  # every listener's address, in [smtp] listen order
            self._ready.set()

        try:
            self.loop.run_until_complete(app.serve(self.sensor, on_ready=ready, stop=self._stop))
        except BaseException as exc:
            self._error = exc
            self._ready.set()
        finally:
            self.loop.close()

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    def stop(self) -> None:
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self._stop.set)
            self.thread.join(30)

    def records(self, kind: str | None = None) -> list:
        return [r for r in list(self.memory.records) if kind is None or r.kind == kind]

    def wait_for(self, kind: str, count: int = 1, timeout: float = 10.0) -> list:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.records(kind)
            if len(found) >= count:
                return found
            time.sleep(0.02)
        raise AssertionError(f"waited {timeout}s for {count} {kind} records; have {len(self.records(kind))}")

    @property
    def store_url(self) -> str:
        return self.settings.store_url


def make_session(persona: str = "exchange2000", hostname: str = "mail.example.com", tls: bool = False,
                 client_ip: str = "192.0.2.10", relay: str = "open", message: dict | None = None,
                 **limits: Any) -> Session:
    """A session of the bundled `persona` with the operator's `limits`; `message` replaces keys
    of the persona's [message] table (a size limit a test can reach)."""
    import dataclasses

    from relaypot.protocol.listener import SessionLimits

    loaded = model.load(persona)
    if message:
        loaded = dataclasses.replace(loaded, message=dataclasses.replace(loaded.message, **message))
    settings = ListenerContext(
        loaded, hostname, hostname, limits=SessionLimits(**limits), tls_available=tls,
        clock=lambda: 1_231_702_320.0, rng=random.Random(7),
    )
    return Session(settings, client_ip, 40000, "198.51.100.1", 25, "198.51.100.1:25", relay=relay)



class Driver(protocol_driver.Driver):
    """The session's transport played in memory (relaypot.protocol.driver), with what tests ask of
    what came out."""

    @property
    def wire(self) -> bytes:
        return b"".join(r.data for r in self.replies)

    def codes(self) -> list[int]:
        return [r.code for r in self.replies]

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]

    def of(self, kind: str) -> list:
        return [e for e in self.events if e.kind == kind]


def feed_chunks(session: Session, data: bytes, sizes: list[int]) -> Driver:
    driver = Driver(session)
    pos = 0
    for size in sizes:
        if pos >= len(data):
            break
        driver.feed(data[pos : pos + size])
        pos += size
    if pos < len(data):
        driver.feed(data[pos:])
    return driver


def unreadable_python(root: Path) -> list[str]:
    """A command running relaypot from a copy of its source in a directory nobody cannot read,
    so that any module or data file the sensor loads after the drop fails as it would on a
    machine where Python lives under /root."""
    import relaypot

    private = root / "private"
    private.mkdir(mode=0o700)
    subprocess.run(["cp", "-a", str(Path(relaypot.__file__).parent), str(private / "relaypot")], check=True)
    code = f"import sys; sys.path.insert(0, {str(private)!r}); from relaypot.cli import main; sys.exit(main())"
    return [sys.executable, "-c", code]


def client_hello(server_name: str | None, **options) -> bytes:
    """The bytes Python's own TLS client sends first."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    for key, value in options.items():
        setattr(context, key, value)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=server_name)
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def handshake_in_memory(sock: socket.socket, tls: ssl.SSLObject, incoming: ssl.MemoryBIO,
                        outgoing: ssl.MemoryBIO) -> None:
    """A TLS client over memory buffers shakes hands across a plain socket: what the server
    writes after it can then be read record by record, raw."""
    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            sock.sendall(outgoing.read())
            incoming.write(sock.recv(65536))
    sock.sendall(outgoing.read())


# The probe groups of tests/reference/probes.py captured from each real MTA run here and re-captured
# by tests/personas/test_real_*.py (Postfix's, each with its listener, in test_real_postfix.py):
# limits (messages at and past the size limit), content (messages judged by their hops, headers
# and lines), connections (52 connections from one address), params (MAIL and RCPT parameters, as
# fuzzers write them), routes (source routes as sender, recipient, VRFY and EXPN), verbs (every
# verb a scanner tries), helo_names (the names a client gives in HELO and EHLO), address_forms
# (addresses as clients write them), pipelining (commands sent in one write), bodies (message
# bodies no client sends), line_lengths (lines at and past each server's read bounds),
# transactions (commands out of a transaction's order), after_helo (ESMTP after HELO), exploits
# (what public exploits send), chunks (BDAT as clients and fuzzers write it), spellings (a
# transaction's commands in any case and spacing), sizes (MAIL's SIZE around each limit), auth
# (SASL gone wrong, on listeners that offer it or none), after_errors (what a refusal leaves
# behind for DATA) and enumeration (VRFY, EXPN and RCPT of a list of names, as user enumerators
# send them).
RECAPTURED_GROUPS = ("limits", "content", "connections", "params", "routes", "verbs", "helo_names", "address_forms",
                     "pipelining", "bodies", "line_lengths", "transactions", "after_helo", "exploits", "chunks",
                     "spellings", "sizes", "auth", "after_errors", "enumeration")


def probes_rerun(server: str, group: str, port: int, source: str | None = None,
                 workers: int = 1, reply_timeout: float | None = None) -> tuple[list[dict], list[dict]]:
    """The stored capture of a tests/reference/probes.py `group` for `server` (tests/reference/
    <server>/<group>.json) and the group run afresh against 127.0.0.1:`port`, as it was made
    (`workers` conversations at a time, each on its own connection; `reply_timeout`: seconds the
    reader waits for a reply's first byte, where not battery.py's ten)."""
    sys.path.insert(0, str(REFERENCE))
    try:
        import battery
        import probes
    finally:
        sys.path.remove(str(REFERENCE))
    stored = json.loads((REFERENCE / server / f"{group}.json").read_text())
    usual = battery.FIRST_REPLY_TIMEOUT
    battery.FIRST_REPLY_TIMEOUT = reply_timeout or usual
    try:
        return stored, probes.capture(group, "127.0.0.1", port, source, workers)
    finally:
        battery.FIRST_REPLY_TIMEOUT = usual


def rerun_differences(stored: list[dict], fresh: list[dict], mend: Callable[[bytes], bytes] = bytes) -> dict:
    """What a fresh capture says otherwise than the stored one: by conversation, the replies
    (queue ids and dates normalize()d, and `mend`ed: what differs between installs); for the
    connections group, its counts and refusal."""
    if stored and "greeted" in stored[0]:
        keys = ("greeted", "refused_from", "refusal")
        return {key: (stored[0][key], fresh[0][key]) for key in keys if stored[0][key] != fresh[0][key]}
    assert [c["name"] for c in fresh] == [c["name"] for c in stored]

    def said(conversation: dict) -> bytes:
        said = b"".join(unesc(text) for direction, text in conversation["exchange"] if direction == "S")
        return mend(normalize(said))

    return {old["name"]: (said(old), said(new)) for old, new in zip(stored, fresh) if said(old) != said(new)}


def battery_rerun(server: str, port: int, source: str | None = None) -> tuple[list[dict], list[dict]]:
    """The stored battery capture of `server` (tests/reference/<server>/battery.json) and the
    battery run afresh against 127.0.0.1:`port` (from the address `source`, if given),
    conversation by conversation."""
    sys.path.insert(0, str(REFERENCE))
    try:
        import battery
    finally:
        sys.path.remove(str(REFERENCE))
    stored = json.loads((REFERENCE / server / "battery.json").read_text())
    fresh = [battery.run_probe("127.0.0.1", port, name, description, steps, source)
             for name, description, steps in battery.probes("mail.example.com", "root")]
    return stored, fresh
