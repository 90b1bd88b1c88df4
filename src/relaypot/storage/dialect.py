"""The few differences between SQLite and PostgreSQL: column types and parameter markers."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dialect:
    name: str
    autoid: str
    blob: str
    placeholder: str  # what replaces each "?" in a statement
    ilike: str  # case-insensitive LIKE: SQLite's LIKE already ignores ASCII case; PostgreSQL needs ILIKE

    def schema(self, text: str) -> str:
        return text.replace("{autoid}", self.autoid).replace("{blob}", self.blob)

    def sql(self, statement: str) -> str:
        """Statements are written with "?" markers; PostgreSQL drivers want "%s"."""
        if self.placeholder == "?":
            return statement
        return statement.replace("%", "%%").replace("?", self.placeholder)


# INTEGER PRIMARY KEY without AUTOINCREMENT: ids still grow, with no extra table to update.
SQLITE = Dialect("sqlite", "INTEGER PRIMARY KEY", "BLOB", "?", "LIKE")
POSTGRESQL = Dialect("postgresql", "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY", "BYTEA", "%s", "ILIKE")
