"""The attack catalogue (data/attacks.toml) and the watch each session's records go through.

An entry names one attack (an exploit, smuggling, enumeration, brute force, a relay test,
reconnaissance, a tool's fingerprint) by what the client sent: a verb, a command's argument, the
HELO name, a MAIL or RCPT path, an AUTH line, the TLS server name, a message's headers or body,
a violation the session recorded, or a count of these. Pure: the connection hands a `Watch` what
it records and the messages it stores, and records the `Attack`s it returns.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from relaypot.events import Attack, Auth, Command, Event, Tls, Violation
from relaypot.judgements.indicators import extract

CLASSES = ("exploit", "smuggling", "enumeration", "brute force", "relay test", "reconnaissance", "tool fingerprint")
# Where a condition looks. "refused" is a command answered 5xx, as "argument → reply";
# "failed_login" has no text: it counts the logins refused.
PLACES = ("verb", "command", "argument", "helo", "mail", "rcpt", "auth", "sni", "header", "body", "violation",
          "refused", "failed_login")
WATCHED = frozenset({Command, Auth, Violation, Tls})  # the records a Watch looks at
# A message's head is what is read of it: the exploit is in the headers or near the top; the
# filler that triggers a limit is not worth the time.
HEADER_SCAN = 64 * 1024
BODY_SCAN = 192 * 1024
EXCERPT = 200  # characters of the text around a match kept in the record
PAYLOAD = 4000  # characters an exploit's indicators are read from
MAX_LINES = 64  # lines of a fragment (unread input, a blob) matched as command lines
MAX_PER_SESSION = 32  # attack records one session can make: a flood of payloads is not a flood of records
_ARGUMENT_PLACES = {"HELO": "helo", "EHLO": "helo", "MAIL": "mail", "RCPT": "rcpt", "AUTH": "auth"}
_KEYS = {"id", "name", "class", "cves", "match", "require", "source", "examples", "counter_examples", "notes"}
_MATCH_KEYS = {"place", "pattern", "keywords", "verbs", "min_length", "count"}


@dataclass(frozen=True, slots=True)
class Condition:
    place: str
    pattern: re.Pattern[str] | None = None
    keywords: tuple[str, ...] = ()  # lower case; the text must hold one before the pattern is tried
    verbs: frozenset[str] = frozenset()  # "verb" and "argument": only these verbs
    min_length: int = 0
    count: int = 1  # times it must hold in one session

    def find(self, text: str, lower: str) -> tuple[int, int] | None:
        """Where in `text` the condition holds, or None."""
        if len(text) < self.min_length:
            return None
        if self.keywords and not any(k in lower for k in self.keywords):
            return None
        if self.pattern is None:
            return 0, len(text)
        found = self.pattern.search(text)
        return found.span() if found else None


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    name: str
    attack_class: str
    cves: tuple[str, ...]
    conditions: tuple[Condition, ...]
    source: str
    require_all: bool = False  # every condition must hold (by default any one does)
    # Conversations (client lines; "@sni NAME" for a TLS server name) that must match, and ones
    # that must not: tests play each through a real session and its watch.
    examples: tuple[tuple[str, ...], ...] = ()
    counter_examples: tuple[tuple[str, ...], ...] = ()

    def immediate(self, condition: Condition) -> bool:
        """Met once, `condition` alone makes the entry hold: each such match is a record."""
        return condition.count == 1 and (not self.require_all or len(self.conditions) == 1)


Candidate = tuple[Entry, int, Condition]  # an entry's condition, with its index


@dataclass(frozen=True, slots=True)
class Lookout:
    """What one place's texts are matched against, arranged so that a text matching nothing (most
    of them) costs a dictionary lookup and one search: conditions bound to verbs are found by the
    verb; of the others, those with keywords are tried only once `gate` finds one of them."""

    by_verb: dict[str, tuple[Candidate, ...]]
    gate: re.Pattern[str] | None = None
    keyed: tuple[Candidate, ...] = ()
    open: tuple[Candidate, ...] = ()  # no verbs, no keywords: always tried (a min_length first)

    @classmethod
    def of(cls, candidates: list[Candidate]) -> Lookout:
        by_verb: dict[str, list[Candidate]] = {}
        for candidate in candidates:
            for verb in candidate[2].verbs:
                by_verb.setdefault(verb, []).append(candidate)
        free = [c for c in candidates if not c[2].verbs]
        keyed = tuple(c for c in free if c[2].keywords)
        words = sorted({k for c in keyed for k in c[2].keywords})
        # Searched in the lower-cased text: a case-insensitive search of a long text costs several
        # times more (a 1 KB message body: 42 µs against 6).
        gate = re.compile("|".join(map(re.escape, words))) if words else None
        return cls({verb: tuple(found) for verb, found in by_verb.items()}, gate, keyed,
                   tuple(c for c in free if not c[2].keywords))


@dataclass(frozen=True, slots=True)
class Catalogue:
    entries: tuple[Entry, ...]
    lookouts: dict[str, Lookout]
    by_id: dict[str, Entry]


class CatalogueError(ValueError):
    pass


def read_catalogue(text: str, origin: str) -> Catalogue:
    """An attack catalogue from TOML text; every mistake names the entry and the key."""
    raw = tomllib.loads(text)
    entries = []
    seen: set[str] = set()
    for n, item in enumerate(raw.get("attack", ()), 1):
        where = f"{origin}: attack {item.get('id', n)!r}"
        unknown = set(item) - _KEYS
        if unknown:
            raise CatalogueError(f"{where} has unknown key {sorted(unknown)[0]!r}")
        for key in ("id", "name", "class", "match", "source"):
            if key not in item:
                raise CatalogueError(f"{where} has no {key!r}")
        if item["id"] in seen:
            raise CatalogueError(f"{where}: the id is used twice")
        seen.add(item["id"])
        if item["class"] not in CLASSES:
            raise CatalogueError(f"{where}: class {item['class']!r} is not one of {', '.join(CLASSES)}")
        cves = tuple(item.get("cves", ()))
        for cve in cves:
            if not re.fullmatch(r"CVE-\d{4}-\d{4,}", cve):
                raise CatalogueError(f"{where}: {cve!r} is no CVE id")
        conditions = tuple(_condition(m, where) for m in item["match"])
        if not conditions:
            raise CatalogueError(f"{where} matches nothing")
        require = item.get("require", "any")
        if require not in ("any", "all"):
            raise CatalogueError(f"{where}: require is 'any' or 'all', not {require!r}")
        entries.append(Entry(item["id"], item["name"], item["class"], cves, conditions, item["source"],
                             require == "all", tuple(tuple(e) for e in item.get("examples", ())),
                             tuple(tuple(e) for e in item.get("counter_examples", ()))))
    by_place: dict[str, list[Candidate]] = {place: [] for place in PLACES}
    for entry in entries:
        for index, condition in enumerate(entry.conditions):
            by_place[condition.place].append((entry, index, condition))
    return Catalogue(tuple(entries), {p: Lookout.of(v) for p, v in by_place.items()}, {e.id: e for e in entries})


def _condition(raw: dict[str, Any], where: str) -> Condition:
    unknown = set(raw) - _MATCH_KEYS
    if unknown:
        raise CatalogueError(f"{where}: a match has unknown key {sorted(unknown)[0]!r}")
    place = raw.get("place")
    if place not in PLACES:
        raise CatalogueError(f"{where}: place {place!r} is not one of {', '.join(PLACES)}")
    try:
        pattern = re.compile(raw["pattern"], re.IGNORECASE | re.DOTALL | re.MULTILINE) if "pattern" in raw else None
    except re.error as exc:
        raise CatalogueError(f"{where}: the pattern does not compile: {exc}") from None
    verbs = frozenset(v.upper() for v in raw.get("verbs", ()))
    if place in ("verb", "refused") and not verbs:
        raise CatalogueError(f"{where}: a {place!r} match names its verbs")
    if place == "verb" and pattern is not None:
        raise CatalogueError(f"{where}: a 'verb' match has no pattern")
    if place not in ("verb", "refused", "failed_login") and pattern is None and not raw.get("min_length"):
        raise CatalogueError(f"{where}: a {place!r} match needs a pattern or a min_length")
    return Condition(place, pattern, tuple(k.lower() for k in raw.get("keywords", ())), verbs,
                     int(raw.get("min_length", 0)), int(raw.get("count", 1)))


@lru_cache(maxsize=1)
def catalogue() -> Catalogue:
    """The shipped catalogue (judgements/data/attacks.toml)."""
    path = resources.files("relaypot.judgements").joinpath("data/attacks.toml")
    return read_catalogue(path.read_text("utf-8"), "attacks.toml")


class Watch:
    """One session's progress through the catalogue: what it sent, matched as it is recorded."""

    __slots__ = ("_counts", "_fired", "_lookouts", "_verbs", "catalogue", "made")

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self._lookouts = catalogue.lookouts
        self._verbs = catalogue.lookouts["verb"].by_verb  # the verbs a "verb" condition names
        self._counts: dict[tuple[str, int], int] | None = None  # (entry, condition) → times met
        self._fired: set[tuple[str, str]] | None = None  # (entry, excerpt) recorded already
        self.made = 0

    def see(self, event: Event) -> list[Attack]:
        """The attacks `event` completes (usually none)."""
        kind = type(event)
        found: list[Attack] = []
        if kind is Command:
            assert isinstance(event, Command)
            verb = event.verb.upper()  # a word that is no SMTP verb is recorded as sent
            line = event.raw_line.rstrip(b"\r\n").decode("latin-1")
            if verb in self._verbs:
                self.observe("verb", line, found, verb)  # matched by its verb, shown as its whole line
            self.observe("command", line, found, verb)
            if event.argument:
                self.observe("argument", event.argument, found, verb)
                place = _ARGUMENT_PLACES.get(verb)
                if place is not None:
                    self.observe(place, event.argument, found, verb)
            if event.reply_code >= 500:
                self.observe("refused", f"{event.argument} → {event.reply}", found, verb)
        elif kind is Auth:
            assert isinstance(event, Auth)
            for response in event.raw_responses:
                self.observe("auth", response.decode("latin-1"), found)
            for value in (event.username, event.password):
                if value:
                    self.observe("auth", value, found)
            if event.outcome not in ("accepted", "abandoned"):
                self.observe("failed_login", f"{event.mechanism} {event.username or ''}: {event.outcome}", found)
        elif kind is Violation:
            assert isinstance(event, Violation)
            self.observe("violation", f"{event.violation}: {event.detail}", found)
        elif kind is Tls:
            assert isinstance(event, Tls)
            if event.server_name is not None:
                self.observe("sni", event.server_name, found)
        return found

    def fragment(self, what: str, data: bytes) -> list[Attack]:
        """The attacks in what a client left (Keep): an unfinished or refused message is read as a
        message, an over-long line or unread input as command lines."""
        if what in ("message", "oversize"):
            return self.message(data)
        found: list[Attack] = []
        for line in data.split(b"\n")[:MAX_LINES]:
            text = line.rstrip(b"\r").decode("latin-1")
            if text:
                self.observe("command", text, found)
        return found

    def message(self, body: bytes) -> list[Attack]:
        """The attacks in a message's headers and the head of its body."""
        scanned = body[: HEADER_SCAN + BODY_SCAN]
        if scanned[:1] in (b"\r", b"\n"):  # no header at all: the body starts at once
            head, rest = b"", scanned.lstrip(b"\r")[1:]
        else:
            head, separator, rest = scanned.partition(b"\r\n\r\n")
            if not separator:
                head, _, rest = head.partition(b"\n\n")
        found: list[Attack] = []
        self.observe("header", head[:HEADER_SCAN].decode("latin-1"), found)
        if rest:
            self.observe("body", rest[:BODY_SCAN].decode("latin-1"), found)
        return found

    def observe(self, place: str, text: str, found: list[Attack], verb: str = "") -> None:
        """Match `text` seen at `place` (the verb of its command with it); what completes an entry
        is appended to `found`."""
        look = self._lookouts[place]
        candidates = look.by_verb.get(verb, ()) + look.open if look.by_verb else look.open
        lower = text.lower()
        gate = look.gate
        if gate is not None and gate.search(lower):
            candidates += look.keyed
        if not candidates or self.made >= MAX_PER_SESSION:
            return
        for entry, index, condition in candidates:
            if place == "verb":
                span: tuple[int, int] | None = (0, len(text))  # the verbs matched; the line shown
            else:
                span = condition.find(text, lower)
            if span is None:
                continue
            immediate = entry.immediate(condition)
            if not immediate and not self._complete(entry, index):
                continue
            excerpt = _excerpt(text, span, condition.min_length)
            key = (entry.id, excerpt if immediate else "")  # a counted entry is recorded once
            fired = self._fired
            if fired is None:
                fired = self._fired = set()
            if key in fired:
                continue
            fired.add(key)
            self.made += 1
            indicators: tuple[dict[str, str], ...] = ()
            if entry.attack_class == "exploit":
                payload = _payload(text, span, place)
                indicators = tuple({"kind": kind, "value": value} for kind, value in extract(payload))
            found.append(Attack(attack=entry.id, attack_class=entry.attack_class, cves=entry.cves, place=place,
                                excerpt=excerpt, indicators=indicators))
            if self.made >= MAX_PER_SESSION:
                return

    def _complete(self, entry: Entry, index: int) -> bool:
        """Count condition `index` of `entry` met once more; True when the entry now holds: this
        condition met its count (any), or every condition has (all)."""
        counts = self._counts
        if counts is None:
            counts = self._counts = {}
        key = (entry.id, index)
        counts[key] = counts.get(key, 0) + 1
        if not entry.require_all:
            return counts[key] >= entry.conditions[index].count
        return all(counts.get((entry.id, i), 0) >= c.count for i, c in enumerate(entry.conditions))


def _payload(text: str, span: tuple[int, int], place: str) -> str:
    """What an exploit's indicators are read from: the lines the match is on (a recipient, a
    header) or, in a body, what follows the match (the command after OpenSMTPD's comment slide)."""
    if place == "body":
        return text[span[0] : span[0] + PAYLOAD]
    line_start, line_end = _lines_of(text, span)
    return text[line_start:line_end][:PAYLOAD]


def _lines_of(text: str, span: tuple[int, int]) -> tuple[int, int]:
    """Where the line(s) holding `span` start and end in `text` (the newline left out)."""
    line_end = text.find("\n", span[1])
    return text.rfind("\n", 0, span[0]) + 1, line_end if line_end >= 0 else len(text)


def _excerpt(text: str, span: tuple[int, int], min_length: int) -> str:
    """The text around a match, within its line (a header, a body line), at most EXCERPT
    characters; a long text matched for its length is shown by its head and its length."""
    start, end = span
    if min_length and end - start >= min_length:
        return f"{text[:80]}… ({len(text)} characters)"
    line_start, line_end = _lines_of(text, span)
    before = max(line_start, start - 40)
    return text[before : min(line_end, before + EXCERPT)].rstrip("\r")
