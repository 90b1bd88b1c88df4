"""The hard limits of probe delivery (deliver/budget.py), as pure bookkeeping."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from relaypot.deliver.budget import DeliveryBudget, DeliveryLimits

sources = st.sampled_from([f"192.0.2.{n}" for n in range(1, 9)])


@given(st.lists(sources, max_size=80), st.integers(0, 5), st.integers(0, 30), st.lists(sources, max_size=10))
def test_a_day_never_passes_either_limit_even_across_a_restart(burst, per_source, per_day, before):
    """`before` were spent by an earlier process the same day (seeded from its journal)."""
    budget = DeliveryBudget(DeliveryLimits(per_source_per_day=per_source, per_day=per_day))
    budget.seed("2026-11-30", before)
    sent: dict[str, int] = {source: before.count(source) for source in before}
    for source in burst:
        if not budget.spend(source, "2026-11-30"):
            sent[source] = sent.get(source, 0) + 1
    assert sum(sent.values()) - len(before) <= max(0, per_day - len(before))
    assert all(sent[s] - before.count(s) <= max(0, per_source - before.count(s)) for s in sent)
    # ... and as much as the limits allow is sent
    room_left = max(0, per_day - len(before))
    wanted = sum(min(burst.count(s), max(0, per_source - before.count(s))) for s in set(burst))
    assert sum(sent.values()) - len(before) == min(room_left, wanted)


def test_room_says_why_and_spends_nothing():
    budget = DeliveryBudget(DeliveryLimits(per_source_per_day=1, per_day=2))
    for _ in range(3):
        assert budget.room("192.0.2.1", "d") == ""
    assert budget.spend("192.0.2.1", "d") == ""
    assert budget.room("192.0.2.1", "d") == "deliver_per_source_per_day reached (1)"
    assert budget.spend("192.0.2.2", "d") == ""
    assert budget.room("192.0.2.3", "d") == "deliver_per_day reached (2)"


def test_a_new_day_starts_afresh_and_a_seed_belongs_to_its_day():
    budget = DeliveryBudget(DeliveryLimits(per_source_per_day=1, per_day=1))
    budget.seed("2026-11-30", ["192.0.2.1"])
    assert budget.spend("192.0.2.2", "2026-11-30") == "deliver_per_day reached (1)"
    assert budget.spend("192.0.2.1", "2026-12-01") == ""


def test_protected_domains_and_too_many_recipients_are_screened_before_counting():
    budget = DeliveryBudget(DeliveryLimits(max_recipients=3, protected=frozenset({"example.gov"})))
    assert budget.screen(("x@mail.example.gov", "y@example.gov")) == "only protected domains"
    assert budget.allowed(("x@example.gov", "ok@drop.example")) == ("ok@drop.example",)
    four = tuple(f"r{n}@drop.example" for n in range(4))
    assert budget.screen(four) == "more relay recipients than deliver_max_recipients (4 > 3)"
    assert budget.screen(four[:3]) == ""
    assert budget.total == 0
