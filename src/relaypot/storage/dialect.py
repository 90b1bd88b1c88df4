"""The few differences between SQLite and PostgreSQL: column types and parameter markers."""

from __future__ import annotations

import re
from dataclasses import dataclass

_TEXT = re.compile(r"\bTEXT\b")


@dataclass(frozen=True)
class Dialect:
    name: str
    autoid: str
    blob: str
    placeholder: str  # what replaces each "?" in a statement
    text: str  # text compared byte by byte on both engines

    def schema(self, text: str) -> str:
        text = text.replace("{autoid}", self.autoid).replace("{blob}", self.blob)
        return text if self.text == "TEXT" else _TEXT.sub(self.text, text)

    def sql(self, statement: str) -> str:
        """Statements are written with "?" markers; PostgreSQL drivers want "%s"."""
        if self.placeholder == "?":
            return statement
        return statement.replace("%", "%%").replace("?", self.placeholder)


# INTEGER PRIMARY KEY without AUTOINCREMENT: ids still grow, with no extra table to update.
SQLITE = Dialect("sqlite", "INTEGER PRIMARY KEY", "BLOB", "?", "TEXT")
# Text columns collate "C" on PostgreSQL: a database made with a language's collation (en_US,
# ICU) would otherwise order names, and so break ties before a LIMIT, unlike SQLite's BINARY.
POSTGRESQL = Dialect("postgresql", "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY", "BYTEA", "%s",
                     'TEXT COLLATE "C"')
