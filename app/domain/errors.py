"""The domain's refusals: a rule said no, with a code a machine reads and words a person reads."""

from __future__ import annotations

from typing import Any


class RuleViolation(Exception):
    """A command broke a rule of the clinic; nothing follows from it but the record of the attempt."""

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details or {}

    def __repr__(self) -> str:
        return f"RuleViolation({self.code!r}, {self.message!r}, {self.details!r})"


class InvalidInput(ValueError):
    """The command itself is malformed (not a fact about the session): answered 422, not recorded."""

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class PolicyError(ValueError):
    """A clinic policy file names an unknown key, a wrong type or an impossible value."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"policy key '{key}': {message}")
        self.key = key
