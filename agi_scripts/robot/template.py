"""Prompt templates: ``{name}``-style fields filled from the case, checked before any call."""

from __future__ import annotations

import string
from collections.abc import Mapping

from dialer_core.config_errors import InputError

# Fields a prompt may use, what they say, and whether they reveal the debt.
CASE_FIELDS = {
    "name": "the debtor's name",
    "amount": "amount owed, in words",
    "due_date": "due date, in words",
    "channel": "repayment channel (app, bank account...)",
    "product": "product name",
    "days_past_due": "days past due, in words",
}
PTP_FIELDS = {
    "ptp_date": "promised date, in words",
    "ptp_amount": "promised amount, in words",
}
DEBT_FIELDS = frozenset({"amount", "due_date", "channel", "product", "days_past_due"})


class TemplateError(InputError):
    """A template is malformed (unbalanced braces, format specs, positional fields)."""


def template_fields(text: str) -> list[str]:
    """Field names used by ``text`` in order; ``TemplateError`` if it is not a plain template."""
    fields = []
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise TemplateError(str(exc)) from exc
    for _literal, field, spec, conversion in parsed:
        if field is None:
            continue
        if not field.isidentifier():
            raise TemplateError(f"field {{{field}}} is not a plain name")
        if spec or conversion:
            raise TemplateError(f"field {{{field}}} must not have a format spec or conversion")
        fields.append(field)
    return fields


def render(text: str, values: Mapping[str, str]) -> str:
    """Fill a template checked by ``template_fields``; ``{{`` and ``}}`` are literal braces."""
    return text.format_map(values)
