"""GeoIP fixture databases in the MaxMind format, written by the tests with mmdb-writer."""

from __future__ import annotations

from pathlib import Path

from mmdb_writer import MMDBWriter
from netaddr import IPSet

# Loopback stand-ins for the field report's scanners (all in Taiwan) and a spammer elsewhere.
PLACES = {
    "127.0.0.11/32": ("TW", "Taipei", "Taipei City", 25.05, 121.53, 3462, "Data Communication Business Group"),
    "127.0.0.12/32": ("TW", "Kaohsiung", "Kaohsiung City", 22.62, 120.31, 3462, "Data Communication Business Group"),
    "127.0.0.13/32": ("TW", "Taichung", "Taichung City", 24.14, 120.68, 9924, "Taiwan Fixed Network"),
    "127.0.0.14/31": ("BR", "São Paulo", "São Paulo", -23.55, -46.63, 28573, "Claro NXT Telecomunicacoes Ltda"),
    "127.0.0.16/32": ("US", "Ashburn", "Virginia", 39.04, -77.49, 14618, "AMAZON-AES"),
}


def write_geo(directory: Path, places: dict = PLACES) -> tuple[Path, Path]:
    """A City and an ASN database covering `places`; returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    city = MMDBWriter(ip_version=4, database_type="GeoLite2-City", languages=["en"], description="relaypot test city")
    asn = MMDBWriter(ip_version=4, database_type="GeoLite2-ASN", languages=["en"], description="relaypot test asn")
    for network, (country, name, region, lat, lon, number, org) in places.items():
        city.insert_network(IPSet([network]), {
            "country": {"iso_code": country, "names": {"en": country}},
            "city": {"names": {"en": name}},
            "subdivisions": [{"names": {"en": region}}],
            "location": {"latitude": lat, "longitude": lon},
        })
        asn.insert_network(IPSet([network]), {"autonomous_system_number": number,
                                              "autonomous_system_organization": org})
    city_path, asn_path = directory / "test-city.mmdb", directory / "test-asn.mmdb"
    city.to_db_file(str(city_path))
    asn.to_db_file(str(asn_path))
    return city_path, asn_path
