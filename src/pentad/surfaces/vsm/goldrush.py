"""spec 000 §1 GoldRush: patterns (list, create, get, delete), event submission, aggregate queries.

Reading needs `goldrush.read`, submitting events `goldrush.write`, creating and deleting patterns
`goldrush.admin`. The pattern language and the action semantics are in docs/goldrush.md.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from pentad.core.context import CoreServices
from pentad.core.db import isoformat_z
from pentad.core.errors import Conflict, NotFound, ValidationFailed
from pentad.core.identity.dependencies import Core, DbSession, RequirePermission
from pentad.core.identity.principal import Principal
from pentad.engines.goldrush.access import goldrush_actions, goldrush_engine
from pentad.engines.goldrush.actions import ActionContext
from pentad.engines.goldrush.compiler import compile_pattern
from pentad.engines.goldrush.errors import PatternSyntaxError
from pentad.engines.goldrush.models import GoldrushPattern
from pentad.engines.goldrush.store import AggregateQuery, QueryError, aggregate
from pentad.surfaces.vsm.algedonic import SignalRequest, raise_signal

router = APIRouter(prefix="/api/goldrush", tags=["VSM: GoldRush"])
Reader = Annotated[Principal, RequirePermission("goldrush.read")]
Writer = Annotated[Principal, RequirePermission("goldrush.write")]
Admin = Annotated[Principal, RequirePermission("goldrush.admin")]

ACTION_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.:-]{0,99}$")
MAX_ACTIONS = 20
SCALE_UP_INTENSITY = 0.85  # at or above 0.8 the algedonic rules request scaling (docs/surfaces/vsm.md)


class PatternCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200, examples=["high_cpu_alert"])
    pattern: str = Field(
        min_length=1, max_length=10_000, examples=["metric.type == 'cpu' && metric.value > 90"]
    )
    actions: list[str] = Field(
        default_factory=list, max_length=MAX_ACTIONS, examples=[["send_alert", "scale_up"]]
    )

    @field_validator("name")
    @classmethod
    def _printable(cls, value: str) -> str:
        if not value.isprintable() or value != value.strip():
            raise ValueError("must be printable, without leading or trailing spaces")
        return value

    @field_validator("actions")
    @classmethod
    def _action_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not ACTION_NAME.match(name):
                raise ValueError(f"'{name}' is not an action name (a letter, then letters, digits, _ . : -)")
        if len(set(value)) != len(value):
            raise ValueError("actions are listed once each")
        return value


class PatternView(BaseModel):
    id: str
    name: str
    pattern: str
    actions: list[str]
    created_at: str


class EventSubmit(BaseModel):
    type: str = Field(min_length=1, max_length=200, examples=["metric"])
    data: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)


class SubmitResponse(BaseModel):
    matched_patterns: list[str]
    actions_triggered: list[str]
    processing_time_ms: float
    event_id: int


class TimeRange(BaseModel):
    start: datetime | None = None
    end: datetime | None = None


class QueryFilters(BaseModel):
    model_config = {"extra": "allow"}  # any other key filters on that field's value

    event_type: str | list[str] | None = None
    time_range: TimeRange | None = None


class QuerySpec(BaseModel):
    type: Literal["aggregate"] = "aggregate"
    aggregation: Literal["count", "sum", "avg", "min", "max"] = "count"
    field: str | None = Field(default=None, max_length=520, description="the field sum/avg/min/max aggregate")
    filters: QueryFilters = Field(default_factory=QueryFilters)
    group_by: list[str] = Field(default_factory=list, max_length=8)
    limit: int = Field(default=1000, ge=1, le=10_000)


class QueryRequest(BaseModel):
    query: QuerySpec


class QueryResponse(BaseModel):
    type: str
    aggregation: str
    group_by: list[str]
    results: list[dict[str, Any]]
    execution_time_ms: float


def view(pattern: GoldrushPattern) -> PatternView:
    return PatternView(
        id=pattern.id,
        name=pattern.name,
        pattern=pattern.pattern,
        actions=list(pattern.actions),
        created_at=isoformat_z(pattern.created_at),
    )


@router.get("/patterns", response_model=list[PatternView], summary="List patterns")
async def list_patterns(
    response: Response,
    principal: Reader,
    session: DbSession,
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[PatternView]:
    total = int((await session.execute(select(func.count()).select_from(GoldrushPattern))).scalar_one())
    rows = await session.execute(
        select(GoldrushPattern)
        .order_by(GoldrushPattern.created_at, GoldrushPattern.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    # the document's body is a bare array; the paging facts travel in headers
    response.headers["X-Total-Count"] = str(total)
    response.headers["X-Page"] = str(page)
    response.headers["X-Per-Page"] = str(per_page)
    return [view(pattern) for pattern in rows.scalars()]


@router.post("/patterns", status_code=201, response_model=PatternView, summary="Create pattern")
async def create_pattern(
    body: PatternCreate, principal: Admin, core: Core, session: DbSession
) -> PatternView:
    pattern_id = "pat_" + secrets.token_hex(8)
    try:
        compile_pattern(pattern_id, body.name, body.pattern, tuple(body.actions))
    except PatternSyntaxError as error:
        raise ValidationFailed(
            f"pattern: {error}",
            [{"field": "pattern", "error": str(error)}],
            position=error.position,
            expected=error.expected,
        ) from None
    existing = await session.execute(select(GoldrushPattern.id).where(GoldrushPattern.name == body.name))
    if existing.first() is not None:
        raise Conflict(f"a pattern named '{body.name}' already exists", details={"name": body.name})
    record = GoldrushPattern(
        id=pattern_id, name=body.name, pattern=body.pattern, actions=body.actions, owner_id=principal.user_id
    )
    session.add(record)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:  # a concurrent create took the name between our check and the insert
        raise Conflict(f"a pattern named '{body.name}' already exists", details={"name": body.name}) from None
    return view(record)


async def _load(session: DbSession, pattern_id: str) -> GoldrushPattern:
    pattern = await session.get(GoldrushPattern, pattern_id)
    if pattern is None:
        raise NotFound("pattern", pattern_id, f"Pattern with ID '{pattern_id}' not found")
    return pattern


@router.get("/patterns/{pattern_id}", response_model=PatternView, summary="Get pattern")
async def get_pattern(pattern_id: str, principal: Reader, session: DbSession) -> PatternView:
    return view(await _load(session, pattern_id))


@router.delete("/patterns/{pattern_id}", status_code=204, summary="Delete pattern")
async def delete_pattern(pattern_id: str, principal: Admin, core: Core, session: DbSession) -> Response:
    pattern = await _load(session, pattern_id)
    await session.delete(pattern)
    await session.flush()
    await goldrush_engine(core).forget(pattern_id)
    return Response(status_code=204)


def _event_time(metadata: dict[str, Any]) -> datetime | None:
    raw = metadata.get("timestamp")
    if raw is None:
        return None
    if isinstance(raw, str):
        try:
            parsed = datetime.fromisoformat(raw.replace("Z", "+00:00") if raw.endswith("Z") else raw)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed
    raise ValidationFailed(
        "metadata.timestamp must be an ISO 8601 time with a zone, e.g. 2024-01-15T10:30:00Z",
        [{"field": "metadata.timestamp", "error": "not an ISO 8601 time with a zone"}],
    )


@router.post("/events", response_model=SubmitResponse, summary="Submit event")
async def submit_event(
    body: EventSubmit, principal: Writer, core: Core, session: DbSession
) -> SubmitResponse:
    size = len(json.dumps({"data": body.data, "metadata": body.metadata}, default=str))
    limit = core.settings.goldrush.max_event_bytes
    if size > limit:
        raise ValidationFailed(
            f"the event's data and metadata take {size} bytes; the limit is {limit}",
            [{"field": "data", "error": "too large"}],
        )
    timestamp = _event_time(body.metadata)
    result = await goldrush_engine(core).submit(session, body.type, body.data, body.metadata, timestamp)
    return SubmitResponse(
        matched_patterns=result.matched_patterns,
        actions_triggered=result.actions_triggered,
        processing_time_ms=result.processing_time_ms,
        event_id=result.event_id,
    )


@router.post("/query", response_model=QueryResponse, summary="Complex query")
async def query(body: QueryRequest, principal: Reader, session: DbSession) -> QueryResponse:
    started = time.perf_counter()
    spec = body.query
    filters = spec.filters
    event_types: tuple[str, ...] = ()
    if isinstance(filters.event_type, str):
        event_types = (filters.event_type,)
    elif filters.event_type is not None:
        event_types = tuple(filters.event_type)
    time_range = filters.time_range or TimeRange()
    for name, moment in (("start", time_range.start), ("end", time_range.end)):
        if moment is not None and moment.tzinfo is None:
            raise ValidationFailed(
                f"time_range.{name} needs a time zone (e.g. a trailing Z)",
                [{"field": f"query.filters.time_range.{name}", "error": "no time zone"}],
            )
    try:
        results = await aggregate(
            session,
            AggregateQuery(
                aggregation=spec.aggregation,
                value_field=spec.field,
                event_types=event_types,
                start=time_range.start,
                end=time_range.end,
                equals=dict(filters.model_extra or {}),
                group_by=tuple(spec.group_by),
                limit=spec.limit,
            ),
        )
    except QueryError as error:
        raise ValidationFailed(str(error), [{"field": "query", "error": str(error)}]) from None
    return QueryResponse(
        type=spec.type,
        aggregation=spec.aggregation,
        group_by=spec.group_by,
        results=results,
        execution_time_ms=round((time.perf_counter() - started) * 1000, 3),
    )


async def scale_up(ctx: ActionContext) -> None:
    """A pattern asking for capacity is a pain signal strong enough for the VSM to request scaling."""
    await raise_signal(
        ctx.core,
        ctx.session,
        "pain",
        SignalRequest(
            source=f"goldrush:{ctx.pattern.name}"[:200],
            intensity=SCALE_UP_INTENSITY,
            message=f"Pattern '{ctx.pattern.name}' requested scale up",
            metadata={"pattern_id": ctx.pattern.id, "event_id": ctx.event_id},
        ),
        created_by=None,
    )


def register_actions(core: CoreServices) -> None:
    goldrush_actions(core).register("scale_up", scale_up)
