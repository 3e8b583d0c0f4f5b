"""Secrets that never show themselves in ``repr()``, ``str()``, exceptions or logs."""

from __future__ import annotations

import hmac
from typing import Any, NoReturn, final

from supportflow.errors import ValidationError

__all__ = ["Secret", "reveal"]


@final
class Secret:
    """A password or signing key, kept out of reprs, strings, logs and pickles.

    >>> key = Secret("whsec_abc")
    >>> key
    Secret('********')
    >>> f"{key}"
    '********'
    >>> key.reveal()
    'whsec_abc'
    """

    __slots__ = ("_value",)

    def __init__(self, value: str | bytes | Secret) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        if not isinstance(value, str | bytes) or not value:
            raise ValidationError(
                "a secret must be a non-empty str or bytes, got "
                f"{type(value).__name__}; pass the password or key itself"
            )
        self._value = value

    def reveal(self) -> Any:
        """The secret itself (``str`` or ``bytes``, as given). Use it, never print it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    def __str__(self) -> str:
        return "********"

    def __format__(self, spec: str) -> str:
        return "********"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        mine, theirs = self._value, other._value
        if isinstance(mine, str):
            mine = mine.encode()
        if isinstance(theirs, str):
            theirs = theirs.encode()
        return hmac.compare_digest(mine, theirs)

    def __hash__(self) -> int:
        return hash(Secret)

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret cannot be pickled; pass it to the process that needs it")


def reveal(value: Secret | str | bytes | None) -> Any:
    """The plain value of ``value``, whether it is a :class:`Secret` or not."""
    return value.reveal() if isinstance(value, Secret) else value
