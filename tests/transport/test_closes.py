"""How a persona's connection ends when the client speaks at its close, over real sockets, under
uvloop (the sensor's loop) and asyncio's own: what the client sends after the session decided to
close is never read (a reset), within the persona's close lag too, and a corked QUIT reply waits
for the client's FIN or next bytes no longer than the real Exim waits.

The real servers' figures are in tests/protocol/test_reads.py (measured there from the real
Postfix and Exim); these tests give the personas wide lags and delays, so that what they check
is the mechanism, not this machine's speed."""

from __future__ import annotations

import select
import socket
import time
from pathlib import Path

import pytest

from support import read_reply

pytestmark = pytest.mark.slow  # real sockets, delays of a second

LOOPS = pytest.mark.parametrize("loop", ["uvloop", "asyncio"])


def persona_file(tmp_path: Path, base: str, server: str = "", errors: str = "") -> str:
    path = tmp_path / f"{base}-wide.toml"
    path.write_text(f'[persona]\nextends = "{base}"\nname = "{base}-wide"\n'
                    + (f"[server]\n{server}\n" if server else "") + (f"[errors]\n{errors}\n" if errors else ""))
    return str(path)


def ends_in(sock: socket.socket) -> str:
    """How the connection ends: "FIN" or "RST" (what was said before is read and dropped)."""
    sock.settimeout(5)
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        return "RST"
    return "FIN"


def unknown_until_closed(sock: socket.socket) -> bytes:
    """Exim's fourth unknown command ends the session: its reply."""
    read_reply(sock)
    sock.sendall(b"EHLO client.example.org\r\n")
    read_reply(sock)
    for n in range(1, 4):
        sock.sendall(b"XX%d\r\n" % n)
        assert read_reply(sock) == b"500 unrecognized command\r\n"
    sock.sendall(b"XX4\r\n")
    return read_reply(sock)


@LOOPS
def test_bytes_within_the_close_lag_make_the_close_a_reset(sensor_factory, tmp_path, loop):
    """The exim persona with a 300 ms close lag (the real one's is 0.35 ms): a command sent at
    once on the closing reply is never read (a reset); a client that waits hears a FIN, and
    only once the lag has passed."""
    sensor = sensor_factory(loop=loop, smtp__persona=persona_file(tmp_path, "exim", "close_lag = 0.3"),
                            smtp__relay="closed")
    with socket.create_connection(sensor.address, timeout=5) as sock:
        assert unknown_until_closed(sock) == b"500 Too many unrecognized commands\r\n"
        sock.sendall(b"RSET\r\n")
        assert ends_in(sock) == "RST"
    with socket.create_connection(sensor.address, timeout=5) as sock:
        unknown_until_closed(sock)
        assert select.select([sock], [], [], 0.1)[0] == []  # still open within the lag
        assert ends_in(sock) == "FIN"
        sock.sendall(b"RSET\r\n")  # after the close: the kernel's reset, after the FIN was read
    closed = sensor.wait_for("session.closed", 2)
    assert [record.event.reason for record in closed] == ["limit", "limit"]


@LOOPS
def test_bytes_behind_a_delayed_closing_reply_make_the_close_a_reset(sensor_factory, tmp_path, loop):
    """The postfix persona with a 0.3 s tar pit from the second error and a limit of four
    (Postfix's is 1 s from the tenth, 20): the client's command sent on the fourth error's reply
    comes while the server sleeps before its 421, and is never read: a reset after the 421, as
    the real Postfix does (tests/protocol/test_reads.py). Without it, a FIN after the 421."""
    wide = persona_file(tmp_path, "postfix", errors="delay_from = 2\ndelay = 0.3\nlimit = 4")
    sensor = sensor_factory(loop=loop, smtp__persona=wide, smtp__relay="closed")
    for behind, end in ((b"XX\r\n", "RST"), (b"", "FIN")):
        with socket.create_connection(sensor.address, timeout=5) as sock:
            read_reply(sock)
            sock.sendall(b"HELO client.example.org\r\n")
            read_reply(sock)
            for _ in range(4):
                sock.sendall(b"XX\r\n")
                assert read_reply(sock) == b"500 5.5.2 Error: command not recognized\r\n"
            if behind:
                sock.sendall(behind)
            else:  # the 421 and the close, nothing sent meanwhile
                assert read_reply(sock).startswith(b"421 4.7.0 ")
            assert ends_in(sock) == end


@LOOPS
def test_a_corked_quit_reply_goes_out_when_the_client_sends_its_fin(sensor_factory, tmp_path, loop):
    """Exim polls 200 ms for the client's FIN after QUIT, its 221 corked; a FIN or more bytes end
    the wait at once (measured from the real Exim: QUIT, then a FIN or a NOOP 50 ms on, gets the
    221 and the close 51 ms after QUIT; 3,000 bytes, more than its drain, a reset and no 221).
    With the wait at 5 s, the 221 comes with the FIN, not 5 s on."""
    sensor = sensor_factory(loop=loop, smtp__persona=persona_file(tmp_path, "exim", "quit_delay = 5.0"),
                            smtp__relay="closed")
    for then, said, end in (("fin", b"221 mail.example.com closing connection\r\n", "FIN"),
                            (b"NOOP\r\n", b"221 mail.example.com closing connection\r\n", "FIN"),
                            (b"x" * 3000, b"", "RST")):
        with socket.create_connection(sensor.address, timeout=10) as sock:
            read_reply(sock)
            sock.sendall(b"EHLO client.example.org\r\n")
            read_reply(sock)
            sock.sendall(b"QUIT\r\n")
            assert select.select([sock], [], [], 0.2)[0] == []  # corked: nothing yet
            sent = time.monotonic()
            if then == "fin":
                sock.shutdown(socket.SHUT_WR)
            else:
                sock.sendall(then)
            heard = b""
            try:
                while chunk := sock.recv(4096):
                    heard += chunk
                ending = "FIN"
            except ConnectionResetError:
                ending = "RST"
            assert (heard, ending) == (said, end)
            assert time.monotonic() - sent < 2.5  # not the 5 s wait
