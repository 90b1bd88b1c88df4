"""The one small exception hierarchy; third-party errors are translated into it at the boundary."""


class RelaypotError(Exception):
    """Base of every error relaypot raises on purpose."""


class ConfigError(RelaypotError):
    """The configuration (file, environment or command line) is invalid."""


class PersonaError(RelaypotError):
    """A persona file is missing, malformed or incomplete."""


class StorageError(RelaypotError):
    """The store (database, message files) cannot be opened or written."""


class SinkError(RelaypotError):
    """A sink failed to accept records."""
