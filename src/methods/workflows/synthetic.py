"""Synthetic months through the real pipeline: population -> ingest -> draw_month -> responses.

The synthetic package generates only what a force and its contractor would supply: the victims
extract (:func:`methods.synthetic.generate_victims`) and the victims' answers
(:func:`methods.synthetic.respond`). Everything in between is the code users run: the extract
is ingested from its CSV file, the sample is drawn by :func:`methods.workflows.month.draw_month`
(as ``vsw sample`` does) and the responses file is ingested (as ``vsw ingest responses``), so
the demo store, the notebooks and the reports exercise the same path as a real month.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from methods.config.presets import ForcePreset, Selection, load_force
from methods.core.errors import UsageError
from methods.core.schema import VICTIM_COLUMNS
from methods.data.store import Store
from methods.frame.eligibility import register_hashes
from methods.synthetic.generate import generate_victims, month_rng, months_range
from methods.synthetic.respond import respond, write_csv
from methods.workflows.month import draw_month


def scaled_preset(preset: ForcePreset, scale: float) -> ForcePreset:
    """``preset`` with its annual sample sizes multiplied by ``scale`` (volumes are scaled by
    the generator), so a scaled-down force keeps its sampling fractions."""
    if scale == 1.0:
        return preset

    def sc(sel):
        if sel is None or sel.annual_n is None:
            return sel
        return dataclasses.replace(sel, annual_n=max(1, int(round(sel.annual_n * scale))))

    surveys = tuple(dataclasses.replace(s, selection=sc(s.selection)) for s in preset.surveys)
    return dataclasses.replace(preset, selection=sc(preset.selection), surveys=surveys)


def _check_months(months: Sequence[str]) -> list[str]:
    months = list(months)
    if not months:
        raise UsageError("no months given; e.g. months_range('2025-01:2025-12')")
    idx = [int(m[:4]) * 12 + int(m[5:7]) for m in months]
    if any(b <= a for a, b in zip(idx, idx[1:])):
        raise UsageError(f"months must be distinct and in increasing order, got {months}")
    return months


def simulate_month(
    store: Store,
    preset: ForcePreset,
    month: str,
    seed: int,
    workdir: Path,
    *,
    scale: float = 1.0,
    mode_shift: float = 0.0,
) -> dict[str, list[Path]]:
    """One synthetic month into ``store``: victims file, every survey's draw, responses files.

    Returns the files written into ``workdir`` (``victims``, ``samples``, ``responses``).
    """
    victims = generate_victims(preset, month, seed, scale)
    files: dict[str, list[Path]] = {"victims": [], "samples": [], "responses": []}
    path = workdir / f"victims_{month}.csv"
    write_csv(victims[list(VICTIM_COLUMNS)], path)
    files["victims"].append(path)
    store.ingest_victims(path, month=month, replace=True, force=preset)
    rng = month_rng(seed, preset, month, "fieldwork")
    keys = ["crime_ref", "victim_id"]
    for survey in preset.surveys:
        draw = draw_month(store, month, preset, survey.name, replace=True)
        chosen = draw.sample[keys].astype(str).merge(victims, on=keys, how="left")
        sample = pd.DataFrame(
            {
                "crime_ref": chosen["crime_ref"].to_numpy(),
                "victim_id": chosen["victim_id"].to_numpy(),
                "inclusion_prob": draw.sample["inclusion_prob"].to_numpy(),
                "stratum": draw.sample["stratum"].astype(str).to_numpy(),
            }
        )
        path = workdir / f"sample_{survey.name}_{month}.csv"
        write_csv(sample, path)
        files["samples"].append(path)
        responses, late = respond(chosen, survey, preset, rng, seed, mode_shift)
        path = workdir / f"responses_{survey.name}_{month}.csv"
        write_csv(responses, path)
        files["responses"].append(path)
        store.ingest_responses(path, survey=survey.name, replace=True)
        if len(late):  # opted out between selection and transfer: onto the register
            store.add_optout_hashes(
                register_hashes(store, victim_ids=np.asarray(late, dtype=object)),
                source=f"late opt-out {survey.name} {month}",
            )
    return files


def build_months(
    store: Store,
    force: str | ForcePreset,
    months: Sequence[str],
    seed: int,
    workdir: str | Path,
    *,
    scale: float = 1.0,
    mode_shift: float = 0.0,
    progress: bool = False,
) -> dict[str, list[Path]]:
    """Synthetic months, in order, into ``store`` (see :func:`simulate_month`)."""
    preset = force if isinstance(force, ForcePreset) else load_force(force)
    preset = scaled_preset(preset, scale)
    months = _check_months(months)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    out: dict[str, list[Path]] = {"victims": [], "samples": [], "responses": []}
    bar = tqdm(months, desc=f"synthetic {preset.name}", unit="month", disable=not progress)
    for month in bar:
        files = simulate_month(
            store, preset, month, seed, workdir, scale=scale, mode_shift=mode_shift
        )
        for k, v in files.items():
            out[k] += v
    return out


def write_synthetic(
    force: str | ForcePreset,
    months: Sequence[str],
    seed: int,
    out_dir: str | Path,
    *,
    scale: float = 1.0,
    mode_shift: float = 0.0,
) -> dict[str, list[Path]]:
    """Write synthetic extracts, samples and responses for a force, month by month.

    The files are those :func:`build_months` ingests (into a temporary store, discarded):
    ``victims_YYYY-MM.csv`` (the contract extract), ``sample_<survey>_YYYY-MM.csv``
    (``crime_ref, victim_id, inclusion_prob, stratum`` of the draw ``vsw sample`` makes) and
    ``responses_<survey>_YYYY-MM.csv`` (docs/data_contract.md section 2). The same arguments give
    byte-identical files.
    """
    with tempfile.TemporaryDirectory(prefix="vsw-synth-store-") as tmp:
        with Store(Path(tmp) / "synthetic.duckdb") as st:
            return build_months(
                st, force, months, seed, out_dir, scale=scale, mode_shift=mode_shift
            )


@dataclasses.dataclass
class SyntheticSamples:
    """Frames and samples of synthetic months drawn by the month pipeline, with the truth.

    Attributes:
        frame: eligible victims of every month (analysis columns, ``month``, hidden ``true_``
            columns; names and e-mails dropped, phone and address reduced to "on file").
        sample: the selected victims, with ``inclusion_prob`` and ``stratum``, same columns.
        draws: the :class:`methods.workflows.month.MonthDraw` of each month.
    """

    frame: pd.DataFrame
    sample: pd.DataFrame
    draws: list


def _research_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Drop names and e-mails; phone and address become "on file" or blank."""
    out = df.drop(columns=[c for c in ("name", "email") if c in df.columns])
    for c in ("phone", "address"):
        if c in out.columns:
            out[c] = np.where(out[c].notna(), "on file", None)
    return out


def sampled_months(
    force: str | ForcePreset,
    survey: str,
    months: Sequence[str],
    seed: int,
    *,
    fraction: float | None = None,
    scale: float = 1.0,
) -> SyntheticSamples:
    """Synthetic months of one survey through the real pipeline, for research notebooks.

    Each month is generated, ingested into a temporary store and drawn with
    :func:`methods.workflows.month.draw_month` (the frame is methods.eligibility's, with the
    register and re-survey history of the earlier months), so a notebook studies the samples
    ``vsw sample`` would draw. ``fraction`` replaces the preset's selection rule for this
    survey (e.g. a larger sample to study mode effects).
    """
    preset = force if isinstance(force, ForcePreset) else load_force(force)
    preset = scaled_preset(preset, scale)
    if fraction is not None:
        sel = Selection(rule="fraction", fraction=float(fraction))
        surveys = tuple(
            dataclasses.replace(s, selection=sel) if s.name == survey else s for s in preset.surveys
        )
        preset = dataclasses.replace(preset, surveys=surveys)
    preset.survey(survey)  # a clear ConfigError for an unknown survey
    months = _check_months(months)
    keys = ["crime_ref", "victim_id"]
    frames, samples, draws = [], [], []
    with tempfile.TemporaryDirectory(prefix="vsw-research-") as tmp:
        with Store(Path(tmp) / "research.duckdb") as st:
            for month in months:
                victims = generate_victims(preset, month, seed, scale)
                path = Path(tmp) / f"victims_{month}.csv"
                write_csv(victims[list(VICTIM_COLUMNS)], path)
                st.ingest_victims(path, month=month, force=preset)
                draw = draw_month(st, month, preset, survey)
                truth = victims.drop(columns=["month"], errors="ignore")
                for part, out in ((draw.frame, frames), (draw.sample, samples)):
                    # what the selection added (inclusion_prob, design_weight, stratum, ...)
                    extra = [c for c in part.columns if c not in draw.frame.columns]
                    rows = part[keys + extra].astype({k: str for k in keys})
                    out.append(rows.merge(truth, on=keys, how="left").assign(month=month))
                draws.append(draw)
    return SyntheticSamples(
        frame=_research_columns(pd.concat(frames, ignore_index=True)),
        sample=_research_columns(pd.concat(samples, ignore_index=True)),
        draws=draws,
    )


__all__ = [
    "SyntheticSamples",
    "build_months",
    "months_range",
    "sampled_months",
    "scaled_preset",
    "simulate_month",
    "write_synthetic",
]
