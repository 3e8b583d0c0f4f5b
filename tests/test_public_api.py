"""The public surface: one sorted, complete ``__all__`` and a version from metadata."""

import importlib.metadata
import inspect

import pytest

import supportflow
import supportflow.notify
import supportflow.testing


@pytest.mark.parametrize(
    "module",
    [supportflow, supportflow.testing, supportflow.sla, supportflow.notify],
    ids=lambda m: m.__name__,
)
def test_all_is_sorted(module):
    assert list(module.__all__) == sorted(module.__all__)


_PUBLIC_SUBMODULES = {"errors", "escalation", "events", "lifecycles", "sla"}


@pytest.mark.parametrize(
    "module", [supportflow, supportflow.testing, supportflow.notify], ids=lambda m: m.__name__
)
def test_all_lists_every_public_name_and_only_existing_ones(module):
    public = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and (not inspect.ismodule(value) or name in _PUBLIC_SUBMODULES)
    }
    missing = public - set(module.__all__)
    assert not missing, f"public names missing from __all__: {sorted(missing)}"
    for name in module.__all__:
        assert hasattr(module, name), f"__all__ names {name!r}, which does not exist"


def test_version_comes_from_package_metadata():
    assert supportflow.__version__ == importlib.metadata.version("supportflow")


def test_every_error_derives_from_the_one_base():
    for name in supportflow.errors.__all__:
        error = getattr(supportflow.errors, name)
        assert issubclass(error, supportflow.SupportflowError)


def test_errors_required_by_the_api_exist():
    for name in (
        "InvalidTransition",
        "PermissionDenied",
        "NotFound",
        "LifecycleError",
        "ConfigError",
        "ConcurrencyConflict",
    ):
        assert name in supportflow.errors.__all__
        assert name in supportflow.__all__
