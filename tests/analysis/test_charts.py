"""The report's time series and charts: a linear time axis, no negative axis, legends off the bars."""

from __future__ import annotations

from relaypot.analysis.report import Options, make_report
from relaypot.render import charts
from relaypot.sinks.sql import SqlSink
from relaypot.storage.database import Database
from support import session_records


def report_of(tmp_path, sessions: list[tuple[str, str]]) -> dict:
    """The report of a store holding one session per (id, hour) given."""
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    sink = SqlSink(url)
    sink.open()
    for session, hour in sessions:
        records = session_records(session)
        for r in records:
            r.ts = f"2026-11-27T{hour}:00:0{r.seq}.000000Z"
        sink.write(records)
    sink.close()
    return make_report(lambda: Database(url, must_exist=True), Options(workers=1))


def test_empty_hours_are_zero_buckets_on_a_linear_axis(tmp_path):
    """Sessions at 08:00 and 11:00: the activity series has 09:00 and 10:00 too, as zero, so the
    chart's time axis is linear; so has the probes' series."""
    report = report_of(tmp_path, [("a", "08"), ("b", "11"), ("c", "11")])
    series = report["activity"]["series"]
    assert [(p["t"], p["sessions"]) for p in series] == [
        ("2026-11-27T08", 1), ("2026-11-27T09", 0), ("2026-11-27T10", 0), ("2026-11-27T11", 2)]
    assert [p["t"] for p in report["relay_probes"]["over_time"]] == [p["t"] for p in series]
    fig = charts.activity(report)
    ax = fig.axes[0]
    assert len(ax.patches) == 4 and ax.get_ylim()[0] == 0
    legend = ax.get_legend().get_window_extent(fig.canvas.get_renderer())
    plot = ax.get_window_extent(fig.canvas.get_renderer())
    assert legend.y0 >= plot.y1 - 1  # above the plotting area: it covers no bar


def test_charts_of_an_empty_store_have_no_negative_axis(tmp_path):
    """With nothing recorded, every chart starts its count axis at zero and says there is no data."""
    url = f"sqlite:///{tmp_path / 'empty.sqlite'}"
    SqlSink(url).open()
    report = make_report(lambda: Database(url, must_exist=True), Options(workers=1))
    for name, (_, make) in charts.CHARTS.items():
        ax = make(report).axes[0]
        low = ax.get_ylim()[0] if name in ("activity", "commands", "relay-probes") else ax.get_xlim()[0]
        assert low == 0, name
        assert any(text.get_text() == "no data" for text in ax.texts), name


def _hours(start: str, count: int) -> list[str]:
    from datetime import datetime, timedelta

    first = datetime.strptime(start, "%Y-%m-%dT%H")
    return [(first + timedelta(hours=n)).strftime("%Y-%m-%dT%H") for n in range(count)]


def _days(start: str, count: int) -> list[str]:
    from datetime import date, timedelta

    first = date.fromisoformat(start)
    return [(first + timedelta(days=n)).isoformat() for n in range(count)]


def test_ticks_fall_on_round_times_whatever_the_first_bucket():
    """Hourly ticks every 6 hours at 00/06/12/18, or at midnight once the span is days long;
    daily ticks every day, every other day, or on Mondays; never more than eight."""
    labels = _hours("2026-11-30T05", 30)
    assert [labels[i][11:] for i in charts.ticks(labels)] == ["06", "12", "18", "00", "06"]
    ten_days = _hours("2026-11-27T05", 240)
    shown = [ten_days[i] for i in charts.ticks(ten_days)]
    assert all(t.endswith("T00") for t in shown) and 3 <= len(shown) <= charts.MAX_TICKS
    month = _days("2026-11-05", 45)
    from datetime import date

    assert all(date.fromisoformat(month[i]).weekday() == 0 for i in charts.ticks(month))
    for n in range(1, 3000, 37):
        assert 1 <= len(charts.ticks(_hours("2026-01-01T07", n))) <= charts.MAX_TICKS
        assert 1 <= len(charts.ticks(_days("2026-01-03", n))) <= charts.MAX_TICKS


def test_a_ten_day_series_fills_the_chart(tmp_path):
    """Ten daily buckets span the axis (not 40% of a 24-slot one); one bucket stays a bar of a
    usual width, centred."""
    report = report_of(tmp_path, [("a", "08")])
    report["activity"]["series"] = [{"t": t, "sessions": 1, "sources": 1, "messages": 0}
                                    for t in _days("2026-11-20", 10)]
    ax = charts.activity(report).axes[0]
    low, high = ax.get_xlim()
    assert (high - low) < 10 * 1.2
    report["activity"]["series"] = report["activity"]["series"][:1]
    low, high = charts.activity(report).axes[0].get_xlim()
    assert high - low >= 6
