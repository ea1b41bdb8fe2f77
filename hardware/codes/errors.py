"""Errors of the codes layer. Each names the part of the input that is wrong, never guesses a fix."""

from __future__ import annotations


class CodeError(ValueError):
    """Base: a payload or label that cannot be built or read as given."""

    def __init__(self, message: str, *, field: str | None = None, position: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.position = position


class PayloadError(CodeError):
    """A malformed ISO/IEC 15434 payload (or content that cannot become one)."""


class SymbolError(CodeError):
    """Content that the chosen symbology cannot carry (too long, wrong characters)."""
