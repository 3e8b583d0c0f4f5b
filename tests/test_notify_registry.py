"""Notifiers by URL: built-in schemes, plugin schemes, and clear errors."""

import pytest

from supportflow import ConfigError, hookimpl
from supportflow.notify import (
    AppriseNotifier,
    LogNotifier,
    Notifier,
    Receipt,
    SMTPNotifier,
    WebhookNotifier,
    notifier_from_url,
)


class Pager:
    """A notifier a plugin offers under its own scheme."""

    name = "pager"
    channels = frozenset({"pager"})

    def __init__(self, url):
        self.url = url

    def send(self, notification):
        return Receipt(notification.id, self.name)

    def close(self):
        pass


class PagerPlugin:
    @hookimpl
    def supportflow_register_notifiers(self):
        return {"pager": Pager}


def test_built_in_schemes_build_their_notifiers():
    assert isinstance(notifier_from_url("log://"), LogNotifier)
    smtp = notifier_from_url("smtp://mail.example.com:2525?sender=desk@example.com")
    assert isinstance(smtp, SMTPNotifier)
    secure = notifier_from_url(
        "smtps://desk@mail.example.com?sender=desk@example.com", password="s3cret-pw"
    )
    assert "s3cret-pw" not in repr(secure)
    hook = notifier_from_url("webhook+https://hooks.example.com/desk", secret="k3y-material")
    assert isinstance(hook, WebhookNotifier)
    assert "k3y-material" not in repr(hook)
    assert isinstance(notifier_from_url("apprise+json://chat.example.com/hook"), AppriseNotifier)
    api = notifier_from_url("apprise://apprise.example.com/t0ken-abc")
    assert isinstance(api, AppriseNotifier)
    assert "t0ken-abc" not in repr(api)


def test_a_plugin_offers_its_own_scheme():
    pager = notifier_from_url("pager://oncall/team-a", plugins=[PagerPlugin()])
    assert isinstance(pager, Notifier)
    assert pager.url == "pager://oncall/team-a"


def test_unknown_schemes_and_double_offers_are_config_errors():
    with pytest.raises(ConfigError, match=r"no notifier serves URL scheme 'fax'.*smtp"):
        notifier_from_url("fax://+15550100")
    with pytest.raises(ConfigError, match="looks like"):
        notifier_from_url("mail.example.com")

    class Shadow:
        @hookimpl
        def supportflow_register_notifiers(self):
            return {"smtp": Pager}

    with pytest.raises(ConfigError, match="offered twice"):
        notifier_from_url("smtp://x", plugins=[Shadow()])
