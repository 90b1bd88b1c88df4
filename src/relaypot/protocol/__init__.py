"""The SMTP protocol, sans-IO: a Session turns bytes into replies, events and instructions.

Rules: no sockets, no asyncio, no files, no clock and no global randomness (they come in through
ListenerContext). Imports only relaypot.events and relaypot.personas. Hostile input never raises:
it becomes a persona reply and, where useful, an smtp.violation event.
"""
