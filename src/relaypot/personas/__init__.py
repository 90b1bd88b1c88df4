"""Personas: the data that decides every byte a client sees (banner, EHLO list, reply texts, quirks).

Rules: personas are TOML data files in personas/data; model.py loads and validates them and
imports nothing from the protocol or the transport.
"""
