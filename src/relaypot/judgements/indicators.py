"""Indicators in what an attacker sent: the URLs, host names, IP addresses and shell commands of
an exploit's payload, for blocklists, hunting and sharing (`relaypot export indicators`).

Pure. The payload is what the attack catalogue matched (a recipient, a header, a HELO name...),
decoded as the attacked program would decode it first: Exim's `\\x2F` escapes and `\\t`s in a
`${run{...}}`, the separators of a shell command. Only exploits are read: a relay probe's or a
spam message's addresses are not indicators of compromise.
"""

from __future__ import annotations

import ipaddress
import re

KINDS = ("url", "domain", "ipv4", "ipv6", "command")
MAX_INDICATORS = 16  # per text: a payload is short; a text with more is filler
MAX_VALUE = 500  # characters of one indicator (a command) kept

_EXIM_ESCAPE = re.compile(r"\\x([0-9A-Fa-f]{2})|\\([tnr\\])")
_EXIM_RUN = re.compile(r"\$\{\s*run\s*\{(.*?)\}\s*\}", re.S)
_SHELLSHOCK = re.compile(r"\(\)\s*\{[^}]*;\s*\}\s*;(.*)", re.S)
_OPENSMTPD = re.compile(r"<\s*;(.*?);?\s*>", re.S)
_SUBSHELL = re.compile(r"`([^`]+)`|\$\(([^)]+)\)")
_PIPE = re.compile(r'"\s*\|([^"]+)"')
_URL = re.compile(r"\b(?:https?|ftp|tftp)://[^\s'\"<>`;|)\\\x00-\x1f\x7f]+", re.I)  # no control characters
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
_HOST = re.compile(r"(?<![\w./-])((?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63})(?![\w/-])", re.I)
# What a payload fetches is a file: x.sh is its name, not a host (though .sh is Saint Helena's).
_FILE_SUFFIXES = frozenset({"sh", "py", "pl", "rb", "php", "exe", "bin", "elf", "so", "txt", "conf", "cfg", "log",
                            "tar", "gz", "tgz", "bz2", "xz", "zip", "jpg", "png", "gif", "pdf", "arm", "arm7", "mips",
                            "x86", "i686"})
# Tools a payload fetches or runs with: a host name next to one of them is where it fetches from.
_FETCHERS = re.compile(r"\b(?:wget|curl|tftp|ftp|nc|ncat|telnet|fetch|lwp-download|busybox)\b", re.I)
_EXIM_CHARS = {"t": "\t", "n": "\n", "r": "\r", "\\": "\\"}


def exim_unescape(text: str) -> str:
    """Exim's string escapes (`\\x2F` → `/`, `\\t` → tab), as its expansion reads them."""
    return _EXIM_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)) if m.group(1) else _EXIM_CHARS[m.group(2)], text)


def commands(text: str) -> list[str]:
    """The shell commands a payload carries: a `${run{...}}`'s, Shellshock's after the function,
    OpenSMTPD's between `<;` and `;>`, backquotes and `$(...)`, a `"|program"` recipient's."""
    found: list[str] = []
    for match in _EXIM_RUN.finditer(text):
        found.append(exim_unescape(match.group(1)))
    for pattern in (_SHELLSHOCK, _OPENSMTPD, _PIPE):
        for match in pattern.finditer(text):
            found.append(match.group(1))
    for match in _SUBSHELL.finditer(text):
        found.append(match.group(1) or match.group(2))
    cleaned = []
    for command in found:
        command = " ".join(command.replace("${IFS}", " ").replace("$IFS", " ").split())
        if command and command not in cleaned:
            cleaned.append(command[:MAX_VALUE])
    return cleaned


def extract(text: str) -> list[tuple[str, str]]:
    """(kind, value) indicators in `text`, in the order found, each once, at most MAX_INDICATORS:
    its commands, and the URLs, addresses and fetched-from host names in them (or in the text
    itself, decoded, where it carries no command)."""
    found: list[tuple[str, str]] = []

    def add(kind: str, value: str) -> None:
        if (kind, value) not in found and len(found) < MAX_INDICATORS:
            found.append((kind, value))

    runs = commands(text)
    for command in runs:
        add("command", command)
    sources = runs or [exim_unescape(text)]
    for source in sources:
        urls = [u.rstrip(".,") for u in _URL.findall(source)]
        for url in urls:
            add("url", url[:MAX_VALUE])
        hosts = [_host_of(url) for url in urls]
        for word in _IPV4.findall(source):
            hosts.append(word)
        if _FETCHERS.search(source):
            hosts += [m.group(1) for m in _HOST.finditer(source)
                      if m.group(1).rsplit(".", 1)[1].lower() not in _FILE_SUFFIXES]
        for host in hosts:
            if not host:
                continue
            try:
                address = ipaddress.ip_address(host.strip("[]"))
            except ValueError:
                if "." in host and not host.replace(".", "").isdigit():
                    add("domain", host.lower().rstrip("."))
                continue
            add("ipv4" if address.version == 4 else "ipv6", str(address))
    return found


def _host_of(url: str) -> str:
    rest = url.split("://", 1)[1]
    host = re.split(r"[/?#]", rest, maxsplit=1)[0].rsplit("@", 1)[-1]
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else ""
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host
