"""Pattern text -> tokens. Every token keeps its 0-based offset so errors can point at it.

Strings take single or double quotes. The escapes \\\\ \\' \\" \\n \\r \\t and \\uXXXX are decoded; any other
backslash pair is kept as written, so a regular expression reads naturally: `matches '\\d+\\.\\d+'`.
A number directly followed by s, m, h or d is a duration (`5m`). Digits right after a `.` are a list index
in a path (`items.0.name`), never a fraction.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, Final

from pentad.engines.goldrush.errors import PatternSyntaxError

MAX_PATTERN_LENGTH: Final = 10_000
MAX_NUMBER_LENGTH: Final = 64
DURATION_UNITS: Final = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_SIMPLE_ESCAPES: Final = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "r": "\r", "t": "\t"}
_DIGITS: Final = frozenset("0123456789")
_HEX: Final = frozenset("0123456789abcdefABCDEF")
_NAME_START: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_NAME_PART: Final = _NAME_START | _DIGITS
_SPACE: Final = frozenset(" \t\r\n")
_OPERATORS: Final = ("==", "!=", ">=", "<=", "&&", "||", ">", "<", "!")
_PUNCTUATION: Final = {
    "(": "LPAREN",
    ")": "RPAREN",
    "[": "LBRACKET",
    "]": "RBRACKET",
    ",": "COMMA",
    ".": "DOT",
}


class Kind(Enum):
    NAME = "a name"
    STRING = "a string"
    NUMBER = "a number"
    DURATION = "a duration"
    OPERATOR = "an operator"
    LPAREN = "'('"
    RPAREN = "')'"
    LBRACKET = "'['"
    RBRACKET = "']'"
    COMMA = "','"
    DOT = "'.'"
    END = "end of pattern"


@dataclass(frozen=True, slots=True)
class Token:
    kind: Kind
    text: str
    position: int
    value: Any = None

    def describe(self) -> str:
        return "end of pattern" if self.kind is Kind.END else repr(self.text)


def tokenize(source: str) -> list[Token]:
    if len(source) > MAX_PATTERN_LENGTH:
        raise PatternSyntaxError(
            f"pattern is longer than {MAX_PATTERN_LENGTH} characters",
            MAX_PATTERN_LENGTH,
            "a shorter pattern",
        )
    return _Lexer(source).run()


class _Lexer:
    def __init__(self, source: str) -> None:
        self.source = source
        self.pos = 0
        self.tokens: list[Token] = []

    def run(self) -> list[Token]:
        source = self.source
        while True:
            while self.pos < len(source) and source[self.pos] in _SPACE:
                self.pos += 1
            if self.pos >= len(source):
                self.tokens.append(Token(Kind.END, "", self.pos))
                return self.tokens
            char = source[self.pos]
            if char in _NAME_START:
                self._name()
            elif char in "'\"":
                self._string(char)
            elif char in _DIGITS:
                if self.tokens and self.tokens[-1].kind is Kind.DOT:
                    self._index()
                else:
                    self._number()
            elif char == "-" and self._peek(1) in _DIGITS:
                self._number()
            elif char in _PUNCTUATION:
                self.tokens.append(Token(Kind[_PUNCTUATION[char]], char, self.pos))
                self.pos += 1
            else:
                self._operator(char)

    def _peek(self, ahead: int) -> str:
        index = self.pos + ahead
        return self.source[index] if index < len(self.source) else ""

    def _name(self) -> None:
        start = self.pos
        while self.pos < len(self.source) and self.source[self.pos] in _NAME_PART:
            self.pos += 1
        text = self.source[start : self.pos]
        self.tokens.append(Token(Kind.NAME, text, start, text))

    def _index(self) -> None:
        start = self.pos
        while self.pos < len(self.source) and self.source[self.pos] in _DIGITS:
            self.pos += 1
        text = self.source[start : self.pos]
        if len(text) > MAX_NUMBER_LENGTH:
            raise PatternSyntaxError("list index is too long", start, "a shorter index")
        self.tokens.append(Token(Kind.NUMBER, text, start, int(text)))

    def _digits(self) -> None:
        while self.pos < len(self.source) and self.source[self.pos] in _DIGITS:
            self.pos += 1

    def _number(self) -> None:
        start = self.pos
        if self.source[self.pos] == "-":
            self.pos += 1
        self._digits()
        is_float = False
        if self._peek(0) == "." and self._peek(1) in _DIGITS:
            is_float = True
            self.pos += 1
            self._digits()
        if self._peek(0) in ("e", "E") and (
            self._peek(1) in _DIGITS or (self._peek(1) in ("+", "-") and self._peek(2) in _DIGITS)
        ):
            is_float = True
            self.pos += 2
            self._digits()
        text = self.source[start : self.pos]
        if len(text) > MAX_NUMBER_LENGTH:
            raise PatternSyntaxError("number is too long", start, f"at most {MAX_NUMBER_LENGTH} characters")
        unit = self._peek(0)
        if unit in _NAME_PART:
            if unit in DURATION_UNITS and self._peek(1) not in _NAME_PART and not text.startswith("-"):
                self.pos += 1
                seconds = float(text) * DURATION_UNITS[unit]
                self.tokens.append(Token(Kind.DURATION, text + unit, start, seconds))
                return
            raise PatternSyntaxError(
                f"invalid number {self.source[start : self.pos + 1]!r}",
                self.pos,
                "a digit, or a duration unit s, m, h or d",
            )
        value: int | float = float(text) if is_float else int(text)
        self.tokens.append(Token(Kind.NUMBER, text, start, value))

    def _string(self, quote: str) -> None:
        start = self.pos
        self.pos += 1
        parts: list[str] = []
        source = self.source
        while True:
            if self.pos >= len(source):
                raise PatternSyntaxError("unterminated string", start, f"a closing {quote}")
            char = source[self.pos]
            if char == quote:
                self.pos += 1
                break
            if char != "\\":
                parts.append(char)
                self.pos += 1
                continue
            escaped = self._peek(1)
            if escaped == "":
                raise PatternSyntaxError("unterminated string", start, f"a closing {quote}")
            if escaped in _SIMPLE_ESCAPES:
                parts.append(_SIMPLE_ESCAPES[escaped])
                self.pos += 2
            elif escaped == "u":
                digits = source[self.pos + 2 : self.pos + 6]
                if len(digits) != 4 or not all(c in _HEX for c in digits):
                    raise PatternSyntaxError("invalid \\u escape", self.pos, "four hex digits after \\u")
                parts.append(chr(int(digits, 16)))
                self.pos += 6
            else:
                parts.append(char + escaped)
                self.pos += 2
        self.tokens.append(Token(Kind.STRING, source[start : self.pos], start, "".join(parts)))

    def _operator(self, char: str) -> None:
        for operator in _OPERATORS:
            if self.source.startswith(operator, self.pos):
                self.tokens.append(Token(Kind.OPERATOR, operator, self.pos, operator))
                self.pos += len(operator)
                return
        hints = {"=": "'=='", "&": "'&&'", "|": "'||'"}
        raise PatternSyntaxError(
            f"unexpected character {char!r}", self.pos, hints.get(char, "a name, a value or an operator")
        )
