"""Enrichment: who a source is (place, network, names, DNSBL listings, operating system).

Rules: never in the way. Lookups run as tasks beside the sessions, bounded in number; they never
delay a reply, never block the event loop, never fail a session. Enrichers add `enrich.*`
records; they never edit past ones (cowrie's reversedns plugin is the model).
"""
