"""The questions the report asks of the store, as SQL that runs unchanged on SQLite and PostgreSQL.

Every query takes a Scope (time range, sensor, listener) and returns rows; every ORDER BY ends
in a unique tie-breaker so both engines give the same order. No engine-specific functions: only
count, sum, min, max, substr, lower, CASE, COALESCE, joins and a temporary table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

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
            clauses.append(f"{alias}.started >= ?")
            params.append(self.since)
        if self.until:
            clauses.append(f"{alias}.started < ?")
            params.append(self.until)
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

    # ------------------------------------------------------------------ sessions and activity

    def overview(self) -> tuple:
        where, params = self.scope.sessions()
        return self.q(f"SELECT count(*), min(s.started), max(s.started), count(DISTINCT s.src_ip), "
                      f"COALESCE(sum(s.messages), 0) FROM sessions s WHERE {where}", params)[0]

    def sensors(self) -> list[tuple]:
        where, params = self.scope.sessions()
        return self.q(f"SELECT s.sensor, count(*) FROM sessions s WHERE {where} GROUP BY s.sensor ORDER BY s.sensor",
                      params)

    def hostnames(self) -> list[str]:
        where, params = self.scope.sessions()
        return [r[0] for r in self.q(f"SELECT DISTINCT s.hostname FROM sessions s WHERE {where} "
                                     "AND s.hostname IS NOT NULL ORDER BY s.hostname", params)]

    def destinations(self) -> list[str]:
        where, params = self.scope.sessions()
        return [r[0] for r in self.q(f"SELECT DISTINCT s.dst_ip FROM sessions s WHERE {where} "
                                     "AND s.dst_ip IS NOT NULL ORDER BY s.dst_ip", params)]

    def activity(self, width: int) -> list[tuple]:
        """(bucket, sessions, distinct sources, messages) per time bucket of `width` characters of ts."""
        where, params = self.scope.sessions()
        return self.q(f"SELECT substr(s.started, 1, {int(width)}) AS t, count(*), count(DISTINCT s.src_ip), "
                      f"COALESCE(sum(s.messages), 0) FROM sessions s WHERE {where} GROUP BY t ORDER BY t", params)

    def listeners(self) -> list[tuple]:
        where, params = self.scope.sessions()
        return self.q(f"SELECT s.listener, count(*), count(DISTINCT s.src_ip) FROM sessions s WHERE {where} "
                      "GROUP BY s.listener ORDER BY count(*) DESC, s.listener", params)

    # ------------------------------------------------------------------ HELO identity

    def distinct_helos(self) -> list[tuple]:
        """(helo, sessions, sources) for every distinct HELO/EHLO name (NULL: none)."""
        where, params = self.scope.sessions()
        return self.q(f"SELECT s.helo, count(*), count(DISTINCT s.src_ip) FROM sessions s WHERE {where} "
                      "GROUP BY s.helo ORDER BY s.helo", params)

    def load_helo_classes(self, rows: list[tuple[str, str, str, str | None]]) -> None:
        """A temporary table of (helo, class, syntax class, address) for the joins below."""
        self.db.execute("DROP TABLE IF EXISTS helo_class")
        self.db.execute("CREATE TEMPORARY TABLE helo_class (helo TEXT PRIMARY KEY, cls TEXT NOT NULL, "
                        "syntax TEXT NOT NULL, address TEXT)")
        for start in range(0, len(rows), 500):
            chunk = rows[start : start + 500]
            self.db.execute("INSERT INTO helo_class (helo, cls, syntax, address) VALUES "
                            + ", ".join(["(?, ?, ?, ?)"] * len(chunk)), [v for row in chunk for v in row])

    _HELO_JOIN = "FROM sessions s LEFT JOIN helo_class hc ON hc.helo = s.helo"

    def helo_classes(self) -> list[tuple]:
        """(class, syntax class, verb, sessions, peer-matching sessions) over the scope."""
        where, params = self.scope.sessions()
        return self.q(
            f"SELECT COALESCE(hc.cls, 'missing'), COALESCE(hc.syntax, 'missing'), COALESCE(s.helo_verb, ''), "
            f"count(*), sum(CASE WHEN hc.address = s.src_ip THEN 1 ELSE 0 END) {self._HELO_JOIN} WHERE {where} "
            "GROUP BY COALESCE(hc.cls, 'missing'), COALESCE(hc.syntax, 'missing'), COALESCE(s.helo_verb, '') "
            "ORDER BY 1, 2, 3", params)

    def helo_over_time(self, width: int) -> list[tuple]:
        where, params = self.scope.sessions()
        return self.q(f"SELECT substr(s.started, 1, {int(width)}) AS t, COALESCE(hc.cls, 'missing') AS c, count(*) "
                      f"{self._HELO_JOIN} WHERE {where} GROUP BY t, c ORDER BY t, c", params)

    def helo_by_source(self, sources: Sequence[str]) -> list[tuple]:
        where, params = self.scope.sessions()
        return self.q(f"SELECT s.src_ip, COALESCE(hc.cls, 'missing') AS c, count(*) {self._HELO_JOIN} "
                      f"WHERE {where} AND s.src_ip IN {_in(sources)} GROUP BY s.src_ip, c ORDER BY s.src_ip, c",
                      [*params, *sources])

    # ------------------------------------------------------------------ commands

    def verbs(self) -> list[tuple]:
        """(verb, uses, sessions using it)."""
        join, where, params = self.scope.records("c")
        return self.q(f"SELECT c.verb, count(*), count(DISTINCT c.session_id) FROM commands c{join} WHERE {where} "
                      "GROUP BY c.verb ORDER BY count(*) DESC, c.verb", params)

    def shapes(self, limit: int) -> list[tuple]:
        where, params = self.scope.sessions()
        return self.q(f"SELECT COALESCE(s.shape, ''), count(*), count(DISTINCT s.src_ip) FROM sessions s "
                      f"WHERE {where} GROUP BY s.shape ORDER BY count(*) DESC, 1 LIMIT {int(limit)}", params)

    # ------------------------------------------------------------------ relaying

    def relay_attempts(self, ours: Sequence[str]) -> tuple:
        """(sessions, sources) with at least one recipient outside our domains."""
        join, where, params = self.scope.records("e")
        return self.q(
            f"SELECT count(DISTINCT e.session_id), count(DISTINCT e.src_ip) FROM envelopes e{join} WHERE {where} "
            f"AND e.kind = 'rcpt' AND e.domain <> '' AND e.domain NOT IN {_in(ours)}", [*params, *ours])[0]

    def probe_candidates(self, ours: Sequence[str], words: Sequence[str]) -> list[tuple]:
        """Messages of relaying sessions whose subject or excerpt holds one of `words` (lower case).

        (session_id, seq, ts, src_ip, dst_ip, subject, excerpt, rcpt_to, mail_from).
        """
        join, where, params = self.scope.records("m")
        like = " OR ".join(["lower(COALESCE(m.subject, '')) LIKE ? ESCAPE '!' OR lower(m.excerpt) LIKE ? ESCAPE '!'"]
                           * len(words))
        like_params = [p for w in words for p in (f"%{_escape_like(w)}%",) * 2]
        return self.q(
            f"SELECT m.session_id, m.seq, m.ts, m.src_ip, s.dst_ip, m.subject, m.excerpt, m.rcpt_to, m.mail_from "
            f"FROM messages m JOIN sessions s ON s.session_id = m.session_id{join} WHERE {where} AND ({like or '1 = 0'}) "
            "AND m.session_id IN (SELECT e.session_id FROM envelopes e WHERE e.kind = 'rcpt' AND e.domain <> '' "
            f"AND e.domain NOT IN {_in(ours)}) ORDER BY m.ts, m.session_id, m.seq",
            [*params, *like_params, *ours])

    # ------------------------------------------------------------------ spam and campaigns

    def envelope_domains(self, kind: str, limit: int) -> list[tuple]:
        join, where, params = self.scope.records("e")
        return self.q(f"SELECT e.domain, count(*), count(DISTINCT e.session_id), count(DISTINCT e.src_ip) "
                      f"FROM envelopes e{join} WHERE {where} AND e.kind = ? GROUP BY e.domain "
                      f"ORDER BY count(*) DESC, e.domain LIMIT {int(limit)}", [*params, kind])

    def subjects(self) -> list[tuple]:
        """(subject, messages, sources) for every distinct subject."""
        join, where, params = self.scope.records("m")
        return self.q(f"SELECT COALESCE(m.subject, ''), count(*), count(DISTINCT m.src_ip) FROM messages m{join} "
                      f"WHERE {where} GROUP BY m.subject ORDER BY count(*) DESC, 1", params)

    def sizes(self) -> list[tuple]:
        join, where, params = self.scope.records("m")
        return self.q(
            "SELECT CASE WHEN m.size < 1024 THEN 0 WHEN m.size < 10240 THEN 1 WHEN m.size < 102400 THEN 2 "
            "WHEN m.size < 1048576 THEN 3 ELSE 4 END AS b, count(*), min(m.size), max(m.size) "
            f"FROM messages m{join} WHERE {where} GROUP BY b ORDER BY b", params)

    def campaigns_by_body(self, limit: int) -> list[tuple]:
        """(sha256, messages, sources, first, last, a subject) for bodies sent more than once."""
        join, where, params = self.scope.records("m")
        return self.q(f"SELECT m.sha256, count(*), count(DISTINCT m.src_ip), min(m.ts), max(m.ts), max(m.subject) "
                      f"FROM messages m{join} WHERE {where} GROUP BY m.sha256 HAVING count(*) > 1 "
                      f"ORDER BY count(*) DESC, m.sha256 LIMIT {int(limit)}", params)

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
        """Top values of `columns` (a fixed, code-chosen list such as "k.username"), with attempts and sources."""
        join, where, params = self.scope.records("k")
        return self.q(f"SELECT {columns}, count(*), count(DISTINCT k.src_ip) FROM credentials k{join} "
                      f"WHERE {where} GROUP BY {columns} ORDER BY count(*) DESC, {columns} LIMIT {int(limit)}", params)

    # ------------------------------------------------------------------ sources

    def top_sources(self, limit: int) -> list[tuple]:
        """(src_ip, sessions, first, last, messages) for the busiest sources."""
        where, params = self.scope.sessions()
        return self.q(f"SELECT s.src_ip, count(*), min(s.started), max(s.started), COALESCE(sum(s.messages), 0) "
                      f"FROM sessions s WHERE {where} GROUP BY s.src_ip ORDER BY count(*) DESC, s.src_ip "
                      f"LIMIT {int(limit)}", params)

    def per_source(self, table: str, alias: str, sources: Sequence[str], extra: str = "") -> dict[str, int]:
        """Rows per source in `table` (a fixed, code-chosen name), for the given sources."""
        join, where, params = self.scope.records(alias)
        rows = self.q(f"SELECT {alias}.src_ip, count(*) FROM {table} {alias}{join} WHERE {where} {extra} "
                      f"AND {alias}.src_ip IN {_in(sources)} GROUP BY {alias}.src_ip", [*params, *sources])
        return {ip: n for ip, n in rows}


def _escape_like(word: str) -> str:
    """A LIKE pattern matching `word` literally (with ESCAPE '!'; both engines support the clause)."""
    return word.replace("!", "!!").replace("%", "!%").replace("_", "!_")
