"""SLA policies and clocks: targets per priority, measured on business calendars.

Everything here is also importable from the private implementation module;
this is the public home of the SLA vocabulary:

- :class:`SLAPolicy`, :class:`Target`, :class:`Match`: what is promised, to whom.
- :class:`Metric` and the four shipped metrics :data:`FIRST_RESPONSE`,
  :data:`NEXT_RESPONSE`, :data:`PERIODIC_UPDATE`, :data:`RESOLUTION`; the
  condition builders :func:`opened`, :func:`staff_reply`,
  :func:`customer_reply`, :func:`entered`, :func:`left` to define your own.
- :class:`SLAReport`, :class:`MetricReport`, :class:`ClockReport`,
  :class:`ClockStatus`: what :meth:`Desk.sla <supportflow.Desk.sla>` returns.
- :class:`SLAProjection` and :class:`Timer`: the pure replay, for tools and stores.
"""

from supportflow._sla import (
    FIRST_RESPONSE,
    NEXT_RESPONSE,
    PERIODIC_UPDATE,
    RESOLUTION,
    STANDARD_METRICS,
    ClockReport,
    ClockStatus,
    Cycle,
    Match,
    Metric,
    MetricReport,
    SLAPolicy,
    SLAProjection,
    SLAReport,
    Step,
    Target,
    Timer,
    customer_reply,
    entered,
    left,
    never,
    opened,
    staff_reply,
)

__all__ = [
    "ClockReport",
    "ClockStatus",
    "Cycle",
    "FIRST_RESPONSE",
    "Match",
    "Metric",
    "MetricReport",
    "NEXT_RESPONSE",
    "PERIODIC_UPDATE",
    "RESOLUTION",
    "SLAPolicy",
    "SLAProjection",
    "SLAReport",
    "STANDARD_METRICS",
    "Step",
    "Target",
    "Timer",
    "customer_reply",
    "entered",
    "left",
    "never",
    "opened",
    "staff_reply",
]
