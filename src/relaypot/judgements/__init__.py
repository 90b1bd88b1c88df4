"""Pure judgements about what attackers sent: the ground floor both the SQL sink and the report stand on.

classify.py (HELO identity, subject templates, relay-probe signatures from data/signatures.toml),
addresses.py (the domain of an address, the host of a URL, which domains are ours), derive.py (the
per-sink memory of each session's context that the judgements need). No I/O beyond reading the
shipped data; no knowledge of sessions, sockets or stores.
"""
