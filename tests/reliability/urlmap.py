"""Every URL of the site, enumerated from the URL conf, filled with real objects, and the declared rule of
who may do what on it (DESIGN §5, ``registry/access.py``).

* :func:`endpoints` walks ``get_resolver()`` through every include, so a new URL is in the matrix the moment
  it is routed. :func:`fill` turns a pattern into a path by putting real objects of the seeded registry
  (``authz_data``) into its keyword arguments; a URL it cannot fill raises :class:`Unfilled`, whose message
  tells the developer where to add the fixture.
* :data:`RULES` says, per URL name, which action the URL needs, where, and which methods it accepts.
  :data:`GRANTS` says, per persona, which actions it holds at the own centre (Rome) and at the other
  (Erlangen). Both are written down from DESIGN §5, not recorded from what the code answers today; a URL
  without a rule fails the matrix.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from registry import deidentify
from registry.access import Action

A = Action

# --- personas -----------------------------------------------------------------------------------------------

PAGE_PERSONAS = (
    "anonymous",
    "rome_clinician",  # clinician of the own centre (the data below all belong to Rome)
    "erlangen_clinician",  # clinician of the other centre: sees nothing of Rome, 404 like missing
    "rome_coordinator",
    "coordinator",  # registry-wide
    "rome_monitor",
    "monitor",  # registry-wide
    "nobody",  # logged in, no membership
    "staff_admin",  # Django staff (superuser) without a membership: no clinical access
)
#: The admin is staff-only: the other personas differ only in being logged in or not.
ADMIN_PERSONAS = ("anonymous", "coordinator", "staff_admin")
API_PERSONAS = (
    "anonymous",  # no Authorization header
    "session",  # a logged-in clinician of the centre, but no token: the API knows only tokens
    "token_in_scope",  # Rome, every resource group
    "token_other_centre",  # Erlangen only
    "token_other_group",  # Rome, resource group "dosing" only
    "token_wrong",  # right prefix, wrong secret
    "token_expired",
    "token_revoked",
)
VALID_TOKENS = ("token_in_scope", "token_other_centre", "token_other_group")

_CLIN = frozenset({A.READ, A.WRITE, A.IDENTITY, A.EXPORT_IDENTIFIED, A.AUDIT})
_COORD = frozenset({A.READ, A.EXPORT, A.SUMMARIES, A.API_CLIENTS, A.AUDIT})
_MON = frozenset({A.READ, A.AUDIT})
_NONE: frozenset[Action] = frozenset()
#: persona → (actions at Rome, actions at Erlangen) — DESIGN §5's matrix.
GRANTS: dict[str, tuple[frozenset[Action], frozenset[Action]]] = {
    "anonymous": (_NONE, _NONE),
    "rome_clinician": (_CLIN, _NONE),
    "erlangen_clinician": (_NONE, _CLIN),
    "rome_coordinator": (_COORD, _NONE),
    "coordinator": (_COORD, _COORD),
    "rome_monitor": (_MON, _NONE),
    "monitor": (_MON, _MON),
    "nobody": (_NONE, _NONE),
    "staff_admin": (_NONE, _NONE),
}
STAFF = frozenset({"staff_admin"})


def at_rome(persona: str, action: Action) -> bool:
    return action in GRANTS[persona][0]


def anywhere(persona: str, action: Action) -> bool:
    rome, erlangen = GRANTS[persona]
    return action in rome or action in erlangen


def member(persona: str) -> bool:
    return any(GRANTS[persona])


# --- enumeration --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    name: str  # "patients:detail"; unnamed patterns: "<route>"
    route: str  # the pattern as routed, for messages
    kwargs: tuple[str, ...]
    area: str  # "page" | "api" | "admin"
    named: bool

    def __str__(self) -> str:
        return self.name if self.named else self.route


def _kwargs(pattern: Any) -> list[str]:
    """Named groups by name; unnamed (positional) groups as ``_1``, ``_2`` … (simple-history's admin URLs)."""
    regex = pattern.regex
    return list(regex.groupindex) + [f"_{i + 1}" for i in range(regex.groups - len(regex.groupindex))]


def _walk(patterns: list[Any], prefix: str, namespace: str | None, kwargs: list[str]):
    for p in patterns:
        if isinstance(p, URLResolver):
            ns = p.namespace
            full_ns = f"{namespace}:{ns}" if namespace and ns else (ns or namespace)
            yield from _walk(p.url_patterns, prefix + str(p.pattern), full_ns, kwargs + _kwargs(p.pattern))
        elif isinstance(p, URLPattern):
            route = prefix + str(p.pattern)
            named = bool(p.name)
            name = f"{namespace}:{p.name}" if namespace and named else (p.name or f"<{route}>")
            top = (namespace or "").split(":")[0]
            area = "admin" if top == "admin" else "api" if top == "api" else "page"
            yield Endpoint(name, route, tuple(kwargs + _kwargs(p.pattern)), area, named)


def endpoints() -> list[Endpoint]:
    """Every URL pattern of the site, through every include."""
    return list(_walk(get_resolver().url_patterns, "", None, []))


# --- filling ------------------------------------------------------------------------------------------------


class Unfilled(LookupError):
    pass


@dataclass
class Filled:
    path: str
    query: dict[str, str] = field(default_factory=dict)
    post: dict[str, str] = field(default_factory=dict)


def _rome(seeded: Any) -> int:
    return seeded.rome_patient.pk


def _obj(key: str) -> Callable[[Any], int]:
    return lambda seeded: seeded.objects[key].pk


#: URL name → {kwarg: value from the seeded registry}. Keyword arguments not listed here fall back to
#: :data:`BY_KWARG`.
FILLERS: dict[str, dict[str, Callable[[Any], Any]]] = {
    "record_history": {
        "app_label": lambda s: "patients",
        "model_name": lambda s: "patientidentity",
        "pk": _obj("identity"),
    },
    "patients:record_void": {
        "app_label": lambda s: "patients",
        "model_name": lambda s: "growthmeasurement",
        "pk": _obj("growth"),
    },
    "dosing:admission_discharge": {"pk": _obj("admission")},
    "dosing:bag_add": {"run_id": _obj("run")},
    "dosing:release_test_add": {"run_id": _obj("run")},
    "outcomes:visit_detail": {"pk": _obj("visit")},
    "outcomes:visit_edit": {"pk": _obj("visit")},
    "outcomes:medication_stop": {"pk": _obj("medication")},
    "adverse_events:crs_edit": {"pk": _obj("crs")},
    "adverse_events:icans_edit": {"pk": _obj("icans")},
    "adverse_events:void": {"kind": lambda s: "crs", "pk": _obj("crs")},
    "summaries:detail": {"summary_id": lambda s: s.summaries["rome_daily"].pk},
    "api_clients:detail": {"client_id": lambda s: s.tokens["token_in_scope"].client.pk},
    "api_clients:rotate": {"client_id": lambda s: s.tokens["token_in_scope"].client.pk},
    "api_clients:revoke": {"client_id": lambda s: s.tokens["token_in_scope"].client.pk},
    "exports:series": {"pk": lambda s: s.series.pk},
    "exports:long": {"pk": lambda s: s.series.pk},
    "exports:download": {"pk": lambda s: s.series.pk},
    "exports:figure": {"pk": lambda s: s.series.pk, "name": lambda s: "swimmer", "ext": lambda s: "svg"},
    "exports:status": {"pk": lambda s: s.export.pk},
    "exports:progress": {"pk": lambda s: s.export.pk},
    "exports:file": {"pk": lambda s: s.export.pk},
    "admin:app_list": {"app_label": lambda s: "patients"},
    "admin:auth_user_password_change": {"id": lambda s: s.users["nobody"].pk},
    "admin:otp_totp_totpdevice_config": {"pk": _obj("totp")},
    "admin:otp_totp_totpdevice_qrcode": {"pk": _obj("totp")},
    "admin:view_on_site": {
        "content_type_id": lambda s: ContentType.objects.get_for_model(type(s.rome_patient)).pk,
        "object_id": _rome,
    },
}
BY_KWARG: dict[str, Callable[[Any], Any]] = {"patient_id": _rome}

#: Bodies for writes: a request that would change something if it were let through (the denied ones must
#: change nothing). URLs not listed are posted empty.
POST_DATA: dict[str, Callable[[Any], dict[str, str]]] = {
    "patients:void": lambda s: {"reason": "entered in error (authorisation test)"},
    "patients:record_void": lambda s: {"reason": "entered in error (authorisation test)"},
    "adverse_events:void": lambda s: {"reason": "entered in error (authorisation test)"},
    "patients:status": lambda s: {"status": "lost_to_follow_up", "reason": "moved abroad"},
    "api_clients:revoke": lambda s: {"reason": "authorisation test"},
    "api_clients:rotate": lambda s: {"expires_days": "30"},
    "exports:download": lambda s: {
        "mode": "internal",
        "fmt": "csv",
        "table": "baseline",
        "part": "patients",
        "spread": "range",
    },
}

_ADMIN_MODEL = re.compile(
    r"^admin:(?P<app>[a-z_]+?)_(?P<model>[a-z]+)_(?P<view>changelist|add|change|delete|history|simple_history)$"
)
_ADMIN_OBJECT_REDIRECT = re.compile(r"^admin/(?P<app>[a-z_]+)/(?P<model>[a-z]+)/<path:object_id>/$")


def admin_model(endpoint: Endpoint) -> tuple[type, str] | None:
    """(model, view) for an admin model URL (the view is ``redirect`` for ``<app>/<model>/<id>/``)."""
    match = _ADMIN_MODEL.match(endpoint.name)
    if match is None:
        match = _ADMIN_OBJECT_REDIRECT.match(endpoint.route)
        if match is None:
            return None
        view = "redirect"
    else:
        view = match["view"]
    for model in admin.site._registry:
        if (model._meta.app_label, model._meta.model_name) == (match["app"], match["model"]):
            return model, view
    return None


def _admin_object(model: type, seeded: Any) -> Any:
    """A row of ``model``: the Rome patient's own where the model belongs to a patient, else the first."""
    manager = model._default_manager
    for lookup in ("patient", "visit__patient", "run__patient", "apheresis__patient"):
        try:
            row = manager.filter(**{lookup: seeded.rome_patient}).order_by("pk").first()
        except Exception:  # noqa: BLE001 - the model has no such path
            continue
        if row is not None:
            return row
    if model is type(seeded.rome_patient):
        return seeded.rome_patient
    return manager.order_by("pk").first()


def fill(endpoint: Endpoint, seeded: Any, persona: str) -> Filled:
    """The path (and query, and write body) that exercises ``endpoint`` on the own centre's data."""
    hint = (
        f"{endpoint} ({endpoint.route}): the authorisation matrix cannot fill %s. Add a fixture for it: a "
        "row in tests/reliability/authz_data.build() and an entry in FILLERS (tests/reliability/urlmap.py)."
    )
    post = POST_DATA.get(endpoint.name, lambda s: {})(seeded)
    if endpoint.area == "api":
        return Filled(_api_path(endpoint, seeded, persona), post=post)
    if endpoint.area == "admin":
        found = admin_model(endpoint)
        if found is not None:
            model, view = found
            row = _admin_object(model, seeded)
            if view in ("change", "delete", "history", "redirect", "simple_history"):
                if row is None:
                    raise Unfilled(hint % f"object_id (no {model._meta.label} row)")
                if view == "simple_history":  # one past version of the row
                    version = row.history.order_by("history_id").first()
                    return Filled(reverse(endpoint.name, args=[row.pk, version.history_id]))
                if view == "redirect":
                    return Filled(f"/admin/{model._meta.app_label}/{model._meta.model_name}/{row.pk}/")
                # A delete confirmed ("post": "yes"): refused, it must delete nothing.
                post = {"post": "yes"} if view == "delete" else {}
                return Filled(reverse(endpoint.name, kwargs={"object_id": row.pk}), post=post)
            return Filled(reverse(endpoint.name))
        if endpoint.route == "admin/(?P<url>.*)$":
            return Filled("/admin/no/such/page/")
        if endpoint.name == "admin:autocomplete":
            return Filled(
                reverse(endpoint.name),
                query={
                    "app_label": "registry",
                    "model_name": "membership",
                    "field_name": "user",
                    "term": "ro",
                },
            )
    if not endpoint.named:
        raise Unfilled(hint % "an unnamed pattern")
    fillers = FILLERS.get(endpoint.name, {})
    kwargs = {}
    for name in endpoint.kwargs:
        make = fillers.get(name) or BY_KWARG.get(name)
        if make is None:
            raise Unfilled(hint % f"the keyword argument '{name}'")
        kwargs[name] = make(seeded)
    return Filled(reverse(endpoint.name, kwargs=kwargs), post=post)


def _api_path(endpoint: Endpoint, seeded: Any, persona: str) -> str:
    if not endpoint.named:
        return "/api/v1/no-such-endpoint/"
    if endpoint.kwargs == ("id",):
        # A patient-level resource: the Rome patient under the pseudonym of the asking client (other clients'
        # pseudonyms of the same child differ; anonymous callers get the in-scope client's).
        token = seeded.tokens.get(persona) or seeded.tokens["token_in_scope"]
        client = token.client or seeded.tokens["token_in_scope"].client
        return reverse(
            endpoint.name, kwargs={"id": deidentify.patient_pseudonym(client.pseudonym_key, _rome(seeded))}
        )
    if endpoint.kwargs:
        raise Unfilled(
            f"{endpoint}: no fixture for API kwargs {endpoint.kwargs}; add one in urlmap._api_path"
        )
    return reverse(endpoint.name)


# --- rules --------------------------------------------------------------------------------------------------

LOGIN = "login"  # any logged-in user
PUBLIC = "public"  # everyone, logged in or not
MEMBER = "member"  # a membership anywhere; others go to the no-centre page
OWNER = "owner"  # only the user who made the export (rome_coordinator in the seeded registry)


@dataclass(frozen=True)
class Rule:
    """What a URL needs. ``needs``: an :class:`Action` (at Rome when ``where="rome"``, at any centre when
    ``"anywhere"``), a tuple of actions (any of them, anywhere), or LOGIN / PUBLIC / MEMBER / OWNER.
    ``methods``: the methods the URL accepts. ``ok``: the status of an allowed GET (a POST may also redirect
    after saving or re-render the form with errors). ``why``: the reason for an unusual status."""

    needs: Any
    where: str = "rome"
    methods: tuple[str, ...] = ("GET",)
    ok: int = 200
    ok_if_member: int | None = None
    ok_if_logged_in: int | None = None
    why: str = ""


R, W = ("GET",), ("GET", "POST")
_READ = Rule(A.READ, methods=R)
_WRITE = Rule(A.WRITE, methods=W)

RULES: dict[str, Rule] = {
    # cross-cutting
    "home": Rule(MEMBER, methods=R),
    "otp_verify": Rule(
        LOGIN, methods=W, ok=302, why="without a confirmed authenticator there is no code to ask"
    ),
    "otp_setup": Rule(LOGIN, methods=W),
    "access_log": Rule(A.AUDIT, where="everywhere", methods=R),  # registry-wide monitors and coordinators
    "no_centre": Rule(LOGIN, methods=R, ok_if_member=302, why="members are sent to their worklist"),
    "healthz": Rule(PUBLIC, methods=R),
    "record_history": Rule(A.AUDIT, methods=R),
    "login": Rule(PUBLIC, methods=W, ok_if_logged_in=302, why="a logged-in user goes straight on"),
    "logout": Rule(PUBLIC, methods=("POST",), ok=302, why="logging out redirects"),
    "password_change": Rule(LOGIN, methods=W),
    "password_change_done": Rule(LOGIN, methods=R),
    # patients
    "patients:list": Rule(MEMBER, methods=R),
    "patients:enrol": Rule(A.WRITE, where="anywhere", methods=W),
    "patients:detail": _READ,
    "patients:edit": _WRITE,
    "patients:identity": Rule(A.IDENTITY, methods=W),
    "patients:status": _WRITE,
    "patients:void": _WRITE,
    "patients:record_void": _WRITE,
    "patients:organ_add": _WRITE,
    "patients:therapy_add": _WRITE,
    "patients:growth_add": _WRITE,
    # dosing
    "dosing:apheresis_add": _WRITE,
    "dosing:admission_add": _WRITE,
    "dosing:admission_discharge": _WRITE,
    "dosing:run_add": _WRITE,
    "dosing:bag_add": _WRITE,
    "dosing:release_test_add": _WRITE,
    "dosing:lymphodepletion_add": _WRITE,
    "dosing:infusion_add": _WRITE,
    # follow-up
    "outcomes:visit_add": _WRITE,
    "outcomes:visit_detail": _READ,
    "outcomes:visit_edit": _WRITE,
    "outcomes:lab_grid": _WRITE,
    "outcomes:lab_paste": _WRITE,
    "outcomes:medication_add": _WRITE,
    "outcomes:medication_stop": _WRITE,
    # toxicity
    "adverse_events:crs_add": _WRITE,
    "adverse_events:crs_edit": _WRITE,
    "adverse_events:icans_add": _WRITE,
    "adverse_events:icans_edit": _WRITE,
    "adverse_events:blood_counts_add": _WRITE,
    "adverse_events:supportive_care_add": _WRITE,
    "adverse_events:infection_add": _WRITE,
    "adverse_events:adverse_event_add": _WRITE,
    "adverse_events:void": _WRITE,
    # summaries (the Rome daily digest)
    "summaries:list": Rule(A.SUMMARIES, where="anywhere", methods=R),
    "summaries:detail": Rule(A.SUMMARIES, methods=R),
    # API clients (a Rome-only client)
    "api_clients:list": Rule(A.API_CLIENTS, where="anywhere", methods=R),
    "api_clients:create": Rule(A.API_CLIENTS, where="anywhere", methods=W),
    "api_clients:detail": Rule(A.API_CLIENTS, methods=R),
    "api_clients:rotate": Rule(A.API_CLIENTS, methods=W),
    "api_clients:revoke": Rule(A.API_CLIENTS, methods=W),
    # exports: coordinators export internal/external, clinicians only identified (DESIGN §5)
    "exports:index": Rule((A.EXPORT, A.EXPORT_IDENTIFIED), where="anywhere", methods=R),
    "exports:series": Rule((A.EXPORT, A.EXPORT_IDENTIFIED), where="anywhere", methods=R),
    "exports:download": Rule(A.EXPORT, where="anywhere", methods=("POST",), why="an internal-mode download"),
    "exports:figure": Rule(A.EXPORT, where="anywhere", methods=R),
    "exports:long": Rule(A.EXPORT, where="anywhere", methods=R),
    "exports:long_dictionary": Rule(A.EXPORT, where="anywhere", methods=R),
    "exports:mine": Rule((A.EXPORT, A.EXPORT_IDENTIFIED), where="anywhere", methods=R),
    "exports:status": Rule(OWNER, methods=R),
    "exports:progress": Rule(OWNER, methods=R),
    "exports:file": Rule(OWNER, methods=R),
}

# --- API rules: resource group per endpoint (registry/api_clients.RESOURCE_GROUPS) --------------------------

API_GROUPS: dict[str, str | None] = {
    "api:patients-list": "patients",
    "api:patients-detail": "patients",
    "api:infusions-list": "dosing",
    "api:crs-assessments-list": "toxicity",
    "api:icans-assessments-list": "toxicity",
    "api:toxicity-summaries-list": "toxicity",
    "api:toxicity-summaries-detail": "toxicity",
    "api:infections-list": "toxicity",
    "api:adverse-events-list": "toxicity",
    "api:visits-list": "follow_up",
    "api:labs-list": "follow_up",
    "api:medications-list": "follow_up",
    "api:courses-list": "follow_up",
    "api:courses-detail": "follow_up",
    "api:dictionary": None,  # any valid token
}
#: Served to everyone (the documentation of the API is public; it holds no data).
API_PUBLIC = {"api:schema", "api:docs"}
API_CATCH_ALL = "<api/v1/^.*$>"

# --- admin rules: staff only; per model, what staff may do --------------------------------------------------

# What staff may do with a model's rows beyond reading them.
FULL = frozenset({"add", "change", "delete"})  # users, groups, centres, memberships, schedules
NO_DELETE = frozenset({"add", "change"})  # referenced by clinical rows (products, visit timepoints)
CHANGE_ONLY = frozenset({"change"})  # patients: edited with a reason through the services, enrolled elsewhere
CHANGE_DELETE = frozenset({"change", "delete"})  # the log-in throttle's records: staff may clear them
DELETE_ONLY = frozenset({"delete"})  # summaries: produced by the scheduled tasks, never edited
VIEW_ONLY: frozenset[str] = frozenset()  # clinical rows and the access log: read, never written here
ADMIN_MODELS: dict[str, frozenset[str]] = {
    "auth.group": FULL,
    "auth.user": FULL,
    "django_celery_beat.periodictask": FULL,
    "django_celery_beat.clockedschedule": FULL,
    "django_celery_beat.crontabschedule": FULL,
    "django_celery_beat.solarschedule": FULL,
    "django_celery_beat.intervalschedule": FULL,
    "axes.accessattempt": CHANGE_DELETE,
    "axes.accesslog": CHANGE_DELETE,
    "axes.accessfailurelog": CHANGE_DELETE,
    "registry.centre": FULL,
    "registry.membership": FULL,
    "registry.followupsummary": DELETE_ONLY,
    "registry.accessevent": VIEW_ONLY,  # the access log is append-only
    "otp_totp.totpdevice": FULL,
    "patients.patient": CHANGE_ONLY,
    "dosing.product": NO_DELETE,
    "dosing.apheresis": VIEW_ONLY,
    "dosing.admission": VIEW_ONLY,
    "dosing.manufacturingrun": VIEW_ONLY,
    "dosing.productbag": VIEW_ONLY,
    "dosing.releasetest": VIEW_ONLY,
    "dosing.lymphodepletiondose": VIEW_ONLY,
    "dosing.infusion": VIEW_ONLY,
    "outcomes.scheduletimepoint": NO_DELETE,
    "outcomes.visit": VIEW_ONLY,
    "outcomes.sledaiassessment": VIEW_ONLY,
    "outcomes.jdmassessment": VIEW_ONLY,
    "outcomes.sscassessment": VIEW_ONLY,
    "outcomes.medication": VIEW_ONLY,
    "outcomes.labresult": VIEW_ONLY,
    "adverse_events.crsassessment": VIEW_ONLY,
    "adverse_events.icansassessment": VIEW_ONLY,
    "adverse_events.supportivecare": VIEW_ONLY,
    "adverse_events.infection": VIEW_ONLY,
    "adverse_events.adverseevent": VIEW_ONLY,
}
#: Admin views that are not about one model: staff status (GET, POST).
ADMIN_SITE: dict[str, tuple[int, int]] = {
    "admin:index": (200, 200),
    "admin:login": (302, 200),  # staff are already logged in: straight to the index (a POST: the form)
    "admin:logout": (405, 302),  # POST only
    "admin:password_change": (200, 200),
    "admin:password_change_done": (200, 405),
    "admin:jsi18n": (200, 405),
    "admin:autocomplete": (200, 405),
    "admin:view_on_site": (404, 404),  # patients have no get_absolute_url: no "view on site" link
    "admin:app_list": (200, 200),
    "admin:auth_user_password_change": (200, 200),  # POST without the new password: the form again
    # OTP_ADMIN_HIDE_SENSITIVE_DATA: nobody sees another user's TOTP secret or QR code in the admin.
    "admin:otp_totp_totpdevice_config": (403, 403),
    "admin:otp_totp_totpdevice_qrcode": (403, 403),
    "<admin/(?P<url>.*)$>": (404, 404),
}


def admin_capability(model: type, view: str) -> bool | None:
    """Whether staff may use ``view`` of ``model`` (None: the model has no declared rule)."""
    rights = ADMIN_MODELS.get(model._meta.label_lower)
    if rights is None:
        return None
    if view in ("changelist", "history", "redirect", "simple_history"):
        return True
    return view in rights
