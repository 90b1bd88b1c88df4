"""The transport: sockets, TLS, timers and limits around sans-IO sessions.

Rules: glue only. Nothing here parses SMTP or chooses a reply text: a function in this package
that mentions `MAIL FROM` has its logic in the wrong layer. It may import protocol, pipeline and
storage; protocol never imports it.
"""
