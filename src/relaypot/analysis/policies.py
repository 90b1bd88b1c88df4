"""What-if HELO policies: how many sessions a rule a mail administrator could adopt would have refused.

The field report proposed requiring the identity between brackets or a real name (RFC 2821 §3.6;
RFC 5321 §2.3.5, §4.1.4), and rejecting names that do not resolve. Syntax policies need only the
sessions; DNS policies need the HELO lookups of enrichment (`helo_names`), and say how many
sessions they could not judge because their name was never looked up or the lookup failed.
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


@dataclass(frozen=True)
class DnsPolicy(SyntaxPolicy):
    """A syntax policy, and then a name must resolve (to the client, with `to_client`)."""

    to_client: bool = False

    def evaluate_dns(self, syntax_classes: dict[str, int], total: int,
                     lookups: list[tuple[int | None, int | None, int]]) -> dict[str, Any]:
        """`lookups`: (resolves, matches_peer, sessions) over sessions whose HELO is a name."""
        result = self.evaluate(syntax_classes, total)
        judged = failing = 0
        for resolves, matches_peer, n in lookups:
            if resolves is None:
                continue  # the lookup failed: no verdict
            judged += n
            if not resolves or (self.to_client and not matches_peer):
                failing += n
        refused = result["refused_sessions"] + failing
        return {**result, "needs": "dns", "refused_sessions": refused,
                "share": round(refused / total, 4) if total else 0.0,
                "unjudged_sessions": syntax_classes.get("fqdn", 0) - judged}


SYNTAX_ONLY = frozenset({"fqdn", "address_literal"})
POLICIES: tuple[SyntaxPolicy, ...] = (
    SyntaxPolicy(
        name="fqdn_or_address_literal",
        description="require HELO/EHLO with a fully qualified domain name or an address literal",
        basis="RFC 2821 §3.6; RFC 5321 §2.3.5, §4.1.4 (the field report's proposal)",
        accepted=SYNTAX_ONLY,
    ),
)
DNS_POLICIES: tuple[DnsPolicy, ...] = (
    DnsPolicy(
        name="name_must_resolve",
        description="as above, and a name must resolve in the DNS (Postfix reject_unknown_helo_hostname)",
        basis="RFC 5321 §4.1.4 (the field report's second proposal)",
        accepted=SYNTAX_ONLY,
    ),
    DnsPolicy(
        name="name_must_resolve_to_client",
        description="as above, and the name must resolve to the client's own address",
        basis="RFC 5321 §4.1.4 permits no refusal for a mismatch: a what-if, not a recommendation",
        accepted=SYNTAX_ONLY,
        to_client=True,
    ),
)
