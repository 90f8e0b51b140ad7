"""Design simulation studio: Monte Carlo comparison of sampling, fieldwork and weighting designs.

A simulation is a fixed synthetic population (from :mod:`methods.synthetic.generate`, or a frame the
user supplies) and a list of candidate designs, each naming its eligibility rules, selection,
fieldwork plan and weighting scheme (see :mod:`methods.simulation.config` for the TOML format
and ``src/methods/configs/simulations/`` for examples). Each replicate runs the whole chain for
every design through the workbench's own modules (:mod:`methods.simulation.engine`): select,
field, weight, estimate. Because the population is known, so is the truth.

Public API::

    from methods.simulation.run import simulate
    res = simulate("allocation_and_mode", reps=1000, seed=1, workers=2)   # Dask LocalCluster
    res.results          # one row per design x estimand (the columns of RESULT_COLUMNS)
    res.write("out/")    # out/results.csv and out/manifest.json

Estimands: the satisfied proportion (answers 1-3 over 1-7) of every stage, overall
(``whole_experience``) and, when the config names a domain, for each of its levels
(``whole_experience:offence_group=hate``). The truth is the mean of the latent probability of
being satisfied, ``true_p_<stage>``, over the design's eligible victims (or those of the
domain): the expected census under the reference, self-completion measurement
(:mod:`methods.synthetic.generate`, :mod:`methods.fieldwork.modes`).

Performance measures over the R replicates with an estimate (Morris, White and Crowther 2019,
"Using simulation studies to evaluate statistical methods", Statistics in Medicine 38,
2074-2102, table 6), with theta the truth and hat-theta_r, se_r, [l_r, u_r] replicate r's
estimate, estimated SE and interval:

- ``mean_estimate`` = mean(hat-theta_r); ``bias`` = mean_estimate - theta;
- ``se_empirical`` = sd(hat-theta_r) (divisor R - 1); ``se_estimated`` = mean(se_r);
- ``rmse`` = sqrt(mean((hat-theta_r - theta)^2)); ``coverage`` = share of r with
  l_r <= theta <= u_r (nominal ``conf_level``);
- ``mean_completes``: AAPOR 1.x interviews per replicate (complete or partial, as
  :func:`methods.report.tables.completes`); ``cost``: mean cost per replicate, from the config's
  unit costs: call attempts (non-contacts use every attempt; contacted cases the expected
  attempt of first contact, see :func:`methods.simulation.engine.expected_calls_if_contacted`),
  paper mailings (questionnaire plus every reminder to each posted case: Dillman's tailored
  design sends its reminder to the whole sample) and completes.

``replicates`` (after the required columns) counts the replicates that gave an estimate with
an SE; the others (a domain with fewer than two respondents, weighting that could not be done)
are counted in :attr:`SimulationResult.notes` and reported by a warning.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
import warnings
from collections import Counter
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from methods.core.errors import UsageError
from methods.core.io import sha256_file, write_manifest, write_table
from methods.simulation.backends import BACKENDS, execute
from methods.simulation.config import SimulationConfig, load_config, parse_config
from methods.simulation.engine import Payload, build_population, prepare
from methods.simulation.report import (
    completes_for_margin,
    describe_designs,
    domain_table,
    frontier,
    headline_table,
    plot_coverage,
    plot_frontier,
    plot_sample_size,
    recommendation,
)

__all__ = [
    "RESULT_COLUMNS",
    "SimulationResult",
    "SimulationWarning",
    "cmd_simulate",
    "completes_for_margin",
    "describe_designs",
    "domain_table",
    "frontier",
    "headline_table",
    "plot_coverage",
    "plot_frontier",
    "plot_sample_size",
    "recommendation",
    "simulate",
    "summarise",
]

#: Columns of ``results.csv`` (the issue's list), then ``replicates``.
RESULT_COLUMNS: tuple[str, ...] = (
    "design",
    "estimand",
    "truth",
    "mean_estimate",
    "bias",
    "se_empirical",
    "se_estimated",
    "rmse",
    "coverage",
    "mean_completes",
    "cost",
    "replicates",
)


class SimulationWarning(UserWarning):
    """Something happened in some replicates (a failure, a merged raking level, a warning of
    an estimator); the message gives the design, what and in how many replicates."""


@dataclasses.dataclass
class SimulationResult:
    """The outcome of :func:`simulate`.

    Attributes:
        results: one row per design x estimand with a truth, columns :data:`RESULT_COLUMNS`.
        notes: ``design, message, replicates``: what happened in how many replicates.
        values: float array (designs, reps, estimands, 4): estimate, se, ci_low, ci_high.
        completes, cost: (designs, reps) per replicate; failed: bool (designs, reps).
        estimands: estimand names (third axis of ``values``); designs: design names.
        truth: (designs, estimands) true values.
        config: the parsed config; seed, reps: the run's; run: backend, workers, timings.
    """

    results: pd.DataFrame
    notes: pd.DataFrame
    values: np.ndarray
    completes: np.ndarray
    cost: np.ndarray
    failed: np.ndarray
    estimands: tuple[str, ...]
    designs: tuple[str, ...]
    truth: np.ndarray
    config: SimulationConfig
    seed: int
    reps: int
    run: dict[str, Any]

    @property
    def labels(self) -> dict[str, str]:
        """Design name -> label (from the config)."""
        return {d.name: d.label for d in self.config.designs}

    def write(self, out_dir: str | Path) -> dict[str, Path]:
        """Write ``results.csv`` (6 decimals, LF line ends, deterministic) and
        ``manifest.json`` (config SHA-256, parameters, seed, versions, git commit, notes,
        output SHA-256) into ``out_dir``."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        csv = write_table(self.results, out / "results.csv", float_digits=6)
        params = {
            "config": self.config.path,
            "title": self.config.title,
            "reps": self.reps,
            "seed": self.seed,
            **{k: v for k, v in self.run.items() if k != "seconds"},
            "designs": list(self.designs),
            "notes": self.notes.to_dict(orient="records"),
            "engine_versions": _engine_versions(),
        }
        inputs = {"config": self.config.sha256} if self.config.sha256 else {}
        manifest = write_manifest(out, params, inputs)
        data = json.loads(manifest.read_text())
        data["outputs_sha256"] = {"results.csv": sha256_file(csv)}
        manifest.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        return {"results": csv, "manifest": manifest}


def _engine_versions() -> dict[str, str]:

    out = {}
    for name in ("dask", "distributed", "tqdm", "threadpoolctl", "pyarrow"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def summarise(
    values: np.ndarray,
    completes: np.ndarray,
    cost: np.ndarray,
    truth: np.ndarray,
    designs: tuple[str, ...],
    estimands: tuple[str, ...],
) -> pd.DataFrame:
    """Performance measures per design x estimand (definitions in the module docstring).

    Arguments:
        values: (designs, reps, estimands, 4): estimate, se, ci_low, ci_high per replicate.
        completes, cost: (designs, reps).
        truth: (designs, estimands); estimands with a NaN truth (an empty domain) are left out.
        designs, estimands: names.

    Returns:
        DataFrame with :data:`RESULT_COLUMNS`, designs in order, estimands in order.
    """
    rows = []
    for d, name in enumerate(designs):
        for e, est_name in enumerate(estimands):
            theta = float(truth[d, e])
            if not np.isfinite(theta):
                continue
            v = values[d, :, e, :]
            ok = np.isfinite(v).all(axis=1)
            x, se, lo, hi = (v[ok, k] for k in range(4))
            k = int(ok.sum())
            mean = float(x.mean()) if k else np.nan
            rows.append(
                {
                    "design": name,
                    "estimand": est_name,
                    "truth": theta,
                    "mean_estimate": mean,
                    "bias": mean - theta,
                    "se_empirical": float(x.std(ddof=1)) if k > 1 else np.nan,
                    "se_estimated": float(se.mean()) if k else np.nan,
                    "rmse": float(np.sqrt(np.mean((x - theta) ** 2))) if k else np.nan,
                    "coverage": float(np.mean((lo <= theta) & (theta <= hi))) if k else np.nan,
                    "mean_completes": float(completes[d].mean()),
                    "cost": float(np.nanmean(cost[d])),
                    "replicates": k,
                }
            )
    return pd.DataFrame(rows, columns=list(RESULT_COLUMNS))


def _as_config(config: SimulationConfig | str | Path | dict) -> SimulationConfig:
    if isinstance(config, SimulationConfig):
        return config
    if isinstance(config, dict):
        return parse_config(config)
    return load_config(config)


def simulate(
    config: SimulationConfig | str | Path | dict,
    reps: int,
    seed: int,
    *,
    workers: int = 0,
    backend: str | None = None,
    scheduler: str | None = None,
    batch_size: int | None = None,
    progress: bool = True,
    population: pd.DataFrame | None = None,
) -> SimulationResult:
    """Run a design simulation.

    Arguments:
        config: a :class:`SimulationConfig`, a TOML path, a shipped example's name or a dict.
        reps: number of replicates (>= 2).
        seed: non-negative integer; replicate r uses ``SeedSequence(seed).spawn(reps)[r]``.
        workers: 0 runs in this process; N >= 1 uses N worker processes.
        backend: ``serial``, ``processes`` or ``dask``; default serial for ``workers=0`` and
            dask (a ``LocalCluster``) otherwise, or dask when ``scheduler`` is given.
        scheduler: address of a running Dask scheduler, e.g. ``tcp://127.0.0.1:8786``.
        batch_size: replicates per task (results do not depend on it).
        progress: a tqdm bar of replicates done (stderr).
        population: a population frame to use instead of the config's (victim-extract columns
            and ``true_p_<stage>``).

    Returns:
        :class:`SimulationResult`. Warns :class:`SimulationWarning` once per (design, note)
        with the number of replicates concerned.
    """
    cfg = _as_config(config)
    for name, value, lo in (("reps", reps, 2), ("seed", seed, 0), ("workers", workers, 0)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < lo:
            raise UsageError(f"{name} must be an integer >= {lo}, got {value!r}")
    if backend is None:
        backend = "dask" if (scheduler or workers) else "serial"
    if backend not in BACKENDS:
        raise UsageError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    t0 = time.perf_counter()
    base = Path(cfg.path).parent if cfg.path and Path(cfg.path).is_file() else None
    victims = population if population is not None else build_population(cfg.population, base)
    payload = prepare(cfg, victims)
    t1 = time.perf_counter()
    done = execute(
        payload,
        int(seed),
        int(reps),
        backend=backend,
        workers=int(workers),
        scheduler=scheduler,
        batch_size=batch_size,
        progress=progress,
    )
    t2 = time.perf_counter()
    return _collect(cfg, payload, done, int(seed), int(reps), backend, workers, scheduler,
                    batch_size, (t1 - t0, t2 - t1))  # fmt: skip


def _collect(cfg, payload: Payload, done, seed, reps, backend, workers, scheduler, batch_size,
             seconds) -> SimulationResult:  # fmt: skip
    D, E = len(payload.designs), len(payload.estimands)
    values = np.full((D, reps, E, 4), np.nan)
    completes = np.zeros((D, reps))
    cost = np.full((D, reps), np.nan)
    failed = np.zeros((D, reps), dtype=bool)
    notes: Counter = Counter()
    seen = np.zeros(reps, dtype=bool)
    for res in done:
        idx = res["reps"]
        values[:, idx] = res["values"]
        completes[:, idx] = res["completes"]
        cost[:, idx] = res["cost"]
        failed[:, idx] = res["failed"]
        notes.update(res["notes"])
        seen[idx] = True
    if not seen.all():  # pragma: no cover - a backend lost work
        raise RuntimeError(f"{int((~seen).sum())} replicate(s) never came back from the workers")
    designs = tuple(p.spec.name for p in payload.designs)
    truth = np.vstack([p.truth for p in payload.designs])
    results = summarise(values, completes, cost, truth, designs, payload.estimands)
    order = {n: i for i, n in enumerate(designs)}
    note_rows = sorted(notes.items(), key=lambda kv: (order[kv[0][0]], kv[0][1]))
    notes_df = pd.DataFrame(
        [{"design": d, "message": m, "replicates": c} for (d, m), c in note_rows],
        columns=["design", "message", "replicates"],
    )
    for row in notes_df.itertuples():
        warnings.warn(
            f"design {row.design!r}, {row.replicates} of {reps} replicates: {row.message}",
            SimulationWarning,
            stacklevel=3,
        )
    run = {
        "backend": backend,
        "workers": int(workers),
        "scheduler": scheduler,
        "batch_size": batch_size,
        "population_rows": payload.population_rows,
        "eligible": {p.spec.name: int(p.eligible.size) for p in payload.designs},
        "seconds": {"prepare": round(seconds[0], 3), "replicates": round(seconds[1], 3)},
    }
    return SimulationResult(
        results=results,
        notes=notes_df,
        values=values,
        completes=completes,
        cost=cost,
        failed=failed,
        estimands=payload.estimands,
        designs=designs,
        truth=truth,
        config=cfg,
        seed=seed,
        reps=reps,
        run=run,
    )


# --------------------------------------------------------------------------- command line


def cmd_simulate(args: argparse.Namespace) -> int:
    """Handler of ``vsw simulate``; returns 0 (errors raise UsageError and friends)."""
    if args.reps < 2:
        raise UsageError(f"--reps must be at least 2, got {args.reps}")
    if args.seed < 0:
        raise UsageError(f"--seed must be non-negative, got {args.seed}")
    if args.workers < 0:
        raise UsageError(f"--workers must be non-negative, got {args.workers}")
    if args.batch_size is not None and args.batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1, got {args.batch_size}")
    backend = "dask" if args.scheduler else (args.backend if args.workers else "serial")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SimulationWarning)
        res = simulate(
            args.config,
            args.reps,
            args.seed,
            workers=args.workers,
            backend=backend,
            scheduler=args.scheduler,
            batch_size=args.batch_size,
            progress=not args.quiet,
        )
    paths = res.write(args.out)
    n_est = res.results.groupby("design", sort=False).size()
    print(
        f"{len(res.designs)} designs x {int(n_est.max())} estimands, {args.reps} replicates "
        f"({backend}): wrote {paths['results']} and {paths['manifest']}",
        flush=True,
    )
    for w in caught:
        if issubclass(w.category, SimulationWarning):
            print(f"note: {w.message}", flush=True)
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    return 0
