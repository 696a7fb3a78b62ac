"""De-identification for anything that leaves the registry (DESIGN §5).

* A patient is shown to a recipient (an API client, an external export) as a stable keyed hash that reveals
  neither the centre nor the order of enrolment: ``P-`` + 12 base32 characters of HMAC-SHA256(recipient key,
  patient id). The same recipient always sees the same pseudonym; two recipients cannot link their data.
* Centres become ``C1``, ``C2`` … numbered in the order of their keyed hash (not by code or creation order),
  unless the recipient may see centres.
* Small aggregate cells (below a threshold, default 5) are suppressed in external tables.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable

DEFAULT_SUPPRESSION_THRESHOLD = 5
SUPPRESSED = "<5"


def new_key() -> str:
    """A fresh random pseudonym key for a recipient (store it with the recipient)."""
    return secrets.token_hex(32)


def _mac(key: str, message: str) -> bytes:
    return hmac.new(key.encode(), message.encode(), hashlib.sha256).digest()


def patient_pseudonym(key: str, patient_id: int) -> str:
    """The recipient-specific pseudonym of a patient."""
    return "P-" + base64.b32encode(_mac(key, f"patient:{patient_id}")).decode()[:12]


def centre_pseudonyms(key: str, centre_ids: Iterable[int]) -> dict[int, str]:
    """``{centre_id: "C1", ...}`` numbered by keyed-hash order: the numbers reveal nothing about centres."""
    ordered = sorted(set(centre_ids), key=lambda cid: _mac(key, f"centre:{cid}"))
    return {cid: f"C{i}" for i, cid in enumerate(ordered, start=1)}


def suppress_count(count: int, threshold: int = DEFAULT_SUPPRESSION_THRESHOLD) -> int | str:
    """A count, or the suppression marker (``"<threshold"``) when it is below ``threshold`` but not zero."""
    return f"<{threshold}" if 0 < count < threshold else count
