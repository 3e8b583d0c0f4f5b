"""Ready-made lifecycles.

:func:`standard` follows the classic technical-support process; :func:`simple`
is a four-state flow in the style of Zendesk. Both are ordinary
:class:`~supportflow.Lifecycle` values: print ``to_toml()`` and edit it to make
your own.
"""

from __future__ import annotations

from supportflow._lifecycle import Lifecycle, Reaction, State, Transition
from supportflow._model import Category, Role

__all__ = ["simple", "standard"]

_AGENT, _SUPERVISOR, _SYSTEM, _CUSTOMER = Role.AGENT, Role.SUPERVISOR, Role.SYSTEM, Role.CUSTOMER
_STAFF = (_AGENT, _SUPERVISOR)
_STAFF_AND_SYSTEM = (_AGENT, _SUPERVISOR, _SYSTEM)


def standard() -> Lifecycle:
    """The classic support process, modelled on Request Tracker's lifecycles.

    ``new`` → ``acknowledged`` (initial response) → ``triaged`` (diagnosed and
    classified) → ``in_progress`` ⇄ ``waiting_on_customer`` /
    ``waiting_on_third_party`` → ``resolved`` (awaiting the customer's
    verification) → ``closed``; ``reopen`` from resolved, ``cancel`` early,
    ``merge`` into another ticket.

    Rights: staff (agents, supervisors) and the system move tickets along;
    only staff resolve (with a ``resolution``); the requester may reopen their
    resolved ticket or confirm it closed; only supervisors cancel (with a
    ``reason``). Reactions: an agent's first public reply acknowledges a new
    ticket; a customer reply resumes a ticket waiting on the customer and
    reopens a resolved one.

    >>> lc = standard()
    >>> lc.allowed_events("resolved", "customer")
    ('reopen', 'close')
    """
    working = ("acknowledged", "triaged", "in_progress")
    waiting = ("waiting_on_customer", "waiting_on_third_party")
    return Lifecycle(
        name="standard",
        initial="new",
        states=[
            State("new", Category.NEW, "Arrived; nobody has responded yet."),
            State("acknowledged", Category.ACTIVE, "The customer has had an initial response."),
            State("triaged", Category.ACTIVE, "Diagnosed and classified by type and urgency."),
            State("in_progress", Category.ACTIVE, "The fix is being planned and carried out."),
            State("waiting_on_customer", Category.WAITING, "Paused until the customer answers."),
            State("waiting_on_third_party", Category.WAITING, "Paused on a vendor or partner."),
            State("resolved", Category.RESOLVED, "Fixed; awaiting the customer's verification."),
            State("closed", Category.CLOSED, "Verified and finished."),
            State("cancelled", Category.CLOSED, "Withdrawn before any work was done."),
            State("merged", Category.CLOSED, "Merged into another ticket."),
        ],
        transitions=[
            Transition("acknowledge", ["new"], "acknowledged", _STAFF_AND_SYSTEM),
            Transition("triage", ["new", "acknowledged"], "triaged", _STAFF_AND_SYSTEM),
            Transition("start", ["acknowledged", "triaged"], "in_progress", _STAFF_AND_SYSTEM),
            Transition(
                "wait_for_customer",
                [*working, "waiting_on_third_party"],
                "waiting_on_customer",
                _STAFF_AND_SYSTEM,
            ),
            Transition(
                "wait_for_third_party",
                [*working, "waiting_on_customer"],
                "waiting_on_third_party",
                _STAFF_AND_SYSTEM,
            ),
            Transition("resume", list(waiting), "in_progress", _STAFF_AND_SYSTEM),
            Transition(
                "resolve",
                ["new", *working, *waiting],
                "resolved",
                _STAFF,
                requires=["resolution"],
                description="Requires a resolution note.",
            ),
            Transition("reopen", ["resolved"], "in_progress", (*_STAFF, _CUSTOMER)),
            Transition("close", ["resolved"], "closed", (*_STAFF_AND_SYSTEM, _CUSTOMER)),
            Transition(
                "cancel",
                ["new", "acknowledged", "triaged"],
                "cancelled",
                (_SUPERVISOR,),
                requires=["reason"],
                description="Only supervisors cancel, with a reason.",
            ),
            Transition("merge", ["new", *working, *waiting, "resolved"], "merged", _STAFF),
        ],
        reactions=[
            Reaction("agent_reply", ["new"], "acknowledge"),
            Reaction("customer_reply", ["waiting_on_customer"], "resume"),
            Reaction("customer_reply", ["resolved"], "reopen"),
        ],
        merge_event="merge",
    )


def simple() -> Lifecycle:
    """A minimal four-state flow in the style of Zendesk: open / pending / solved / closed.

    Staff ``pend`` a ticket while waiting on the customer, ``solve`` it (with a
    ``resolution``), and ``close`` it; a customer reply resumes a pending
    ticket and reopens a solved one.

    >>> [s.name for s in simple().states]
    ['open', 'pending', 'solved', 'closed']
    """
    return Lifecycle(
        name="simple",
        initial="open",
        states=[
            State("open", Category.ACTIVE, "Needs work from the desk."),
            State("pending", Category.WAITING, "Waiting on the customer."),
            State("solved", Category.RESOLVED, "Solved; the customer may still reply."),
            State("closed", Category.CLOSED, "Finished."),
        ],
        transitions=[
            Transition("pend", ["open"], "pending", _STAFF_AND_SYSTEM),
            Transition("resume", ["pending"], "open", _STAFF_AND_SYSTEM),
            Transition("solve", ["open", "pending"], "solved", _STAFF, requires=["resolution"]),
            Transition("reopen", ["solved"], "open", (*_STAFF, _CUSTOMER)),
            Transition("close", ["solved"], "closed", _STAFF_AND_SYSTEM),
        ],
        reactions=[
            Reaction("customer_reply", ["pending"], "resume"),
            Reaction("customer_reply", ["solved"], "reopen"),
        ],
    )
