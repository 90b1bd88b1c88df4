#!/usr/bin/env python3
"""What a TLS client learns from a server's STARTTLS, probed with `openssl s_client` (a client
nobody here wrote): for each client offer, the protocol and suite agreed and the temporary key,
or the alert the server sent instead; and the certificate's shape (its fields, not its key).

    python3 tests/reference/tls_probes.py HOST PORT OUT.json

tests/reference/postfix/tls.json is this script against the real Postfix 3.7.11 of
../shared/reference-transcripts/configs/postfix-3.7.11 (127.0.0.1:2600), its certificate made by
Debian's make-ssl-cert. Point it only at servers you run yourself, on loopback.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

# (name, s_client arguments): what old, odd and modern clients offer.
OFFERS = [
    ("default", []),
    ("tls1_2", ["-tls1_2"]),
    ("tls1_1", ["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"]),
    ("tls1_0", ["-tls1", "-cipher", "DEFAULT:@SECLEVEL=0"]),
    ("anonymous", ["-tls1_2", "-cipher", "aNULL:@SECLEVEL=0"]),
    ("anonymous_aes128", ["-tls1_2", "-cipher", "ADH-AES128-SHA:@SECLEVEL=0"]),
    ("dhe_aes128", ["-tls1_2", "-cipher", "DHE-RSA-AES128-SHA:@SECLEVEL=0"]),
    ("rsa_kx", ["-tls1_2", "-cipher", "AES128-SHA:@SECLEVEL=0"]),
    ("camellia", ["-tls1_2", "-cipher", "CAMELLIA256-SHA:@SECLEVEL=0"]),
    ("null_cipher", ["-tls1_2", "-cipher", "NULL-SHA:@SECLEVEL=0"]),
    ("aria", ["-tls1_2", "-cipher", "ECDHE-ARIA256-GCM-SHA384:@SECLEVEL=0"]),
    ("tls1_3_ccm", ["-tls1_3", "-ciphersuites", "TLS_AES_128_CCM_SHA256"]),
    ("p384_only", ["-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256", "-groups", "P-384"]),
    ("ffdhe4096_only", ["-tls1_3", "-groups", "ffdhe4096"]),
]

_CIPHER = re.compile(r"^New, (\S+), Cipher is (\S+)", re.M)
_TEMP_KEY = re.compile(r"^Server Temp Key: (.+)$", re.M)
_ALERT = re.compile(r"alert ([a-z ]+?):.*SSL alert number (\d+)")


def probe(host: str, port: int, arguments: list[str]) -> dict:
    done = subprocess.run(
        ["openssl", "s_client", "-starttls", "smtp", "-connect", f"{host}:{port}", "-servername", "mail.example.com",
         *arguments],
        input="QUIT\n", capture_output=True, text=True, timeout=30,
    )
    text = done.stdout + done.stderr
    found: dict = {}
    agreed = _CIPHER.search(text)
    if agreed and agreed.group(2) != "(NONE)":
        found["protocol"], found["cipher"] = agreed.group(1), agreed.group(2)
        key = _TEMP_KEY.search(text)
        found["temp_key"] = key.group(1) if key else None
    else:
        alert = _ALERT.search(text)
        if alert:
            found["alert"] = f"{alert.group(2)} {alert.group(1)}"
        else:  # the client gave up on its own, or the server closed without a word
            error = re.search(r"error:[0-9A-F]+:SSL routines:[^:]*:([^:]+)", text)
            found["failed"] = error.group(1) if error else "no handshake"
    return found


def certificate(host: str, port: int) -> dict:
    """The certificate's fields a scanner reads: no key, no serial, no dates but the lifetime."""
    shown = subprocess.run(["openssl", "s_client", "-starttls", "smtp", "-connect", f"{host}:{port}"],
                           input="QUIT\n", capture_output=True, text=True, timeout=30).stdout
    pem = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", shown, re.S)
    assert pem, shown
    text = subprocess.run(["openssl", "x509", "-noout", "-text"], input=pem.group(0),
                          capture_output=True, text=True, check=True).stdout
    dates = subprocess.run(["openssl", "x509", "-noout", "-startdate", "-enddate", "-dateopt", "iso_8601"],
                           input=pem.group(0), capture_output=True, text=True, check=True).stdout
    start, end = (line.split("=", 1)[1][:10] for line in dates.splitlines())
    lifetime = (int(end[:4]) - int(start[:4])) * 365  # within a few days: leap years aside
    extensions = re.findall(r"^ {12}(X509v3 [^:]+):( critical)?\s*$", text, re.M)
    return {
        "version": re.search(r"Version: (\d+)", text).group(1),
        "signature": re.search(r"Signature Algorithm: (\S+)", text).group(1),
        "subject": re.search(r"Subject: (.*)", text).group(1).strip(),
        "issuer": re.search(r"Issuer: (.*)", text).group(1).strip(),
        "key": re.search(r"Public-Key: \((\d+ bit)\)", text).group(1),
        "serial_bytes": len(re.search(r"Serial Number:\s*\n?\s*([0-9a-f:]+)", text).group(1).split(":")),
        "lifetime_days_about": lifetime,
        "extensions": [name + (crit or "") for name, crit in extensions],
        "alt_names": re.search(r"X509v3 Subject Alternative Name:.*\n\s+(.*)", text).group(1).strip(),
        "basic_constraints": re.search(r"X509v3 Basic Constraints:.*\n\s+(.*)", text).group(1).strip(),
    }


def record(host: str, port: int) -> dict:
    return {"offers": {name: probe(host, port, arguments) for name, arguments in OFFERS},
            "certificate": certificate(host, port)}


def main() -> int:
    host, port, out = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    found = record(host, port)
    out.write_text(json.dumps(found, indent=1) + "\n")
    print(json.dumps(found, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
