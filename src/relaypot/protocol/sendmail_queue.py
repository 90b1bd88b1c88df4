"""Sendmail's send queue as a client sees it ([recipients] send_queue): the recipients of the
transaction so far, each under the address as first written (its q_paddr).

- A recipient that sameaddr() finds already there is answered with that first address: after
  `RCPT TO:<Postmaster>`, `RCPT TO:<postmaster@mail.example.com>` is "<Postmaster>... Recipient
  ok" (local users compared without case, quotes and this host's UUCP hops).
- In VERB's verbose mode an alias is expanded at RCPT, each step said in a 050 line ("050
  <postmaster>... aliased to root", then "050 root... aliased to root" for root's own entry);
  what it leads to joins the queue (so a later `RCPT TO:<root>` is "root..."), an alias of
  itself is delivered as written, a target already there is not added again. After the message,
  each local recipient delivered is announced: "050 root... Connecting to local...".

All captured from the real Sendmail 8.17.1.9 (tests/protocol/test_sendmail.py). Pure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from relaypot.protocol.sendmail_envelope import through_this_host

MAX_EXPANSION = 8  # alias steps followed from one address (a loop ends here)


@dataclass
class Entry:
    shown: str  # the address as first written (q_paddr)
    key: str  # who it is to sameaddr(): a local user in lower case, or a remote address
    local: bool
    delivered: bool = True  # False once an alias expanded it to another


def recipient_key(address: str, is_local: Callable[[str], bool]) -> tuple[str, bool]:
    """(who `address` is to sameaddr(), whether it is local): a local user's name in lower case
    (quotes and the hops naming this host dropped), or a remote address in lower case."""
    local_part, at, domain = address.rpartition("@")
    if not at:
        local_part, domain = address, ""
    if domain and not is_local(domain):
        return address.lower(), False
    return through_this_host(local_part, is_local).replace('"', "").lower(), True


def expansion(shown: str, key: str, aliases: dict[str, str], queue: list[Entry] | None = None) -> list[str]:
    """The 050 lines of verbose mode's alias expansion of the address written `shown` (local user
    `key`), each "<address>... aliased to <target>"; with `queue`, its entries are marked and the
    targets added as the real queue takes them."""
    lines: list[str] = []
    current = Entry(shown, key, True)
    if queue is not None:
        queue.append(current)
    for _ in range(MAX_EXPANSION):
        target = aliases.get(current.key)
        if target is None:
            break
        lines.append(f"{current.shown}... aliased to {target}")
        following = target.replace('"', "").lower()
        if following == current.key:
            break  # an alias of itself: delivered as written
        current.delivered = False
        if queue is not None and any(entry.key == following for entry in queue):
            break  # already a recipient: the duplicate is suppressed
        current = Entry(target, following, True)
        if queue is not None:
            queue.append(current)
    return lines


@dataclass
class SendQueue:
    entries: list[Entry] = field(default_factory=list)

    def add(self, shown: str, address: str, is_local: Callable[[str], bool], aliases: dict[str, str],
            verbose: bool, keep: bool = True) -> tuple[str, list[str]]:
        """A recipient taken: (the address its reply names, the 050 lines before that reply).
        `keep` False: answered as it would be, but not added (past relaypot's bound on the
        recipients a transaction keeps)."""
        key, local = recipient_key(address, is_local)
        for entry in self.entries:
            if entry.key == key:
                return entry.shown, []
        if not keep:
            return shown, expansion(shown, key, aliases) if verbose and local else []
        if not (verbose and local):
            self.entries.append(Entry(shown, key, local))
            return shown, []
        return shown, expansion(shown, key, aliases, self.entries)

    def deliveries(self) -> list[str]:
        """The local recipients delivered, in the queue's order (what verbose mode announces)."""
        return [entry.shown for entry in self.entries if entry.delivered and entry.local]

    def clear(self) -> None:
        self.entries.clear()
