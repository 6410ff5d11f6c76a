"""The stored event stream and spec 000's aggregate queries over it, run in the database (SQLite's JSON1
and PostgreSQL's JSONB through SQLAlchemy's JSON paths), never by loading events into Python.

A field named in a filter or in `group_by` is looked up in the event's `data`, then in its `metadata`
(`country`, `device_type`...); a dotted name walks into nested objects (`geo.country`). `type` and
`timestamp` name the event's own columns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, Float, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from pentad.engines.goldrush.models import GoldrushEvent

Aggregation = Literal["count", "sum", "avg", "min", "max"]
FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}(\.[A-Za-z_][A-Za-z0-9_-]{0,63}){0,7}$")
MAX_GROUPS = 10_000


class QueryError(ValueError):
    """A query the store cannot run; the message names the offending part."""


@dataclass(frozen=True, slots=True)
class AggregateQuery:
    aggregation: Aggregation
    value_field: str | None = None  # what sum/avg/min/max aggregate
    event_types: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    equals: dict[str, Any] = field(default_factory=dict)
    group_by: tuple[str, ...] = ()
    limit: int = 1000


def _path(name: str) -> tuple[str, ...]:
    if not FIELD.match(name):
        raise QueryError(f"'{name}' is not a field name (letters, digits, _ and -, dotted for nesting)")
    return tuple(name.split("."))


def _text(name: str) -> ColumnElement[Any] | InstrumentedAttribute[str]:
    if name == "type":
        return GoldrushEvent.type
    path = _path(name)
    return func.coalesce(GoldrushEvent.data[path].as_string(), GoldrushEvent.event_metadata[path].as_string())


def _number(name: str) -> ColumnElement[Any]:
    path = _path(name)
    return func.coalesce(GoldrushEvent.data[path].as_float(), GoldrushEvent.event_metadata[path].as_float())


def _measure(query: AggregateQuery) -> ColumnElement[Any]:
    if query.aggregation == "count":
        return func.count()
    if not query.value_field:
        raise QueryError(f"aggregation '{query.aggregation}' needs a field")
    value = cast(_number(query.value_field), Float)
    if query.aggregation == "sum":
        return func.sum(value)
    if query.aggregation == "avg":
        return func.avg(value)
    if query.aggregation == "min":
        return func.min(value)
    return func.max(value)


async def aggregate(session: AsyncSession, query: AggregateQuery) -> list[dict[str, Any]]:
    """One row per group: the group's field values and `value`, the largest values first."""
    groups = [_text(name).label(f"g{index}") for index, name in enumerate(query.group_by)]
    measure = _measure(query).label("value")
    statement = select(*groups, measure).select_from(GoldrushEvent)  # count() alone names no table
    if query.event_types:
        statement = statement.where(GoldrushEvent.type.in_(query.event_types))
    if query.start is not None:
        statement = statement.where(GoldrushEvent.timestamp >= query.start)
    if query.end is not None:
        statement = statement.where(GoldrushEvent.timestamp <= query.end)
    for name, expected in query.equals.items():
        if isinstance(expected, bool) or not isinstance(expected, (str, int, float)):
            raise QueryError(f"filter '{name}' must be a string or a number")
        if isinstance(expected, str):
            statement = statement.where(_text(name) == expected)
        else:
            statement = statement.where(cast(_number(name), Float) == float(expected))
    if groups:
        statement = statement.group_by(*groups).order_by(measure.desc().nulls_last(), *groups)
    statement = statement.limit(min(query.limit, MAX_GROUPS))
    rows = (await session.execute(statement)).all()
    results: list[dict[str, Any]] = []
    for row in rows:
        entry = {name: row[index] for index, name in enumerate(query.group_by)}
        value = row[len(groups)]
        if query.aggregation == "count":
            entry["value"] = int(value or 0)
        else:
            entry["value"] = None if value is None else round(float(value), 6)
        results.append(entry)
    return results


__all__ = ["AggregateQuery", "Aggregation", "QueryError", "aggregate"]
