"""What-if HELO policies: how many sessions a rule a mail administrator could adopt would have refused.

The field report proposed requiring the identity between brackets or a real name (RFC 2821 §3.6;
RFC 5321 §2.3.5, §4.1.4). A policy needing DNS ("the name must resolve to the peer") registers
here too once the enrichment data exists; each policy says what it needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SyntaxPolicy:
    """Refuse sessions whose HELO/EHLO is not, by syntax, one of `accepted` classes."""

    name: str
    description: str
    basis: str
    accepted: frozenset[str]

    def evaluate(self, syntax_classes: dict[str, int], total: int) -> dict[str, Any]:
        refused = sum(n for cls, n in syntax_classes.items() if cls not in self.accepted)
        return {
            "name": self.name,
            "description": self.description,
            "basis": self.basis,
            "needs": "syntax",
            "refused_sessions": refused,
            "share": round(refused / total, 4) if total else 0.0,
        }


POLICIES: tuple[SyntaxPolicy, ...] = (
    SyntaxPolicy(
        name="fqdn_or_address_literal",
        description="require HELO/EHLO with a fully qualified domain name or an address literal",
        basis="RFC 2821 §3.6; RFC 5321 §2.3.5, §4.1.4 (the field report's proposal)",
        accepted=frozenset({"fqdn", "address_literal"}),
    ),
)
