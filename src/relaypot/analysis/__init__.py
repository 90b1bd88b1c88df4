"""Analyses: questions asked of the store, answered as plain data for the renderers.

Rules: SQL lives in queries.py and is the same for SQLite and PostgreSQL (no engine-specific
functions); the pure judgements shared with the SQL sink live in relaypot.judgements; report.py
assembles a Report of plain data and never formats text. Everything an attacker wrote stays raw
here: renderers escape it.
"""
