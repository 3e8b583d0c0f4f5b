"""Turning events, tickets, actors, SLA projections and timers into JSON and back, exactly.

``decode_x(encode_x(value)) == value`` for every value the library makes:
enums come back as enums, tuples as tuples, mappings (``Ticket.fields``,
``TicketOpened.fields``, ``Transitioned.data``) as read-only
:class:`types.MappingProxyType`, datetimes aware in UTC.

The values of custom fields, transition data and field changes are typed
``Any``; they are stored with a small tagged encoding so that tuples, sets,
datetimes and friends survive the trip through JSON. A value it cannot encode
is refused with :class:`~supportflow.errors.ValidationError` before anything
is written.
"""

from __future__ import annotations

import base64
import enum
import json
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Any, get_origin

import cattrs

from supportflow._model import EMPTY_FIELDS, Actor, Category, Channel, Priority, Role, Ticket, Tier
from supportflow._sla import ClockStatus, SLAProjection, Timer
from supportflow._time import to_utc
from supportflow.errors import ValidationError
from supportflow.events import (
    Assigned,
    CommentAdded,
    Escalated,
    Event,
    FieldChanged,
    Linked,
    Merged,
    PriorityChanged,
    TicketOpened,
    Transitioned,
)
from supportflow.notify._model import Notification

__all__ = [
    "EVENT_TYPES",
    "decode_actor",
    "decode_event",
    "decode_sla",
    "decode_ticket",
    "decode_timer",
    "dumps",
    "encode_actor",
    "encode_event",
    "encode_sla",
    "encode_ticket",
    "encode_timer",
    "loads",
]

#: Every event type the store can hold, by its ``kind``.
EVENT_TYPES: Mapping[str, type[Event]] = MappingProxyType(
    {
        cls.kind: cls
        for cls in (
            TicketOpened,
            CommentAdded,
            Transitioned,
            Assigned,
            PriorityChanged,
            FieldChanged,
            Merged,
            Linked,
            Escalated,
        )
    }
)

# -- instants and durations --------------------------------------------------------------


def _encode_datetime(value: datetime) -> str:
    return to_utc(value, "a datetime to store").isoformat(timespec="microseconds")


def _decode_datetime(value: str, _: object = None) -> datetime:
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"stored instant {value!r} has no UTC offset; it was not written here")
    return parsed.astimezone(UTC)


def _encode_timedelta(value: timedelta) -> int:
    return value // timedelta(microseconds=1)


def _decode_timedelta(value: int, _: object = None) -> timedelta:
    return timedelta(microseconds=value)


# -- values typed Any -------------------------------------------------------------------------

# Enums of the library restored by name; any other class is never looked up
# from stored data (plugins and classes load only from explicit registration).
_ENUMS: Mapping[str, type[enum.Enum]] = MappingProxyType(
    {cls.__name__: cls for cls in (Priority, Channel, Role, Tier, Category, ClockStatus)}
)
_MARK = "$"  # a JSON object whose single key starts with this is a tagged value


def encode_value(value: Any) -> Any:
    """A JSON-safe form of an ``Any``-typed value (see the module docstring)."""
    if isinstance(value, enum.Enum):
        if _ENUMS.get(type(value).__name__) is type(value):
            return {"$enum": [type(value).__name__, value.value]}
        if isinstance(value, str | int):  # StrEnum, IntEnum: compare equal to their value
            return value._value_
        return _refuse(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list):
        return [encode_value(item) for item in value]
    if isinstance(value, tuple):
        return {"$tuple": [encode_value(item) for item in value]}
    if isinstance(value, Mapping):
        if all(isinstance(k, str) and not k.startswith(_MARK) for k in value):
            return {k: encode_value(v) for k, v in value.items()}
        return {"$map": [[encode_value(k), encode_value(v)] for k, v in value.items()]}
    if isinstance(value, frozenset):
        return {"$frozenset": [encode_value(item) for item in value]}
    if isinstance(value, set):
        return {"$set": [encode_value(item) for item in value]}
    if isinstance(value, datetime):  # before date: a datetime is a date
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, time):
        return {"$time": value.isoformat()}
    if isinstance(value, timedelta):
        return {"$timedelta": _encode_timedelta(value)}
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, uuid.UUID):
        return {"$uuid": str(value)}
    if isinstance(value, bytes):
        return {"$bytes": base64.b64encode(value).decode("ascii")}
    return _refuse(value)


def _refuse(value: Any) -> Any:
    raise ValidationError(
        f"cannot store the {type(value).__name__} value {value!r} in a SQL store: custom "
        "fields and transition data take str, int, float, bool, None, lists, tuples, "
        "sets, dicts, datetimes, dates, times, timedeltas, Decimals, UUIDs, bytes and "
        "supportflow's enums; convert the value to one of those"
    )


def _decode_tagged(tag: str, body: Any) -> Any:
    decoder = _TAGGED.get(tag)
    if decoder is None:
        raise ValueError(f"unknown tagged value {tag!r} in stored data")
    return decoder(body)


def _decode_enum(body: Any) -> enum.Enum:
    name, raw = body
    return _ENUMS[name](raw)


_TAGGED: Mapping[str, Callable[[Any], Any]] = MappingProxyType(
    {
        "$enum": _decode_enum,
        "$tuple": lambda body: tuple(decode_value(item) for item in body),
        "$map": lambda body: {decode_value(k): decode_value(v) for k, v in body},
        "$frozenset": lambda body: frozenset(decode_value(item) for item in body),
        "$set": lambda body: {decode_value(item) for item in body},
        "$datetime": datetime.fromisoformat,
        "$date": date.fromisoformat,
        "$time": time.fromisoformat,
        "$timedelta": _decode_timedelta,
        "$decimal": Decimal,
        "$uuid": uuid.UUID,
        "$bytes": lambda body: base64.b64decode(body),
    }
)


def decode_value(value: Any) -> Any:
    """The inverse of :func:`encode_value`."""
    if isinstance(value, list):
        return [decode_value(item) for item in value]
    if isinstance(value, dict):
        if len(value) == 1:
            ((key, body),) = value.items()
            if key.startswith(_MARK):
                return _decode_tagged(key, body)
        return {k: decode_value(v) for k, v in value.items()}
    return value


def _encode_mapping(value: Mapping[str, Any]) -> dict[str, Any]:
    return {str(k): encode_value(v) for k, v in value.items()}


def _decode_mapping(value: Mapping[str, Any], _: object = None) -> Mapping[str, Any]:
    if not value:
        return EMPTY_FIELDS
    return MappingProxyType({k: decode_value(v) for k, v in value.items()})


def _is_any(cls: Any) -> bool:
    return cls is Any


def _is_mapping(cls: Any) -> bool:
    return get_origin(cls) is Mapping


# -- the converter ---------------------------------------------------------------------------


def _converter() -> cattrs.Converter:
    converter = cattrs.Converter()
    converter.register_unstructure_hook(datetime, _encode_datetime)
    converter.register_structure_hook(datetime, _decode_datetime)
    converter.register_unstructure_hook(timedelta, _encode_timedelta)
    converter.register_structure_hook(timedelta, _decode_timedelta)
    converter.register_unstructure_hook_func(_is_any, encode_value)
    converter.register_structure_hook_func(_is_any, lambda value, _: decode_value(value))
    converter.register_unstructure_hook_func(_is_mapping, _encode_mapping)
    converter.register_structure_hook_func(_is_mapping, _decode_mapping)
    return converter


_CONVERTER = _converter()


def _unstructure(value: Any, as_type: type[Any]) -> dict[str, Any]:
    out: dict[str, Any] = _CONVERTER.unstructure(value, unstructure_as=as_type)
    return out


def encode_event(event: Event) -> dict[str, Any]:
    """A JSON-safe dict of ``event``, tagged with its ``kind``."""
    cls = type(event)
    if EVENT_TYPES.get(cls.kind) is not cls:
        raise ValidationError(
            f"cannot store {cls.__name__}: a SQL store holds the events of "
            f"supportflow.events ({', '.join(sorted(EVENT_TYPES))})"
        )
    return {"kind": cls.kind, **_unstructure(event, cls)}


def decode_event(data: Mapping[str, Any]) -> Event:
    """The event :func:`encode_event` encoded."""
    fields = dict(data)
    kind = fields.pop("kind", None)
    cls = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ValueError(f"stored event has unknown kind {kind!r}")
    return _CONVERTER.structure(fields, cls)


def encode_ticket(ticket: Ticket) -> dict[str, Any]:
    """A JSON-safe dict of the snapshot."""
    return _unstructure(ticket, Ticket)


def decode_ticket(data: Mapping[str, Any]) -> Ticket:
    """The snapshot :func:`encode_ticket` encoded."""
    return _CONVERTER.structure(data, Ticket)


def encode_actor(actor: Actor) -> dict[str, Any]:
    """A JSON-safe dict of the actor."""
    return _unstructure(actor, Actor)


def decode_actor(data: Mapping[str, Any]) -> Actor:
    """The actor :func:`encode_actor` encoded."""
    return _CONVERTER.structure(data, Actor)


def encode_sla(projection: SLAProjection) -> dict[str, Any]:
    """A JSON-safe dict of the SLA projection."""
    return _unstructure(projection, SLAProjection)


def decode_sla(data: Mapping[str, Any]) -> SLAProjection:
    """The projection :func:`encode_sla` encoded."""
    return _CONVERTER.structure(data, SLAProjection)


def encode_timer(timer: Timer) -> dict[str, Any]:
    """A JSON-safe dict of the timer."""
    return _unstructure(timer, Timer)


def decode_timer(data: Mapping[str, Any]) -> Timer:
    """The timer :func:`encode_timer` encoded."""
    return _CONVERTER.structure(data, Timer)


def encode_notification(notification: Notification) -> dict[str, Any]:
    """A JSON-safe dict of the notification."""
    return _unstructure(notification, Notification)


def decode_notification(data: Mapping[str, Any]) -> Notification:
    """The notification :func:`encode_notification` encoded."""
    return _CONVERTER.structure(data, Notification)


def dumps(data: Any) -> str:
    """Compact JSON text; non-ASCII escaped, so any string survives any database encoding."""
    return json.dumps(data, separators=(",", ":"))


def loads(text: str) -> Any:
    """The inverse of :func:`dumps`."""
    return json.loads(text)
