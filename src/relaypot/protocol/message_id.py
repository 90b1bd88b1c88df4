"""The Internet message id Exchange 2013 and later name in their 250 after a message ({message_id}):
the message's own Message-ID, in angle brackets, or one the server makes, <GUID@host>, where the
message has none (Util.PatchHeaders and SmtpCommand.GetBracketedString of the transport, the
Microsoft transcript's "<c89b4fcc-3ad1-4758-a1ab-1e820065d622@mail1.fabrikam.com>"). Pure.
"""

from __future__ import annotations

import random
import uuid

HEAD_READ = 64 * 1024  # the header block is read this far, no further
MAX_SHOWN = 998  # an id longer than a header line may be is not echoed (SmtpResponse caps its lines)
NAME = b"message-id"


def internet_message_id(message: bytes, hostname: str, rng: random.Random) -> str:
    """The id as the 250 shows it. An id the client chose is shown only as printable ASCII: the
    reply never carries its control bytes or non-ASCII (Exchange's SmtpResponse refuses those too)."""
    value = _header_value(message[:HEAD_READ])
    if value:
        if len(value) <= MAX_SHOWN and all(0x20 <= byte <= 0x7E for byte in value):
            text = value.decode("ascii")
            return text if len(text) >= 2 and text[0] == "<" and text[-1] == ">" else f"<{text}>"
    return f"<{uuid.UUID(int=rng.getrandbits(128), version=4)}@{hostname}>"


def _header_value(head: bytes) -> bytes | None:
    """The first Message-ID header's value, unfolded and trimmed; None where there is none."""
    lines = head.split(b"\n")
    for index, raw in enumerate(lines):
        line = raw.rstrip(b"\r")
        if not line:
            return None  # the header block ended
        name, colon, rest = line.partition(b":")
        if colon and name.strip(b" \t").lower() == NAME:
            parts = [rest]
            for more in lines[index + 1:]:
                more = more.rstrip(b"\r")
                if more[:1] not in (b" ", b"\t"):
                    break
                parts.append(more)
            return b" ".join(part.strip(b" \t") for part in parts).strip(b" \t")
    return None
