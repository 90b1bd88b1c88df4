"""The SQL store's writes, beside schema.sql: one Insert per table, with how a row merges.

The rows themselves are built by sinks/rows.py, in the column order declared here.
"""

from __future__ import annotations

from relaypot.storage.database import Insert

EVENT = Insert("events", ("session_id", "seq", "ts", "sensor", "src_ip", "kind", "payload"))
SESSION_COLUMNS = ("session_id", "sensor", "src_ip", "src_port", "dst_ip", "dst_port", "listener", "persona",
                   "hostname", "started", "hour", "ended", "helo_verb", "helo", "tls", "commands", "messages",
                   "bytes_in", "bytes_out", "close_reason", "duration", "shape", "helo_class", "helo_syntax",
                   "helo_peer", "relay", "probe", "auth", "harvest", "tls_ja3", "tls_ja4")
SESSION_FLAGS = ("tls", "relay", "probe", "auth", "harvest")
_FIRST = ("src_port", "dst_ip", "dst_port", "listener", "persona", "hostname", "tls_ja3", "tls_ja4")
_START = ("started", "hour")
_HELO = ("helo_verb", "helo", "helo_class", "helo_syntax", "helo_peer")
_LAST = ("ended", "commands", "messages", "bytes_in", "bytes_out", "close_reason", "duration", "shape")
# A session's records may span batches: what a later batch knows fills in, never erases. The
# earliest start wins (a spool resend or an import can bring a session's first records after its
# later ones), and so does the first HELO/EHLO (a batch is a run of a session's records, so one
# that starts earlier than the row holds earlier records); a flag, once set, stays. The HELO
# columns move as one group, decided by helo_verb: helo_peer is NULL for a name, so COALESCE alone
# would let a later EHLO's verdict in. Portable to PostgreSQL as written.
SESSION = Insert("sessions", SESSION_COLUMNS, "ON CONFLICT (session_id) DO UPDATE SET " + ", ".join(
    [f"{c} = COALESCE(sessions.{c}, excluded.{c})" for c in _FIRST]
    + [f"{c} = CASE WHEN excluded.started < sessions.started THEN excluded.{c} ELSE sessions.{c} END" for c in _START]
    + [f"{c} = CASE WHEN sessions.helo_verb IS NULL OR (excluded.helo_verb IS NOT NULL AND excluded.started < "
       f"sessions.started) THEN excluded.{c} ELSE sessions.{c} END" for c in _HELO]
    + [f"{c} = COALESCE(excluded.{c}, sessions.{c})" for c in _LAST]
    + [f"{c} = CASE WHEN excluded.{c} = 1 THEN 1 ELSE sessions.{c} END" for c in SESSION_FLAGS]
))
_IDENTITY = ("session_id", "seq", "ts", "sensor", "src_ip")
COMMAND = Insert("commands", _IDENTITY + ("verb", "argument", "raw_line", "reply_code"))
ENVELOPE = Insert("envelopes", _IDENTITY + ("kind", "address", "domain", "reply_code"))
MESSAGE = Insert("messages", _IDENTITY + (
    "sha256", "size", "path", "transfer", "mail_from", "rcpt_to", "subject", "header_from", "header_to",
    "header_date", "message_id", "attachments", "urls", "excerpt", "subject_template", "relay", "probe_family",
    "probe_signature", "body_sha256"))
URL = Insert("urls", ("session_id", "seq", "n", "ts", "sensor", "url", "host"))
ATTACHMENT = Insert("attachments", ("session_id", "seq", "n", "ts", "sensor", "filename", "content_type", "size",
                                    "sha256"))
CREDENTIAL = Insert("credentials", _IDENTITY + (
    "mechanism", "advertised", "outcome", "username", "password", "authzid", "response"))
VIOLATION = Insert("violations", _IDENTITY + ("violation", "detail"))
FRAGMENT = Insert("fragments", _IDENTITY + ("what", "reason", "size", "received", "sha256", "path",
                                            "received_sha256", "mail_from", "rcpt_to"))
ATTACK = Insert("attacks", _IDENTITY + ("attack", "attack_class", "cves", "place", "excerpt", "indicators"))
DELIVERY = Insert("deliveries", _IDENTITY + ("for_session", "sha256", "recipients", "outcome", "reason", "relay",
                                             "reply"))


def _replace(table: str, key: str, columns: tuple[str, ...]) -> Insert:
    """An upsert that replaces `columns` of the row keyed `key` with the newest answer."""
    return Insert(table, (key,) + columns, f"ON CONFLICT ({key}) DO UPDATE SET "
                  + ", ".join(f"{c} = excluded.{c}" for c in columns))


def _verdict(table: str, key: tuple[str, ...], verdict: str, columns: tuple[str, ...]) -> Insert:
    """An upsert where an answer without a verdict (`verdict` NULL) keeps the stored verdict and its
    details, and only notes its error."""
    keep = ", ".join(f"{c} = CASE WHEN excluded.{verdict} IS NULL THEN {table}.{c} ELSE excluded.{c} END"
                     for c in (verdict, *columns, "checked"))
    return Insert(table, key + (verdict, *columns, "error", "checked"),
                  f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {keep}, error = excluded.error")


SOURCE_GEO = _replace("sources", "src_ip", ("country", "country_source", "city", "region", "latitude", "longitude",
                                            "asn", "organisation", "network", "geo_checked"))
SOURCE_RDNS = _replace("sources", "src_ip", ("ptr", "ptr_confirmed", "ptr_generic", "rdns_checked"))
SOURCE_OS = _replace("sources", "src_ip", ("os", "os_flavor", "os_quality", "os_distance", "os_checked"))
DNSBL = _verdict("dnsbl", ("src_ip", "zone"), "listed", ("codes", "meaning"))
HELO_NAME = _verdict("helo_names", ("name", "src_ip"), "resolves", ("matches_peer", "addresses"))
ORDER = (EVENT, SESSION, COMMAND, ENVELOPE, MESSAGE, URL, ATTACHMENT, CREDENTIAL, VIOLATION, FRAGMENT, ATTACK,
         DELIVERY, SOURCE_GEO, SOURCE_RDNS, SOURCE_OS, DNSBL, HELO_NAME)
# Tables keyed by something other than (session_id, seq): one row per key per batch, because
# PostgreSQL refuses an INSERT ... ON CONFLICT DO UPDATE that touches a row twice.
KEYED = (SOURCE_GEO, SOURCE_RDNS, SOURCE_OS, DNSBL, HELO_NAME)
