"""NTLMSSP messages for AUTH NTLM ([MS-NLMP] §2.2.1): read type 1 and 3, write a realistic type 2.

A type-2 CHALLENGE names the server's NetBIOS and DNS host and domain; scanners such as nmap's
smtp-ntlm-info harvest exactly that. A type-3 AUTHENTICATE carries the user, domain, workstation
and the NetNTLM response, which we keep in hashcat's format (modes 5500 and 5600).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from relaypot.personas.model import NtlmIdentity

SIGNATURE = b"NTLMSSP\x00"

NEGOTIATE_UNICODE = 0x00000001
NEGOTIATE_OEM = 0x00000002
REQUEST_TARGET = 0x00000004
NEGOTIATE_NTLM = 0x00000200
NEGOTIATE_ALWAYS_SIGN = 0x00008000
TARGET_TYPE_DOMAIN = 0x00010000
NEGOTIATE_EXTENDED_SESSIONSECURITY = 0x00080000
NEGOTIATE_TARGET_INFO = 0x00800000
NEGOTIATE_VERSION = 0x02000000
NEGOTIATE_128 = 0x20000000
NEGOTIATE_KEY_EXCH = 0x40000000
NEGOTIATE_56 = 0x80000000

# Flags a server echoes when the client asks for them.
_ECHOED = (NEGOTIATE_EXTENDED_SESSIONSECURITY | NEGOTIATE_128 | NEGOTIATE_56 | NEGOTIATE_KEY_EXCH)


class NtlmError(ValueError):
    """A malformed NTLMSSP message."""


def message_type(blob: bytes) -> int:
    if len(blob) < 12 or blob[:8] != SIGNATURE:
        raise NtlmError("not an NTLMSSP message")
    return struct.unpack_from("<I", blob, 8)[0]


def negotiate_flags(blob: bytes) -> int:
    """The flags of a type-1 NEGOTIATE message."""
    if message_type(blob) != 1 or len(blob) < 16:
        raise NtlmError("not an NTLM type-1 message")
    return struct.unpack_from("<I", blob, 12)[0]


def _av_pair(av_id: int, value: str) -> bytes:
    data = value.encode("utf-16-le")
    return struct.pack("<HH", av_id, len(data)) + data


FILETIME_EPOCH = 11644473600  # seconds from 1601-01-01 (FILETIME's epoch) to 1970-01-01


def _timestamp(now: float) -> bytes:
    """MsvAvTimestamp: the time as a FILETIME, 100-nanosecond ticks since 1601."""
    return struct.pack("<HHQ", 7, 8, int((now + FILETIME_EPOCH) * 10_000_000))


def challenge(identity: NtlmIdentity, client_flags: int, server_challenge: bytes, now: float = 0.0) -> bytes:
    """A type-2 CHALLENGE message answering a NEGOTIATE with `client_flags`; `now` (Unix time) is
    the server's clock where the identity sends it."""
    if len(server_challenge) != 8:
        raise ValueError("the server challenge is 8 bytes")
    unicode = bool(client_flags & NEGOTIATE_UNICODE) or not client_flags & NEGOTIATE_OEM
    flags = (
        (NEGOTIATE_UNICODE if unicode else NEGOTIATE_OEM)
        | REQUEST_TARGET | NEGOTIATE_NTLM | NEGOTIATE_ALWAYS_SIGN | TARGET_TYPE_DOMAIN
        | NEGOTIATE_TARGET_INFO | (client_flags & _ECHOED)
    )
    version = b""
    if identity.version is not None:
        flags |= NEGOTIATE_VERSION
        major, minor, build = identity.version
        version = struct.pack("<BBH3xB", major, minor, build, 15)  # 15: NTLMSSP_REVISION_W2K3
    target_name = identity.netbios_domain.encode("utf-16-le" if unicode else "latin-1", "replace")
    target_info = b"".join(
        (
            _av_pair(2, identity.netbios_domain),  # MsvAvNbDomainName
            _av_pair(1, identity.netbios_computer),  # MsvAvNbComputerName
            _av_pair(4, identity.dns_domain),  # MsvAvDnsDomainName
            _av_pair(3, identity.dns_computer),  # MsvAvDnsComputerName
            _av_pair(5, identity.dns_domain) if identity.forest else b"",  # MsvAvDnsTreeName
            _timestamp(now) if identity.forest else b"",  # MsvAvTimestamp
            struct.pack("<HH", 0, 0),  # MsvAvEOL
        )
    )
    header_len = 48 + len(version)
    name_offset = header_len
    info_offset = name_offset + len(target_name)
    header = (
        SIGNATURE
        + struct.pack("<I", 2)
        + struct.pack("<HHI", len(target_name), len(target_name), name_offset)
        + struct.pack("<I", flags)
        + server_challenge
        + b"\x00" * 8
        + struct.pack("<HHI", len(target_info), len(target_info), info_offset)
        + version
    )
    return header + target_name + target_info


@dataclass(frozen=True, slots=True)
class Authenticate:
    """What a type-3 AUTHENTICATE message reveals."""

    user: str
    domain: str
    workstation: str
    lm_response: bytes
    nt_response: bytes

    def hashcat(self, server_challenge: bytes) -> str:
        """NetNTLMv2 (hashcat -m 5600) or NetNTLMv1 (-m 5500), ready to crack offline."""
        chal = server_challenge.hex()
        if len(self.nt_response) > 24:
            proof, blob = self.nt_response[:16], self.nt_response[16:]
            return f"{self.user}::{self.domain}:{chal}:{proof.hex()}:{blob.hex()}"
        return f"{self.user}::{self.domain}:{self.lm_response.hex()}:{self.nt_response.hex()}:{chal}"


def authenticate(blob: bytes) -> Authenticate:
    """Parse a type-3 AUTHENTICATE message; every field is bounds-checked (attacker bytes)."""
    if message_type(blob) != 3 or len(blob) < 64:
        raise NtlmError("not an NTLM type-3 message")
    flags = struct.unpack_from("<I", blob, 60)[0]
    codec = "utf-16-le" if flags & NEGOTIATE_UNICODE else "latin-1"

    def field(offset: int) -> bytes:
        length, _, start = struct.unpack_from("<HHI", blob, offset)
        if start + length > len(blob):
            raise NtlmError("a field points past the end of the message")
        return blob[start : start + length]

    def text(offset: int) -> str:
        return field(offset).decode(codec, "replace")

    return Authenticate(
        user=text(36),
        domain=text(28),
        workstation=text(44),
        lm_response=field(12),
        nt_response=field(20),
    )
