"""Renderers: turn data into text for people (terminal, HTML, CSV).

Rules: everything an attacker controls is escaped here, where it lands; analyses return raw data.
"""
