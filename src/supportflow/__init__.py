"""supportflow: support-workflow primitives for Python applications.

Ticket lifecycles on ``transitions``, an event history that is the single
source of truth, rights per transition, and pluggy hooks — as a library.
"""

from importlib.metadata import PackageNotFoundError as _PackageNotFoundError
from importlib.metadata import version as _version

from supportflow import errors, escalation, events, lifecycles, sla
from supportflow._bulk import import_histories
from supportflow._calendar import (
    BusinessCalendar,
    BusinessInterval,
    CalendarExplanation,
    SkippedDay,
)
from supportflow._desk import Desk, TicketView
from supportflow._directory import Agent, Customer, Directory, Group, Organization
from supportflow._escalation import EscalationPolicy
from supportflow._followup import AutoClose, Reminder
from supportflow._lifecycle import Guard, GuardContext, Lifecycle, Reaction, State, Transition
from supportflow._model import (
    Actor,
    Category,
    Channel,
    Priority,
    PriorityMatrix,
    Role,
    Ticket,
    Tier,
)
from supportflow._sla import ClockStatus, Match, Metric, SLAPolicy, SLAReport, Target
from supportflow._time import Clock, ManualClock, SystemClock
from supportflow.errors import (
    ConcurrencyConflict,
    ConfigError,
    DeliveryFailed,
    HeaderInjection,
    IdempotencyConflict,
    InvalidTransition,
    LifecycleError,
    NaiveDatetimeError,
    NotFound,
    PermissionDenied,
    SupportflowError,
    UnsafeDestination,
    ValidationError,
)
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
from supportflow.hookspecs import hookimpl
from supportflow.store import MemoryStore, Store

try:
    __version__ = _version("supportflow")
except _PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "Actor",
    "Agent",
    "Assigned",
    "AutoClose",
    "BusinessCalendar",
    "BusinessInterval",
    "CalendarExplanation",
    "Category",
    "Channel",
    "Clock",
    "ClockStatus",
    "CommentAdded",
    "ConcurrencyConflict",
    "ConfigError",
    "Customer",
    "DeliveryFailed",
    "Desk",
    "Directory",
    "Escalated",
    "EscalationPolicy",
    "Event",
    "FieldChanged",
    "Group",
    "Guard",
    "GuardContext",
    "HeaderInjection",
    "IdempotencyConflict",
    "InvalidTransition",
    "Lifecycle",
    "LifecycleError",
    "Linked",
    "ManualClock",
    "Match",
    "MemoryStore",
    "Merged",
    "Metric",
    "NaiveDatetimeError",
    "NotFound",
    "Organization",
    "PermissionDenied",
    "Priority",
    "PriorityChanged",
    "PriorityMatrix",
    "Reaction",
    "Reminder",
    "Role",
    "SLAPolicy",
    "SLAReport",
    "SkippedDay",
    "State",
    "Store",
    "SupportflowError",
    "SystemClock",
    "Target",
    "Ticket",
    "TicketOpened",
    "TicketView",
    "Tier",
    "Transition",
    "Transitioned",
    "UnsafeDestination",
    "ValidationError",
    "__version__",
    "errors",
    "escalation",
    "events",
    "hookimpl",
    "import_histories",
    "lifecycles",
    "sla",
]
