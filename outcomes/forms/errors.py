"""Service errors back onto the form fields they name."""

from __future__ import annotations

import re

from django import forms
from django.core.exceptions import ValidationError
from django.utils.text import capfirst

# --- service errors back onto the fields --------------------------------------------------------------------

_ITEM_IN_MESSAGE = re.compile(r"'([a-z_0-9]+)'")


def add_service_errors(form: forms.Form, exc: ValidationError) -> None:
    """Put a service ValidationError on the field it names.

    Keys are plain field names (``visit_date``, ``reason``), instrument fields (``sledai.physician_global`` →
    ``physician_global``), item mappings (``jdm.cmas_items`` → the item the message quotes, e.g.
    ``cmas_head_elevation``) or lab rows (``row 3 unit``, mapped by :meth:`row_field` when the form has one).
    Anything else becomes a form-wide error that keeps its label.
    """
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc.messages)
        return
    for key, errors in exc.error_dict.items():
        messages = [m for e in errors for m in e.messages]
        field = _field_for(form, key, messages)
        if field is not None:
            form.add_error(field, messages)
        else:
            label = key.split(".", 1)[-1].replace("_", " ")
            form.add_error(None, [f"{capfirst(label)}: {m}" for m in messages])


def _field_for(form: forms.Form, key: str, messages: list[str]) -> str | None:
    mapper = getattr(form, "row_field", None)
    if mapper is not None:
        mapped = mapper(key)
        if mapped is not None:
            return mapped
    name = key.split(".", 1)[1] if "." in key else key
    if name in form.fields:
        return name
    prefixes = {"cmas_items": "cmas_", "mmt8_items": "mmt8_", "mrss_sites": "mrss_"}
    if name in prefixes:
        for message in messages:
            for code in _ITEM_IN_MESSAGE.findall(message):
                for candidate in (f"{prefixes[name]}{code}", f"{prefixes[name]}{code}_seconds"):
                    if candidate in form.fields:
                        return candidate
    return None
