"""What probe delivery spent today, read back from the journal at start (deliver/ledger.py)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from relaypot.deliver.ledger import spent_today


def line(ts: str, source: str, outcome: str, session: str = "s1", **more) -> str:
    return json.dumps({"kind": "deliver.probe", "session": "x", "seq": 1, "ts": ts, "sensor": "a", "src_ip": source,
                       "for_session": session, "sha256": "h", "recipients": ["a@b.example"], "outcome": outcome,
                       "reason": "", **more}, separators=(",", ":"))


def test_todays_deliveries_and_failures_count_refusals_and_other_days_do_not(tmp_path: Path):
    lines = [
        line("2026-12-04T23:59:59.000000Z", "192.0.2.1", "delivered", "old"),
        json.dumps({"kind": "smtp.message", "ts": "2026-12-05T00:00:01.000000Z"}, separators=(",", ":")),
        line("2026-12-05T00:00:02.000000Z", "192.0.2.2", "delivered", "a"),
        line("2026-12-05T00:00:03.000000Z", "192.0.2.3", "failed", "b"),
        line("2026-12-05T00:00:03.500000Z", "192.0.2.3", "failed", "b"),  # one decision, two domains
        line("2026-12-05T00:00:04.000000Z", "192.0.2.4", "refused", "c"),
    ]
    (tmp_path / "events.jsonl").write_text("\n".join(lines) + "\n" + line("2026-12-05T00:00:05Z", "192.0.2.9",
                                                                          "delivered", "torn")[:40])
    assert sorted(spent_today(tmp_path, "2026-12-05")) == ["192.0.2.2", "192.0.2.3"]


def test_rotated_files_of_yesterday_and_today_are_read_too(tmp_path: Path):
    yesterday = line("2026-12-05T00:00:01Z", "192.0.2.5", "delivered", "y")  # a file rotated by size only
    (tmp_path / "events-2026-12-04.jsonl").write_text(yesterday + "\n")
    with gzip.open(tmp_path / "events-2026-12-05.jsonl.gz", "wt") as out:
        out.write(line("2026-12-05T01:00:00Z", "192.0.2.6", "delivered", "z") + "\n")
    (tmp_path / "events-2026-12-01.jsonl").write_text(line("2026-12-05T00:00:01Z", "192.0.2.7", "delivered", "w"))
    (tmp_path / "events.jsonl").write_text("")
    assert sorted(spent_today(tmp_path, "2026-12-05")) == ["192.0.2.5", "192.0.2.6"]
    assert spent_today(tmp_path / "missing", "2026-12-05") == []
