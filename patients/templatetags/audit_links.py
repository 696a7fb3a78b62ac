"""Links from a value on a page to the audit history of that one field (``record_history`` with ``?field=``).

``{% history_link row "physician_global" row.physician_global %}`` renders the value as a link to who changed
it, when, old → new and why; ``{% history_url row "physician_global" as url %}`` gives only the address, for
values rendered with their own markup. Links only: the history page checks access itself (DESIGN §5).
"""

from __future__ import annotations

from typing import Any

from django import template
from django.core.exceptions import FieldDoesNotExist
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

register = template.Library()


def field_label(obj: Any, field_name: str) -> str:
    try:
        return str(obj._meta.get_field(field_name).verbose_name)
    except (FieldDoesNotExist, AttributeError):
        return field_name.replace("_", " ")


@register.simple_tag
def history_url(obj: Any, field_name: str) -> str:
    """The history page of ``obj`` narrowed to ``field_name`` (empty when ``obj`` is not a saved record)."""
    if obj is None or getattr(obj, "pk", None) is None:
        return ""
    meta = obj._meta
    return reverse("record_history", args=[meta.app_label, meta.model_name, obj.pk]) + f"?field={field_name}"


@register.simple_tag
def history_link(obj: Any, field_name: str, value: Any = None, empty: str = "—") -> SafeString | str:
    """``value`` (or ``empty``) as a link to the field's history, named for screen readers."""
    text = empty if value in (None, "") else value
    url = history_url(obj, field_name)
    if not url:
        return format_html("{}", text)
    label = _("History of %(field)s") % {"field": field_label(obj, field_name)}
    # The accessible name starts with the visible value (WCAG "label in name"), then says where it leads.
    return format_html(
        '<a class="field-history" href="{}" title="{}" aria-label="{} — {}">{}</a>',
        url,
        label,
        text,
        label,
        text,
    )
