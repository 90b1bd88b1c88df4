"""Sinks: where records go. Each implements `Sink` (base.py) and is registered in SINKS by name.

Rules: a sink runs in its own worker thread and may block; it must write whole records only
(never half a JSON line) and make `write` idempotent where it can (resends happen).
"""
