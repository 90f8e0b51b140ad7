"""The opt-out register's side of eligibility: phone numbers normalised, keyed hashes, store reads.

:func:`normalise_phone` gives one form per UK number (Ofcom National Telephone Numbering Plan,
ITU-T E.164), :func:`register_hashes` turns raw victim ids and phone numbers into the keyed hashes
the register holds (raw values are never kept), and :func:`store_register` / :func:`store_history`
read the register and the sampling history that :func:`methods.frame.eligibility.apply` checks.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from methods.core.errors import ValidationError

__all__ = ["check_phones", "normalise_phone", "register_hashes", "store_history", "store_register"]


# --------------------------------------------------------------------------- phone numbers


def normalise_phone(values: Any) -> pd.Series:
    """Normalise UK telephone numbers so that one number always has one form.

    Arguments:
        values: strings (array-like or Series); blanks and missing values give ``<NA>``.

    Returns:
        A string Series (index kept for a Series input): spaces and punctuation removed, a
        ``(0)`` after the country code dropped, ``+44`` / ``0044`` / a bare 12-digit ``44...``
        turned into the national ``0``; other international numbers keep their ``+``.
        ``"+44 (0)7700 900123"``, ``"07700-900123"`` and ``"0044 7700 900 123"`` all give
        ``"07700900123"``.

    Notes:
        UK numbers are 10 or 11 digits with the trunk prefix 0 (Ofcom National Telephone
        Numbering Plan); the international form replaces the 0 by +44 (ITU-T E.164). Validity
        is judged by :func:`check_phones`, not here.
    """
    s = pd.Series(values, dtype="str") if not isinstance(values, pd.Series) else values
    s = s.astype("str").str.strip()
    s = s.str.replace(r"\(0\)", "", regex=True)
    s = s.str.replace(r"[^0-9+]", "", regex=True)
    s = s.str.replace(r"(?<=.)\+", "", regex=True)  # a '+' only counts at the start
    s = s.str.replace(r"^(?:\+|00)44", "0", regex=True)
    s = s.str.replace(r"^44(?=\d{10}$)", "0", regex=True)
    s = s.str.replace(r"^00(?=[1-9])", "+", regex=True)  # other international access code
    return s.where(s.str.len() > 0)


def check_phones(normalised: pd.Series) -> np.ndarray:
    """Positions (0-based) of normalised numbers that are not a plausible phone number.

    A UK number is ``0`` then 9 or 10 digits; an international one ``+`` then 7 to 15 digits
    (ITU-T E.164 allows at most 15). Missing values count as bad.
    """
    ok = normalised.str.fullmatch(r"0\d{9,10}|\+[1-9]\d{6,14}")
    return np.flatnonzero(~ok.fillna(False).to_numpy(dtype=bool))


def register_hashes(store: Any, victim_ids: Any = (), phones: Any = ()) -> np.ndarray:
    """Keyed hashes for the opt-out register from raw victim ids and phone numbers.

    Arguments:
        store: a :class:`methods.data.store.Store` (its secret keys the hashes).
        victim_ids: force victim identifiers (trimmed); hashed as ``victim:<id>``, which is
            the victims' ``person_id``.
        phones: telephone numbers in any usual format; normalised (:func:`normalise_phone`)
            and hashed as ``phone:<number>``.

    Returns:
        Unique hashes (object array). Raw values are never kept or returned.

    Raises:
        ValidationError: a blank victim id, or a phone number that is not a plausible number
            (positions are 1-based in the order given; values are never quoted).
    """
    ids = pd.Series(list(victim_ids), dtype="str").str.strip()
    bad = np.flatnonzero(~(ids.str.len() > 0).fillna(False).to_numpy(dtype=bool))
    if bad.size:
        raise ValidationError(
            "victim id is blank: give the force's victim identifier",
            "victim_id",
            (bad + 1).tolist(),
        )
    ph = normalise_phone(pd.Series(list(phones), dtype="str"))
    bad = check_phones(ph)
    if bad.size:
        raise ValidationError(
            "not a telephone number (a UK number is 0 then 9-10 digits, or +44 ...; "
            "an international one + then 7-15 digits)",
            "phone",
            (bad + 1).tolist(),
        )
    out = []
    if len(ids):
        out.append(np.asarray(store.optout_hash(ids.to_numpy(dtype=object), "victim")))
    if len(ph):
        out.append(np.asarray(store.optout_hash(ph.to_numpy(dtype=object), "phone")))
    if not out:
        return np.array([], dtype=object)
    return np.unique(np.concatenate(out).astype(str)).astype(object)


# --------------------------------------------------------------------------- store readers


def store_register(store: Any) -> np.ndarray:
    """Every hash on the store's opt-out register (object array)."""
    rows = store.con.execute("SELECT hash FROM optout").fetchall()
    return np.array([r[0] for r in rows], dtype=object)


def store_history(store: Any) -> pd.DataFrame:
    """Who was sampled when: ``person_id, month, survey`` for every recorded sample row."""
    return store.con.execute(
        "SELECT v.person_id, s.month, s.survey FROM samples s JOIN victims v USING (case_id)"
    ).df()
