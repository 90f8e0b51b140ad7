"""The month pipeline: eligibility -> allocation -> selection -> (extract) -> storage.

This is the one place a month's sample is drawn. ``vsw sample`` calls it, the synthetic demo
builder calls it (after generating a population, and before simulating the victims' answers),
and the notebooks and tests read what it stored. Fieldwork happens outside: a contractor
interviews the selected victims and their answers are ingested with ``vsw ingest responses``
(for synthetic data, :func:`methods.synthetic.respond` plays the contractor).

1. **Eligibility** (:func:`methods.frame.eligibility.apply`, ``when="before"``): the survey's
   exclusion rules, the opt-out register and the re-survey history held in the store, the
   contact window counted from ``contact_from`` (default: the first day of the next month).
2. **Allocation** (:func:`methods.sampling.quota.month_size`): the preset's selection rule for
   the month; a force-wide annual number is shared among the surveys in proportion to their
   eligible victims.
3. **Selection** (:func:`methods.sampling.select`): stratified by offence group, seeded by
   :func:`methods.sampling.derive_seed` (force, survey, month) unless a seed is given, so the
   same store and month always give the same sample.
4. **Extract** (optional, :mod:`methods.data.protection`): the sealed contractor extract and
   its manifest, written in parts and committed only once the sample is recorded.
5. **Storage** (:meth:`methods.data.store.Store.record_sample`), and victims flagged as having
   opted out are added to the opt-out register.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from methods.config.presets import ForcePreset, load_force
from methods.core.errors import InputRefused
from methods.data import protection
from methods.frame import eligibility
from methods.sampling.quota import MonthSize, month_size
from methods.sampling.selection import derive_seed, select

#: Sampling strata of every monthly draw.
STRATA = "offence_group"
#: Selection method of a monthly draw: systematic within offence group, sorted by the preset's
#: profile variables (implicit stratification), as ``vsw sample`` does by default.
DEFAULT_METHOD = "systematic"


@dataclass
class MonthDraw:
    """What :func:`draw_month` did.

    Attributes:
        force, survey, month: which draw.
        flow: the eligibility flow (step, label, excluded, remaining).
        eligible: number of eligible victims.
        frame: the eligible victims (the sampling frame, store columns).
        size: the rule applied (:class:`methods.sampling.quota.MonthSize`).
        method: selection method actually used ("srs" for a census).
        seed: the seed of the selection.
        sample: the selected victims (store columns plus ``inclusion_prob`` and ``stratum``).
        record: what the store recorded (:meth:`Store.record_sample`).
        extract: paths of the sealed extract and its manifest (empty without a key).
        sealed: the sealed extract (:class:`methods.data.protection.SealedExtract`) or None.
        new_optouts: victims added to the opt-out register.
        notes: plain sentences about decisions taken (e.g. "all eligible taken").
    """

    force: str
    survey: str
    month: str
    flow: pd.DataFrame
    eligible: int
    frame: pd.DataFrame
    size: MonthSize
    method: str
    seed: int
    sample: pd.DataFrame
    record: dict
    extract: dict = field(default_factory=dict)
    sealed: object = None
    new_optouts: int = 0
    notes: list[str] = field(default_factory=list)


def contact_reference(month: str) -> dt.date:
    """The default first contact day of ``month``'s sample: the first day of the next month."""
    y, m = (int(p) for p in month.split("-"))
    return dt.date(y + (m == 12), m % 12 + 1, 1)


def _frame_sizes(store, victims, preset, survey, frame_n, ref) -> dict[str, int]:
    """Eligible victims of every survey sharing ``survey``'s force-wide rule (if any)."""
    sizes = {survey.name: frame_n}
    _, scope = preset.selection_for(survey.name)
    if scope != "force":
        return sizes
    for other in preset.surveys:
        if other.name != survey.name and preset.selection_for(other.name)[1] == "force":
            res = eligibility.apply(victims, other, "before", reference_date=ref, store=store)
            sizes[other.name] = len(res.eligible)
    return sizes


def draw_month(
    store,
    month: str,
    force: str | ForcePreset,
    survey: str,
    *,
    seed: int | None = None,
    method: str = DEFAULT_METHOD,
    contact_from: dt.date | None = None,
    replace: bool = False,
    key: bytes | None = None,
    out_dir: str | Path | None = None,
) -> MonthDraw:
    """Draw, record (and optionally extract) one survey's sample for one month.

    Arguments:
        store: an open, writable :class:`methods.data.store.Store` holding ``month``'s victims.
        month: ``YYYY-MM``.
        force: the force preset (name or :class:`ForcePreset`).
        survey: the survey's name in the preset.
        seed: selection seed; default :func:`derive_seed` of force, survey and month.
        method: "systematic" (default: sorted by the preset's profile variables), "srs" or
            another method of :func:`methods.sampling.select`; a census always uses "srs".
        contact_from: first day fieldwork can contact anyone (contact-window rule).
        replace: draw again over an existing sample of the survey and month.
        key: the contractor key (:func:`methods.data.protection.load_key`); with ``out_dir``,
            writes the sealed extract and its manifest.
        out_dir: folder for the extract.

    Raises:
        InputRefused: the month is not loaded, a sample exists and ``replace`` is false, the
            month's personal data was purged (with a key), or nothing can be sampled.
    """
    preset = force if isinstance(force, ForcePreset) else load_force(force)
    survey_def = preset.survey(survey.strip().lower())
    ref = contact_from or contact_reference(month)
    if month not in store.loaded_months():
        raise InputRefused(f"no victims are loaded for {month}: ingest them first")
    # never sample one force from another's victims; with several forces in the month, read
    # only this force's rows (``whose``: the force as stored)
    whose = store.require_force(preset, month)
    prev = len(store.sample(survey_def.name, month, force=whose))
    if prev and not replace:
        raise InputRefused(
            f"a sample of {prev} cases is already recorded for {survey_def.name} {month}; "
            "give --replace to draw it again"
        )
    victims = store.victims(month, personal=True, force=whose)  # phones match the register
    if key is not None and len(victims) and victims["crime_ref"].isna().all():
        raise InputRefused(
            f"the personal data of {month} was purged (retention): no contractor "
            "extract can be made for it"
        )
    res = eligibility.apply(victims, survey_def, "before", reference_date=ref, store=store)
    frame = res.eligible
    sizes = _frame_sizes(store, victims, preset, survey_def, len(frame), ref)
    size = month_size(preset, survey_def.name, month, sizes)
    if len(frame) == 0 or size.n == 0:
        raise InputRefused(
            f"nothing to sample for {survey_def.name} {month}: {len(frame)} eligible "
            f"victim(s), selection rule {size.rule}"
        )
    seed = derive_seed(preset.name, survey_def.name, month) if seed is None else int(seed)
    method = "srs" if size.census else method
    sort_by = list(preset.profile_monitoring) if method == "systematic" else None
    notes: list[str] = []
    kw: dict = {"allocation": "census"} if size.census else {}
    if size.fraction is not None:
        kw["fraction"] = size.fraction
    elif size.n is not None:
        if size.n >= len(frame):
            notes.append(f"the rule asks for {size.n} of {len(frame)} eligible: all are taken")
            kw = {"allocation": "census"}
        else:
            kw["n"] = size.n
    smp = select(frame, strata=STRATA, method=method, sort_by=sort_by, seed=seed, **kw)
    written: dict = {}
    sealed = None
    if key is not None and out_dir is not None:
        sealed = protection.seal(
            protection.extract_frame(smp, store, survey_def.name, month, survey_def.modes),
            key,
        )
        manifest = {
            "force": preset.name,
            "survey": survey_def.name,
            "month": month,
            "agency": survey_def.agency,
            "modes": list(survey_def.modes),
            "contact_reference_date": str(ref),
            "selection": {
                "rule": size.rule,
                "method": method,
                "strata": STRATA,
                "sort_by": sort_by,
                "seed": seed,
                "eligible": len(frame),
                "selected": len(smp),
            },
            "eligibility_flow": res.flow.to_dict(orient="records"),
        }
        stem = f"{preset.name}_{survey_def.name}_{month}"
        written = protection.write_sealed(sealed, Path(out_dir), stem, manifest)
    extract_note = f"; extract {written['extract'].name} sha256 {sealed.sha256}" if written else ""
    try:
        rec = store.record_sample(
            smp.assign(stratum=smp["stratum"].astype(str)),
            survey_def.name,
            month,
            replace=replace,
            force=whose,
            detail=(
                f"{method} within {STRATA}, {size.rule}, seed {seed}; "
                f"{len(smp)} of {len(frame)} eligible{extract_note}"
            ),
        )
    except BaseException:
        if written:
            protection.discard_parts(written)
        raise
    if written:
        protection.commit_parts(written)
    flagged = victims.loc[victims["opted_out"].to_numpy(dtype=bool), "person_id"]
    new_optouts = 0
    if len(flagged):
        new_optouts = store.add_optout_hashes(
            flagged.to_numpy(dtype=object), source=f"opted_out flag {month}"
        )
    return MonthDraw(
        force=preset.name,
        survey=survey_def.name,
        month=month,
        flow=res.flow,
        eligible=len(frame),
        frame=frame,
        size=size,
        method=method,
        seed=seed,
        sample=smp,
        record=rec,
        extract=written,
        sealed=sealed,
        new_optouts=new_optouts,
        notes=notes,
    )
