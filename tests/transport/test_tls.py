"""STARTTLS as the persona's server offers it, measured with real clients against what the real
Postfix 3.7.11 answered on this machine (tests/reference/tls_probes.py, postfix/tls.json)."""

from __future__ import annotations

import importlib.util
import json
import ssl
import time

import pytest

from support import REFERENCE, ready_for_tls, require


def _recorder():
    spec = importlib.util.spec_from_file_location("tls_probes", REFERENCE / "tls_probes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


POSTFIX_TLS = json.loads((REFERENCE / "postfix" / "tls.json").read_text())


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_the_postfix_persona_negotiates_tls_as_the_real_server(sensor_factory, loop):
    """Each client offer (TLS 1.0 to 1.3, anonymous, DHE, RSA key exchange, CAMELLIA, ARIA, one
    curve, a group the server lacks, a suite it lacks) gets the real server's protocol, suite and
    temporary key, or its alert; the made certificate has the real (make-ssl-cert) one's shape."""
    require("openssl")
    sensor = sensor_factory(smtp__persona="postfix", loop=loop)
    found = _recorder().record(sensor.host, sensor.port)
    assert found["offers"] == POSTFIX_TLS["offers"]
    assert found["certificate"] == POSTFIX_TLS["certificate"]
    # Each refused offer is recorded as a failed handshake.
    alerts = sum("alert" in offer for offer in POSTFIX_TLS["offers"].values())
    deadline = time.monotonic() + 10
    while sum(r.event.outcome == "failed" for r in sensor.records("smtp.tls")) < alerts:
        assert time.monotonic() < deadline, "the failed handshakes were not all recorded"
        time.sleep(0.05)


def test_a_failed_handshake_gets_an_alert_not_a_silent_close(sensor_factory):
    """The client offers a suite the server lacks: OpenSSL's handshake_failure alert (a record
    of type 21) comes back before the close, as from a real server, and the session records it."""
    sensor = sensor_factory(smtp__persona="postfix")
    raw, reply = ready_for_tls(sensor.address, timeout=10)
    with raw:
        assert reply.startswith(b"220 ")
        client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        client.check_hostname = False
        client.verify_mode = ssl.CERT_NONE
        client.maximum_version = ssl.TLSVersion.TLSv1_2
        client.set_ciphers("NULL-SHA:@SECLEVEL=0")  # no server offers it
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = client.wrap_bio(incoming, outgoing)
        with pytest.raises(ssl.SSLWantReadError):
            tls.do_handshake()
        raw.sendall(outgoing.read())
        answer = b""
        while chunk := raw.recv(4096):
            answer += chunk
    assert answer[:1] == b"\x15" and answer[5:7] == b"\x02\x28"  # alert, fatal, handshake_failure (40)
    record = sensor.wait_for("smtp.tls", 1)[0]
    assert record.event.outcome == "failed"
    sensor.wait_for("session.closed", 1)


def test_exchange_forced_to_starttls_speaks_tls_1_0_only_and_says_what_gives_it_away(sensor_factory, caplog):
    """Windows 2000 spoke TLS 1.0 with RC4, 3DES and DES, which this OpenSSL lacks: with STARTTLS
    forced on, exchange2000 stays at TLS 1.0 in its own order, with the nearest suites it has, and
    warns; a TLS 1.2-only client is answered in TLS 1.0 and gives up."""
    require("openssl")
    sensor = sensor_factory(smtp__persona="exchange2000", tls__starttls="yes")
    offers = _recorder()
    # (s_client names the suite's own version, SSLv3, for a TLS 1.0 session.)
    assert offers.probe(sensor.host, sensor.port, ["-tls1", "-cipher", "ALL:@SECLEVEL=0"]) == {
        "protocol": "SSLv3", "cipher": "AES128-SHA", "temp_key": None}
    # The server answers TLS 1.0 to a TLS 1.2-only client, which gives up.
    assert offers.probe(sensor.host, sensor.port, ["-tls1_2"]) == {"failed": "unsupported protocol"}
    assert "offering AES128-SHA:AES256-SHA instead" in caplog.text


def test_a_profile_this_openssl_cannot_serve_is_refused_without_a_substitute(tmp_path):
    from relaypot.errors import ConfigError
    from relaypot.personas.model import TlsProfile
    from relaypot.transport.tls import ensure_certificate, server_context

    cert, key = ensure_certificate(tmp_path, "mail.example.com")
    with pytest.raises(ConfigError, match="leave \\[tls\\] starttls"):
        server_context(cert, key, TlsProfile(ciphers="RC4-MD5", security_level=0))


def test_dh_auto_and_groups_reach_openssl_or_say_why_not():
    from relaypot.transport import openssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    assert openssl.tune(context, True, "X25519:P-256") == ""
    assert "refused the group list" in openssl.tune(context, False, "no-such-group")
    assert openssl.tune(context, False, "") == ""


def test_a_made_certificate_always_has_a_20_byte_serial():
    """The size of the real (make-ssl-cert) serial, every time: a bare 159-bit draw is 19 bytes
    one time in 128, which made the conformance test above flaky and a scanner's tell."""
    from relaypot.transport.tls import certificate_serial

    for _ in range(20_000):
        serial = certificate_serial()
        assert (serial.bit_length() + 8) // 8 == 20  # DER: a positive integer's bytes, sign bit clear


def test_sendmails_certificate_is_version_1_as_update_tls_makes_it(tmp_path):
    """Debian's update_tls signs with `openssl x509 -req -extfile` and no extensions section: an
    X.509 v1 certificate (the real one, tests/sendmail_server.py "tls-auth", reads so in openssl
    x509 -text), O=Sendmail, OU=Sendmail Server, CN the host, its admin address, 3650 days. Made
    once and kept; openssl itself reads it and finds its signature good."""
    import datetime

    from cryptography import x509
    from cryptography.x509.oid import NameOID

    from relaypot.transport.tls import sendmail_certificate

    cert, key = sendmail_certificate(tmp_path, "mail.example.com")
    certificate = x509.load_pem_x509_certificate(cert.read_bytes())
    assert certificate.version == x509.Version.v1 and not list(certificate.extensions)
    assert certificate.subject == certificate.issuer == x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Sendmail"),
        x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Sendmail Server"),
        x509.NameAttribute(NameOID.COMMON_NAME, "mail.example.com"),
        x509.NameAttribute(NameOID.EMAIL_ADDRESS, "admin@mail.example.com")])
    validity = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert validity == datetime.timedelta(days=3650)
    openssl = require("openssl")
    import subprocess
    verified = subprocess.run([openssl, "verify", "-CAfile", str(cert), "-check_ss_sig", str(cert)],
                              capture_output=True, text=True, timeout=30)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert sendmail_certificate(tmp_path, "mail.example.com") == (cert, key)
    assert cert.read_bytes() == sendmail_certificate(tmp_path, "mail.example.com")[0].read_bytes()


def test_own_dh_parameters_are_made_once_and_are_no_well_known_group(tmp_path):
    """update_tls's `openssl dhparam -dsaparam`: a 2048-bit prime of this install's own and a DSA
    generator, not 2 and not RFC 7919's ffdhe2048 (which GnuTLS servers use); kept across starts."""
    import subprocess

    from relaypot.transport.tls import FFDHE2048, own_dh_params

    path = own_dh_params(tmp_path)
    text = subprocess.run([require("openssl"), "dhparam", "-noout", "-text", "-in", str(path)],
                          capture_output=True, text=True, timeout=30, check=True).stdout
    assert "(2048 bit)" in text and "G:    2 " not in text and "G:    2\n" not in text
    prime = int("".join(text.split("P:")[1].split("G:")[0].split()).replace(":", ""), 16)
    assert prime != FFDHE2048 and prime.bit_length() == 2048
    assert own_dh_params(tmp_path) == path and path.read_bytes() == own_dh_params(tmp_path).read_bytes()


def test_exim_gencerts_certificate_is_what_the_script_makes_with_its_defaults(tmp_path):
    """exim4-base's exim-gencert, run here with its prompts answered by their defaults and the host
    name, wrote a version 1 certificate of C=US, CN=mail.example.com for 1095 days; so does the
    exim-tls-auth persona's (the same fields, read by openssl from both)."""
    import datetime
    import subprocess

    from cryptography import x509

    from relaypot.transport.tls import exim_gencert_certificate

    cert, _key = exim_gencert_certificate(tmp_path, "mail.example.com")
    certificate = x509.load_pem_x509_certificate(cert.read_bytes())
    assert certificate.version == x509.Version.v1
    assert certificate.subject.rfc4514_string() == certificate.issuer.rfc4514_string() == "CN=mail.example.com,C=US"
    assert certificate.not_valid_after_utc - certificate.not_valid_before_utc == datetime.timedelta(days=1095)
    real = tmp_path / "real.crt"
    made = subprocess.run([require("openssl"), "req", "-config", str(REFERENCE / "exim-tls-auth" / "exim-gencert.cnf"),
                           "-x509", "-newkey", "rsa:2048", "-keyout", str(tmp_path / "real.key"), "-out", str(real),
                           "-days", "1095", "-nodes"],
                          input="\n" * 5 + "mail.example.com\n\n", capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    theirs = x509.load_pem_x509_certificate(real.read_bytes())
    assert (theirs.version, theirs.subject, list(theirs.extensions)) == (
        certificate.version, certificate.subject, list(certificate.extensions))
    assert theirs.not_valid_after_utc - theirs.not_valid_before_utc == datetime.timedelta(days=1095)


def test_every_certificate_a_persona_may_name_is_made():
    """[tls] certificate's every value has its maker (transport/tls.py made_certificate)."""
    import typing

    from relaypot.personas.model import TlsProfile
    from relaypot.transport.tls import _MAKERS

    assert set(typing.get_args(typing.get_type_hints(TlsProfile)["certificate"])) == set(_MAKERS)


def test_dsa_style_groups_have_their_subgroup():
    """p prime of the size asked, q prime dividing p - 1, g of order q (what dhparam -dsaparam
    writes); the primality test agrees with known primes and composites, Carmichael's included."""
    from relaypot.transport.tls import _probably_prime, dsa_style_group

    assert [n for n in range(60) if _probably_prime(n)] == [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43,
                                                            47, 53, 59]
    assert _probably_prime(2**127 - 1) and not _probably_prime(561) and not _probably_prime(2**127 + 1)
    p, q, g = dsa_style_group(512, 160)
    assert p.bit_length() == 512 and q.bit_length() == 160 and _probably_prime(p) and _probably_prime(q)
    assert (p - 1) % q == 0 and 1 < g < p and pow(g, q, p) == 1
