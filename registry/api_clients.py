"""API clients of the de-identified REST API: create, rotate, revoke, authenticate (DESIGN §5).

A token is ``<prefix>.<secret>``: the prefix (8 hex characters) finds the client, the secret (43 URL-safe
characters, 256 bits) proves it. Only the SHA-256 of the whole token is stored, so the token is shown once, at
creation or rotation, and never again. The secret carries enough entropy that a fast hash is safe; the
comparison is constant-time (:func:`hmac.compare_digest`).

Who may manage clients (``Action.API_CLIENTS``): coordinators, for clients whose centres are all theirs;
registry-wide coordinators for any client, including registry-wide (``all_centres``) ones. Management commands
act as the registry system user, which may create any client.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from registry import access, deidentify
from registry.access import Action
from registry.audit import save_audited
from registry.models import ApiClient, Centre

#: Resource groups a client may be granted (code → label). Each API resource belongs to exactly one.
RESOURCE_GROUPS: dict[str, Any] = {
    "patients": gettext_lazy("Patients (demographics, diagnosis, baseline)"),
    "dosing": gettext_lazy("Manufacturing, lymphodepletion and infusion"),
    "toxicity": gettext_lazy("Toxicity (CRS, ICANS, ICAHT, infections, adverse events)"),
    "follow_up": gettext_lazy("Follow-up (visits and scores, labs, medications, course)"),
}
DEFAULT_EXPIRY_DAYS = 365
MAX_EXPIRY_DAYS = 3 * 365
TOKEN_KEYWORD = "Token"


@dataclass(frozen=True)
class IssuedToken:
    """A client with its token in clear — the only moment the token exists outside the caller's hands."""

    client: ApiClient
    token: str


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token() -> tuple[str, str]:
    """A fresh (prefix, token); the prefix is unique among clients."""
    while True:
        prefix = secrets.token_hex(4)
        if not ApiClient.objects.filter(token_prefix=prefix).exists():
            return prefix, f"{prefix}.{secrets.token_urlsafe(32)}"


def _is_system_user(user: Any) -> bool:
    """The registry's own account (management commands); it never logs in (unusable password, inactive)."""
    return (
        user is not None
        and getattr(user, "pk", None) is not None
        and user.get_username() == settings.REGISTRY_SYSTEM_USERNAME
        and not user.has_usable_password()
    )


def manageable_centre_ids(user: Any) -> frozenset[int] | None:
    """Centres for which ``user`` may manage API clients; ``None`` means every centre (registry-wide)."""
    if _is_system_user(user):
        return access.ALL
    return access.centre_ids_for(user, Action.API_CLIENTS)


def _check_may_manage(user: Any, centre_ids: Iterable[int], all_centres: bool) -> None:
    allowed = manageable_centre_ids(user)
    if allowed is access.ALL:
        return
    if all_centres:
        raise PermissionDenied(_("Only registry-wide coordinators may create clients for every centre."))
    outside = set(centre_ids) - set(allowed)
    if not allowed or outside:
        raise PermissionDenied(_("You may create API clients only for the centres you coordinate."))


def may_manage(user: Any, client: ApiClient) -> bool:
    """Whether ``user`` may rotate or revoke ``client`` (uses the client's prefetched centres)."""
    try:
        _check_may_manage(user, [c.pk for c in client.centres.all()], client.all_centres)
    except PermissionDenied:
        return False
    return True


def visible_clients(user: Any) -> QuerySet[ApiClient]:
    """Clients ``user`` may see: any for registry-wide coordinators; otherwise the clients that read at
    least one of the user's centres (registry-wide clients included, read-only: they pull its data too)."""
    allowed = manageable_centre_ids(user)
    clients = ApiClient.objects.prefetch_related("centres").select_related("created_by").order_by("name")
    if allowed is access.ALL:
        return clients
    if not allowed:
        return clients.none()
    return clients.filter(Q(all_centres=True) | Q(centres__in=allowed)).distinct()


def access_api_client(user: Any, client_id: Any, *, for_manage: bool = False) -> ApiClient:
    """The client if ``user`` may see (or manage) it, else 404 — "not yours" and "missing" alike."""
    try:
        client = visible_clients(user).get(pk=int(client_id))
    except (ApiClient.DoesNotExist, TypeError, ValueError):
        raise Http404 from None
    if for_manage and not may_manage(user, client):
        raise Http404
    return client


def _clean_groups(resource_groups: Iterable[str] | None) -> list[str]:
    groups = list(RESOURCE_GROUPS) if resource_groups is None else list(dict.fromkeys(resource_groups))
    unknown = [g for g in groups if g not in RESOURCE_GROUPS]
    if unknown:
        raise ValidationError(
            {
                "resource_groups": _("Unknown resource groups: %(g)s; allowed: %(allowed)s.")
                % {"g": ", ".join(unknown), "allowed": ", ".join(RESOURCE_GROUPS)}
            }
        )
    if not groups:
        raise ValidationError({"resource_groups": _("Choose at least one resource group.")})
    return groups


@transaction.atomic
def api_client_create(
    *,
    name: str,
    purpose: str,
    created_by: Any,
    centres: Iterable[Centre] = (),
    all_centres: bool = False,
    may_see_centres: bool = False,
    resource_groups: Iterable[str] | None = None,
    expires_days: int = DEFAULT_EXPIRY_DAYS,
) -> IssuedToken:
    """Create a client with its scopes and return it with its token (shown once, stored hashed).

    ``resource_groups`` defaults to every group. ``expires_days`` is 1 to :data:`MAX_EXPIRY_DAYS`.
    """
    centres = list(centres)
    name, purpose = (name or "").strip(), (purpose or "").strip()
    errors: dict[str, str] = {}
    if not name:
        errors["name"] = _("Give the client a name.")
    elif ApiClient.objects.filter(name=name).exists():
        errors["name"] = _("An API client with this name already exists.")
    if not purpose:
        errors["purpose"] = _("State the purpose (which analysis, which collaboration).")
    if all_centres and centres:
        errors["centres"] = _("Choose either all centres or specific centres, not both.")
    elif not all_centres and not centres:
        errors["centres"] = _("Choose at least one centre (or all centres).")
    if not (1 <= int(expires_days) <= MAX_EXPIRY_DAYS):
        errors["expires_days"] = _("The token must expire within 1 to %(max)s days.") % {
            "max": MAX_EXPIRY_DAYS
        }
    if errors:
        raise ValidationError(errors)
    groups = _clean_groups(resource_groups)
    _check_may_manage(created_by, [c.pk for c in centres], all_centres)
    prefix, token = _new_token()
    client = ApiClient(
        name=name,
        purpose=purpose,
        created_by=created_by,
        all_centres=all_centres,
        may_see_centres=may_see_centres,
        resource_groups=groups,
        token_prefix=prefix,
        token_hash=hash_token(token),
        pseudonym_key=deidentify.new_key(),
        expires_at=timezone.now() + dt.timedelta(days=int(expires_days)),
    )
    save_audited(client, user=created_by)
    if centres:
        client._history_user = created_by  # type: ignore[attr-defined]
        client.centres.set(centres)
    return IssuedToken(client, token)


@transaction.atomic
def api_client_rotate(*, client: ApiClient, recorded_by: Any, expires_days: int | None = None) -> IssuedToken:
    """Replace the token (the old one stops working at once); pseudonyms stay the same.

    ``expires_days`` renews the expiry from now; without it the expiry is kept.
    """
    locked = ApiClient.objects.select_for_update().get(pk=client.pk)
    _check_may_manage(recorded_by, locked.centres.values_list("pk", flat=True), locked.all_centres)
    if locked.revoked_at is not None:
        raise ValidationError(_("A revoked client cannot be rotated; create a new client instead."))
    prefix, token = _new_token()
    locked.token_prefix, locked.token_hash = prefix, hash_token(token)
    fields = ["token_prefix", "token_hash"]
    if expires_days is not None:
        if not (1 <= int(expires_days) <= MAX_EXPIRY_DAYS):
            raise ValidationError(
                {
                    "expires_days": _("The token must expire within 1 to %(max)s days.")
                    % {"max": MAX_EXPIRY_DAYS}
                }
            )
        locked.expires_at = timezone.now() + dt.timedelta(days=int(expires_days))
        fields.append("expires_at")
    save_audited(locked, user=recorded_by, reason=_("token rotated"), update_fields=fields)
    return IssuedToken(locked, token)


@transaction.atomic
def api_client_revoke(*, client: ApiClient, recorded_by: Any, reason: str = "") -> ApiClient:
    """Revoke the client: its token stops working at once, for good. Its request log stays."""
    locked = ApiClient.objects.select_for_update().get(pk=client.pk)
    _check_may_manage(recorded_by, locked.centres.values_list("pk", flat=True), locked.all_centres)
    if locked.revoked_at is not None:
        raise ValidationError(_("This client is already revoked."))
    locked.revoked_at = timezone.now()
    save_audited(
        locked,
        user=recorded_by,
        reason=(reason or "").strip() or _("revoked"),
        update_fields=["revoked_at"],
    )
    return locked


# --- authentication (used by the DRF authentication class) -------------------------------------------------


class TokenProblem(Exception):
    """Why a presented token was refused (the message is safe to show to the client)."""


def client_for_token(token: str, *, now: dt.datetime | None = None) -> ApiClient:
    """The active client whose token this is; :class:`TokenProblem` otherwise. One query.

    Unknown prefix and wrong secret give the same message; expired and revoked tokens say so (the caller has
    proven it holds the real token, and knowing why helps it).
    """
    prefix, dot, secret = token.partition(".")
    if not dot or not prefix or not secret or len(prefix) > 12:
        raise TokenProblem(_("Malformed token; expected 'Token <prefix>.<secret>'."))
    client = ApiClient.objects.filter(token_prefix=prefix).first()
    presented = hash_token(token)
    if client is None:
        hmac.compare_digest(presented, presented)  # same work whether or not the prefix exists
        raise TokenProblem(_("Invalid token."))
    if not hmac.compare_digest(presented, client.token_hash):
        raise TokenProblem(_("Invalid token."))
    if client.revoked_at is not None:
        raise TokenProblem(_("This token was revoked."))
    if client.expires_at <= (now or timezone.now()):
        raise TokenProblem(_("This token has expired; ask the registry for a rotated token."))
    return client


def touch(client: ApiClient, *, now: dt.datetime | None = None) -> None:
    """Record the time of use (one UPDATE; not audited: it is not a change of the client's scopes)."""
    client.last_used_at = now or timezone.now()
    ApiClient.objects.filter(pk=client.pk).update(last_used_at=client.last_used_at)
