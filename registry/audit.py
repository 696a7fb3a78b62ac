"""The audit trail: who changed what, when, old → new, and why.

Built on django-simple-history: every audited model gets a history table holding a full snapshot per create,
update and delete, written whatever the path (service, admin, management command, Celery task, shell).

* **Who**: the user attached by the service (``instance._history_user``), else the actor set with
  :func:`acting_as` (management commands and tasks act as the named system user), else the request's user
  (``HistoryRequestMiddleware``).
* **Why**: an edit (history type ``~``) of a clinical record must carry a reason; without one the save is
  refused with :class:`AuditReasonRequired` — services check this before writing so nothing is half saved, and
  this layer is the backstop for every other path.
* **Append-only**: the application never updates or deletes history rows; the database refuses it too
  (triggers installed after migrations, see :mod:`registry.signals`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext as _
from simple_history.models import HistoricalRecords

_actor: ContextVar[Any] = ContextVar("registry_audit_actor", default=None)
_reason: ContextVar[str | None] = ContextVar("registry_audit_reason", default=None)

MASK = "••••••"


class AuditReasonRequired(ValidationError):
    """Raised when an existing clinical record is edited without a reason for the change."""


@contextmanager
def acting_as(user: Any, *, reason: str | None = None) -> Iterator[None]:
    """Attribute every audited write inside the block to ``user`` (and optionally a reason)."""
    actor_token = _actor.set(user)
    reason_token = _reason.set(reason)
    try:
        yield
    finally:
        _actor.reset(actor_token)
        _reason.reset(reason_token)


def _get_user(request: Any = None, **kwargs: Any) -> Any:
    actor = _actor.get()
    if actor is not None:
        return actor
    if request is not None:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return user
    return None


class AuditHistory(HistoricalRecords):
    """HistoricalRecords with the registry's actor and reason rules."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("get_user", _get_user)
        kwargs.setdefault("history_change_reason_field", models.TextField(null=True, blank=True))
        kwargs.setdefault("cascade_delete_history", False)
        super().__init__(**kwargs)

    def get_change_reason_for_object(self, instance: Any, history_type: str, using: Any) -> str | None:
        reason = getattr(instance, "_change_reason", None) or _reason.get()
        return reason.strip() if isinstance(reason, str) and reason.strip() else None

    def create_historical_record(self, instance: Any, history_type: str, using: Any = None) -> None:
        if (
            history_type == "~"
            and getattr(instance, "audit_reason_required", False)
            and not self.get_change_reason_for_object(instance, history_type, using)
        ):
            raise AuditReasonRequired(
                _("A reason for the change is required when editing an existing %(model)s.")
                % {"model": instance._meta.verbose_name},
                code="reason_required",
            )
        super().create_historical_record(instance, history_type, using=using)


def require_reason(reason: str | None) -> str:
    """Return the stripped reason or raise a field error naming ``reason``."""
    if not reason or not reason.strip():
        raise AuditReasonRequired(
            {"reason": _("Give a reason for changing an existing record (e.g. 'transcription error').")},
            code="reason_required",
        )
    if "\x00" in reason:
        raise ValidationError({"reason": _("Null characters are not allowed.")})
    return reason.strip()


def save_audited(
    instance: models.Model, *, user: Any, reason: str | None = None, update_fields: list[str] | None = None
) -> None:
    """Save ``instance`` with its audit attribution; existing clinical rows must name a reason."""
    instance._history_user = user  # type: ignore[attr-defined]
    if reason:
        instance._change_reason = reason  # type: ignore[attr-defined]
    if instance.pk and not instance._state.adding and getattr(instance, "audit_reason_required", False):
        require_reason(reason)
    try:
        instance.save(update_fields=update_fields)
    finally:
        instance.__dict__.pop("_change_reason", None)


@dataclass(frozen=True)
class FieldChange:
    field: str
    label: str
    old: Any
    new: Any


@dataclass(frozen=True)
class HistoryEntry:
    when: Any
    user: str
    action: str
    reason: str | None
    changes: list[FieldChange]


ACTIONS = {"+": "created", "~": "changed", "-": "deleted"}


def record_history(
    instance: models.Model, *, masked_fields: frozenset[str] = frozenset()
) -> list[HistoryEntry]:
    """The history of one record, newest first, with field-level old → new values.

    ``masked_fields`` values are shown as a mask (identity fields for viewers who may not see identity).
    """
    model = type(instance)
    records = list(
        instance.history.select_related("history_user").order_by("-history_date", "-history_id")  # type: ignore[attr-defined]
    )
    tracked = [f for f in model._meta.concrete_fields if f.name not in ("id",)]
    entries: list[HistoryEntry] = []
    for index, rec in enumerate(records):
        previous = records[index + 1] if index + 1 < len(records) else None
        changes: list[FieldChange] = []
        for field in tracked:
            attname = field.attname
            new = getattr(rec, attname, None)
            old = getattr(previous, attname, None) if previous is not None else None
            if previous is not None and old == new:
                continue
            if previous is None and rec.history_type == "+" and new in (None, ""):
                continue
            if field.name in masked_fields:
                old = MASK if old not in (None, "") else old
                new = MASK if new not in (None, "") else new
            changes.append(FieldChange(field.name, str(field.verbose_name), old, new))
        user = rec.history_user.get_username() if rec.history_user else _("unknown")
        entries.append(
            HistoryEntry(
                rec.history_date,
                user,
                ACTIONS.get(rec.history_type, rec.history_type),
                rec.history_change_reason,
                changes,
            )
        )
    return entries
