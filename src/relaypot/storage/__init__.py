"""The store: one SQL schema for SQLite and PostgreSQL, and raw messages on disk.

Rules: SQL is written once, in schema.sql and the analysis queries; the few differences between
engines live in dialect.py. Timestamps are fixed-width ISO-8601 UTC text, so `substr` buckets
work in both engines. Nothing here imports the protocol or the transport.
"""
