"""Pure classifiers: what a HELO/EHLO name is, what a subject's template is, which probe a text is.

No I/O, no SQL: the report calls these on distinct values from the store.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from publicsuffixlist import PublicSuffixList

from relaypot.judgements.addresses import same_address

# RFC 5321 §4.1.4 asks for "a primary host name" or an address literal (§4.1.3); §2.3.5 says a
# domain name is a fully qualified one. The classes, each session gets exactly one:
HELO_CLASSES = ("missing", "fqdn", "address_literal", "bare_ip", "non_fqdn", "invalid", "impersonation")

# Special-use names (RFC 6761, RFC 8375, RFC 6762, ICANN's .internal) are not public, whatever the PSL says.
SPECIAL_USE = ("local", "localhost", "localdomain", "lan", "home", "internal", "intranet", "corp",
               "test", "example", "invalid", "home.arpa", "private")

_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_IPV4_LITERAL = re.compile(r"^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$")


@lru_cache(maxsize=1)
def _psl() -> PublicSuffixList:
    # accept_unknown=False: a TLD the list does not know (.mynet, .lan) is not a public suffix.
    return PublicSuffixList(accept_unknown=False)


def preload() -> None:
    """Read the classifiers' data now (the Public Suffix List, the probe signatures), not at first
    use: a sensor that dropped root may no longer be able to read its installation."""
    _psl()
    signatures()


@dataclass(frozen=True, slots=True)
class HeloIdentity:
    """One HELO/EHLO argument, classified."""

    cls: str  # one of HELO_CLASSES
    syntax: str  # the class by syntax alone (what impersonation would be without the check)
    address: str | None = None  # the address of a literal or bare IP, normalized
    reason: str = ""


def classify_helo(name: str | None, our_names: frozenset[str] = frozenset(),
                  our_addresses: frozenset[str] = frozenset(), peer: str | None = None) -> HeloIdentity:
    """Classify a HELO/EHLO argument. `our_names` are lower-case host names; `our_addresses` IPs;
    `peer` is the client's address (naming it is honest, whatever the address)."""
    if name is None:
        return HeloIdentity("missing", "missing", reason="no HELO or EHLO")
    text = name.strip(" \t")
    if not text:
        return HeloIdentity("invalid", "invalid", reason="empty")
    if len(text) > 255:
        return HeloIdentity("invalid", "invalid", reason="over 255 characters")
    if text.startswith("[") and text.endswith("]"):
        address = _literal(text[1:-1])
        if address is None:
            return HeloIdentity("invalid", "invalid", reason="not a valid address literal")
        return _ours(HeloIdentity("address_literal", "address_literal", address, "an address literal"), our_addresses,
                     peer)
    try:
        bare = ipaddress.ip_address(text)
    except ValueError:
        bare = None
    if bare is not None:
        return _ours(HeloIdentity("bare_ip", "bare_ip", str(bare), "an address without brackets"), our_addresses,
                     peer)
    domain = _domain(text)
    if domain is None:
        return HeloIdentity("invalid", "invalid", reason="not a domain name (RFC 5321 §4.1.2)")
    syntax, reason = _fqdn(domain)
    if domain in ("localhost", "localhost.localdomain") or domain in our_names:
        return HeloIdentity("impersonation", syntax, reason="our own name" if domain in our_names else "localhost")
    return HeloIdentity(syntax, syntax, reason=reason)


def _ours(identity: HeloIdentity, our_addresses: frozenset[str], peer: str | None) -> HeloIdentity:
    """An address that is ours, or a loopback address the client does not have, is impersonation."""
    address = identity.address
    if address is None or (peer is not None and same_address(address, peer)):
        return identity
    if address in our_addresses or ipaddress.ip_address(address).is_loopback:
        return HeloIdentity("impersonation", identity.syntax, address, "our own address")
    return identity


def _literal(inner: str) -> str | None:
    """RFC 5321 §4.1.3: `1.2.3.4` or `IPv6:...`; the address, normalized, or None."""
    if inner[:5].lower() == "ipv6:":
        try:
            return str(ipaddress.IPv6Address(inner[5:]))
        except ValueError:
            return None
    if _IPV4_LITERAL.match(inner):
        return str(ipaddress.IPv4Address(inner))
    return None


def _domain(text: str) -> str | None:
    """The name in A-label, lower-case form without a final dot, or None if it is not a domain."""
    name = text[:-1] if text.endswith(".") else text
    if not name or ".." in name:
        return None
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    name = name.lower()
    if len(name) > 253 or not all(_LABEL.match(label) for label in name.split(".")):
        return None
    return name


def _fqdn(domain: str) -> tuple[str, str]:
    labels = domain.split(".")
    if len(labels) == 1:
        return "non_fqdn", "a single label"
    for suffix in SPECIAL_USE:
        if domain == suffix or domain.endswith("." + suffix):
            return "non_fqdn", f"a special-use suffix (.{suffix})"
    if labels[-1].isdigit():
        return "invalid", "a numeric top-level label"
    if _psl().privatesuffix(domain) is None:
        return "non_fqdn", "no public suffix" if _psl().publicsuffix(domain) is None else "a public suffix itself"
    return "fqdn", "a name under a public suffix"


# RFC 2606 §3: names reserved for documentation, and the very name honeypot detectors look for.
DOCUMENTATION_DOMAINS = ("example.com", "example.net", "example.org")


def public_name_problem(name: str) -> str | None:
    """Why `name` would not pass for a mail server's public host name; None when it would."""
    try:
        ipaddress.ip_address(name)
        return "is an IP address, not a name"
    except ValueError:
        pass
    domain = _domain(name)
    if domain is None:
        return "is not a domain name"
    for reserved in DOCUMENTATION_DOMAINS:
        if domain == reserved or domain.endswith("." + reserved):
            return f"is under {reserved}, a name reserved for documentation (and a known honeypot tell)"
    cls, why = _fqdn(domain)
    return None if cls == "fqdn" else f"has {why}"


def peer_match(helo: str | None, peer: str) -> bool | None:
    """For a literal or bare IP: does it name the client's own address? None for other names."""
    if not helo:
        return None
    text = helo.strip()
    inner = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    if inner[:5].lower() == "ipv6:":
        inner = inner[5:]
    try:
        return ipaddress.ip_address(inner) == ipaddress.ip_address(peer)
    except ValueError:
        return None


# ---------------------------------------------------------------------------- subjects

# Lookarounds rather than \b: "BC_82.155.126.2" has an address right after an underscore.
_TEMPLATE_RULES = (
    (re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+"), "<email>"),
    (re.compile(r"(?<![\d.])\d{1,3}(\.\d{1,3}){3}(?![\d.])"), "<ip>"),
    (re.compile(r"(?<![0-9a-z])(?:0x)?[0-9a-f]{8,}(?![0-9a-z])", re.I), "<hex>"),
    (re.compile(r"\d+"), "<n>"),
)


def subject_template(subject: str) -> str:
    """`BC_82.155.126.2` → `BC_<ip>`; `Invoice 4711 for bob@x.org` → `Invoice <n> for <email>`."""
    text = " ".join(subject.split())
    for pattern, replacement in _TEMPLATE_RULES:
        text = pattern.sub(replacement, text)
    return text


# ---------------------------------------------------------------------------- relay probes


@dataclass(frozen=True, slots=True)
class Signature:
    name: str
    family: str
    pattern: re.Pattern[str]
    keywords: tuple[str, ...]
    source: str
    examples: tuple[str, ...] = ()
    heuristic: bool = False  # generic wording, not one tool's text


@lru_cache(maxsize=1)
def signatures() -> tuple[Signature, ...]:
    """Known scanner texts, shipped as data (judgements/data/signatures.toml)."""
    raw = tomllib.loads(resources.files("relaypot.judgements").joinpath("data/signatures.toml").read_text("utf-8"))
    return tuple(
        Signature(item["name"], item["family"], re.compile(item["pattern"], re.IGNORECASE),
                  tuple(k.lower() for k in item["keywords"]), item.get("source", ""), tuple(item.get("examples", ())),
                  bool(item.get("heuristic", False)))
        for item in raw["signature"]
    )


def probe_signature(text: str, targets: tuple[str, ...]) -> tuple[str, str] | None:
    """(family, signature) when `text` is a relay probe: a known scanner text, or one naming a target.

    `targets` are the sensor's own addresses and names: a probe names the relay it tests so
    that its author knows which one delivered (the field report's "hostname = <ip>").
    """
    # Substring tests first: a signature's keywords are necessary for it to match, and most
    # messages hold none of them, so most messages never reach a regular expression.
    lower = text.lower()
    for signature in signatures():
        if any(k in lower for k in signature.keywords) and signature.pattern.search(text):
            return signature.family, signature.name
    for target in targets:
        if target and target.lower() in lower and _naming(target).search(text):
            return "names the sensor", f"names {target}"
    return None


def delivery_signature(subject: str, body: str, targets: tuple[str, ...]) -> tuple[str, str] | None:
    """probe_signature, as strict as probe delivery wants it: one tool's own text may be in the
    subject or the body; generic wording, or the sensor's name, only in the subject (a phishing
    page that says "relay test" somewhere in its body is no probe to send on)."""
    lower = body.lower()
    for signature in signatures():
        if signature.heuristic:
            continue
        if any(k in lower for k in signature.keywords) and signature.pattern.search(body):
            return signature.family, signature.name
    return probe_signature(subject, targets)


@lru_cache(maxsize=256)
def _naming(target: str) -> re.Pattern[str]:
    """`target` as a whole word: 1.2.3.4 is not found in 11.2.3.45, nor mx.example.com in mx.example.com.evil."""
    return re.compile(r"(?<![\w.-])" + re.escape(target) + r"(?![\w-]|\.\w)", re.IGNORECASE)
