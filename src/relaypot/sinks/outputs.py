"""The optional outputs, by the name of their `[outputs]` keys: each factory reads its settings and
returns its sink, or None when the operator left it off. A new output is a sink module and a line
in OUTPUTS; the sensor (app.py) takes every sink this makes."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

from relaypot.errors import ConfigError
from relaypot.sinks.base import Sink
from relaypot.sinks.hpfeeds import HpfeedsSink
from relaypot.sinks.syslog import SyslogSink


def _syslog(outputs: Any, sensor: str) -> Sink | None:
    if not outputs.syslog:
        return None
    return SyslogSink(outputs.syslog, outputs.syslog_facility, sensor)


def _hpfeeds(outputs: Any, sensor: str) -> Sink | None:
    if not outputs.hpfeeds:
        return None
    if importlib.util.find_spec("hpfeeds") is None:
        raise ConfigError("[outputs] hpfeeds needs the hpfeeds package: "
                          "pip install '.[hpfeeds]' in relaypot's checkout")
    return HpfeedsSink(outputs.hpfeeds, outputs.hpfeeds_ident, outputs.hpfeeds_secret, outputs.hpfeeds_channel,
                       outputs.hpfeeds_events_channel, outputs.hpfeeds_queue)


OUTPUTS: dict[str, Callable[[Any, str], Sink | None]] = {"syslog": _syslog, "hpfeeds": _hpfeeds}


def make_outputs(outputs: Any, sensor: str) -> list[Sink]:
    """The sinks of every output the settings (`config.OutputsSettings`) turn on."""
    made = (make(outputs, sensor) for make in OUTPUTS.values())
    return [sink for sink in made if sink is not None]
