"""The one error a pattern's author sees: where the pattern stops making sense and what would fit there."""

from __future__ import annotations


class PatternSyntaxError(ValueError):
    """A pattern that cannot be compiled: `position` is the 0-based character offset of the problem and
    `expected` says in a few words what would have been accepted there ("a value", "')'")."""

    def __init__(self, message: str, position: int, expected: str) -> None:
        super().__init__(f"{message} at position {position} (expected {expected})")
        self.message = message
        self.position = position
        self.expected = expected

    def __reduce__(self) -> tuple[type[PatternSyntaxError], tuple[str, int, str]]:
        return (type(self), (self.message, self.position, self.expected))
