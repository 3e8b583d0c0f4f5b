"""Notifications: routing, templates, notifier plugins, and delivery from the outbox.

A desk with ``outbox=True`` writes each notification-worthy event in the
command's own transaction. A :class:`Dispatcher` expands those events into one
:class:`Notification` per recipient (chosen by :class:`Route` rules, written
from :class:`Templates`), and delivers each through the :class:`Notifier` for
its channel, with retries, backoff and dead letters. See the notifications
guide in the documentation.
"""

from supportflow.notify._apprise import AppriseNotifier
from supportflow.notify._dispatch import Backoff, Dispatcher, DispatchReport
from supportflow.notify._log import LogNotifier
from supportflow.notify._model import Notification, Notifier, Receipt, Recipient
from supportflow.notify._registry import notifier_from_url
from supportflow.notify._routing import DEFAULT_ROUTES, Route, Router
from supportflow.notify._secret import Secret
from supportflow.notify._smtp import SMTPNotifier
from supportflow.notify._templates import (
    CONTEXT_NAMES,
    JinjaTemplate,
    Rendered,
    TemplateError,
    Templates,
    TextTemplate,
    default_templates,
)
from supportflow.notify._webhook import WebhookNotifier
from supportflow.notify.signing import SignatureError, sign, verify

__all__ = [
    "AppriseNotifier",
    "Backoff",
    "CONTEXT_NAMES",
    "DEFAULT_ROUTES",
    "DispatchReport",
    "Dispatcher",
    "JinjaTemplate",
    "LogNotifier",
    "Notification",
    "Notifier",
    "Receipt",
    "Recipient",
    "Rendered",
    "Route",
    "Router",
    "SMTPNotifier",
    "Secret",
    "SignatureError",
    "TemplateError",
    "Templates",
    "TextTemplate",
    "WebhookNotifier",
    "default_templates",
    "notifier_from_url",
    "sign",
    "verify",
]
