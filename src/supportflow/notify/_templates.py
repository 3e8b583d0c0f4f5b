"""Notification templates: what a notification says, per event kind and language.

Two kinds of template turn a context (a mapping of :data:`CONTEXT_NAMES` to
values) into a :class:`Rendered` subject, text body and optional HTML body:

* :class:`TextTemplate` uses :class:`string.Template` placeholders (``$name``
  and ``${name}``). It needs nothing beyond the standard library.
* :class:`JinjaTemplate` uses Jinja2, rendered only in Jinja's immutable
  sandbox with strict undefined names. Install it with
  ``pip install 'supportflow[jinja]'``.

A :class:`Templates` registry maps ``(event kind, language)`` to a template and
resolves a notification to the best match, falling back from a regional
language to its base language, then to the default language, and from a
specific event kind to the ``"*"`` catch-all.

Problems that can be seen while configuring (a placeholder outside
:data:`CONTEXT_NAMES`, a Jinja syntax error) raise :class:`TemplateError` when
the template is built or added. Problems that only show while rendering (a
missing value, an output or time cap exceeded, something the sandbox refuses)
raise :class:`TemplateError` from :meth:`Templates.render`; the dispatcher then
dead-letters that one notification with the error as the reason.

>>> templates = Templates({("opened", "en"): TextTemplate("Ticket $ticket_id", "Hi $requester")})
>>> templates.render("opened", "en-GB", {"ticket_id": "T-1", "requester": "Ada"})
Rendered(subject='Ticket T-1', text='Hi Ada', html=None)
"""

from __future__ import annotations

import contextvars
import functools
import html as html_lib
import re
import string
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, Protocol, overload, runtime_checkable

from attrs import field, frozen

from supportflow.errors import ConfigError, ValidationError

if TYPE_CHECKING:
    import jinja2
    import jinja2.sandbox

__all__ = [
    "CONTEXT_NAMES",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_SECONDS",
    "JinjaTemplate",
    "Rendered",
    "Template",
    "TemplateError",
    "Templates",
    "TextTemplate",
    "default_templates",
]

#: The default cap on each rendered part (subject, text, HTML), in UTF-8 bytes.
DEFAULT_MAX_BYTES: Final = 64 * 1024

#: The default cap on the time one template may spend rendering, in seconds.
DEFAULT_MAX_SECONDS: Final = 0.5

#: The names a template may use, with what the dispatcher puts there. Every
#: name is present in the context; a value that does not apply to the event
#: (``comment`` for a priority change, ``assignee`` on an unassigned ticket) is
#: ``None``, which renders as an empty string.
CONTEXT_NAMES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "ticket_id": "the ticket's id",
        "subject": "the ticket's subject line",
        "state": "the ticket's state after the event",
        "previous_state": "the state before a transition",
        "priority": "the ticket's priority after the event",
        "previous_priority": "the priority before a priority change",
        "requester": "who asked for help",
        "assignee": "the agent the ticket is assigned to",
        "group": "the group the ticket is assigned to",
        "event_kind": "the event's kind: opened, commented, transitioned, ...",
        "event_version": "the event's position in the ticket's history",
        "at": "when the event happened",
        "actor": "who caused the event",
        "comment": "the text of a public comment",
        "reason": "the reason given for a change or an escalation",
        "recipient_name": "the recipient's display name",
        "recipient_role": "why the recipient gets it: requester, assignee, group, ...",
        "language": "the language the notification is written in",
        "ticket_url": "a link to the ticket, if the application configured one",
    }
)

# Characters that end a line somewhere (str.splitlines breaks on all of them),
# plus NUL; none of them may appear in a subject.
_LINE_BREAKS = re.compile("[\r\n\v\f\x00\x1c-\x1e\x85\u2028\u2029]")
_LANGUAGE = re.compile(r"[a-z]{2,8}(?:-[a-z0-9]{1,8})*")
_KIND = re.compile(r"\*|[A-Za-z0-9_.-]+(?::[A-Za-z0-9_.-]+)?")
# Widths, precisions and repeat counts the Jinja sandbox lets through.
_MAX_WIDTH: Final = 64 * 1024
_MAX_SEQUENCE: Final = 1 << 20
_MAX_POWER_BITS: Final = 1 << 16
_PRINTF_SPEC = re.compile(
    r"%(?:\([^)]*\))?[#0\- +]*(?P<width>\*|\d+)?(?:\.(?P<precision>\*|\d+))?[hlL]?[a-zA-Z%]"
)


class TemplateError(ValidationError):
    """A template cannot be added or rendered.

    Raised when a template is built or added (a syntax error, a placeholder
    outside :data:`CONTEXT_NAMES`) and when one is rendered (a name missing
    from the context, an output or time cap exceeded, an operation the sandbox
    refuses, a subject with a line break). The message names the template and
    says what to change.
    """


@frozen
class Rendered:
    """A rendered notification: a one-line subject, a text body and maybe HTML.

    Attributes:
        subject: the subject line, without surrounding whitespace or line breaks.
        text: the plain-text body.
        html: the HTML body, or ``None`` when the template has no HTML part.
    """

    subject: str
    text: str
    html: str | None = None


@runtime_checkable
class Template(Protocol):
    """What :class:`Templates` accepts: :class:`TextTemplate`, :class:`JinjaTemplate`
    or a class of your own with the same two members.

    Attributes:
        placeholders: every context name the template uses; checked against
            :data:`CONTEXT_NAMES` when the template is added to a registry.
    """

    @property
    def placeholders(self) -> frozenset[str]: ...

    def render(self, context: Mapping[str, Any], *, name: str = "template") -> Rendered:
        """Render the template with ``context``; ``name`` labels it in errors."""
        ...


def _positive_int(_: object, attribute: Any, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise TemplateError(
            f"{attribute.name} must be a positive number of bytes, got {value!r}; "
            f"the default is {DEFAULT_MAX_BYTES}"
        )


def _positive_seconds(_: object, attribute: Any, value: float) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool) or not value > 0:
        raise TemplateError(
            f"{attribute.name} must be a positive number of seconds, got {value!r}; "
            f"the default is {DEFAULT_MAX_SECONDS}"
        )


def _check_sources(kind: str, subject: object, text: object, html: object) -> None:
    for part, source in (("subject", subject), ("text", text)):
        if not isinstance(source, str):
            raise TemplateError(
                f"{kind} {part} must be a str, got {type(source).__name__}; "
                "pass the template source text"
            )
    if html is not None and not isinstance(html, str):
        raise TemplateError(
            f"{kind} html must be a str or None, got {type(html).__name__}; "
            "pass the HTML template source, or None for a text-only notification"
        )


def _line_and_column(source: str, offset: int) -> tuple[int, int]:
    line = source.count("\n", 0, offset) + 1
    column = offset - (source.rfind("\n", 0, offset) + 1) + 1
    return line, column


def _size(piece: str) -> int:
    return len(piece) if piece.isascii() else len(piece.encode("utf-8", "surrogatepass"))


def _over_size(name: str, part: str, max_bytes: int) -> TemplateError:
    return TemplateError(
        f"template {name}: the rendered {part} part passed the cap of {max_bytes} bytes; "
        "shorten the template or the values it repeats, or raise max_bytes"
    )


def _over_time(name: str, part: str, max_seconds: float) -> TemplateError:
    return TemplateError(
        f"template {name}: rendering the {part} part took longer than the cap of "
        f"{max_seconds} s; simplify its loops, or raise max_seconds"
    )


def _finish(name: str, subject: str, text: str, html: str | None) -> Rendered:
    subject = subject.strip()
    found = _LINE_BREAKS.search(subject)
    if found is not None:
        raise TemplateError(
            f"template {name}: the rendered subject holds a line break ({found.group()!r}); "
            "a subject must be one line: remove the break from the template, or keep "
            "multi-line values such as comment out of the subject"
        )
    if not subject:
        raise TemplateError(
            f"template {name}: the rendered subject is empty; give the subject fixed text "
            "(for example the ticket id) besides placeholders that may be empty"
        )
    return Rendered(subject=subject, text=text, html=html)


# -- string.Template ----------------------------------------------------------------------


class _Values(Mapping[str, str]):
    """The context as ``string.Template`` sees it: ``None`` as ``""``, and
    every value HTML-escaped for the HTML part."""

    __slots__ = ("_context", "_escape")

    def __init__(self, context: Mapping[str, Any], escape: bool) -> None:
        self._context = context
        self._escape = escape

    def __getitem__(self, key: str) -> str:
        value = self._context[key]
        text = "" if value is None else str(value)
        return html_lib.escape(text, quote=True) if self._escape else text

    def __iter__(self) -> Iterator[str]:
        return iter(self._context)

    def __len__(self) -> int:
        return len(self._context)


def _compile_text(part: str, source: str) -> string.Template:
    template = string.Template(source)
    for match in template.pattern.finditer(source):
        if match.group("invalid") is not None:
            line, column = _line_and_column(source, match.start("invalid"))
            raise TemplateError(
                f"TextTemplate {part} part: invalid placeholder on line {line}, column "
                f"{column}; write $name or ${{name}} with a name from CONTEXT_NAMES, "
                "or $$ for a literal dollar sign"
            )
    return template


@frozen
class TextTemplate:
    """A template with :class:`string.Template` placeholders: ``$name`` or ``${name}``.

    Every value is converted with ``str()`` (``None`` becomes an empty string)
    and, in the HTML part only, HTML-escaped. Values are inserted once and never
    read as placeholders themselves. A placeholder without a value in the
    context is an error, never left in the output.

    >>> TextTemplate("[#$ticket_id] $subject", "Now $state.").render(
    ...     {"ticket_id": "T-7", "subject": "VPN", "state": "resolved"}
    ... )
    Rendered(subject='[#T-7] VPN', text='Now resolved.', html=None)

    Attributes:
        subject: the subject template; the result must be one line.
        text: the plain-text body template.
        html: the HTML body template, or ``None``.
        max_bytes: the cap on each rendered part, in UTF-8 bytes.
        max_seconds: the cap on rendering time, in seconds.
        placeholders: the context names the template uses (computed).

    Raises:
        TemplateError: a part is not a string, or holds a ``$`` that starts no
            valid placeholder (the message gives its line and column).
    """

    subject: str
    text: str
    html: str | None = None
    max_bytes: int = field(default=DEFAULT_MAX_BYTES, kw_only=True, validator=_positive_int)
    max_seconds: float = field(
        default=DEFAULT_MAX_SECONDS, kw_only=True, validator=_positive_seconds
    )
    placeholders: frozenset[str] = field(init=False, eq=False, repr=False)
    _compiled: tuple[tuple[str, string.Template], ...] = field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        _check_sources("TextTemplate", self.subject, self.text, self.html)
        parts = [("subject", self.subject), ("text", self.text)]
        if self.html is not None:
            parts.append(("html", self.html))
        compiled = tuple((part, _compile_text(part, source)) for part, source in parts)
        names = frozenset(name for _, tpl in compiled for name in tpl.get_identifiers())
        object.__setattr__(self, "_compiled", compiled)
        object.__setattr__(self, "placeholders", names)

    def render(self, context: Mapping[str, Any], *, name: str = "TextTemplate") -> Rendered:
        """Substitute ``context`` into every part.

        Args:
            context: values for the placeholders (see :data:`CONTEXT_NAMES`).
            name: how errors refer to this template.

        Raises:
            TemplateError: a placeholder has no value in ``context``, a value
                cannot be converted to text, a part passes ``max_bytes`` or
                rendering passes ``max_seconds``, or the subject holds a line break.
        """
        deadline = time.monotonic() + self.max_seconds
        plain, escaped = _Values(context, escape=False), _Values(context, escape=True)
        out: dict[str, str] = {}
        for part, template in self._compiled:
            try:
                result = template.substitute(escaped if part == "html" else plain)
            except KeyError as exc:
                raise TemplateError(
                    f"template {name}: the {part} part uses ${exc.args[0]}, which has no "
                    "value in the context; the context must hold every name the template "
                    "uses (None where it does not apply)"
                ) from None
            except Exception as exc:
                raise TemplateError(
                    f"template {name}: a value for the {part} part could not be turned into "
                    f"text ({type(exc).__name__}: {exc}); pass plain strings in the context"
                ) from exc
            if _size(result) > self.max_bytes:
                raise _over_size(name, part, self.max_bytes)
            if time.monotonic() > deadline:
                raise _over_time(name, part, self.max_seconds)
            out[part] = result
        return _finish(name, out["subject"], out["text"], out.get("html"))


# -- Jinja2 ---------------------------------------------------------------------------------

_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "supportflow_template_deadline", default=None
)


class _Overrun(Exception):
    """Raised inside the sandbox when the render deadline has passed."""


def _tick() -> None:
    deadline = _DEADLINE.get()
    if deadline is not None and time.monotonic() > deadline:
        raise _Overrun


class _TimedRange(Sequence[int]):
    """The sandbox's ``range``: checks the render deadline at every step, so a
    loop that prints nothing still stops when time runs out."""

    __slots__ = ("_range",)

    def __init__(self, numbers: range) -> None:
        self._range = numbers

    def __len__(self) -> int:
        return len(self._range)

    @overload
    def __getitem__(self, index: int) -> int: ...

    @overload
    def __getitem__(self, index: slice) -> _TimedRange: ...

    def __getitem__(self, index: int | slice) -> int | _TimedRange:
        if isinstance(index, slice):
            return _TimedRange(self._range[index])
        return self._range[index]

    def __iter__(self) -> Iterator[int]:
        for number in self._range:
            _tick()
            yield number

    def __reversed__(self) -> Iterator[int]:
        return iter(_TimedRange(self._range[::-1]))

    def __contains__(self, value: object) -> bool:
        return value in self._range

    def __repr__(self) -> str:
        return repr(self._range)


def _finalize(value: Any) -> Any:
    return "" if value is None else value


@functools.cache
def _environments() -> tuple[jinja2.Environment, jinja2.Environment]:
    """The two shared sandboxes: one for subject and text, one autoescaping for HTML."""
    try:
        from jinja2 import StrictUndefined
        from jinja2.exceptions import SecurityError
        from jinja2.filters import FILTERS
        from jinja2.runtime import Context
        from jinja2.sandbox import ImmutableSandboxedEnvironment, safe_range
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ConfigError(
            "JinjaTemplate needs Jinja2, which is not installed; "
            "pip install 'supportflow[jinja]' or use TextTemplate"
        ) from exc

    def refuse(what: str) -> SecurityError:
        return SecurityError(f"{what}; the sandbox allows at most {_MAX_WIDTH}")

    def check_printf(fmt: object) -> None:
        if isinstance(fmt, str):
            for match in _PRINTF_SPEC.finditer(fmt):
                for group in ("width", "precision"):
                    value = match.group(group)
                    if value == "*" or (value is not None and int(value) > _MAX_WIDTH):
                        raise refuse(f"the format {match.group()!r} asks for a width of {value}")

    def check_format_spec(fmt: str) -> None:
        for _, _, spec, _ in string.Formatter().parse(fmt):
            if not spec:
                continue
            if "{" in spec:
                raise SecurityError(
                    f"the format spec {spec!r} takes its width from an argument; "
                    "write the width as a number"
                )
            for digits in re.findall(r"\d+", spec):
                if int(digits) > _MAX_WIDTH:
                    raise refuse(f"the format spec {spec!r} asks for a width of {digits}")

    def bounded(name: str, position: int, keyword: str) -> Callable[..., Any]:
        original = FILTERS[name]

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            count = args[position] if len(args) > position else kwargs.get(keyword)
            if isinstance(count, str):
                count = len(count)
            if isinstance(count, int) and count > _MAX_WIDTH:
                raise refuse(f"the filter {name} got {count}")
            if name == "format" and args:
                check_printf(args[0])
            return original(*args, **kwargs)

        return wrapper

    class BoundedSandbox(ImmutableSandboxedEnvironment):
        """Jinja's immutable sandbox, with the render deadline checked at every
        call, attribute lookup and range step, and with string repetition,
        powers and formatting widths capped."""

        intercepted_binops = frozenset({"*", "**", "%"})

        def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
            _tick()
            if operator == "*":
                for sequence, count in ((left, right), (right, left)):
                    if isinstance(sequence, str | list | tuple) and isinstance(count, int):
                        size = len(sequence) * count
                        if size > _MAX_SEQUENCE:
                            raise SecurityError(
                                f"'*' would build {size} items, over the sandbox's limit "
                                f"of {_MAX_SEQUENCE}"
                            )
            elif operator == "**":
                if isinstance(left, int) and isinstance(right, int) and right > 0:
                    bits = max(abs(left).bit_length(), 1) * right
                    if bits > _MAX_POWER_BITS:
                        raise SecurityError(
                            f"'**' would build a number of about {bits} bits, over the "
                            f"sandbox's limit of {_MAX_POWER_BITS}"
                        )
            elif operator == "%":
                check_printf(left)
            return super().call_binop(context, operator, left, right)

        def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
            _tick()
            return super().call(context, obj, *args, **kwargs)

        def getattr(self, obj: Any, attribute: str) -> Any:
            _tick()
            return super().getattr(obj, attribute)

        def getitem(self, obj: Any, argument: Any) -> Any:
            _tick()
            return super().getitem(obj, argument)

        def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
            wrapped = super().wrap_str_format(value)
            if wrapped is None:
                return None
            check_format_spec(value.__self__)
            return wrapped

    def build(autoescape: bool) -> jinja2.Environment:
        env = BoundedSandbox(undefined=StrictUndefined, autoescape=autoescape, finalize=_finalize)
        env.globals.pop("lipsum", None)
        env.globals["range"] = lambda *args: _TimedRange(safe_range(*args))
        for name, position, keyword in (
            ("center", 1, "width"),
            ("indent", 1, "width"),
            ("batch", 1, "linecount"),
            ("slice", 1, "slices"),
            ("format", 0, "value"),
        ):
            env.filters[name] = bounded(name, position, keyword)
        return env

    return build(autoescape=False), build(autoescape=True)


def _compile_jinja(env: jinja2.Environment, part: str, source: str) -> tuple[Any, frozenset[str]]:
    from jinja2 import TemplateSyntaxError, meta, nodes

    try:
        tree = env.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateError(
            f"JinjaTemplate {part} part: syntax error on line {exc.lineno}: {exc.message}; "
            "fix the template"
        ) from None
    for node in tree.find_all((nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)):
        raise TemplateError(
            f"JinjaTemplate {part} part: line {node.lineno} loads another template "
            f"({type(node).__name__.lower()}), which notification templates cannot do; "
            "put the shared text in each template, or use a macro defined in the same part"
        )
    names = frozenset(meta.find_undeclared_variables(tree)) - set(env.globals)
    return env.from_string(tree), names


@frozen
class JinjaTemplate:
    """A Jinja2 template, rendered in Jinja's immutable sandbox.

    The three parts are compiled once, when the template is built. Rendering
    runs in :class:`jinja2.sandbox.ImmutableSandboxedEnvironment` with
    :class:`jinja2.StrictUndefined`: a name missing from the context is an
    error, and so is any attempt to reach internals (``''.__class__``) or to
    change a list or dict (``[].append(1)``). Values are HTML-escaped in the
    HTML part only. ``None`` renders as an empty string. Templates cannot
    include, import or extend other templates, and ``lipsum`` is not provided.

    Output is produced piece by piece and stops as soon as a part passes
    ``max_bytes``; the time cap is checked between pieces, at every call and
    attribute lookup, and at every step of ``range()``. Repetition (``*``),
    powers (``**``) and format widths are capped too. A loop over a long
    context value that neither prints nor calls anything is not interrupted
    until it ends.

    Attributes:
        subject: the subject template; the result must be one line.
        text: the plain-text body template.
        html: the HTML body template (autoescaped), or ``None``.
        max_bytes: the cap on each rendered part, in UTF-8 bytes.
        max_seconds: the cap on rendering time, in seconds.
        placeholders: the context names the template reads (computed).

    Raises:
        ConfigError: Jinja2 is not installed.
        TemplateError: a part has a syntax error (the message gives the line),
            or loads another template.
    """

    subject: str
    text: str
    html: str | None = None
    max_bytes: int = field(default=DEFAULT_MAX_BYTES, kw_only=True, validator=_positive_int)
    max_seconds: float = field(
        default=DEFAULT_MAX_SECONDS, kw_only=True, validator=_positive_seconds
    )
    placeholders: frozenset[str] = field(init=False, eq=False, repr=False)
    _compiled: tuple[tuple[str, Any], ...] = field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        _check_sources("JinjaTemplate", self.subject, self.text, self.html)
        text_env, html_env = _environments()
        parts = [("subject", text_env, self.subject), ("text", text_env, self.text)]
        if self.html is not None:
            parts.append(("html", html_env, self.html))
        compiled = []
        names: set[str] = set()
        for part, env, source in parts:
            template, used = _compile_jinja(env, part, source)
            compiled.append((part, template))
            names |= used
        object.__setattr__(self, "_compiled", tuple(compiled))
        object.__setattr__(self, "placeholders", frozenset(names))

    def render(self, context: Mapping[str, Any], *, name: str = "JinjaTemplate") -> Rendered:
        """Render every part in the sandbox.

        Args:
            context: the template's variables (see :data:`CONTEXT_NAMES`).
            name: how errors refer to this template.

        Raises:
            TemplateError: a name is undefined, the sandbox refused an
                operation, a part passed ``max_bytes``, rendering passed
                ``max_seconds``, the template raised an error, or the subject
                holds a line break.
        """
        deadline = time.monotonic() + self.max_seconds
        out: dict[str, str] = {}
        token = _DEADLINE.set(deadline)
        try:
            for part, template in self._compiled:
                out[part] = self._generate(name, part, template, context, deadline)
        finally:
            _DEADLINE.reset(token)
        return _finish(name, out["subject"], out["text"], out.get("html"))

    def _generate(
        self,
        name: str,
        part: str,
        template: jinja2.Template,
        context: Mapping[str, Any],
        deadline: float,
    ) -> str:
        from jinja2.exceptions import SecurityError, TemplateSyntaxError, UndefinedError

        pieces: list[str] = []
        size = 0
        chunks = template.generate(context)
        try:
            for chunk in chunks:
                size += _size(chunk)
                if size > self.max_bytes:
                    raise _over_size(name, part, self.max_bytes)
                if time.monotonic() > deadline:
                    raise _over_time(name, part, self.max_seconds)
                pieces.append(chunk)
        except TemplateError:
            raise
        except _Overrun:
            raise _over_time(name, part, self.max_seconds) from None
        except SecurityError as exc:
            raise TemplateError(
                f"template {name}: the sandbox refused an operation in the {part} part: "
                f"{str(exc).rstrip('.')}; templates may read the context's values, but not "
                "reach internals, change data or build oversized values"
            ) from None
        except UndefinedError as exc:
            raise TemplateError(
                f"template {name}: the {part} part failed: {exc}; the context must hold "
                "every name the template uses, and attributes must exist on the values"
            ) from None
        except (TemplateSyntaxError, RecursionError, MemoryError) as exc:
            raise TemplateError(
                f"template {name}: the {part} part failed: {type(exc).__name__}: {exc}"
            ) from None
        except Exception as exc:
            raise TemplateError(
                f"template {name}: the {part} part raised {type(exc).__name__}: {exc}; "
                "fix the template or the value it operates on"
            ) from exc
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        return "".join(pieces)


# -- the registry ---------------------------------------------------------------------------


def _normalize_language(language: str) -> str | None:
    tag = language.strip().replace("_", "-").lower()
    return tag if _LANGUAGE.fullmatch(tag) else None


def _language_chain(language: str | None, default: str) -> list[str]:
    chain: list[str] = []
    for tag in (language, default):
        normal = _normalize_language(tag) if isinstance(tag, str) else None
        while normal:
            if normal not in chain:
                chain.append(normal)
            normal = normal.rpartition("-")[0]
    return chain


def _kind_chain(kind: str) -> list[str]:
    chain = [kind]
    if ":" in kind:
        chain.append(kind.partition(":")[0])
    if kind != "*":
        chain.append("*")
    return chain


class Templates:
    """Templates by event kind and language, with fallbacks.

    An event kind is one of :mod:`supportflow.events`' kinds (``"opened"``,
    ``"commented"``, ``"transitioned"``, ...), a kind with a qualifier after a
    colon (``"transitioned:resolved"``, a transition into ``resolved``), a kind
    of your own (``"escalated"``), or ``"*"``, the catch-all. Languages are
    tags such as ``"en"`` or ``"de-CH"`` (any case, ``_`` or ``-``).

    :meth:`resolve` tries, in order, the exact kind, its unqualified form, and
    ``"*"``; for each, the recipient's language, its base languages
    (``de-CH`` → ``de``), then the default language.

    >>> templates = Templates(
    ...     {
    ...         ("opened", "de"): TextTemplate("Ticket $ticket_id", "Danke!"),
    ...         ("*", "en"): TextTemplate("Ticket $ticket_id", "Updated."),
    ...     }
    ... )
    >>> templates.render("opened", "de-CH", {"ticket_id": "T-1"}).text
    'Danke!'
    >>> templates.render("assigned", "de-CH", {"ticket_id": "T-1"}).text
    'Updated.'

    Args:
        templates: initial templates, keyed by ``(event kind, language)``.
        default_language: the language used when a recipient's has no template.
        extra_names: context names your application adds beyond :data:`CONTEXT_NAMES`.

    Raises:
        TemplateError: a key or template is invalid (see :meth:`add`).
    """

    __slots__ = ("_default", "_names", "_table")

    def __init__(
        self,
        templates: Mapping[tuple[str, str], Template] | None = None,
        *,
        default_language: str = "en",
        extra_names: Iterable[str] = (),
    ) -> None:
        default = (
            _normalize_language(default_language) if isinstance(default_language, str) else None
        )
        if default is None:
            raise TemplateError(
                f"default_language must be a language tag such as 'en' or 'de-CH', "
                f"got {default_language!r}"
            )
        self._default = default
        self._names = frozenset(CONTEXT_NAMES) | frozenset(extra_names)
        self._table: dict[tuple[str, str], Template] = {}
        if templates is None:
            return
        if not isinstance(templates, Mapping):
            raise TemplateError(
                f"templates must be a mapping of (event kind, language) to a template, got "
                f"{type(templates).__name__}; for example {{('opened', 'en'): TextTemplate(...)}}"
            )
        for key, template in templates.items():
            if not (isinstance(key, tuple) and len(key) == 2):
                raise TemplateError(
                    f"template key {key!r} must be an (event kind, language) pair, "
                    "such as ('opened', 'en')"
                )
            self.add(key[0], template, key[1])

    @property
    def default_language(self) -> str:
        """The language tried last, normalized (``"en"``)."""
        return self._default

    def add(
        self,
        event_kind: str,
        template: Template,
        language: str | None = None,
        *,
        replace: bool = False,
    ) -> None:
        """Register ``template`` for ``event_kind`` in ``language``.

        Args:
            event_kind: an event kind, ``"kind:qualifier"``, or ``"*"``.
            template: a :class:`TextTemplate`, :class:`JinjaTemplate` or the like.
            language: the template's language; the default language when ``None``.
            replace: allow replacing a template already registered for the key.

        Raises:
            TemplateError: the kind or language is malformed, the template uses
                a name outside the context names, or the key is taken and
                ``replace`` is false.
        """
        if not isinstance(event_kind, str) or not _KIND.fullmatch(event_kind):
            raise TemplateError(
                f"event kind {event_kind!r} is not valid; use an event kind such as "
                "'opened', a qualified kind such as 'transitioned:resolved', or '*'"
            )
        if language is None:
            tag: str | None = self._default
        else:
            tag = _normalize_language(language) if isinstance(language, str) else None
        if tag is None:
            raise TemplateError(
                f"language {language!r} for event kind {event_kind!r} is not a language "
                "tag; use one such as 'en' or 'de-CH', or None for the default language"
            )
        if not isinstance(template, Template):
            raise TemplateError(
                f"the template for {event_kind!r} ({tag}) is a {type(template).__name__}; "
                "pass a TextTemplate or JinjaTemplate"
            )
        unknown = template.placeholders - self._names
        if unknown:
            raise TemplateError(
                f"the template for {event_kind!r} ({tag}) uses unknown name(s) "
                f"{', '.join(sorted(unknown))}; use only {', '.join(sorted(self._names))}, "
                "or declare your own with Templates(extra_names=...)"
            )
        key = (event_kind, tag)
        if key in self._table and not replace:
            raise TemplateError(
                f"a template for {event_kind!r} ({tag}) is already registered; "
                "pass replace=True to replace it"
            )
        self._table[key] = template

    def check(self, context_names: Iterable[str]) -> None:
        """Check that every template uses only names in ``context_names``.

        A dispatcher calls this once at start-up with the names its context
        provides, so a template asking for something it never supplies fails
        at configuration rather than at the first notification.

        Raises:
            TemplateError: listing every template that uses other names.
        """
        given = frozenset(context_names)
        problems = [
            f"  - {kind!r} ({language}): {', '.join(sorted(missing))}"
            for (kind, language), template in sorted(self._table.items())
            if (missing := template.placeholders - given)
        ]
        if problems:
            raise TemplateError(
                "templates use names the context does not provide:\n"
                + "\n".join(problems)
                + "\nadd the names to the context, or remove them from the templates"
            )

    def _lookup(self, event_kind: str, language: str | None) -> tuple[str, Template]:
        kinds = _kind_chain(event_kind)
        languages = _language_chain(language, self._default)
        for kind in kinds:
            for tag in languages:
                found = self._table.get((kind, tag))
                if found is not None:
                    return f"{kind!r} ({tag})", found
        raise TemplateError(
            f"no template for event kind {event_kind!r}: tried kinds "
            f"{', '.join(map(repr, kinds))} in languages {', '.join(languages)}; "
            f"add one with Templates.add({event_kind!r}, ...) or add a '*' catch-all"
        )

    def resolve(self, event_kind: str, language: str | None = None) -> Template:
        """The template for ``event_kind`` in ``language``, after fallbacks.

        A malformed ``language`` is skipped as if it were ``None``.

        Raises:
            TemplateError: no template matches; the message lists the kinds
                and languages tried.
        """
        return self._lookup(event_kind, language)[1]

    def render(self, event_kind: str, language: str | None, context: Mapping[str, Any]) -> Rendered:
        """Resolve the template for ``event_kind`` and ``language`` and render it.

        Raises:
            TemplateError: no template matches, or rendering failed (see
                :meth:`TextTemplate.render` and :meth:`JinjaTemplate.render`).
        """
        name, template = self._lookup(event_kind, language)
        return template.render(context, name=name)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        """Every registered ``(event kind, language)``, sorted."""
        return iter(sorted(self._table))

    def __contains__(self, key: object) -> bool:
        return key in self._table

    def __len__(self) -> int:
        return len(self._table)

    def __repr__(self) -> str:
        return f"Templates(default_language={self._default!r}, {len(self._table)} templates)"


_DEFAULTS: Final[Mapping[str, tuple[str, str]]] = {
    "opened": (
        "[#$ticket_id] We received your request: $subject",
        "Hello,\n\n"
        "Thank you for contacting us. Your request has been received as ticket "
        "#$ticket_id, and we will get back to you as soon as we can.\n\n"
        "To add anything, simply reply to this message.\n",
    ),
    "commented": (
        "Re: [#$ticket_id] $subject",
        "$actor replied to ticket #$ticket_id:\n\n$comment\n\n"
        "To answer, simply reply to this message.\n",
    ),
    "transitioned": (
        "[#$ticket_id] Status changed to $state: $subject",
        "Ticket #$ticket_id ($subject) is now $state.\n",
    ),
    "transitioned:waiting_on_customer": (
        "[#$ticket_id] We need your reply: $subject",
        "We need more information from you to continue with ticket #$ticket_id "
        "($subject). Please answer our last message; the ticket is paused until you do.\n",
    ),
    "transitioned:resolved": (
        "[#$ticket_id] Resolved: $subject",
        "We believe ticket #$ticket_id ($subject) is resolved. If the problem "
        "persists, reply to this message and we will reopen it.\n",
    ),
    "transitioned:closed": (
        "[#$ticket_id] Closed: $subject",
        "Ticket #$ticket_id ($subject) is now closed. Thank you for your patience. "
        "If you need more help, please open a new request.\n",
    ),
    "assigned": (
        "[#$ticket_id] Assigned to you: $subject",
        "Ticket #$ticket_id ($subject) has been assigned to $assignee.\n\n"
        "Priority: $priority\nState: $state\nRequester: $requester\n",
    ),
    "priority_changed": (
        "[#$ticket_id] Priority now $priority: $subject",
        "The priority of ticket #$ticket_id ($subject) changed from "
        "$previous_priority to $priority.\n",
    ),
    "escalated": (
        "[#$ticket_id] Escalated: $subject",
        "Ticket #$ticket_id ($subject, priority $priority) has been escalated and "
        "needs attention.\n\nState: $state\nAssignee: $assignee\nGroup: $group\n",
    ),
    "*": (
        "[#$ticket_id] Update: $subject",
        "Ticket #$ticket_id ($subject) has been updated. Its status is $state.\n",
    ),
}


def default_templates() -> Templates:
    """Short, plain English templates for the common notifications.

    Covers ``opened`` (an acknowledgement to the requester), ``commented`` (a
    public reply), ``transitioned`` (any state change) with specific texts for
    ``transitioned:waiting_on_customer``, ``transitioned:resolved`` and
    ``transitioned:closed``, ``assigned`` (to the assignee), ``priority_changed``,
    ``escalated``, and a ``"*"`` catch-all. All are English :class:`TextTemplate`
    objects, and English is the default language, so every recipient gets one.
    Add translations or replace texts on the returned registry (``replace=True``).

    >>> [kind for kind, _ in default_templates()][:3]
    ['*', 'assigned', 'commented']
    """
    templates = Templates(default_language="en")
    for kind, (subject, text) in _DEFAULTS.items():
        templates.add(kind, TextTemplate(subject, text), "en")
    return templates
