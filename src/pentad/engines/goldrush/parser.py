"""Recursive-descent parser: tokens -> AST, plus the structural rules the grammar alone cannot say.

Precedence, loosest first: `then` (one per pattern, at the top), `||`/`or`, `&&`/`and`, `!`/`not`, then a
single comparison (`==`, `in`, `contains`, `matches`, ...), which does not chain. An aggregate is only a
top-level `&&` term (at most one) and never part of a sequence; see docs/goldrush.md for the EBNF.
"""

from __future__ import annotations

import math
from typing import Any, Final

from pentad.engines.goldrush.errors import PatternSyntaxError
from pentad.engines.goldrush.lexer import Kind, Token, tokenize
from pentad.engines.goldrush.nodes import (
    AGGREGATE_FUNCTIONS,
    COMPARISONS,
    Aggregate,
    And,
    Compare,
    Duration,
    Exists,
    Expr,
    Literal,
    Matches,
    Not,
    Operand,
    Or,
    Path,
    Sequence,
    Truthy,
    walk,
)
from pentad.engines.goldrush.regex_guard import UnsafeRegex, check_regex
from pentad.engines.goldrush.values import Segment

MAX_DEPTH: Final = 64
MAX_WINDOW_SECONDS: Final = 31 * 86400.0
# Words that can never start a path; function names are reserved only when a `(` follows them.
KEYWORDS: Final = frozenset(
    {"and", "or", "not", "in", "contains", "matches", "within", "by", "then", "true", "false", "null"}
)
_AND: Final = frozenset({"&&", "and"})
_OR: Final = frozenset({"||", "or"})
_NOT: Final = frozenset({"!", "not"})
_AFTER_CONDITION: Final = "'&&', '||', 'then' or end of pattern"


def parse(source: str) -> Expr:
    tree = _Parser(tokenize(source)).pattern()
    _check_structure(tree)
    return tree


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.index = 0
        self.depth = 0

    # -- token helpers --------------------------------------------------------------------------------

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def kind(self) -> Kind:
        # a method, not the property: mypy would keep a narrowed kind across advance()
        return self.tokens[self.index].kind

    def peek(self, ahead: int = 1) -> Token:
        return self.tokens[min(self.index + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        if token.kind is not Kind.END:
            self.index += 1
        return token

    def at_word(self, *words: str) -> bool:
        return self.kind() is Kind.NAME and self.current.text in words

    def at_operator(self, operators: frozenset[str]) -> bool:
        token = self.current
        return (token.kind is Kind.OPERATOR or token.kind is Kind.NAME) and token.text in operators

    def fail(self, message: str, expected: str, token: Token | None = None) -> PatternSyntaxError:
        token = token or self.current
        return PatternSyntaxError(message.format(found=token.describe()), token.position, expected)

    def expect(self, kind: Kind, expected: str | None = None) -> Token:
        if self.kind() is not kind:
            raise self.fail("unexpected {found}", expected or kind.value)
        return self.advance()

    def expect_word(self, word: str) -> Token:
        if not self.at_word(word):
            raise self.fail("unexpected {found}", f"'{word}'")
        return self.advance()

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.fail("nesting is deeper than 64 levels", "fewer parentheses or brackets")

    # -- grammar --------------------------------------------------------------------------------------

    def pattern(self) -> Expr:
        if self.kind() is Kind.END:
            raise self.fail("empty pattern", "a condition")
        expr = self.disjunction()
        if self.at_word("then"):
            position = self.advance().position
            then = self.disjunction()
            window = self.window()
            group = self.group()
            expr = Sequence(expr, then, window, group, position)
            if self.kind() is not Kind.END:
                raise self.fail("unexpected {found}", "end of pattern")
        if self.kind() is not Kind.END:
            raise self.fail("unexpected {found}", _AFTER_CONDITION)
        return expr

    def disjunction(self) -> Expr:
        first = self.conjunction()
        if not self.at_operator(_OR):
            return first
        operands: list[Expr] = list(first.operands) if isinstance(first, Or) else [first]
        while self.at_operator(_OR):
            self.advance()
            operand = self.conjunction()
            operands.extend(operand.operands if isinstance(operand, Or) else (operand,))
        return Or(tuple(operands), first.position)

    def conjunction(self) -> Expr:
        first = self.negation()
        if not self.at_operator(_AND):
            return first
        operands: list[Expr] = list(first.operands) if isinstance(first, And) else [first]
        while self.at_operator(_AND):
            self.advance()
            operand = self.negation()
            operands.extend(operand.operands if isinstance(operand, And) else (operand,))
        return And(tuple(operands), first.position)

    def negation(self) -> Expr:
        # a run of `!`/`not` folds to its parity, so `!!!!...x` costs no recursion
        positions: list[int] = []
        while self.at_operator(_NOT):
            positions.append(self.advance().position)
        operand = self.primary()
        if len(positions) % 2:
            return Not(operand, positions[0])
        return operand

    def primary(self) -> Expr:
        token = self.current
        if token.kind is Kind.LPAREN:
            self.advance()
            self.enter()
            expr = self.disjunction()
            self.depth -= 1
            if self.kind() is not Kind.RPAREN:
                raise self.fail("unexpected {found}", "')'")
            self.advance()
            return expr
        if token.kind is Kind.NAME and self.peek().kind is Kind.LPAREN:
            if token.text == "exists":
                self.advance()
                self.advance()
                path = self.path()
                self.expect(Kind.RPAREN)
                return Exists(path, token.position)
            if token.text in AGGREGATE_FUNCTIONS:
                return self.aggregate()
            raise self.fail("unknown function {found}", "exists, count, sum, avg, min or max")
        return self.condition()

    def aggregate(self) -> Aggregate:
        name = self.advance()
        self.advance()  # the `(` seen by primary()
        argument: Path | None = None
        if name.text == "count":
            self.expect(Kind.RPAREN, "')' (count takes no argument)")
        else:
            argument = self.path()
            self.expect(Kind.RPAREN)
        if not (self.kind() is Kind.OPERATOR and self.current.text in COMPARISONS):
            raise self.fail("unexpected {found}", "a comparison such as '>' after the aggregate")
        op = self.advance().text
        if self.kind() is not Kind.NUMBER:
            raise self.fail("unexpected {found}", "a number")
        threshold = self.advance().value
        window = self.window()
        group = self.group()
        return Aggregate(name.text, argument, op, threshold, window, group, name.position)

    def window(self) -> Duration:
        self.expect_word("within")
        token = self.expect(Kind.DURATION, "a duration such as 30s, 5m, 1h or 1d")
        seconds = float(token.value)
        if not (0 < seconds <= MAX_WINDOW_SECONDS) or not math.isfinite(seconds):
            raise self.fail("window out of range", "a duration above 0 and at most 31d", token)
        return Duration(seconds, token.text, token.position)

    def group(self) -> Path | None:
        if not self.at_word("by"):
            return None
        self.advance()
        return self.path()

    def condition(self) -> Expr:
        left = self.operand()
        token = self.current
        if token.kind is Kind.OPERATOR and token.text in COMPARISONS:
            self.advance()
            return Compare(token.text, left, self.operand(), token.position)
        if self.at_word("in", "contains"):
            self.advance()
            return Compare(token.text, left, self.operand(), token.position)
        if self.at_word("not") and self.peek().kind is Kind.NAME and self.peek().text in ("in", "contains"):
            self.advance()
            op = f"not {self.advance().text}"
            return Compare(op, left, self.operand(), token.position)
        if self.at_word("matches"):
            self.advance()
            regex = self.expect(Kind.STRING, "a string holding a regular expression")
            try:
                check_regex(str(regex.value))
            except UnsafeRegex as error:
                raise PatternSyntaxError(str(error), regex.position, error.expected) from None
            return Matches(left, str(regex.value), token.position)
        return Truthy(left, left.position)

    def operand(self) -> Operand:
        token = self.current
        if token.kind is Kind.NAME and token.text not in KEYWORDS:
            return self.path()
        return self.literal()

    def literal(self) -> Literal:
        token = self.current
        if token.kind in (Kind.STRING, Kind.NUMBER):
            self.advance()
            return Literal(token.value, token.position)
        if token.kind is Kind.NAME and token.text in ("true", "false", "null"):
            self.advance()
            return Literal({"true": True, "false": False, "null": None}[token.text], token.position)
        if token.kind is Kind.LBRACKET:
            return self.list_literal()
        raise self.fail("unexpected {found}", "a value")

    def list_literal(self) -> Literal:
        start = self.advance()
        self.enter()
        items: list[Any] = []
        while self.kind() is not Kind.RBRACKET:
            items.append(self.literal().value)
            if self.kind() is Kind.COMMA:
                self.advance()
            elif self.kind() is not Kind.RBRACKET:
                raise self.fail("unexpected {found}", "',' or ']'")
        self.advance()
        self.depth -= 1
        return Literal(items, start.position)

    def path(self) -> Path:
        token = self.current
        if token.kind is not Kind.NAME or token.text in KEYWORDS:
            raise self.fail("unexpected {found}", "a field path such as event.type")
        self.advance()
        segments: list[Segment] = [token.text]
        while True:
            if self.kind() is Kind.DOT:
                self.advance()
                segment = self.current
                if segment.kind is Kind.NAME or (
                    segment.kind is Kind.NUMBER and isinstance(segment.value, int)
                ):
                    segments.append(self.advance().value)
                else:
                    raise self.fail("unexpected {found}", "a field name or list index after '.'")
            elif self.kind() is Kind.LBRACKET:
                self.advance()
                segment = self.current
                if segment.kind is Kind.STRING or (
                    segment.kind is Kind.NUMBER and isinstance(segment.value, int) and segment.value >= 0
                ):
                    segments.append(self.advance().value)
                else:
                    raise self.fail("unexpected {found}", "a quoted field name or a list index")
                self.expect(Kind.RBRACKET)
            else:
                return Path(tuple(segments), token.position)


def _check_structure(tree: Expr) -> None:
    """Aggregates: at most one, and only as a top-level `&&` term. Sequences hold no aggregate."""
    if isinstance(tree, Sequence):
        allowed: tuple[Expr, ...] = ()
    elif isinstance(tree, And):
        allowed = tuple(node for node in tree.operands if isinstance(node, Aggregate))
    else:
        allowed = (tree,) if isinstance(tree, Aggregate) else ()
    for node in walk(tree):
        if isinstance(node, Aggregate) and not any(node is ok for ok in allowed):
            where = "inside a sequence" if isinstance(tree, Sequence) else "under '||' or '!'"
            raise PatternSyntaxError(
                f"an aggregate cannot appear {where}", node.position, "an aggregate as a top-level '&&' term"
            )
    if len(allowed) > 1:
        raise PatternSyntaxError(
            "a pattern holds at most one aggregate", allowed[1].position, "a single aggregate"
        )
