"""A patient as one API client sees it: its pseudonym and its place in the client's keyed order (DESIGN §5).

Both are pure functions of the client's pseudonym key and the patient id. They are stored per client and
patient (:class:`registry.models.ApiClientPatient`, written by :mod:`registry.api_clients`) so that a page of
a patient-level list is an index range instead of a sort of every patient, and a pseudonym is found by index.

The order is ``(id × a + b) mod p`` with ``a`` and ``b`` derived from the client's key and ``p`` a prime above
any primary key: a permutation of the ids, different for every client, that follows neither the centre nor
the order of enrolment. Pure: no Django, no database (the data migration that fills the table uses it too).
"""

from __future__ import annotations

import hashlib
import hmac

from registry.deidentify import patient_pseudonym

#: A prime above any primary key: (id × a + b) mod p is then a permutation of the ids.
PERMUTATION_MODULUS = 2**31 - 1

__all__ = ["PERMUTATION_MODULUS", "order_key", "patient_pseudonym", "permutation"]


def permutation(key: str) -> tuple[int, int]:
    """The client's ``(a, b)``, ``1 <= a < p``, ``0 <= b < p``."""
    digest = hmac.new(key.encode(), b"order", hashlib.sha256).digest()
    a = int.from_bytes(digest[:8], "big") % (PERMUTATION_MODULUS - 1) + 1
    b = int.from_bytes(digest[8:16], "big") % PERMUTATION_MODULUS
    return a, b


def order_key(key: str, patient_id: int, *, coefficients: tuple[int, int] | None = None) -> int:
    """The patient's place in the client's order (unique per client for ids below the modulus)."""
    a, b = coefficients or permutation(key)
    return (patient_id * a + b) % PERMUTATION_MODULUS
