"""NTLMSSP: the type-2 challenge we write, and the type-3 messages we read."""

from __future__ import annotations

import base64
import struct

import pytest

from relaypot.personas import model
from relaypot.protocol import ntlm

NMAP_TYPE1 = base64.b64decode("TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAKAAAAAAAADw==")


def av_pairs(blob: bytes) -> dict[int, str]:
    length, _, offset = struct.unpack_from("<HHI", blob, 40)
    info = blob[offset : offset + length]
    pairs, pos = {}, 0
    while pos < len(info):
        av_id, av_len = struct.unpack_from("<HH", info, pos)
        if av_id == 0:
            break
        pairs[av_id] = info[pos + 4 : pos + 4 + av_len].decode("utf-16-le")
        pos += 4 + av_len
    return pairs


def test_challenge_names_the_persona_host_as_windows_2000_does():
    """What nmap's smtp-ntlm-info reads: NetBIOS and DNS names of the host, and no VERSION, which
    Windows 2000 never sends ([MS-NLMP] 2.2.1.2): the target name's payload follows the 48-byte
    header at once."""
    identity = model.load("exchange2000").ntlm_identity("bps-pc9.local.mynet")
    blob = ntlm.challenge(identity, ntlm.negotiate_flags(NMAP_TYPE1), b"\x01" * 8)
    assert blob[:8] == b"NTLMSSP\x00" and struct.unpack_from("<I", blob, 8)[0] == 2
    assert blob[24:32] == b"\x01" * 8
    assert av_pairs(blob) == {2: "LOCAL", 1: "BPS-PC9", 4: "local.mynet", 3: "bps-pc9.local.mynet"}
    flags = struct.unpack_from("<I", blob, 20)[0]
    assert not flags & ntlm.NEGOTIATE_VERSION and flags & ntlm.NEGOTIATE_UNICODE
    name_len, _, name_off = struct.unpack_from("<HHI", blob, 12)
    assert name_off == 48
    assert blob[name_off : name_off + name_len].decode("utf-16-le") == "LOCAL"


def type3(user: str, domain: str, workstation: str, lm: bytes, nt: bytes) -> bytes:
    fields = [lm, nt, domain.encode("utf-16-le"), user.encode("utf-16-le"), workstation.encode("utf-16-le"), b""]
    offset, header, payload = 64, b"", b""
    for data in fields:
        header += struct.pack("<HHI", len(data), len(data), offset + len(payload))
        payload += data
    return b"NTLMSSP\x00" + struct.pack("<I", 3) + header + struct.pack("<I", ntlm.NEGOTIATE_UNICODE) + payload


def test_type3_gives_a_netntlmv2_hashcat_line():
    """User, domain and the NTLMv2 response come out in hashcat -m 5600 form."""
    nt = bytes(range(16)) + b"\xaa" * 20
    message = ntlm.authenticate(type3("Administrator", "CORP", "WS01", b"\x00" * 24, nt))
    assert (message.user, message.domain, message.workstation) == ("Administrator", "CORP", "WS01")
    assert message.hashcat(b"\x11" * 8) == (
        "Administrator::CORP:" + "11" * 8 + ":" + bytes(range(16)).hex() + ":" + ("aa" * 20))


def test_type3_gives_a_netntlmv1_hashcat_line():
    """A 24-byte NT response is NetNTLMv1 (hashcat -m 5500)."""
    message = ntlm.authenticate(type3("u", "d", "w", b"\x01" * 24, b"\x02" * 24))
    assert message.hashcat(b"\x03" * 8) == "u::d:" + "01" * 24 + ":" + "02" * 24 + ":" + "03" * 8


def user_field_past_the_end() -> bytes:
    blob = bytearray(type3("u", "d", "w", b"", b""))
    struct.pack_into("<HHI", blob, 36, 500, 500, 60)
    return bytes(blob)


@pytest.mark.parametrize("blob", [b"", b"NTLMSSP\x00", b"garbage" * 5, user_field_past_the_end(),
                                  b"NTLMSSP\x00\x03\x00\x00\x00" + b"\x00" * 20])
def test_malformed_messages_raise_ntlm_error_only(blob):
    """Short, foreign or out-of-bounds messages raise NtlmError, nothing else."""
    with pytest.raises(ntlm.NtlmError):
        ntlm.authenticate(blob)


def test_session_runs_the_ntlm_exchange_nmap_starts():
    """AUTH NTLM <type-1> gets a type-2 challenge; the type-3 is captured and refused."""
    from support import Driver, make_session

    d = Driver(make_session("exchange2000", hostname="exch.corp.example"))
    d.feed(b"EHLO x\r\nAUTH NTLM\r\n")
    assert d.replies[-1].data == b"334 ntlm supported\r\n"
    d.feed(base64.b64encode(NMAP_TYPE1) + b"\r\n")
    challenge = base64.b64decode(d.replies[-1].data[4:-2])
    assert av_pairs(challenge)[3] == "exch.corp.example"
    d.feed(base64.b64encode(type3("bob", "CORP", "PC", b"\x00" * 24, b"\x05" * 30)) + b"\r\n")
    assert d.replies[-1].data == b"535 5.7.3 Authentication unsuccessful\r\n"
    auth = d.of("smtp.auth")[0]
    assert auth.username == "bob" and auth.authzid == "CORP\\bob@PC"
    assert auth.response.startswith("bob::CORP:" + challenge[24:32].hex() + ":")
