"""Where the replicates run: in this process, a local process pool, or Dask distributed.

Every backend runs the same :func:`methods.simulation.engine.run_batch` on batches of replicate
indices and hands the batches back in any order; the caller files each replicate's numbers
under its index. A replicate's random numbers come only from its own ``SeedSequence`` child, so
results are identical whatever the backend, the number of workers or the batch size.

- ``serial``: batches in this process.
- ``processes``: :class:`concurrent.futures.ProcessPoolExecutor` (spawned workers); the
  population is pickled once per worker through the pool's initializer, never per task.
- ``dask``: a :class:`distributed.LocalCluster` of ``workers`` single-threaded processes, or an
  existing scheduler (``scheduler="tcp://host:8786"``). The population is scattered once to
  every worker (``Client.scatter(..., broadcast=True)``) and each task receives its future.

A tqdm bar counts replicates done (on stderr; ``progress=False`` turns it off).

Speed on an existing cluster: Dask's nannies export ``MALLOC_TRIM_THRESHOLD_=65536`` to their
workers, which switches off glibc's dynamic mmap threshold and made a replicate of the
benchmark 1.7 times slower. The LocalCluster started here drops it; for workers you start
yourself, set ``distributed.nanny.pre-spawn-environ`` without it (or run ``dask worker
--no-nanny``).
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import pickle
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

from tqdm import tqdm

from methods.core.errors import UsageError
from methods.simulation.engine import Payload, run_batch

__all__ = ["BACKENDS", "batches", "default_batch_size", "execute"]

BACKENDS = ("serial", "processes", "dask")

_WORKER_PAYLOAD: Payload | None = None


def default_batch_size(reps: int, workers: int) -> int:
    """About eight batches per worker (so the bar moves and workers stay busy), at most 25
    replicates each. Results do not depend on it."""
    return max(1, min(25, math.ceil(reps / (8 * max(workers, 1)))))


def batches(reps: int, size: int) -> list[range]:
    """Replicate indices 0..reps-1 cut into consecutive ranges of ``size``."""
    return [range(a, min(a + size, reps)) for a in range(0, reps, size)]


def _init_worker(blob: bytes) -> None:
    global _WORKER_PAYLOAD
    _WORKER_PAYLOAD = pickle.loads(blob)


def _run_in_worker(seed: int, reps: range) -> dict[str, Any]:
    assert _WORKER_PAYLOAD is not None, "worker not initialised"
    return run_batch(_WORKER_PAYLOAD, seed, reps)


def _serial(payload: Payload, seed: int, jobs: list[range]) -> Iterator[dict[str, Any]]:
    for job in jobs:
        yield run_batch(payload, seed, job)


def _processes(
    payload: Payload, seed: int, jobs: list[range], workers: int
) -> Iterator[dict[str, Any]]:
    blob = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(blob,)
    ) as pool:
        futures = [pool.submit(_run_in_worker, seed, job) for job in jobs]
        for fut in as_completed(futures):
            yield fut.result()


def _dask(
    payload: Payload, seed: int, jobs: list[range], workers: int, scheduler: str | None
) -> Iterator[dict[str, Any]]:
    # dask is heavy (~1 s to import) and only the dask backend needs it
    import dask
    from distributed import Client, LocalCluster
    from distributed import as_completed as dask_as_completed

    cluster = None
    if scheduler is None:
        # Dask's nannies set MALLOC_TRIM_THRESHOLD_=65536 in their workers' environment. Any
        # explicit trim threshold switches off glibc's dynamic mmap threshold (mallopt(3)), so
        # every large numpy/pandas buffer is mmapped and zeroed afresh: a replicate of the
        # 200,000-victim benchmark took 128 ms instead of 77 ms. Our workers keep glibc's
        # default; Dask's one-thread BLAS/OpenMP settings are kept.
        environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ", default={}))
        environ.pop("MALLOC_TRIM_THRESHOLD_", None)
        with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
            cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
                silence_logs=logging.CRITICAL,  # shutdown chatter; task errors still raise
            )
        client = Client(cluster)
    else:
        try:
            client = Client(scheduler, timeout="30s")
        except OSError as exc:
            raise UsageError(
                f"cannot reach the Dask scheduler at {scheduler!r} ({exc}); start one with "
                "`dask scheduler` and give its address, e.g. tcp://127.0.0.1:8786"
            ) from None
        if not client.scheduler_info().get("workers"):
            client.wait_for_workers(1, timeout=60)
    try:
        shared = client.scatter(payload, broadcast=True, hash=False)
        futures = [client.submit(run_batch, shared, seed, job, pure=False) for job in jobs]
        for fut in dask_as_completed(futures):
            yield fut.result()
            fut.release()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def execute(
    payload: Payload,
    seed: int,
    reps: int,
    *,
    backend: str = "serial",
    workers: int = 0,
    scheduler: str | None = None,
    batch_size: int | None = None,
    progress: bool = True,
    on_batch: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Run ``reps`` replicates of every design of ``payload`` on a backend.

    Arguments:
        payload: the prepared population (:func:`methods.simulation.engine.prepare`).
        seed: the run's seed (replicate r uses ``SeedSequence(seed).spawn(reps)[r]``).
        reps: number of replicates.
        backend: ``serial``, ``processes`` or ``dask``.
        workers: worker processes for ``processes`` and a Dask ``LocalCluster``.
        scheduler: address of an existing Dask scheduler (``dask`` backend only).
        batch_size: replicates per task (default :func:`default_batch_size`).
        progress: show a tqdm bar of replicates done.
        on_batch: called with each finished batch (in completion order).

    Returns:
        The finished batches, in completion order.
    """
    if backend not in BACKENDS:
        raise UsageError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend == "processes" and workers < 1:
        raise UsageError("the processes backend needs workers >= 1")
    if backend == "dask" and scheduler is None and workers < 1:
        raise UsageError("the dask backend needs --workers N (a LocalCluster) or --scheduler")
    if scheduler is not None and backend != "dask":
        raise UsageError("--scheduler is a Dask scheduler address: use the dask backend")
    size = batch_size or default_batch_size(reps, workers)
    if size < 1:
        raise UsageError(f"batch_size must be >= 1, got {size}")
    jobs = batches(reps, size)
    if backend == "serial":
        stream = _serial(payload, seed, jobs)
    elif backend == "processes":
        stream = _processes(payload, seed, jobs, workers)
    else:
        stream = _dask(payload, seed, jobs, workers, scheduler)
    done = []
    with tqdm(
        total=reps, unit="rep", desc="replicates", disable=not progress, file=sys.stderr
    ) as bar:
        for res in stream:
            done.append(res)
            bar.update(len(res["reps"]))
            if on_batch is not None:
                on_batch(res)
    return done
