"""Notifications: routing, templates, notifier plugins, and delivery from the outbox."""

from __future__ import annotations

from supportflow.notify._model import Notification, Notifier, Receipt, Recipient
from supportflow.notify._secret import Secret

__all__ = ["Notification", "Notifier", "Receipt", "Recipient", "Secret"]
