"""Escalation policies and assignment: the public home of their vocabulary.

- :class:`EscalationPolicy`, :class:`Level`, :class:`Trigger`, :class:`Action`:
  chains of levels relative to SLA clocks, and what each level does
  (functional: reassign; hierarchical: notify; raise priority, tag, watch,
  custom).
- :class:`Step` and :func:`parse_step_key`: which level, pass and repeat a
  timer key names.
- Assignment: :class:`RoundRobin`, :class:`LeastLoaded`, :class:`SkillsBased`,
  :func:`assign`, :func:`eligible`, :class:`Workload`, :func:`strategy_named`.

See the escalation guide in the documentation.
"""

from supportflow._assign import (
    BUILTIN_STRATEGIES,
    AssignmentContext,
    AssignmentStrategy,
    LeastLoaded,
    RoundRobin,
    SkillsBased,
    Workload,
    assign,
    eligible,
    strategy_named,
)
from supportflow._escalation import (
    Action,
    EscalationPolicy,
    Level,
    Mode,
    Step,
    Trigger,
    escalation_timers,
    parse_step_key,
)

__all__ = [
    "BUILTIN_STRATEGIES",
    "Action",
    "AssignmentContext",
    "AssignmentStrategy",
    "EscalationPolicy",
    "LeastLoaded",
    "Level",
    "Mode",
    "RoundRobin",
    "SkillsBased",
    "Step",
    "Trigger",
    "Workload",
    "assign",
    "eligible",
    "escalation_timers",
    "parse_step_key",
    "strategy_named",
]
