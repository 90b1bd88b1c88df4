"""relaypot: an SMTP honeypot that poses as a real mail server, relays nothing and records everything."""

__version__ = "0.1.0"
