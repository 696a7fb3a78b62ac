"""The one access layer: who may do what at which centre.

Every view, export, API view and task scopes its data through these helpers. "Not yours" and "does not exist"
raise the same :class:`~django.http.Http404`.

Role × action matrix (own centre; a membership without a centre applies to every centre):

=============  ====  =====  ========  ======  =================  =========  ===========  =====
role           read  write  identity  export  export_identified  summaries  api_clients  audit
=============  ====  =====  ========  ======  =================  =========  ===========  =====
clinician      yes   yes    yes       no      yes                no         no           yes
coordinator    yes   no     no        yes     no                 yes        yes          yes
monitor        yes   no     no        no      no                 no         no           yes
=============  ====  =====  ========  ======  =================  =========  ===========  =====

Registry-wide memberships grant their role's actions at every centre **except** ``write``, ``identity`` and
``export_identified``, which stay with the clinicians of the centre that treats the child (DESIGN §5: only
clinicians of the patient's centre see identity). Django staff status alone grants no clinical access.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from django.db.models import Model, QuerySet
from django.http import Http404

from registry.models import Centre, Membership, Role

if TYPE_CHECKING:
    from patients.models import Patient


class Action(StrEnum):
    READ = "read"
    WRITE = "write"
    IDENTITY = "identity"
    EXPORT = "export"
    EXPORT_IDENTIFIED = "export_identified"
    SUMMARIES = "summaries"
    API_CLIENTS = "api_clients"
    AUDIT = "audit"


ROLE_ACTIONS: dict[str, frozenset[Action]] = {
    Role.CLINICIAN: frozenset(
        {Action.READ, Action.WRITE, Action.IDENTITY, Action.EXPORT_IDENTIFIED, Action.AUDIT}
    ),
    Role.COORDINATOR: frozenset(
        {Action.READ, Action.EXPORT, Action.SUMMARIES, Action.API_CLIENTS, Action.AUDIT}
    ),
    Role.MONITOR: frozenset({Action.READ, Action.AUDIT}),
}
CENTRE_BOUND_ACTIONS = frozenset({Action.WRITE, Action.IDENTITY, Action.EXPORT_IDENTIFIED})

ALL = None  # marker: every centre


class _Grants:
    """Per-user cache: action → frozenset of centre ids, or ``ALL``."""

    def __init__(self, memberships: list[Membership]) -> None:
        self.memberships = memberships
        grants: dict[Action, set[int] | None] = {}
        for membership in memberships:
            for action in ROLE_ACTIONS.get(membership.role, frozenset()):
                if membership.centre_id is None:
                    if action in CENTRE_BOUND_ACTIONS:
                        continue
                    grants[action] = ALL
                elif grants.get(action, set()) is not ALL:
                    grants.setdefault(action, set()).add(membership.centre_id)  # type: ignore[union-attr]
        self.grants: dict[Action, frozenset[int] | None] = {
            action: (ALL if ids is ALL else frozenset(ids)) for action, ids in grants.items()
        }


def _grants(user: Any) -> _Grants:
    if user is None or not user.is_authenticated or not user.is_active:
        return _Grants([])
    cached = getattr(user, "_registry_grants", None)
    if cached is None:
        cached = _Grants(list(Membership.objects.filter(user=user).select_related("centre")))
        user._registry_grants = cached
    return cached


def forget_grants(user: Any) -> None:
    """Drop the cached grants (after memberships change within one request or test)."""
    if hasattr(user, "_registry_grants"):
        del user._registry_grants


def memberships(user: Any) -> list[Membership]:
    return _grants(user).memberships


def has_membership(user: Any) -> bool:
    return bool(_grants(user).memberships)


def centre_ids_for(user: Any, action: Action | str) -> frozenset[int] | None:
    """Centre ids where ``user`` may perform ``action``; ``None`` means every centre."""
    grants = _grants(user).grants
    action = Action(action)
    if action not in grants:
        return frozenset()
    return grants[action]


def can(user: Any, action: Action | str, centre_id: int | None) -> bool:
    """Whether ``user`` may perform ``action`` at the centre ``centre_id``."""
    ids = centre_ids_for(user, action)
    if ids is ALL:
        return True
    return centre_id is not None and centre_id in ids


def can_anywhere(user: Any, action: Action | str) -> bool:
    ids = centre_ids_for(user, action)
    return ids is ALL or bool(ids)


def scope(
    queryset: QuerySet, user: Any, action: Action | str = Action.READ, centre_lookup: str | None = None
) -> QuerySet:
    """Restrict ``queryset`` to rows at centres where ``user`` may perform ``action``.

    ``centre_lookup`` defaults to the model's ``centre_lookup`` attribute (``"centre"`` for patients,
    ``"patient__centre"`` for clinical rows, ``"pk"`` for centres themselves).
    """
    lookup = centre_lookup or getattr(queryset.model, "centre_lookup", "centre")
    ids = centre_ids_for(user, action)
    if ids is ALL:
        return queryset
    if not ids:
        return queryset.none()
    return queryset.filter(**{f"{lookup}__in": ids})


def visible_centres(user: Any, action: Action | str = Action.READ) -> QuerySet[Centre]:
    return scope(Centre.objects.all(), user, action, centre_lookup="pk")


def access_centre(user: Any, centre_id: Any, action: Action | str = Action.READ) -> Centre:
    """The centre, if ``user`` may perform ``action`` there; else 404 (same as a missing centre)."""
    try:
        centre = Centre.objects.get(pk=int(centre_id))
    except (Centre.DoesNotExist, TypeError, ValueError):
        raise Http404 from None
    if not can(user, action, centre.pk):
        raise Http404
    return centre


def access_patient(
    user: Any, patient_id: Any, *, for_write: bool = False, action: Action | str | None = None
) -> Patient:
    """The patient with its centre preloaded, if ``user`` may read (or write) it; else 404."""
    from patients.models import Patient

    wanted = Action(action) if action else (Action.WRITE if for_write else Action.READ)
    try:
        patient = Patient.objects.select_related("centre").get(pk=int(patient_id))
    except (Patient.DoesNotExist, TypeError, ValueError):
        raise Http404 from None
    if not can(user, wanted, patient.centre_id):
        raise Http404
    return patient


def centre_id_of(instance: Model) -> int | None:
    """Follow a model's ``centre_lookup`` to its centre id (for generic views such as the audit history)."""
    lookup = getattr(type(instance), "centre_lookup", "centre")
    if lookup == "pk":
        return instance.pk
    obj: Any = instance
    parts = lookup.split("__")
    for part in parts[:-1]:
        obj = getattr(obj, part)
    return getattr(obj, f"{parts[-1]}_id")
