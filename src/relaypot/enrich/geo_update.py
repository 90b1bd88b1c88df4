"""`relaypot geo update`: DB-IP Lite City and ASN databases (free, no account, CC BY 4.0) into
DATA_DIR/geo/, checked before they replace what is there."""

from __future__ import annotations

import gzip
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import maxminddb

from relaypot.errors import RelaypotError

DBIP = "https://download.db-ip.com/free"
KINDS = {
    # kind: (file name pattern, the database type must contain, a record field a lookup must find)
    "city": ("dbip-city-lite-{month}.mmdb.gz", "City", "country"),
    "asn": ("dbip-asn-lite-{month}.mmdb.gz", "ASN", "autonomous_system_number"),
}
MAX_DOWNLOAD = 1 << 30  # bytes: the City file is about 130 MB unpacked
PROBE_ADDRESS = "8.8.8.8"  # any complete database knows this one


def months(today: date) -> list[str]:
    """This month's file, then last month's (a new month's file appears some days in)."""
    previous = date(today.year - (today.month == 1), (today.month - 2) % 12 + 1, 1)
    return [today.strftime("%Y-%m"), previous.strftime("%Y-%m")]


def update(geo_dir: Path, mirror: str = DBIP, today: date | None = None,
           say: Callable[[str], None] = lambda line: None) -> list[Path]:
    """Download, check and install both databases; returns their paths. Nothing is replaced
    unless its download passes every check."""
    scheme, _, rest = mirror.partition("://")
    if scheme.lower() not in ("http", "https", "file") or not rest.strip("/"):
        raise RelaypotError(f"geo update: --mirror {mirror!r} is no URL: write https://HOST/PATH (or file:///DIR)")
    geo_dir.mkdir(parents=True, exist_ok=True)
    installed = []
    for kind, (pattern, db_type, field) in KINDS.items():
        target = geo_dir / f"dbip-{kind}-lite.mmdb"
        for n, month in enumerate(months(today or date.today())):
            url = f"{mirror.rstrip('/')}/{pattern.format(month=month)}"
            try:
                staged = _download(url, geo_dir)
            except _NotThere:
                if n == 0:
                    continue
                raise RelaypotError(f"geo update: {url} is not there, nor this month's file") from None
            try:
                _check(staged, db_type, field, url)
                os.replace(staged, target)  # atomic: readers see the old file or the new one
            finally:
                staged.unlink(missing_ok=True)
            say(f"{kind}: {url} -> {target} ({target.stat().st_size} bytes)")
            installed.append(target)
            break
    return installed


class _NotThere(Exception):
    pass


def _download(url: str, directory: Path) -> Path:
    """The unpacked file, staged next to where it will go (same filesystem for the rename)."""
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers={"User-Agent": "relaypot"}), timeout=60)
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise _NotThere() from None
        raise RelaypotError(f"geo update: {url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise RelaypotError(f"geo update: cannot download {url}: {reason} (is this machine online? Or download "
                            "the files by hand and set [enrich] city_db and asn_db)") from None
    fd, name = tempfile.mkstemp(prefix=".download-", suffix=".mmdb", dir=directory)
    staged = Path(name)
    try:
        with response, os.fdopen(fd, "wb") as out:
            expected = response.headers.get("Content-Length")
            counted = _Counting(response, url)
            unpacked = gzip.GzipFile(fileobj=counted)
            try:
                written = _copy(unpacked, out, url)
            except (OSError, EOFError, gzip.BadGzipFile) as exc:
                raise RelaypotError(f"geo update: {url} is not a complete gzip file: {exc}") from None
        if expected is not None and counted.count != int(expected):
            raise RelaypotError(f"geo update: {url}: got {counted.count} bytes of {expected}")
        if written == 0:
            raise RelaypotError(f"geo update: {url} is empty")
        return staged
    except BaseException:
        staged.unlink(missing_ok=True)
        raise


class _Counting:
    """The compressed stream, counted and bounded."""

    def __init__(self, raw: Any, url: str) -> None:
        self.raw, self.url, self.count = raw, url, 0

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.count += len(data)
        if self.count > MAX_DOWNLOAD:
            raise RelaypotError(f"geo update: {self.url} is larger than {MAX_DOWNLOAD} bytes")
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        raise OSError("a download cannot seek")  # gzip seeks only to rewind, which it never does here


def _copy(source, out, url: str) -> int:
    written = 0
    while chunk := source.read(1 << 20):
        written += len(chunk)
        if written > MAX_DOWNLOAD:
            raise RelaypotError(f"geo update: {url} unpacks to more than {MAX_DOWNLOAD} bytes")
        out.write(chunk)
    return written


def _check(path: Path, db_type: str, field: str, url: str) -> None:
    try:
        reader = maxminddb.open_database(str(path), maxminddb.MODE_FILE)
    except (maxminddb.InvalidDatabaseError, ValueError, OSError) as exc:
        raise RelaypotError(f"geo update: {url} is not a MaxMind-format database: {exc}") from None
    try:
        kind = reader.metadata().database_type
        if db_type.lower() not in kind.lower():
            raise RelaypotError(f"geo update: {url} is a {kind!r} database, not a {db_type} one")
        record = reader.get(PROBE_ADDRESS)
        if not isinstance(record, dict) or field not in record:
            raise RelaypotError(f"geo update: {url} does not know {PROBE_ADDRESS}: an incomplete database")
    finally:
        reader.close()
