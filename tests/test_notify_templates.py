"""Notification templates: both kinds, the sandbox, the caps, the registry's fallbacks."""

import string
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from supportflow.errors import ValidationError
from supportflow.notify._templates import (
    CONTEXT_NAMES,
    JinjaTemplate,
    Rendered,
    Template,
    TemplateError,
    Templates,
    TextTemplate,
    default_templates,
)

CONTEXT = dict.fromkeys(CONTEXT_NAMES) | {
    "ticket_id": "T-42",
    "subject": "VPN drops every hour",
    "state": "in_progress",
    "previous_state": "new",
    "priority": "high",
    "previous_priority": "medium",
    "requester": "ada@example.com",
    "assignee": "grace",
    "group": "network",
    "event_kind": "opened",
    "event_version": 1,
    "at": "2026-03-02T09:00:00+00:00",
    "actor": "Grace Hopper",
    "comment": "Please restart the client and tell us if it helps.",
    "recipient_name": "Ada",
    "recipient_role": "requester",
    "language": "en",
}


def test_template_error_is_a_validation_error():
    assert issubclass(TemplateError, ValidationError)
    assert issubclass(TemplateError, ValueError)


# -- TextTemplate ---------------------------------------------------------------------------


def test_text_template_renders_all_parts():
    template = TextTemplate(
        "[#$ticket_id] $subject", "Hello ${requester}, now $state. $$5", "<p>$state</p>"
    )
    assert template.render(CONTEXT) == Rendered(
        subject="[#T-42] VPN drops every hour",
        text="Hello ada@example.com, now in_progress. $5",
        html="<p>in_progress</p>",
    )
    assert template.placeholders == {"ticket_id", "subject", "requester", "state"}
    assert isinstance(template, Template)


def test_text_template_renders_none_as_empty_and_strips_the_subject():
    rendered = TextTemplate("  #$ticket_id $assignee ", "[$assignee]").render(
        {"ticket_id": "T-1", "assignee": None}
    )
    assert rendered.subject == "#T-1"
    assert rendered.text == "[]"


def test_text_template_escapes_html_part_only():
    value = "<script>alert('x')</script> & co"
    rendered = TextTemplate("s", "$comment", "<p>$comment</p>").render({"comment": value})
    assert rendered.text == value
    assert rendered.html == "<p>&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; co</p>"


@pytest.mark.parametrize("source", ["cost: 5$", "a $ b", "x\n  $1"])
def test_text_template_refuses_invalid_placeholders_at_construction(source):
    with pytest.raises(TemplateError, match=r"invalid placeholder on line \d+, column \d+"):
        TextTemplate("s", source)


def test_text_template_missing_value_is_an_error_not_left_in_place():
    template = TextTemplate("s", "$comment")
    with pytest.raises(TemplateError, match=r"\$comment.*no value"):
        template.render({})


def test_text_template_refuses_non_string_sources():
    with pytest.raises(TemplateError, match="text must be a str"):
        TextTemplate("s", b"bytes")  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_caps_must_be_positive(bad):
    with pytest.raises(TemplateError, match="max_bytes"):
        TextTemplate("s", "t", max_bytes=bad)


def test_text_template_output_cap():
    template = TextTemplate("s", "$comment", max_bytes=100)
    assert template.render({"comment": "x" * 100}).text == "x" * 100
    with pytest.raises(TemplateError, match="text part passed the cap of 100 bytes"):
        template.render({"comment": "x" * 101})
    # The cap counts UTF-8 bytes, not characters.
    with pytest.raises(TemplateError, match="cap of 100 bytes"):
        template.render({"comment": "é" * 51})


@given(st.text())
def test_context_values_never_become_placeholders(value):
    template = TextTemplate("s", "$subject")
    assert template.render({"subject": value, "comment": "LEAK"}).text == value


@given(st.text())
def test_jinja_values_are_not_evaluated(value):
    assert JinjaTemplate("s", "{{ subject }}").render({"subject": value}).text == value


# -- subjects ---------------------------------------------------------------------------------


@pytest.mark.parametrize("brk", ["\n", "\r", "\r\n", "\u2028", "\x00", "\x0b"])
@pytest.mark.parametrize("kind", [TextTemplate, JinjaTemplate])
def test_subject_with_a_line_break_is_refused(kind, brk):
    source = "$subject" if kind is TextTemplate else "{{ subject }}"
    with pytest.raises(TemplateError, match="subject holds a line break"):
        kind(f"Re: {source}", "body").render({"subject": f"first{brk}Bcc: evil@example.com"})


def test_line_break_in_subject_template_is_refused():
    with pytest.raises(TemplateError, match="line break"):
        TextTemplate("a\nb", "body").render({})


def test_empty_subject_is_refused():
    with pytest.raises(TemplateError, match="subject is empty"):
        TextTemplate("$subject", "body").render({"subject": "  "})


# -- JinjaTemplate --------------------------------------------------------------------------


def test_jinja_template_renders_all_parts():
    template = JinjaTemplate(
        "[#{{ ticket_id }}] {{ subject }}",
        "{% if assignee %}Assigned to {{ assignee }}.{% endif %} {{ comment|upper }}",
        "<ul>{% for word in subject.split() %}<li>{{ word }}</li>{% endfor %}</ul>",
    )
    rendered = template.render(CONTEXT)
    assert rendered.subject == "[#T-42] VPN drops every hour"
    assert rendered.text.startswith("Assigned to grace. PLEASE RESTART")
    assert rendered.html == "<ul><li>VPN</li><li>drops</li><li>every</li><li>hour</li></ul>"
    assert template.placeholders == {"ticket_id", "subject", "assignee", "comment"}


def test_jinja_autoescapes_html_part_only():
    template = JinjaTemplate("{{ comment }}", "{{ comment }}", "<p>{{ comment }}</p>")
    rendered = template.render({"comment": "<b>bold</b> & 'q'"})
    assert rendered.subject == "<b>bold</b> & 'q'"
    assert rendered.text == "<b>bold</b> & 'q'"
    assert rendered.html == "<p>&lt;b&gt;bold&lt;/b&gt; &amp; &#39;q&#39;</p>"


def test_jinja_renders_none_as_empty():
    assert JinjaTemplate("s", "[{{ assignee }}]").render({"assignee": None}).text == "[]"


def test_jinja_syntax_error_names_the_line():
    with pytest.raises(TemplateError, match=r"text part: syntax error on line 3"):
        JinjaTemplate("s", "one\ntwo\n{% if %}\nfour")


def test_jinja_syntax_error_in_html_part():
    with pytest.raises(TemplateError, match=r"html part: syntax error on line 1"):
        JinjaTemplate("s", "t", "{{ unclosed ")


@pytest.mark.parametrize(
    "source", ["{% include 'x' %}", "{% extends 'base' %}", "{% import 'm' as m %}"]
)
def test_jinja_refuses_loading_other_templates(source):
    with pytest.raises(TemplateError, match="loads another template"):
        JinjaTemplate("s", source)


def test_jinja_strict_undefined_at_render():
    template = JinjaTemplate("s", "Hello {{ recipient_name }}")
    with pytest.raises(TemplateError, match="'recipient_name' is undefined"):
        template.render({})
    with pytest.raises(TemplateError, match="has no attribute 'nope'"):
        JinjaTemplate("s", "{{ subject.nope }}").render({"subject": "x"})


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ subject.__class__.__base__.__subclasses__() }}",
        "{{ range.__globals__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ [].append(1) }}",
        "{% set d = {} %}{{ d.update(a=1) }}",
        "{% set s = [3, 1] %}{{ s.sort() }}",
    ],
)
def test_sandbox_refuses_internals_and_mutation(source):
    with pytest.raises(TemplateError, match="sandbox refused"):
        JinjaTemplate("s", source).render({"subject": "x"})


@pytest.mark.parametrize(
    "source",
    [
        "{{ 'x' * 10**9 }}",
        "{{ 7 ** 1000000 }}",
        "{{ '%999999999d' % 1 }}",
        "{{ '%999999999d'|format(1) }}",
        "{{ '{:>999999999}'.format(1) }}",
        "{{ '{:>{w}}'.format(1, w=5) }}",
        "{{ 'x'|center(999999999) }}",
        "{{ 'x'|indent(width=999999999) }}",
    ],
)
def test_sandbox_refuses_oversized_values_before_building_them(source):
    started = time.monotonic()
    with pytest.raises(TemplateError, match="sandbox refused"):
        JinjaTemplate("s", source).render({})
    assert time.monotonic() - started < 1


def test_sandbox_range_is_bounded():
    with pytest.raises(TemplateError, match="Range too big"):
        JinjaTemplate("s", "{% for i in range(10**9) %}x{% endfor %}").render({})


def test_timed_range_behaves_like_range():
    source = (
        "{{ range(3)|list }} {{ range(5)|length }} {{ range(4)|last }} {{ range(10)[2:4]|list }}"
    )
    rendered = JinjaTemplate("s", source + " {{ range(3)|reverse|list }} {{ 2 in range(3) }}")
    assert rendered.render({}).text == "[0, 1, 2] 5 3 [2, 3] [2, 1, 0] True"


def test_output_cap_stops_generation_quickly():
    template = JinjaTemplate(
        "s", "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}"
    )
    started = time.monotonic()
    with pytest.raises(TemplateError, match=r"text part passed the cap of 65536 bytes"):
        template.render({})
    assert time.monotonic() - started < 1


def test_output_cap_counts_html_part_separately():
    template = JinjaTemplate("s", "short", "{% for i in range(200) %}é{% endfor %}", max_bytes=300)
    with pytest.raises(TemplateError, match="html part passed the cap of 300 bytes"):
        template.render({})


def test_time_cap_interrupts_a_loop_that_prints_nothing():
    template = JinjaTemplate(
        "s",
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        max_seconds=0.2,
    )
    started = time.monotonic()
    with pytest.raises(TemplateError, match=r"longer than the cap of 0.2 s"):
        template.render({})
    assert time.monotonic() - started < 1


def test_time_cap_between_chunks():
    template = JinjaTemplate(
        "s", "{% for i in range(100000) %}{{ i }}{% endfor %}", max_seconds=1e-6, max_bytes=10**9
    )
    with pytest.raises(TemplateError, match="longer than the cap"):
        template.render({})


def test_deadline_does_not_leak_between_renders():
    slow = JinjaTemplate("s", "{% for i in range(100000) %}{% endfor %}", max_seconds=1e-9)
    with pytest.raises(TemplateError, match="longer than the cap"):
        slow.render({})
    assert JinjaTemplate("s", "{{ range(3)|list }}").render({}).text == "[0, 1, 2]"


def test_runtime_exceptions_become_template_errors():
    with pytest.raises(TemplateError, match="ZeroDivisionError"):
        JinjaTemplate("s", "{{ 1 / 0 }}").render({})
    with pytest.raises(TemplateError, match="RecursionError"):
        JinjaTemplate("s", "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}").render({})


def test_lipsum_is_not_provided():
    with pytest.raises(TemplateError, match="undefined"):
        JinjaTemplate("s", "{{ lipsum() }}").render({})


# -- the registry ----------------------------------------------------------------------------


def _tpl(tag):
    return TextTemplate(f"{tag} $ticket_id", tag)


def test_language_fallback_chain():
    templates = Templates(
        {
            ("opened", "de-ch"): _tpl("opened/de-CH"),
            ("opened", "de"): _tpl("opened/de"),
            ("opened", "en"): _tpl("opened/en"),
            ("*", "fr"): _tpl("*/fr"),
            ("*", "en"): _tpl("*/en"),
        }
    )
    ctx = {"ticket_id": "T-1"}

    def text(kind, language):
        return templates.render(kind, language, ctx).text

    assert text("opened", "de-CH") == "opened/de-CH"
    assert text("opened", "de_ch") == "opened/de-CH"
    assert text("opened", "de-AT") == "opened/de"
    assert text("opened", "DE") == "opened/de"
    assert text("opened", "fr") == "opened/en"  # a specific kind beats the catch-all
    assert text("opened", None) == "opened/en"
    assert text("opened", "not a language!") == "opened/en"
    assert text("assigned", "fr-CA") == "*/fr"
    assert text("assigned", "it") == "*/en"
    assert templates.resolve("opened", "de-AT") is templates.resolve("opened", "de")


def test_qualified_kinds_fall_back_to_their_kind():
    templates = Templates(
        {
            ("transitioned:resolved", "en"): _tpl("resolved"),
            ("transitioned", "en"): _tpl("transitioned"),
        }
    )
    ctx = {"ticket_id": "T-1"}
    assert templates.render("transitioned:resolved", "en", ctx).text == "resolved"
    assert templates.render("transitioned:in_progress", "en", ctx).text == "transitioned"


def test_missing_template_names_kind_and_languages_tried():
    templates = Templates({("opened", "en"): _tpl("x")}, default_language="en-GB")
    with pytest.raises(TemplateError) as caught:
        templates.resolve("commented", "de-CH")
    message = str(caught.value)
    assert "'commented'" in message
    assert "'*'" in message
    assert "de-ch, de, en-gb, en" in message


def test_render_errors_name_the_registered_template():
    templates = Templates({("commented", "de"): TextTemplate("s", "$comment")})
    with pytest.raises(TemplateError, match=r"template 'commented' \(de\).*\$comment"):
        templates.render("commented", "de-CH", {})


def test_add_refuses_unknown_placeholders():
    templates = Templates()
    with pytest.raises(TemplateError, match=r"unknown name\(s\) nope, zzz") as caught:
        templates.add("opened", TextTemplate("$nope", "$zzz $ticket_id"))
    assert "ticket_id" in str(caught.value)  # the message lists the allowed names
    with pytest.raises(TemplateError, match=r"unknown name\(s\) secret"):
        templates.add("opened", JinjaTemplate("{{ secret }}", "{% set x = 1 %}{{ x }}"))
    assert len(templates) == 0


def test_unknown_placeholder_in_constructor_mapping():
    with pytest.raises(TemplateError, match="unknown name"):
        Templates({("opened", "en"): TextTemplate("$oops", "t")})


def test_extra_names_extend_the_allowed_set():
    templates = Templates(extra_names=["portal_name"])
    templates.add("opened", TextTemplate("$portal_name", "t"))
    assert templates.render("opened", None, {"portal_name": "Help"}).subject == "Help"


def test_jinja_placeholders_exclude_locals_and_globals():
    template = JinjaTemplate(
        "s",
        "{% set n = 2 %}{% for i in range(n) %}{{ loop.index }}{{ i }}{% endfor %}{{ subject }}",
    )
    assert template.placeholders == {"subject"}
    Templates({("opened", "en"): template})


def test_add_refuses_duplicates_unless_replacing():
    templates = Templates({("opened", "en"): _tpl("a")})
    with pytest.raises(TemplateError, match=r"already registered.*replace=True"):
        templates.add("opened", _tpl("b"), "EN")
    templates.add("opened", _tpl("b"), replace=True)
    assert templates.render("opened", "en", {"ticket_id": "1"}).text == "b"


@pytest.mark.parametrize("kind", ["", "has space", "a:b:c", None])
def test_add_refuses_bad_kinds(kind):
    with pytest.raises(TemplateError, match="event kind"):
        Templates().add(kind, _tpl("x"))


@pytest.mark.parametrize("language", ["", "e", "english!", "en--us", 5])
def test_add_refuses_bad_languages(language):
    with pytest.raises(TemplateError, match="not a language tag"):
        Templates().add("opened", _tpl("x"), language)


def test_bad_registry_arguments():
    with pytest.raises(TemplateError, match="default_language"):
        Templates(default_language="??")
    with pytest.raises(TemplateError, match="mapping"):
        Templates([("opened", "en")])  # type: ignore[arg-type]
    with pytest.raises(TemplateError, match="pair"):
        Templates({"opened": _tpl("x")})  # type: ignore[dict-item]
    with pytest.raises(TemplateError, match="pass a TextTemplate"):
        Templates().add("opened", "Hello $subject")  # type: ignore[arg-type]


def test_check_lists_every_template_using_other_names():
    templates = Templates(
        {
            ("opened", "en"): TextTemplate("$ticket_id", "$requester"),
            ("commented", "de"): TextTemplate("$ticket_id", "$comment $actor"),
        }
    )
    templates.check(["ticket_id", "requester", "comment", "actor"])
    with pytest.raises(TemplateError) as caught:
        templates.check(["ticket_id"])
    message = str(caught.value)
    assert "'commented' (de): actor, comment" in message
    assert "'opened' (en): requester" in message


def test_registry_introspection():
    templates = Templates({("opened", "de"): _tpl("x")}, default_language="EN_us")
    assert templates.default_language == "en-us"
    assert ("opened", "de") in templates
    assert list(templates) == [("opened", "de")]
    assert repr(templates) == "Templates(default_language='en-us', 1 templates)"


# -- the defaults ----------------------------------------------------------------------------

DEFAULT_KINDS = [
    "opened",
    "commented",
    "transitioned",
    "transitioned:waiting_on_customer",
    "transitioned:resolved",
    "transitioned:closed",
    "assigned",
    "priority_changed",
    "escalated",
    "*",
]


def test_default_templates_cover_the_documented_kinds():
    assert sorted(kind for kind, _ in default_templates()) == sorted(DEFAULT_KINDS)


@pytest.mark.parametrize("kind", [*DEFAULT_KINDS, "merged", "linked", "field_changed"])
def test_default_templates_render_for_every_kind(kind):
    rendered = default_templates().render(kind, "de-CH", CONTEXT)
    assert "T-42" in rendered.subject
    assert "\n" not in rendered.subject
    assert rendered.text.strip()
    assert "$" not in rendered.text
    assert rendered.html is None


def test_default_templates_say_the_right_thing():
    templates = default_templates()
    assert "in_progress" in templates.render("transitioned", "en", CONTEXT).text
    assert CONTEXT["comment"] in templates.render("commented", "en", CONTEXT).text
    assert "medium to high" in templates.render("priority_changed", "en", CONTEXT).text
    assert "Resolved" in templates.render("transitioned:resolved", "en", CONTEXT).subject


def test_default_templates_use_only_context_names():
    default_templates().check(CONTEXT_NAMES)
    for kind, language in default_templates():
        template = default_templates().resolve(kind, language)
        assert isinstance(template, TextTemplate)
        for part in (template.subject, template.text):
            assert string.Template(part).is_valid()
