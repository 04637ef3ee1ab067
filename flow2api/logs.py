"""Logging set-up: a request id on every record, and a last-line redaction of registered secrets.

Code must never log a secret in the first place; :class:`SecretRedactor` is the
safety net behind that rule: every secret the pool decrypts is registered, and
any log message containing one has it replaced by ``[redacted]``.
"""

from __future__ import annotations

import contextvars
import logging

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

_MIN_SECRET_LEN = 12


class RequestIdFilter(logging.Filter):
    """Stamps ``record.request_id`` from the current request's context (``-`` outside requests)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class SecretRedactor(logging.Filter):
    """Replaces registered secret strings in formatted log messages with ``[redacted]``."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()

    def register(self, *values: str | None) -> None:
        """Remember secrets to redact; values shorter than 12 characters are ignored (too common to match)."""
        for value in values:
            if value and len(value) >= _MIN_SECRET_LEN:
                self._secrets.add(value)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        message = record.getMessage()
        redacted = message
        for secret in self._secrets:
            if secret in redacted:
                redacted = redacted.replace(secret, "[redacted]")
        if redacted is not message and redacted != message:
            record.msg, record.args = redacted, None
        return True


REDACTOR = SecretRedactor()


def register_secrets(*values: str | None) -> None:
    """Register secrets with the process-wide redactor installed by :func:`configure_logging`."""
    REDACTOR.register(*values)


def configure_logging(level: str = "INFO") -> None:
    """Install one stderr handler on the root logger with request ids and secret redaction (idempotent)."""
    root = logging.getLogger()
    root.setLevel(level)
    for handler in root.handlers:
        if getattr(handler, "_flow2api", False):
            handler.setLevel(level)
            return
    handler = logging.StreamHandler()
    handler._flow2api = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    handler.addFilter(RequestIdFilter())
    handler.addFilter(REDACTOR)
    root.addHandler(handler)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
