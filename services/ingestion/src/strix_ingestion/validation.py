"""Decode and validate events against their module, fast, and explain every rejection.

A msgspec Struct is built from the module config at load time (1.1-1.5 M events/s measured, 7x pydantic).
msgspec stops at the first bad event, so a rejected batch is decoded again event by event to report every
rejection with its index, field and reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec

from strix_config import EventField, ModuleConfig
from strix_config.model import parse_duration, python_default

_PATH = re.compile(r"^(?P<reason>.*?)(?: - at `\$(?:\[\d+\])?(?P<path>[^`]*)`)?$")
_NAMED = re.compile(r"field `([^`]+)`")
_DECIMAL_LIMIT = Decimal(10) ** 16


@dataclass(frozen=True)
class Rejection:
    index: int
    field: str | None
    reason: str


@dataclass(frozen=True)
class EventCodec:
    """Everything needed to turn request bodies into normalised events of one module."""

    config: ModuleConfig
    struct: type[msgspec.Struct]
    one: msgspec.json.Decoder[Any]
    many: msgspec.json.Decoder[Any]
    decimal_fields: tuple[tuple[str, int, Decimal | None, Decimal | None], ...]


def _python_type(field: EventField) -> Any:
    constraints: dict[str, Any] = {}
    cast = int if field.type == "int" else float
    if field.min is not None and field.type != "decimal":  # decimal bounds are checked in _check_event
        constraints["ge"] = cast(field.min)
    if field.max is not None and field.type != "decimal":
        constraints["le"] = cast(field.max)
    if field.max_length is not None:
        constraints["max_length"] = field.max_length
    if field.description:
        constraints["description"] = field.description
    base: Any
    if field.allowed:
        base = Literal[tuple(field.allowed)]
        constraints.pop("ge", None)
        constraints.pop("le", None)
    else:
        base = {
            "string": str,
            "int": int,
            "float": float,
            "decimal": Decimal,
            "bool": bool,
            "datetime": datetime,
        }[field.type]
    if field.type == "datetime":
        constraints["tz"] = True
    return Annotated[base, msgspec.Meta(**constraints)] if constraints else base


def build_codec(config: ModuleConfig) -> EventCodec:
    required: list[tuple[str, Any]] = []
    optional: list[tuple[str, Any, Any]] = []
    for name, field in config.event.fields.items():
        if field.required:
            required.append((name, _python_type(field)))
        else:
            optional.append((name, _python_type(field), python_default(field)))
    struct = msgspec.defstruct(
        f"{config.module}_event", [*required, *optional], forbid_unknown_fields=True, kw_only=True
    )
    decimals = tuple(
        (n, f.scale, _bound(f.min), _bound(f.max)) for n, f in config.event.fields.items() if f.type == "decimal"
    )
    return EventCodec(
        config=config,
        struct=struct,
        one=msgspec.json.Decoder(struct),
        many=msgspec.json.Decoder(list[struct]),  # type: ignore[valid-type]
        decimal_fields=decimals,
    )


def _bound(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _rejection(index: int, error: Exception) -> Rejection:
    text = str(error)
    match = _PATH.match(text)
    reason = match.group("reason") if match else text
    path = (match.group("path") or "") if match else ""
    field: str | None = path.lstrip(".") or None
    if field is None:
        named = _NAMED.search(reason)
        field = named.group(1) if named else None
    return Rejection(index, field, reason)


def _with_allowed(codec: EventCodec, rejection: Rejection) -> Rejection:
    """Name the accepted values when a value is not one of them."""
    field = codec.config.event.fields.get(rejection.field or "")
    if field is None or not field.allowed or not rejection.reason.startswith("Invalid enum value"):
        return rejection
    allowed = ", ".join(str(v) for v in field.allowed)
    return Rejection(rejection.index, rejection.field, f"{rejection.reason}; allowed: {allowed}")


def _check_event(codec: EventCodec, index: int, event: Any, now: datetime | None = None) -> list[Rejection]:
    """Checks msgspec cannot express: decimal scale and range, and the lateness bound."""
    problems = []
    lateness = codec.config.event.max_lateness
    if lateness is not None and now is not None:
        time_field = codec.config.event.time_field
        moment: datetime = getattr(event, time_field)
        if moment < now - parse_duration(lateness):
            problems.append(
                Rejection(index, time_field, f"Older than the lateness bound of {lateness}: {moment.isoformat()}")
            )
    for name, scale, low, high in codec.decimal_fields:
        value: Decimal = getattr(event, name)
        if not value.is_finite():
            problems.append(Rejection(index, name, f"Expected a finite decimal, got {value}"))
            continue
        exponent = value.as_tuple().exponent
        if isinstance(exponent, int) and exponent < -scale:
            problems.append(Rejection(index, name, f"Expected at most {scale} decimal places, got {value}"))
        if low is not None and value < low:
            problems.append(Rejection(index, name, f"Expected `decimal` >= {low}, got {value}"))
        if high is not None and value > high:
            problems.append(Rejection(index, name, f"Expected `decimal` <= {high}, got {value}"))
        if abs(value) >= _DECIMAL_LIMIT:
            problems.append(Rejection(index, name, f"Expected an absolute value below 1e16, got {value}"))
    return problems


def _normalise(codec: EventCodec, event: Any) -> Any:
    time_field = codec.config.event.time_field
    moment: datetime = getattr(event, time_field)
    if moment.utcoffset() != UTC.utcoffset(None):
        event = msgspec.structs.replace(event, **{time_field: moment.astimezone(UTC)})
    return event


def split_body(body: bytes, ndjson: bool) -> tuple[list[msgspec.Raw] | None, Rejection | None]:
    """Cut a body into raw events: one object, an array, or NDJSON lines."""
    if ndjson:
        return [msgspec.Raw(line) for line in body.splitlines() if line.strip()], None
    stripped = body.lstrip()
    try:
        if stripped.startswith(b"["):
            return msgspec.json.decode(body, type=list[msgspec.Raw]), None
        return [msgspec.Raw(body)], None
    except msgspec.DecodeError as exc:
        return None, Rejection(0, None, f"Body is not valid JSON: {exc}")


def decode_events(
    codec: EventCodec, body: bytes, ndjson: bool = False, now: datetime | None = None
) -> tuple[list[Any], list[Rejection]]:
    """Return (valid normalised events, rejections); indexes are positions in the body. `now` enables the
    module's lateness bound."""
    stripped = body.lstrip()
    if not ndjson and stripped.startswith(b"["):
        try:
            events = codec.many.decode(body)
            problems = [p for i, e in enumerate(events) for p in _check_event(codec, i, e, now)]
            if not problems:
                return [_normalise(codec, e) for e in events], []
        except (msgspec.ValidationError, msgspec.DecodeError):
            pass
    raws, failure = split_body(body, ndjson)
    if raws is None:
        return [], [failure] if failure else []
    if not raws:
        return [], [Rejection(0, None, "Body holds no events")]
    accepted: list[Any] = []
    rejected: list[Rejection] = []
    for index, raw in enumerate(raws):
        try:
            event = codec.one.decode(raw)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            rejected.append(_with_allowed(codec, _rejection(index, exc)))
            continue
        problems = _check_event(codec, index, event, now)
        if problems:
            rejected.extend(problems)
        else:
            accepted.append(_normalise(codec, event))
    return accepted, rejected
