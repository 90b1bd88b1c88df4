"""What a TLS client sees of a server: nmap's ssl-cert and ssl-enum-ciphers lines by section, and
what `openssl s_client` (a client nobody here wrote) sees beyond the suites: the authorities a
certificate request names, a TLS 1.2 ticket's lifetime hint, the key exchange, the alert an old
protocol version meets. Shared by the tests that hold a persona's TLS to its real server's."""

from __future__ import annotations

import re
import subprocess

from support import require


def tls_sections(text: str) -> dict[str, list[str]]:
    """nmap's ssl-cert lines (validity and digests aside) and each ssl-enum-ciphers version's lines."""
    sections: dict[str, list[str]] = {}
    current = ""
    for line in text.splitlines():
        if "ssl-enum-ciphers:" in line:
            current = ""
        elif "ssl-cert:" in line:
            current = "cert"
        elif re.match(r"\|\s+TLSv1\.\d:", line):
            current = line.strip("| :")
        elif "least strength" in line or not line.startswith("|"):
            current = ""
        if current and not re.search(r"Not valid|MD5|SHA-1", line):
            sections.setdefault(current, []).append(line.strip("|_ "))
    return sections


def observe(port: int) -> dict[str, str]:
    """s_client's view of the STARTTLS server on 127.0.0.1:`port`, one line per aspect."""
    openssl = require("openssl")

    def client(*args: str) -> str:
        done = subprocess.run([openssl, "s_client", "-connect", f"127.0.0.1:{port}", "-starttls", "smtp", *args],
                              input="", capture_output=True, text=True, timeout=60)
        return done.stdout + done.stderr

    seen: dict[str, str] = {}
    for version in ("-tls1_2", "-tls1_3"):
        out = client(version)
        authorities = re.search(r"Acceptable client certificate CA names\n(.*)\n", out)
        seen[f"{version} authorities"] = authorities.group(1) if authorities else "(no certificate request)"
        key = re.search(r"Server Temp Key: (.*)\n", out)
        seen[f"{version} key exchange"] = key.group(1) if key else "(none)"
    hint = re.search(r"TLS session ticket lifetime hint: (\d+)", client("-tls1_2"))
    seen["ticket lifetime hint"] = hint.group(1) if hint else "(no ticket)"
    for version in ("-tls1", "-tls1_1"):
        alert = re.search(r"alert (\w[\w ]*?):", client(version, "-cipher", "DEFAULT:@SECLEVEL=0"))
        seen[f"{version} alert"] = alert.group(1) if alert else "(handshake)"
    return seen
