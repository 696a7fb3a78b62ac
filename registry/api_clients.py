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
import json
import secrets
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from patients.models import Patient
from registry import access, deidentify
from registry.access import Action
from registry.api import pseudonyms
from registry.audit import save_audited
from registry.models import ApiClient, ApiClientPatient, ApiRequestLog, Centre

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
    _pseudonyms_for_new_client(client)
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


# --- per-client pseudonyms and order (registry.models.ApiClientPatient) ------------------------------------

PSEUDONYM_BATCH = 5000


def _pseudonym_rows(client_id: int, key: str, patient_ids: Iterable[int]) -> list[ApiClientPatient]:
    coefficients = pseudonyms.permutation(key)
    return [
        ApiClientPatient(
            client_id=client_id,
            patient_id=pk,
            sort_key=pseudonyms.order_key(key, pk, coefficients=coefficients),
            pseudonym=pseudonyms.patient_pseudonym(key, pk),
        )
        for pk in patient_ids
    ]


def _pseudonyms_for_new_client(client: ApiClient) -> None:
    """Every patient's pseudonym and place for a new client (all patients: scope is applied when reading,
    and voided ones still come back as removals in incremental pulls)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # Until this transaction ends, enrolments wait (a SHARE lock blocks writes to patients, not
            # reads): a patient enrolled meanwhile would be seen neither here (uncommitted) nor by its own
            # enrolment (this client uncommitted). Creating a client is rare and takes well under a second.
            cursor.execute(f'LOCK TABLE "{Patient._meta.db_table}" IN SHARE MODE')
    ids = Patient.objects.order_by("pk").values_list("pk", flat=True)
    ApiClientPatient.objects.bulk_create(
        _pseudonym_rows(client.pk, client.pseudonym_key, ids), batch_size=PSEUDONYM_BATCH
    )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # Fresh statistics (a sample; allowed in a transaction): with a new client's rows unknown to the
            # planner it may sort every patient instead of reading the page from the (client, sort_key) index.
            cursor.execute(f'ANALYZE "{ApiClientPatient._meta.db_table}"')


def api_client_patients_add(*, patient_ids: Iterable[int]) -> int:
    """Give new patients their pseudonym and place for every client that may still call (not revoked).

    Every path that creates patients calls it in the same transaction
    (:func:`patients.services.patient_enrol`, the synthetic generator): a patient without these rows would be
    missing from the clients' patient lists. Idempotent. Returns the number of rows written."""
    ids = list(patient_ids)
    if not ids:
        return 0
    rows: list[ApiClientPatient] = []
    clients = ApiClient.objects.filter(revoked_at__isnull=True).order_by().values_list("pk", "pseudonym_key")
    for client_id, key in clients:
        rows += _pseudonym_rows(client_id, key, ids)
    ApiClientPatient.objects.bulk_create(rows, batch_size=PSEUDONYM_BATCH, ignore_conflicts=True)
    return len(rows)


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
    client = next(iter(ApiClient.objects.raw(_client_with_centres_sql(), [prefix])), None)
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
    codes = client.centre_codes_json
    if isinstance(codes, str | bytes):  # SQLite (and psycopg without a json loader) give the text
        codes = json.loads(codes)
    client.centre_codes = dict(codes or ())  # type: ignore[attr-defined]
    return client


def _client_with_centres_sql() -> str:
    """The client by its token prefix, with the centres it reads as a JSON list of ``[id, code]`` pairs —
    every centre for a registry-wide client, its own otherwise — in the same query (``centre_codes_json``).

    Read on every request, never cached: a revocation, an expiry or a change of centres applies to the very
    next request. Only the models' table and column names are interpolated; the prefix is a parameter."""
    client, centre = ApiClient._meta.db_table, Centre._meta.db_table
    link = ApiClient._meta.get_field("centres")
    through = link.remote_field.through._meta.db_table
    if connection.vendor == "postgresql":
        pairs = "json_agg(json_build_array(ce.id, ce.code))"
    else:
        pairs = "json_group_array(json_array(ce.id, ce.code))"
    return (
        f'SELECT cl.*, (SELECT {pairs} FROM "{centre}" ce WHERE cl.all_centres OR ce.id IN '  # noqa: S608
        f'(SELECT m."{link.m2m_reverse_name()}" FROM "{through}" m '
        f'WHERE m."{link.m2m_column_name()}" = cl.id)'
        f') AS centre_codes_json FROM "{client}" cl WHERE cl.token_prefix = %s'
    )


#: ``last_used_at`` is kept to this precision: a request writes it only when it is older (or unset), so that
#: concurrent requests of one client do not queue on the client's row lock for every page.
LAST_USED_PRECISION = dt.timedelta(minutes=1)


def api_request_record(
    *,
    client: ApiClient | None,
    endpoint: str,
    filters: dict[str, str],
    rows: int,
    status_code: int,
    now: dt.datetime | None = None,
) -> int:
    """Log one API request (who called what, with which filters, how many rows, which answer) and, when it is
    older than :data:`LAST_USED_PRECISION`, the client's time of last use (not audited: it is not a change of
    the client's scopes). Returns the log row's id.

    One statement on PostgreSQL — the INSERT, with the UPDATE of the last use as a data-modifying ``WITH`` at
    most once a minute per client — so the log is one round trip and atomic by itself; elsewhere (SQLite) the
    UPDATE is a second statement in the same transaction.

    Durability: on PostgreSQL, outside a caller's transaction, the statement sets ``synchronous_commit`` off
    for its own transaction (``set_config(…, true)``: this transaction only). The commit no longer waits for
    the WAL flush (the fsync was most of the cost of a read request); the row is visible at once and written
    to disk by the WAL writer within ≈ 3 × ``wal_writer_delay`` (600 ms by default). Only a crash of the
    database server itself within that window can lose the most recent log rows; the database stays
    consistent, an application crash loses nothing, and no clinical data is ever written in this transaction
    (the API is read-only) — clinical writes keep synchronous commits. Without the setting every API read paid
    a disk flush while holding a worker.
    """
    now = now or timezone.now()
    touch = client is not None and (
        client.last_used_at is None or now - client.last_used_at >= LAST_USED_PRECISION
    )
    log = ApiRequestLog._meta
    values = [
        None if client is None else client.pk,
        log.get_field("at").get_db_prep_value(now, connection),
        endpoint,
        log.get_field("filters").get_db_prep_value(filters, connection),
        rows,
        status_code,
    ]
    columns = ", ".join(f'"{log.get_field(name).column}"' for name in ("client", "at", "endpoint", "filters"))
    insert = f'INSERT INTO "{log.db_table}" ({columns}, "rows", "status_code") '  # noqa: S608 - names only
    table = ApiClient._meta.db_table
    update = (
        f'UPDATE "{table}" SET "last_used_at" = %s '  # noqa: S608 - names only
        'WHERE "id" = %s AND ("last_used_at" IS NULL OR "last_used_at" < %s)'
    )
    touched = [now, client.pk, now] if touch else []
    nested = connection.in_atomic_block
    if connection.vendor == "postgresql":
        # Only a transaction of its own is relaxed: inside a caller's transaction (tests, a wrapping atomic
        # block) the setting would last until the caller's commit.
        relaxed = "" if nested else " FROM (SELECT set_config('synchronous_commit', 'off', true)) AS relaxed"
        sql = (
            (f"WITH touched AS ({update}) " if touch else "")
            + insert
            + "SELECT %s, %s::timestamptz, %s, %s::jsonb, %s, %s"
            + relaxed
            + " RETURNING id"
        )
        # Inside a caller's transaction, a savepoint: a failed log row must not break the caller's work.
        with transaction.atomic() if nested else nullcontext(), connection.cursor() as cursor:
            cursor.execute(sql, touched + values)
            entry_id = cursor.fetchone()[0]
    else:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(insert + "VALUES (%s, %s, %s, %s, %s, %s)", values)
            entry_id = cursor.lastrowid
            if touch:
                cursor.execute(update, touched)
    if touch:
        # Conditional: a concurrent request with a later time is never overwritten by an earlier one.
        client.last_used_at = now
    return entry_id
