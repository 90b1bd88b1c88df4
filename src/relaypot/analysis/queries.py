"""The questions the report asks of the store, as SQL that runs unchanged on SQLite and PostgreSQL.

Every query takes a Scope (time range, sensor, listener) and returns rows; every ORDER BY ends
in a unique tie-breaker so both engines give the same order. No engine-specific functions: only
count, sum, min, max, substr, CASE, COALESCE, joins and row_number(). A million sessions means
every pass over a table costs seconds, so each query answers as much as one pass can.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from relaypot.storage.database import Database


@dataclass(frozen=True)
class Scope:
    """Which sessions a report covers. Times are ISO-8601 UTC text, compared as strings."""

    since: str | None = None
    until: str | None = None
    sensor: str | None = None
    listener: str | None = None

    def sessions(self, alias: str = "s") -> tuple[str, list[Any]]:
        """A WHERE condition on a sessions table aliased `alias`."""
        clauses, params = ["1 = 1"], []
        if self.since:
            # The hour bound lets the (hour, ...) indexes skip to the range; started is exact.
            clauses.append(f"{alias}.hour >= ? AND {alias}.started >= ?")
            params += [self.since[:13], self.since]
        if self.until:
            clauses.append(f"{alias}.hour <= ? AND {alias}.started < ?")
            params += [self.until[:13], self.until]
        if self.sensor:
            clauses.append(f"{alias}.sensor = ?")
            params.append(self.sensor)
        if self.listener:
            clauses.append(f"{alias}.listener = ?")
            params.append(self.listener)
        return " AND ".join(clauses), params

    def records(self, alias: str) -> tuple[str, str, list[Any]]:
        """(JOIN, WHERE, params) for a table with session_id, ts and sensor columns.

        Time and sensor filter on the table itself; only a listener needs the sessions row.
        """
        clauses, params = ["1 = 1"], []
        join = ""
        if self.since:
            clauses.append(f"{alias}.ts >= ?")
            params.append(self.since)
        if self.until:
            clauses.append(f"{alias}.ts < ?")
            params.append(self.until)
        if self.sensor:
            clauses.append(f"{alias}.sensor = ?")
            params.append(self.sensor)
        if self.listener:
            join = f" JOIN sessions ls ON ls.session_id = {alias}.session_id"
            clauses.append("ls.listener = ?")
            params.append(self.listener)
        return join, " AND ".join(clauses), params


def _in(values: Sequence[Any]) -> str:
    return "(" + ", ".join("?" * len(values)) + ")" if values else "(NULL)"


class Queries:
    def __init__(self, db: Database, scope: Scope) -> None:
        self.db = db
        self.scope = scope

    def q(self, sql: str, params: Iterable[Any] = ()) -> list[tuple]:
        return self.db.query(sql, list(params))

    # ------------------------------------------------------------------ sessions: one pass each

    def overview(self) -> list[tuple]:
        """One pass over the sessions for every count that adds up, streamed from the hourly index.

        (hour, class, syntax class, verb, shape, sensor, listener, hostname, dst_ip, sessions,
        messages, relaying sessions, literals naming the client, literals naming another address).
        """
        where, params = self.scope.sessions()
        return self.q(
            "SELECT s.hour, s.helo_class, s.helo_syntax, s.helo_verb, s.shape, s.sensor, s.listener, s.hostname, "
            "s.dst_ip, count(*), COALESCE(sum(s.messages), 0), COALESCE(sum(s.relay), 0), "
            "sum(CASE WHEN s.helo_peer = 1 THEN 1 ELSE 0 END), sum(CASE WHEN s.helo_peer = 0 THEN 1 ELSE 0 END) "
            f"FROM sessions s WHERE {where} GROUP BY s.hour, s.helo_class, s.helo_syntax, s.helo_verb, s.shape, "
            "s.sensor, s.listener, s.hostname, s.dst_ip ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9", params)

    def per_source(self) -> list[tuple]:
        """One pass per source, read from the (src_ip, helo_class, ...) covering index.

        (src_ip, class, sessions, first, last, messages, probing, auth, harvesting, relaying).
        """
        where, params = self.scope.sessions()
        return self.q(
            "SELECT s.src_ip, COALESCE(s.helo_class, 'missing'), count(*), min(s.started), max(s.started), "
            "COALESCE(sum(s.messages), 0), sum(s.probe), sum(s.auth), sum(s.harvest), max(s.relay) "
            f"FROM sessions s WHERE {where} GROUP BY s.src_ip, s.helo_class ORDER BY 1, 2", params)

    def activity(self, width: int) -> list[tuple]:
        """(bucket, distinct sources) per bucket of `width` characters of the start time.

        The inner GROUP BY streams over the (hour, src_ip) index; only its result is regrouped.
        """
        where, params = self.scope.sessions()
        return self.q(f"SELECT substr(h, 1, {int(width)}) AS t, count(DISTINCT ip) FROM (SELECT s.hour AS h, "
                      f"s.src_ip AS ip FROM sessions s WHERE {where} GROUP BY s.hour, s.src_ip) pairs "
                      "GROUP BY t ORDER BY t", params)

    def helo_top(self, per_class: int) -> list[tuple]:
        """(class, name, sessions, sessions whose literal or bare IP named the client itself) for
        the `per_class` commonest names of each class."""
        where, params = self.scope.sessions()
        return self.q(
            "SELECT c, helo, n, own FROM (SELECT COALESCE(s.helo_class, 'missing') AS c, s.helo AS helo, "
            "count(*) AS n, sum(CASE WHEN s.helo_peer = 1 THEN 1 ELSE 0 END) AS own, "
            "row_number() OVER (PARTITION BY COALESCE(s.helo_class, 'missing') ORDER BY count(*) DESC, s.helo) AS r "
            f"FROM sessions s WHERE {where} GROUP BY COALESCE(s.helo_class, 'missing'), s.helo) t "
            f"WHERE r <= {int(per_class)} ORDER BY c, n DESC, helo", params)

    def helo_sources(self, names: Sequence[str]) -> dict[tuple[str, str | None], int]:
        """Distinct sources per (class, HELO name) (None: no HELO), for a few names: one name can
        be in two classes ([192.0.2.7] from 192.0.2.7 names the client; from elsewhere it does not)."""
        where, params = self.scope.sessions()
        rows = self.q(f"SELECT COALESCE(s.helo_class, 'missing'), s.helo, count(DISTINCT s.src_ip) FROM sessions s "
                      f"WHERE {where} AND s.helo IN {_in(names)} GROUP BY COALESCE(s.helo_class, 'missing'), s.helo",
                      [*params, *names])
        missing = self.q(f"SELECT count(DISTINCT s.src_ip) FROM sessions s WHERE {where} AND s.helo IS NULL", params)
        return {**{(cls, name): n for cls, name, n in rows}, ("missing", None): missing[0][0]}

    def fill_hours(self) -> None:
        """Sessions stored before the hour column existed get it (once; the index finds them)."""
        if self.q("SELECT 1 FROM sessions WHERE hour IS NULL LIMIT 1"):
            with self.db.transaction() as db:
                db.execute("UPDATE sessions SET hour = substr(started, 1, 13) WHERE hour IS NULL")

    def unclassified(self) -> list[tuple]:
        """Sessions with a HELO but no stored class (recorded before classes were derived)."""
        return self.q("SELECT session_id, helo, hostname, dst_ip, src_ip FROM sessions "
                      "WHERE helo_class IS NULL AND helo IS NOT NULL ORDER BY session_id")

    def store_helo_classes(self, rows: Sequence[tuple[str, str, int | None, str]]) -> None:
        """(class, syntax class, peer flag, session_id) written back to sessions."""
        with self.db.transaction() as db:
            for row in rows:
                db.execute("UPDATE sessions SET helo_class = ?, helo_syntax = ?, helo_peer = ? WHERE session_id = ?",
                           row)

    # ------------------------------------------------------------------ commands

    def verb_uses(self) -> list[tuple]:
        """(verb, uses), read from the (verb, session_id) index when nothing filters on time."""
        join, where, params = self.scope.records("c")
        return self.q(f"SELECT c.verb, count(*) FROM commands c{join} WHERE {where} GROUP BY c.verb "
                      "ORDER BY count(*) DESC, c.verb", params)

    # ------------------------------------------------------------------ relaying

    def probes(self) -> list[tuple]:
        """Probe messages: (session_id, ts, src_ip, family, signature, rcpt_to JSON, subject)."""
        join, where, params = self.scope.records("m")
        return self.q(f"SELECT m.session_id, m.ts, m.src_ip, m.probe_family, m.probe_signature, m.rcpt_to, m.subject "
                      f"FROM messages m{join} WHERE {where} AND m.probe_family IS NOT NULL "
                      "ORDER BY m.ts, m.session_id, m.seq", params)

    def delivery_outcomes(self) -> list[tuple]:
        """(outcome, decisions) of probe delivery in scope."""
        join, where, params = self.scope.records("d")
        return self.q(f"SELECT d.outcome, count(*) FROM deliveries d{join} WHERE {where} GROUP BY d.outcome "
                      "ORDER BY d.outcome", params)

    def _first_decisions(self, outcome: str) -> tuple[str, list]:
        """A subquery `f` of (src_ip, at): each source's first probe decision with `outcome`
        (`delivered`, or any other for sources never delivered to), and its parameters."""
        join, where, params = self.scope.records("d")
        chosen = "d.outcome = 'delivered'" if outcome == "delivered" else (
            "d.outcome <> 'delivered' AND NOT EXISTS (SELECT 1 FROM deliveries x WHERE x.src_ip = d.src_ip "
            "AND x.outcome = 'delivered')")
        return (f"(SELECT d.src_ip, min(d.ts) AS at FROM deliveries d{join} WHERE {where} AND {chosen} "
                "GROUP BY d.src_ip) f"), params

    def came_back(self, outcome: str) -> list[tuple]:
        """What each source did after its first probe decision with `outcome` (_first_decisions):
        (src_ip, that decision's time, sessions after it, messages in them, sessions with a relay,
        the first session after, its id)."""
        first, params = self._first_decisions(outcome)
        return self.q(
            "SELECT f.src_ip, f.at, count(s.session_id), COALESCE(sum(s.messages), 0), COALESCE(sum(s.relay), 0), "
            f"min(s.started), min(s.session_id) FROM {first} "
            "LEFT JOIN sessions s ON s.src_ip = f.src_ip AND s.started > f.at "
            "GROUP BY f.src_ip, f.at ORDER BY count(s.session_id) DESC, f.src_ip", params)

    def came_back_mail(self, outcome: str) -> tuple[int, int]:
        """(recipients, distinct bodies) of what sources sent after their first probe decision
        with `outcome` (as `came_back`)."""
        first, params = self._first_decisions(outcome)
        # Through the sessions after (by the (src_ip, ..., started) index), then each session's rows
        # by primary key: never a pass over all envelopes or messages.
        after = f"{first} JOIN sessions s ON s.src_ip = f.src_ip AND s.started > f.at"
        recipients = self.q(f"SELECT count(*) FROM {after} JOIN envelopes e ON e.session_id = s.session_id "
                            "AND e.kind = 'rcpt' AND e.reply_code < 400", params)[0][0]
        bodies = self.q(f"SELECT count(DISTINCT COALESCE(m.body_sha256, m.sha256)) FROM {after} "
                        "JOIN messages m ON m.session_id = s.session_id", params)[0][0]
        return recipients, bodies

    # ------------------------------------------------------------------ spam and campaigns

    def envelope_domains(self, kind: str, limit: int) -> list[tuple]:
        """(domain, uses, sources) for MAIL FROM or RCPT TO."""
        join, where, params = self.scope.records("e")
        return self.q(f"SELECT e.domain, count(*), count(DISTINCT e.src_ip) FROM envelopes e{join} WHERE {where} "
                      f"AND e.kind = ? GROUP BY e.domain ORDER BY count(*) DESC, e.domain LIMIT {int(limit)}",
                      [*params, kind])

    def message_sizes(self) -> list[tuple]:
        join, where, params = self.scope.records("m")
        return self.q(
            "SELECT CASE WHEN m.size < 1024 THEN 0 WHEN m.size < 10240 THEN 1 WHEN m.size < 102400 THEN 2 "
            "WHEN m.size < 1048576 THEN 3 ELSE 4 END AS b, count(*), min(m.size), max(m.size) "
            f"FROM messages m{join} WHERE {where} GROUP BY b ORDER BY b", params)

    def subjects(self, limit: int) -> list[tuple]:
        join, where, params = self.scope.records("m")
        return self.q(f"SELECT COALESCE(m.subject, ''), count(*) FROM messages m{join} WHERE {where} "
                      f"GROUP BY m.subject ORDER BY count(*) DESC, 1 LIMIT {int(limit)}", params)

    def subject_templates(self, limit: int) -> list[tuple]:
        """(template, messages, distinct subjects)."""
        join, where, params = self.scope.records("m")
        return self.q(f"SELECT COALESCE(m.subject_template, ''), count(*), count(DISTINCT m.subject) "
                      f"FROM messages m{join} WHERE {where} GROUP BY m.subject_template "
                      f"ORDER BY count(*) DESC, 1 LIMIT {int(limit)}", params)

    def bursts(self, min_messages: int, limit: int) -> list[tuple]:
        """(source, hour, messages, first, last, first and last session) for each clock hour in
        which one source sent at least `min_messages` messages, the most first."""
        join, where, params = self.scope.records("m")
        return self.q(f"SELECT m.src_ip, substr(m.ts, 1, 13) AS h, count(*), min(m.ts), max(m.ts), "
                      f"min(m.session_id), max(m.session_id) FROM messages m{join} WHERE {where} "
                      f"GROUP BY m.src_ip, h HAVING count(*) >= ? ORDER BY 3 DESC, 1, 2 LIMIT {int(limit)}",
                      [*params, int(min_messages)])

    def violation_kinds(self, kinds: Sequence[str]) -> list[tuple]:
        """(kind, sessions, sources, first and last session) of each of `kinds` recorded in sessions
        the attack catalogue named nothing in (a store written before it, or a kind it lacks)."""
        join, where, params = self.scope.records("v")
        return self.q(f"SELECT v.violation, count(DISTINCT v.session_id), count(DISTINCT v.src_ip), "
                      f"min(v.session_id), max(v.session_id) FROM violations v{join} WHERE {where} "
                      f"AND v.violation IN {_in(kinds)} AND NOT EXISTS (SELECT 1 FROM attacks x "
                      f"WHERE x.session_id = v.session_id) GROUP BY v.violation ORDER BY 2 DESC, 1",
                      [*params, *kinds])

    def attacks(self) -> list[tuple]:
        """(attack, class, cves, sessions, sources, first ts, last ts, first and last session) of
        every catalogue entry named, most sessions first."""
        join, where, params = self.scope.records("a")
        return self.q(f"SELECT a.attack, min(a.attack_class), min(a.cves), count(DISTINCT a.session_id), "
                      f"count(DISTINCT a.src_ip), min(a.ts), max(a.ts), min(a.session_id), max(a.session_id) "
                      f"FROM attacks a{join} WHERE {where} GROUP BY a.attack ORDER BY 4 DESC, 1", params)

    def attack_excerpts(self, attack: str, limit: int = 3) -> list[tuple]:
        """(excerpt, place, uses) of one attack, the most used first."""
        join, where, params = self.scope.records("a")
        return self.q(f"SELECT a.excerpt, min(a.place), count(*) FROM attacks a{join} WHERE {where} "
                      f"AND a.attack = ? GROUP BY a.excerpt ORDER BY 3 DESC, 1 LIMIT {int(limit)}",
                      [*params, attack])

    def attack_indicators(self, attack: str | None = None, limit: int = 10_000) -> list[tuple]:
        """(indicators as stored JSON, src_ip, ts, session) of the records of `attack` (or of every
        attack) that hold any, oldest first, at most `limit`."""
        join, where, params = self.scope.records("a")
        one = " AND a.attack = ?" if attack else ""
        return self.q(f"SELECT a.indicators, a.src_ip, a.ts, a.session_id, a.attack, a.cves FROM attacks a{join} "
                      f"WHERE {where}{one} AND a.indicators <> '[]' ORDER BY a.ts LIMIT {int(limit)}",
                      [*params, *([attack] if attack else [])])

    def attack_classes_by_source(self) -> list[tuple]:
        """(source, attack class) pairs seen."""
        join, where, params = self.scope.records("a")
        return self.q(f"SELECT DISTINCT a.src_ip, a.attack_class FROM attacks a{join} WHERE {where}", params)

    def tls_fingerprints(self, limit: int) -> list[tuple]:
        """(JA4, a JA3, sessions, sources, first and last start, first and last session) per TLS client
        fingerprint, most sessions first."""
        where, params = self.scope.sessions("s")
        return self.q(f"SELECT s.tls_ja4, min(s.tls_ja3), count(*), count(DISTINCT s.src_ip), min(s.started), "
                      f"max(s.started), min(s.session_id), max(s.session_id) FROM sessions s WHERE {where} "
                      f"AND s.tls_ja4 IS NOT NULL GROUP BY s.tls_ja4 ORDER BY 3 DESC, 1 LIMIT {int(limit)}", params)

    def fingerprint_sources(self, ja4: str, limit: int = 5) -> list[tuple]:
        """(source, sessions) of one JA4, the busiest first."""
        where, params = self.scope.sessions("s")
        return self.q(f"SELECT s.src_ip, count(*) FROM sessions s WHERE {where} AND s.tls_ja4 = ? "
                      f"GROUP BY s.src_ip ORDER BY 2 DESC, 1 LIMIT {int(limit)}", [*params, ja4])

    def envelope_relay_tests(self) -> tuple:
        """(sessions, sources, first and last start, first and last session) of sessions that named a
        recipient outside our domains and sent no message: relay tests by envelope (RCPT only)."""
        where, params = self.scope.sessions("s")
        return self.q(f"SELECT count(*), count(DISTINCT s.src_ip), min(s.started), max(s.started), "
                      f"min(s.session_id), max(s.session_id) FROM sessions s WHERE {where} AND s.relay = 1 "
                      f"AND s.messages = 0", params)[0]

    def campaigns_by_body(self, limit: int) -> list[tuple]:
        """(body hash, messages, sources, distinct exact messages, first, last, a subject, first and
        last session, a relay-probe family among its copies or None) for bodies sent more than once:
        copies whose headers differ (each recipient's To, Date and Message-ID) share a body.

        The top bodies come from the (body_sha256, src_ip) index alone; only they are then read.
        Rows from before body hashes were kept (NULL) count by their exact hash, from the (sha256,
        src_ip) index, and only when the store has such rows.
        """
        join, where, params = self.scope.records("m")
        top = self.q(f"SELECT m.body_sha256, count(*), count(DISTINCT m.src_ip) FROM messages m{join} "
                     f"WHERE {where} AND m.body_sha256 IS NOT NULL GROUP BY m.body_sha256 HAVING count(*) > 1 "
                     f"ORDER BY count(*) DESC, m.body_sha256 LIMIT {int(limit)}", params)
        legacy = bool(self.q("SELECT 1 FROM messages WHERE body_sha256 IS NULL LIMIT 1"))
        if legacy:
            top += self.q(f"SELECT m.sha256, count(*), count(DISTINCT m.src_ip) FROM messages m{join} "
                          f"WHERE {where} AND m.body_sha256 IS NULL GROUP BY m.sha256 HAVING count(*) > 1 "
                          f"ORDER BY count(*) DESC, m.sha256 LIMIT {int(limit)}", params)
            top = sorted(top, key=lambda t: (-t[1], t[0]))[:limit]
        if not top:
            return []
        body = "COALESCE(m.body_sha256, m.sha256)" if legacy else "m.body_sha256"
        keys = [t[0] for t in top]
        details = {sha: rest for sha, *rest in self.q(
            f"SELECT {body}, count(DISTINCT m.sha256), min(m.ts), max(m.ts), max(m.subject), min(m.session_id), "
            f"max(m.session_id), max(m.probe_family) FROM messages m{join} WHERE {where} "
            f"AND (m.body_sha256 IN {_in(keys)}"
            + (f" OR (m.body_sha256 IS NULL AND m.sha256 IN {_in(keys)})" if legacy else "")
            + f") GROUP BY {body}", [*params, *keys, *(keys if legacy else [])])}
        return [(sha, n, src, *details[sha]) for sha, n, src in top]

    def url_hosts(self, limit: int) -> list[tuple]:
        join, where, params = self.scope.records("u")
        return self.q(f"SELECT u.host, count(*), count(DISTINCT u.session_id), min(u.url) FROM urls u{join} "
                      f"WHERE {where} GROUP BY u.host ORDER BY count(*) DESC, u.host LIMIT {int(limit)}", params)

    def attachments(self, limit: int) -> list[tuple]:
        join, where, params = self.scope.records("a")
        return self.q(f"SELECT a.sha256, count(*), max(a.filename), max(a.content_type), max(a.size) "
                      f"FROM attachments a{join} WHERE {where} GROUP BY a.sha256 "
                      f"ORDER BY count(*) DESC, a.sha256 LIMIT {int(limit)}", params)

    # ------------------------------------------------------------------ credentials

    def credential_totals(self) -> tuple:
        join, where, params = self.scope.records("k")
        return self.q(f"SELECT count(*), count(DISTINCT k.src_ip), count(DISTINCT k.session_id) "
                      f"FROM credentials k{join} WHERE {where}", params)[0]

    def credentials_by(self, columns: str, limit: int) -> list[tuple]:
        """Top values of `columns` (a fixed, code-chosen list such as "k.username"), with attempts,
        sources, and the first and last session that tried it (examples for `relaypot replay`)."""
        join, where, params = self.scope.records("k")
        return self.q(f"SELECT {columns}, count(*), count(DISTINCT k.src_ip), min(k.session_id), max(k.session_id) "
                      f"FROM credentials k{join} WHERE {where} GROUP BY {columns} "
                      f"ORDER BY count(*) DESC, {columns} LIMIT {int(limit)}", params)

    def accounts_taken(self, limit: int) -> list[tuple]:
        """Logins [deception] accepted, per (username, password, source): (username, password,
        source, mechanisms, first login, last login, sessions, messages sent after a login in those
        sessions, a subject, the first and last such session)."""
        join, where, params = self.scope.records("k")
        return self.q(
            "SELECT k.username, k.password, k.src_ip, min(k.mechanism), min(k.ts), max(k.ts), "
            "count(DISTINCT k.session_id), count(m.seq), max(m.subject), min(k.session_id), max(k.session_id) "
            f"FROM credentials k{join} LEFT JOIN messages m ON m.session_id = k.session_id AND m.seq > k.seq "
            f"WHERE {where} AND k.outcome = 'accepted' GROUP BY k.username, k.password, k.src_ip "
            f"ORDER BY count(m.seq) DESC, min(k.ts), k.username, k.password, k.src_ip LIMIT {int(limit)}", params)

    def campaigns_through_accounts(self, limit: int) -> list[tuple]:
        """Spam sent after a login [deception] accepted, its own campaign class: (body hash,
        messages, sources, accounts, a subject, the first session)."""
        join, where, params = self.scope.records("k")
        return self.q(
            "SELECT COALESCE(m.body_sha256, m.sha256), count(*), count(DISTINCT m.src_ip), "
            "count(DISTINCT k.username), max(m.subject), min(m.session_id) "
            f"FROM credentials k{join} JOIN messages m ON m.session_id = k.session_id AND m.seq > k.seq "
            f"WHERE {where} AND k.outcome = 'accepted' GROUP BY COALESCE(m.body_sha256, m.sha256) "
            f"ORDER BY count(*) DESC, 1 LIMIT {int(limit)}", params)

    def session_started(self, src_ip: str, helo_class: str, started: str) -> str | None:
        """The (first by id) session of `src_ip` that started at `started` with `helo_class`
        (`missing` is stored as NULL too): an index lookup on (src_ip, helo_class, started)."""
        where, params = self.scope.sessions("s")
        cls = "(s.helo_class = ? OR s.helo_class IS NULL)" if helo_class == "missing" else "s.helo_class = ?"
        rows = self.q(f"SELECT s.session_id FROM sessions s WHERE s.src_ip = ? AND {cls} AND s.started = ? "
                      f"AND {where} ORDER BY s.session_id LIMIT 1", [src_ip, helo_class, started, *params])
        return rows[0][0] if rows else None

    def template_examples(self, template: str) -> list[str]:
        """A session for the first and for the last subject (byte order) of a subject template:
        each an index lookup on (subject_template, subject), then the ties on that subject."""
        join, where, params = self.scope.records("m")
        found: set[str] = set()
        for pick in ("min", "max"):
            subject = self.q(f"SELECT {pick}(m.subject) FROM messages m{join} WHERE m.subject_template = ? "
                             f"AND {where}", [template, *params])[0][0]
            if subject is None:
                continue
            rows = self.q(f"SELECT m.session_id FROM messages m{join} WHERE m.subject_template = ? AND m.subject = ? "
                          f"AND {where} ORDER BY m.session_id LIMIT 1", [template, subject, *params])
            found.update(row[0] for row in rows)
        return sorted(found)

    # ------------------------------------------------------------------ enrichment

    def source_facts(self) -> list[tuple]:
        """Every enriched source: (src_ip, country, city, region, asn, organisation, network, ptr,
        ptr_confirmed, ptr_generic, os, os_flavor). Not scoped: the report keeps the sources in scope."""
        return self.q("SELECT src_ip, country, city, region, asn, organisation, network, ptr, ptr_confirmed, "
                      "ptr_generic, os, os_flavor FROM sources ORDER BY src_ip")

    def dnsbl_verdicts(self) -> list[tuple]:
        """(src_ip, zone, listed, error) for every source and zone asked."""
        return self.q("SELECT src_ip, zone, listed, error FROM dnsbl ORDER BY src_ip, zone")

    def helo_in_dns(self) -> list[tuple]:
        """(resolves, matches_peer, sessions) over sessions whose HELO is a name by syntax, for the
        names looked up; read through the (helo_class, helo, src_ip, helo_syntax) index."""
        where, params = self.scope.sessions()
        return self.q("SELECT h.resolves, h.matches_peer, count(*) FROM helo_names h JOIN sessions s "
                      "ON s.helo_class IN ('fqdn', 'impersonation') AND s.helo = h.name AND s.src_ip = h.src_ip "
                      f"WHERE {where} AND s.helo_syntax = 'fqdn' GROUP BY h.resolves, h.matches_peer ORDER BY 1, 2",
                      params)
