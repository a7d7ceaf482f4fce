"""Analyse the independent parts of a run in parallel: local processes or a Dask cluster.

:meth:`mdvib.analysis.base.AnalysisBase.run` calls :func:`run_parts` when
``workers > 1`` or a ``scheduler`` is given. Each task receives the prepared
analyser, the trajectory (its reader, with the frame index a text reader built
once, so a worker seeks straight to its frames) and one :class:`Part`; it
returns the part's partial result, and the caller merges them in part order.

* ``workers=N``: a :class:`concurrent.futures.ProcessPoolExecutor` of N
  processes started with ``spawn`` (no inherited numba/OpenMP/BLAS threads);
  each runs its numba kernels and BLAS on ``cpu_count // N`` threads. The pool
  is kept for later runs in the same process (a campaign's temperatures), so
  the start-up (about 2 s: importing mdvib and numba in each process) is paid
  once; :func:`shutdown_pools` stops it (also at exit).
* ``scheduler="local"``: a Dask ``LocalCluster`` of ``workers`` single-threaded
  worker processes, kept like the pools.
* ``scheduler="tcp://host:8786"`` (any Dask scheduler address): the parts are
  submitted to that cluster; its workers must have mdvib installed and see
  the trajectory file at the same path. Their thread settings are left alone.

Dask is optional (``pip install 'mdvib[parallel]'``); process pools need nothing.
"""

from __future__ import annotations

import atexit
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from typing import TYPE_CHECKING, Any

from mdvib.errors import MdvibError, SettingsError
from mdvib.trajectory import FrameSelection, Trajectory

if TYPE_CHECKING:
    from mdvib.analysis.base import AnalysisBase, Part


def analyse_part_task(analysis: AnalysisBase, trajectory: Trajectory, selection: FrameSelection, part: Part,
                      threads: int | None) -> Any:
    """Worker entry point: analyse one part, with numba and BLAS limited to ``threads`` (None: as they are)."""
    if threads is None:
        return analysis.analyse_part(trajectory, selection, part)
    import numba
    from threadpoolctl import threadpool_limits

    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    with threadpool_limits(limits=threads):
        return analysis.analyse_part(trajectory, selection, part)


def run_parts(analysis: AnalysisBase, trajectory: Trajectory, selection: FrameSelection, parts: list[Part],
              workers: int, scheduler: str | None) -> list:
    """Partial results of ``parts``, in part order, computed in parallel.

    Raises
    ------
    SettingsError
        If Dask is asked for but not installed, or the scheduler cannot be reached.
    """
    from tqdm.auto import tqdm  # here: it takes ~0.1 s to import, and the module is imported for shutdown_pools too

    bar = tqdm(total=len(parts), unit="part", desc=f"{analysis.progress_label} ({_where(workers, scheduler)})",
               disable=not analysis.progress, leave=False)
    with bar:
        if scheduler is None:
            return _process_pool(analysis, trajectory, selection, parts, workers, bar)
        return _dask(analysis, trajectory, selection, parts, workers, scheduler, bar)


def _where(workers: int, scheduler: str | None) -> str:
    if scheduler is None:
        return f"{workers} processes"
    return f"Dask {'LocalCluster' if scheduler == 'local' else scheduler}"


_POOLS: dict[int, ProcessPoolExecutor] = {}


def _pool(workers: int) -> ProcessPoolExecutor:
    """A process pool of ``workers`` processes, kept for later runs (starting one costs about 2 s)."""
    pool = _POOLS.get(workers)
    if pool is None:
        pool = _POOLS[workers] = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"))
    return pool


@atexit.register
def shutdown_pools() -> None:
    """Stop the kept process pools and Dask clients (and the LocalClusters mdvib started)."""
    while _POOLS:
        _POOLS.popitem()[1].shutdown(cancel_futures=True)
    while _CLIENTS:
        (scheduler, _), client = _CLIENTS.popitem()
        cluster = client.cluster if scheduler == "local" else None
        client.close()
        if cluster is not None:
            cluster.close()


def _process_pool(analysis, trajectory, selection, parts, workers, bar) -> list:
    threads = max(1, (os.cpu_count() or 1) // workers)
    results: list = [None] * len(parts)
    pool = _pool(workers)
    futures = {pool.submit(analyse_part_task, analysis, trajectory, selection, part, threads): k
               for k, part in enumerate(parts)}
    try:
        for future in as_completed(futures):
            results[futures[future]] = future.result()
            bar.update(1)
    except BrokenProcessPool as exc:
        _POOLS.pop(workers, None)
        pool.shutdown(cancel_futures=True)  # the next run starts a new pool
        raise MdvibError(f"a worker process of the {analysis.progress_label} analysis died ({exc}); out of memory? "
                         "try fewer workers") from exc
    except BaseException:
        for future in futures:
            future.cancel()
        raise
    return results


def _dask(analysis, trajectory, selection, parts, workers, scheduler, bar) -> list:
    try:
        from distributed import as_completed as dask_as_completed
    except ImportError as exc:
        raise SettingsError("scheduler=... needs Dask distributed: pip install 'mdvib[parallel]' "
                            "(or use workers=N for local processes)") from exc
    client, threads = _dask_client(scheduler, workers)
    futures = [client.submit(analyse_part_task, analysis, trajectory, selection, part, threads, pure=False)
               for part in parts]
    for _ in dask_as_completed(futures):
        bar.update(1)
    return client.gather(futures)


_CLIENTS: dict[tuple[str, int], Any] = {}


def _dask_client(scheduler: str, workers: int):
    """A Dask client (kept for later runs) and the threads per task (1 on a LocalCluster, else None)."""
    from distributed import Client, LocalCluster

    key = (scheduler, workers if scheduler == "local" else 0)
    if key not in _CLIENTS:
        if scheduler == "local":
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
            _CLIENTS[key] = Client(cluster)
        else:
            try:
                _CLIENTS[key] = Client(scheduler, timeout="20s")
            except (OSError, TimeoutError) as exc:
                raise SettingsError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from exc
    return _CLIENTS[key], (1 if scheduler == "local" else None)
