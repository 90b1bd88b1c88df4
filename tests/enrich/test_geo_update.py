"""`relaypot geo update` against a real HTTP server on loopback standing in for download.db-ip.com."""

from __future__ import annotations

import gzip
import http.server
import socket
import subprocess
import threading
from datetime import date
from pathlib import Path

import pytest
from geo_fixture import write_geo

from relaypot.enrich.geo import Geo
from relaypot.enrich.geo_update import months
from support import relaypot

# The fixture databases know PROBE_ADDRESS (8.8.8.8), as any complete database does.
PLACES = {"8.8.8.0/24": ("US", "Mountain View", "California", 37.4, -122.1, 15169, "GOOGLE"),
          "127.0.0.11/32": ("TW", "Taipei", "Taipei City", 25.05, 121.53, 3462, "HiNet")}


@pytest.fixture
def mirror(tmp_path):
    """A directory served over HTTP on 127.0.0.1; yields (directory, base URL)."""
    root = tmp_path / "mirror"
    root.mkdir()
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(root), **k)  # noqa: E731
    http.server.SimpleHTTPRequestHandler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}/free"
    server.shutdown()
    server.server_close()


def publish(root: Path, month: str, city: bytes, asn: bytes) -> None:
    (root / "free").mkdir(exist_ok=True)
    (root / "free" / f"dbip-city-lite-{month}.mmdb.gz").write_bytes(gzip.compress(city))
    (root / "free" / f"dbip-asn-lite-{month}.mmdb.gz").write_bytes(gzip.compress(asn))


def geo_update(data_dir: Path, url: str) -> subprocess.CompletedProcess:
    return relaypot("geo", "update", "--data-dir", str(data_dir), "--mirror", url)


def test_update_installs_both_databases_and_the_sensor_finds_them(mirror, tmp_path):
    root, url = mirror
    city, asn = write_geo(tmp_path / "made", PLACES)
    # Early in a month its file is not out yet: last month's is taken.
    publish(root, months(date.today())[1], city.read_bytes(), asn.read_bytes())
    data = tmp_path / "data"
    result = geo_update(data, url)
    assert result.returncode == 0, result.stderr
    assert "2 databases in" in result.stderr and "CC BY 4.0" in result.stderr
    installed = sorted(p.name for p in (data / "geo").iterdir())
    assert installed == ["dbip-asn-lite.mmdb", "dbip-city-lite.mmdb"]  # no staging files left
    from relaypot.enrich.geo import default_database

    place = Geo(default_database(data, "city"), default_database(data, "asn")).place("127.0.0.11")
    assert (place.city, place.asn) == ("Taipei", 3462)


def test_a_bad_download_replaces_nothing(mirror, tmp_path):
    root, url = mirror
    city, asn = write_geo(tmp_path / "made", PLACES)
    this_month = months(date.today())[0]
    publish(root, this_month, city.read_bytes(), asn.read_bytes())
    data = tmp_path / "data"
    assert geo_update(data, url).returncode == 0
    before = (data / "geo" / "dbip-city-lite.mmdb").read_bytes()

    # Not a database; then a database of the wrong kind; then one missing the probe address; then truncated gzip.
    bad_city = [b"<html>rate limited</html>", asn.read_bytes(),
                write_geo(tmp_path / "partial", {"127.0.0.11/32": PLACES["127.0.0.11/32"]})[0].read_bytes()]
    messages = ["is not a MaxMind-format database", "not a City one", "does not know 8.8.8.8"]
    for content, message in zip(bad_city, messages):
        publish(root, this_month, content, asn.read_bytes())
        result = geo_update(data, url)
        assert result.returncode == 2 and message in result.stderr, result.stderr
        assert result.stderr.count("\n") == 1
        assert (data / "geo" / "dbip-city-lite.mmdb").read_bytes() == before
    (root / "free" / f"dbip-city-lite-{this_month}.mmdb.gz").write_bytes(gzip.compress(city.read_bytes())[:200])
    result = geo_update(data, url)
    assert result.returncode == 2 and "not a complete gzip file" in result.stderr
    assert sorted(p.name for p in (data / "geo").iterdir()) == ["dbip-asn-lite.mmdb", "dbip-city-lite.mmdb"]


def test_offline_is_one_clear_error(tmp_path):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    result = geo_update(tmp_path / "data", f"http://127.0.0.1:{port}/free")
    assert result.returncode == 2
    assert result.stderr.startswith("relaypot: error: geo update: cannot download") and "online" in result.stderr
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize("mirror", ["notaurl", "ftp://example.org/x", "https://"])
def test_a_mirror_that_is_no_url_is_one_clear_error_and_touches_nothing(tmp_path, mirror):
    result = geo_update(tmp_path / "data", mirror)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"relaypot: error: geo update: --mirror {mirror!r} is no URL")
    assert not (tmp_path / "data").exists()
