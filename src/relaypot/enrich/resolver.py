"""DNS questions for the enrichers, asynchronously, to one configurable server (or the system's)."""

from __future__ import annotations

import dns.asyncresolver
import dns.exception
import dns.resolver
import dns.reversename

from relaypot.config import parse_server


def preload() -> None:
    """What dnspython imports on first use: its asyncio backend and a module per record type."""
    import importlib  # noqa: PLC0415
    import pkgutil  # noqa: PLC0415

    import dns.asyncbackend  # noqa: PLC0415
    import dns.rdtypes  # noqa: PLC0415

    # Named once, dnspython never asks sniffio which library runs it (a failed import is not
    # cached: without this, every lookup tried to import sniffio again, after the drop too).
    dns.asyncbackend.set_default_backend("asyncio")
    for module in pkgutil.walk_packages(dns.rdtypes.__path__, "dns.rdtypes."):
        importlib.import_module(module.name)
    for name in ("dns.query", "dns.message", "dns.edns", "dns.rrset", "dns.ipv4", "dns.ipv6", "dns.inet",
                 "dns.flags", "dns.rcode", "dns.opcode", "dns.tsig", "dns.entropy"):
        importlib.import_module(name)


class DnsNotFound(Exception):
    """The name does not exist, or has no record of the type asked (NXDOMAIN, NODATA)."""


class DnsFailure(Exception):
    """No usable answer: a timeout, SERVFAIL, REFUSED, or no server reachable."""


class Resolver:
    """Operators often run their own recursive resolver: some DNSBLs refuse public ones."""

    def __init__(self, server: str = "", timeout: float = 2.0) -> None:
        if server:
            address, port = parse_server(server)
            self._resolver = dns.asyncresolver.Resolver(configure=False)
            self._resolver.nameservers = [address]
            self._resolver.port = port
        else:
            self._resolver = dns.asyncresolver.Resolver()
        self._resolver.timeout = timeout
        self._resolver.lifetime = timeout
        self._resolver.cache = None  # the enrichers keep their own, per source

    async def records(self, name: str, rdtype: str) -> tuple[list[str], int]:
        """The records' text and the answer's TTL."""
        try:
            answer = await self._resolver.resolve(name, rdtype, search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            raise DnsNotFound(name) from None
        except dns.exception.Timeout:
            raise DnsFailure("timeout") from None
        except dns.resolver.NoNameservers as exc:
            raise DnsFailure(f"no server answered: {_first_error(exc)}") from None
        except dns.exception.DNSException as exc:
            raise DnsFailure(f"{exc.__class__.__name__}") from None
        return [r.to_text().rstrip(".") for r in answer], answer.rrset.ttl if answer.rrset else 0

    async def addresses(self, name: str) -> list[str]:
        """A and AAAA records; DnsNotFound when there are neither."""
        found: list[str] = []
        failure: DnsFailure | None = None
        for rdtype in ("A", "AAAA"):
            try:
                found += (await self.records(name, rdtype))[0]
            except DnsNotFound:
                pass
            except DnsFailure as exc:
                failure = exc
        if not found and failure is not None:
            raise failure
        if not found:
            raise DnsNotFound(name)
        return found

    async def ptr(self, address: str) -> list[str]:
        return (await self.records(dns.reversename.from_address(address).to_text(), "PTR"))[0]


def _first_error(exc: dns.resolver.NoNameservers) -> str:
    errors = exc.kwargs.get("errors") or []
    return str(errors[0][3]) if errors and len(errors[0]) > 3 else "no answer"
