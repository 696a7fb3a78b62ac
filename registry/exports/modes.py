"""Export modes (DESIGN §5): who may request which mode, and what each mode does to the data.

* **internal** (the default for coordinators): registry codes (``ROM-003``), centre names, study days
  instead of dates, no identity, no suppression — the figures the consortium publishes.
* **external**: patients as recipient pseudonyms (:func:`registry.deidentify.patient_pseudonym`), centres as
  ``C1``, ``C2`` …, aggregate cells below a threshold (default 5) suppressed, free-text columns dropped.
* **identified**: only a clinician, only the patients of their own centre(s), with a stated purpose; identity
  columns (names, date of birth, hospital number, infusion date) are added to the per-patient tables.

**Pseudonym key per recipient.** The key of an external recipient is derived, not stored:
``HMAC-SHA256(secret, "registry-export-recipient:" + normalised recipient name)`` in hex, where ``secret`` is
``settings.REGISTRY_EXPORT_PSEUDONYM_SECRET`` when set, else ``settings.SECRET_KEY``, and the name is
case-folded with whitespace collapsed. The same recipient therefore always gets the same pseudonyms (so
successive exports link up for them), two recipients cannot link their data, and nothing needs to be kept in
the database. Rotating the secret changes every recipient's pseudonyms: set
``REGISTRY_EXPORT_PSEUDONYM_SECRET`` to keep them stable across a ``SECRET_KEY`` rotation.

This module is pure Python (no pandas); the tables apply a policy cell by cell.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import Http404
from django.utils.translation import gettext as _

from registry import access, deidentify
from registry.access import Action
from registry.models import ExportMode

MODES = tuple(m.value for m in ExportMode)
MIN_THRESHOLD = 2
MAX_THRESHOLD = 50


def default_threshold() -> int:
    """``REGISTRY_EXPORT_SUPPRESSION_THRESHOLD`` (default 5): smallest count shown in external tables."""
    return int(
        getattr(settings, "REGISTRY_EXPORT_SUPPRESSION_THRESHOLD", deidentify.DEFAULT_SUPPRESSION_THRESHOLD)
    )


def normalise_recipient(recipient: str) -> str:
    return " ".join(recipient.split()).casefold()


def recipient_key(recipient: str) -> str:
    """The pseudonym key of an external recipient (see the module docstring)."""
    secret = getattr(settings, "REGISTRY_EXPORT_PSEUDONYM_SECRET", "") or settings.SECRET_KEY
    message = "registry-export-recipient:" + normalise_recipient(recipient)
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class ExportPolicy:
    """What an export mode does to patients, centres, counts and columns."""

    mode: str = ExportMode.INTERNAL
    recipient: str = ""
    purpose: str = ""
    threshold: int = deidentify.DEFAULT_SUPPRESSION_THRESHOLD
    key: str = ""
    centre_labels: Mapping[int, str] = field(default_factory=dict)

    @property
    def external(self) -> bool:
        return self.mode == ExportMode.EXTERNAL

    @property
    def identified(self) -> bool:
        return self.mode == ExportMode.IDENTIFIED

    @property
    def suppresses(self) -> bool:
        return self.external

    @property
    def drops_free_text(self) -> bool:
        return self.external

    @property
    def shows_identity(self) -> bool:
        return self.identified

    @property
    def shows_centres(self) -> bool:
        return not self.external

    def patient_label(self, patient_id: int, code: str) -> str:
        return deidentify.patient_pseudonym(self.key, patient_id) if self.external else code

    def centre_label(self, centre_id: int, name: str, code: str) -> str:
        """Summary label of a centre: ``C1`` … in external mode, else ``name (CODE)``."""
        if self.external:
            return self.centre_labels.get(centre_id, "C?")
        return f"{name} ({code})"

    def centre_code(self, centre_id: int, code: str) -> str:
        """Per-patient label of a centre: ``C1`` … in external mode, else its code."""
        return self.centre_labels.get(centre_id, "C?") if self.external else code

    def series_reference(self, series_id: int) -> str:
        """A keyed reference to a case series for an external recipient (its name may reveal centres)."""
        mac = hmac.new(self.key.encode(), f"case-series:{series_id}".encode(), hashlib.sha256).hexdigest()
        return "CS-" + mac[:10].upper()

    def count(self, n: int) -> int | str:
        return deidentify.suppress_count(n, self.threshold) if self.suppresses else n

    def small(self, n: int) -> bool:
        """Whether a statistic computed over ``n`` patients must be suppressed."""
        return self.suppresses and 0 < n < self.threshold

    def description(self) -> str:
        """The de-identification applied, in words (for the "about" sheet and page)."""
        if self.external:
            return _(
                "External: patients as pseudonyms keyed for the recipient '%(r)s', centres as C1, C2 …, "
                "study days instead of dates, no identity, counts and statistics over fewer than %(t)s "
                "patients "
                "suppressed (no complementary suppression), free text dropped."
            ) % {"r": self.recipient, "t": self.threshold}
        if self.identified:
            return _(
                "Identified: names, date of birth, hospital number and infusion date of the patients of the "
                "requesting clinician's own centre, for the stated purpose: %(p)s"
            ) % {"p": self.purpose}
        return _(
            "Internal: registry codes, centre names, study days instead of dates, no identity, "
            "no suppression."
        )


def make_policy(
    mode: str,
    *,
    recipient: str = "",
    purpose: str = "",
    threshold: int | None = None,
    centre_ids: Iterable[int] = (),
) -> ExportPolicy:
    """The policy of ``mode``; raises ``ValidationError`` naming the missing or invalid field.

    ``centre_ids`` are every centre of the registry: external centre numbers are keyed over all of them so a
    recipient sees the same ``C`` number whatever the filters.
    """
    if mode not in MODES:
        raise ValidationError(
            {
                "mode": _("Unknown export mode '%(m)s'; choose one of: %(a)s.")
                % {"m": mode, "a": ", ".join(MODES)}
            }
        )
    recipient, purpose = recipient.strip(), purpose.strip()
    threshold = default_threshold() if threshold is None else int(threshold)
    if mode == ExportMode.EXTERNAL:
        if not recipient:
            raise ValidationError(
                {
                    "recipient": _(
                        "Name the recipient of an external export: its pseudonyms are keyed to them."
                    )
                }
            )
        if not MIN_THRESHOLD <= threshold <= MAX_THRESHOLD:
            raise ValidationError(
                {
                    "threshold": _("The suppression threshold must be between %(lo)s and %(hi)s.")
                    % {"lo": MIN_THRESHOLD, "hi": MAX_THRESHOLD}
                }
            )
        key = recipient_key(recipient)
        return ExportPolicy(
            mode=mode,
            recipient=recipient,
            threshold=threshold,
            key=key,
            centre_labels=deidentify.centre_pseudonyms(key, centre_ids),
        )
    if mode == ExportMode.IDENTIFIED:
        if not purpose:
            raise ValidationError({"purpose": _("State the purpose of an identified export.")})
        return ExportPolicy(mode=mode, purpose=purpose, threshold=threshold)
    return ExportPolicy(mode=mode, threshold=threshold)


def action_for(mode: str) -> Action:
    return Action.EXPORT_IDENTIFIED if mode == ExportMode.IDENTIFIED else Action.EXPORT


def may_export(user: Any) -> bool:
    """Whether ``user`` may export anything at all (coordinators; clinicians for identified exports)."""
    return access.can_anywhere(user, Action.EXPORT) or access.can_anywhere(user, Action.EXPORT_IDENTIFIED)


def export_centre_ids(user: Any, mode: str, *, centre_id: int | None = None) -> frozenset[int] | None:
    """Centres whose patients ``user`` may export in ``mode`` (``None``: every centre); 404 when none.

    Internal and external exports need :attr:`Action.EXPORT` (coordinators, of their centres or
    registry-wide);
    identified exports need :attr:`Action.EXPORT_IDENTIFIED` (clinicians, own centre only — never
    registry-wide). A ``centre_id`` filter outside those centres is the same 404 as a missing centre.
    """
    ids = access.centre_ids_for(user, action_for(mode))
    if ids is not access.ALL and not ids:
        raise Http404
    if centre_id is not None and ids is not access.ALL and centre_id not in ids:
        raise Http404
    return ids
