"""Where a source is: country offline (iptocc), city and network from MaxMind-format files (maxminddb)."""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path
from typing import Any

import iptocc
import maxminddb

from relaypot.errors import ConfigError
from relaypot.events import GeoFound

log = logging.getLogger(__name__)


def _open(path: str | None, what: str) -> Any:
    if not path:
        return None
    try:
        return maxminddb.open_database(path)
    except (OSError, maxminddb.InvalidDatabaseError, ValueError) as exc:
        raise ConfigError(f"[enrich] {what}: cannot read {path}: {exc}") from None


def default_database(data_dir: Path, kind: str) -> str | None:
    """`DATA_DIR/geo/*city*.mmdb` or `*asn*.mmdb` (what `relaypot geo update` writes), if present."""
    found = sorted((data_dir / "geo").glob(f"*{kind}*.mmdb"))
    return str(found[0]) if found else None


class Geo:
    """Lookups are memory-mapped reads of a few microseconds: safe to make in the event loop."""

    def __init__(self, city_db: str | None = None, asn_db: str | None = None) -> None:
        self.city = _open(city_db, "city_db")
        self.asn = _open(asn_db, "asn_db")

    def place(self, address: str, for_session: str = "") -> GeoFound:
        """Where `address` is, as the record that says so (every field None: nothing known)."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return GeoFound(for_session=for_session)
        country = source = city = region = network = organisation = None
        latitude = longitude = asn = None
        if self.city is not None:
            record, prefix = _lookup(self.city, address)
            if isinstance(record, dict):
                country = (record.get("country") or record.get("registered_country") or {}).get("iso_code")
                source = "city_db" if country else None
                city = _name(record.get("city"))
                subdivisions = record.get("subdivisions") or []
                region = _name(subdivisions[0]) if subdivisions else None
                location = record.get("location") or {}
                latitude, longitude = location.get("latitude"), location.get("longitude")
                network = f"{ipaddress.ip_network((address, prefix), strict=False)}"
        if self.asn is not None:
            record, prefix = _lookup(self.asn, address)
            if isinstance(record, dict):
                asn = record.get("autonomous_system_number")
                organisation = record.get("autonomous_system_organization")
                network = f"{ipaddress.ip_network((address, prefix), strict=False)}"
        if country is None and ip.is_global:
            # Registry delegation data shipped inside iptocc: no download, no account.
            country = iptocc.country_code(address)
            source = "registry" if country else None
        return GeoFound(for_session=for_session, country=country, country_source=source, city=city, region=region,
                        latitude=latitude, longitude=longitude, asn=asn, organisation=organisation, network=network)

    def close(self) -> None:
        for reader in (self.city, self.asn):
            if reader is not None:
                reader.close()


def _lookup(reader: Any, address: str) -> tuple[Any, int]:
    try:
        return reader.get_with_prefix_len(address)
    except ValueError:  # an IPv6 address in an IPv4-only database
        return None, 0


def _name(item: Any) -> str | None:
    if not isinstance(item, dict):
        return None
    names = item.get("names") or {}
    return names.get("en") or next(iter(names.values()), None)
