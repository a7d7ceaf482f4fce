"""Benchmark: LAMMPS text dump reading, mdvib vs MDAnalysis.

Writes (once, cached in ``benchmarks/cache/``) a synthetic dump of
``--atoms`` atoms × ``--frames`` frames with columns ``id type xu yu zu vx vy vz``
in a random atom order per frame and LAMMPS's default ``%g`` number format,
then times one full pass over all frames with each reader. Each reader runs in
its own subprocess so that peak memory (``VmHWM``) is its own.

Usage::

    python benchmarks/bench_reader.py [--atoms 4096] [--frames 200]

Results go to ``benchmarks/results/bench_reader.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CACHE = HERE / "cache"
RESULTS = HERE / "results"


def write_dump(path: Path, n_atoms: int, n_frames: int, seed: int = 0) -> None:
    """Write a synthetic metal-units dump like ``dump custom ... id type xu yu zu vx vy vz`` produces.

    Parameters
    ----------
    path : Path
        Output file (written atomically).
    n_atoms, n_frames : int
        Size of the trajectory.
    seed : int
        Random seed.
    """
    rng = np.random.default_rng(seed)
    side = 2.715 * round(n_atoms ** (1 / 3))
    pos = rng.uniform(0.0, side, (n_atoms, 3))
    vel = rng.normal(0.0, 5.0, (n_atoms, 3))  # Å/ps, about 600 K for Si
    types = rng.integers(1, 3, n_atoms)
    ids = np.arange(1, n_atoms + 1)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as fh:
        for frame in range(n_frames):
            pos += vel * 0.01
            vel += rng.normal(0.0, 0.5, vel.shape)
            order = rng.permutation(n_atoms)
            fh.write(
                f"ITEM: TIMESTEP\n{10 * frame}\nITEM: NUMBER OF ATOMS\n{n_atoms}\n"
                f"ITEM: BOX BOUNDS pp pp pp\n"
                + f"{0.0:.16e} {side:.16e}\n" * 3
                + "ITEM: ATOMS id type xu yu zu vx vy vz\n"
            )
            block = np.column_stack([ids[order], types[order], pos[order], vel[order]])
            np.savetxt(fh, block, fmt="%d %d %g %g %g %g %g %g")
    os.replace(tmp, path)


def _cpu_seconds() -> float:
    """User + system CPU time of this process, all threads (s)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _rss_mb(field: str) -> float:
    """Value of ``field`` (VmRSS, VmHWM) from /proc/self/status in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def worker_mdvib(path: Path) -> dict:
    """Full pass with mdvib's reader (after loading the cached numba kernels)."""
    from mdvib.io.lammps_dump import LammpsDumpReader

    options = {"units": "metal", "dt_fs": 1.0, "type_map": {1: "Si", 2: "O"}}
    for _ in LammpsDumpReader(path, **options).iter_chunks(chunk_frames=1, stop=1):
        pass  # loads the compiled kernels from numba's cache
    rss0 = _rss_mb("VmRSS")
    c0, t0 = _cpu_seconds(), time.perf_counter()
    reader = LammpsDumpReader(path, **options)
    n = 0
    last = None
    for chunk in reader.iter_chunks(chunk_frames=64):
        n += chunk.n_frames
        last = chunk.positions[-1]
    seconds, cpu = time.perf_counter() - t0, _cpu_seconds() - c0
    import numba

    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "threads": numba.get_num_threads(),
        "frames": n,
        "atoms": reader.info.n_atoms,
        "rss_before_mb": rss0,
        "last": last,
    }


def worker_mdanalysis(path: Path) -> dict:
    """Full pass with MDAnalysis's LAMMPSDUMP reader."""
    import MDAnalysis

    rss0 = _rss_mb("VmRSS")
    c0, t0 = _cpu_seconds(), time.perf_counter()
    universe = MDAnalysis.Universe(str(path), format="LAMMPSDUMP")
    n = 0
    last = None
    for ts in universe.trajectory:
        n += 1
        last = ts.positions
    seconds, cpu = time.perf_counter() - t0, _cpu_seconds() - c0
    order = np.argsort(universe.atoms.ids)
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "threads": 1,
        "frames": n,
        "atoms": len(universe.atoms),
        "rss_before_mb": rss0,
        "last": last[order],
    }


WORKERS = {"mdvib": worker_mdvib, "MDAnalysis": worker_mdanalysis}


def run_worker(name: str, path: Path) -> dict:
    """Run one reader in a subprocess and return its measurements."""
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", name, str(path)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{name} worker failed:\n{proc.stderr}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["last"] = np.array(result["last"])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--atoms", type=int, default=4096)
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--worker", nargs=2, metavar=("NAME", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        name, path = args.worker
        result = WORKERS[name](Path(path))
        result["peak_rss_mb"] = _rss_mb("VmHWM")
        result["last"] = result["last"].tolist()
        print(json.dumps(result))
        return

    CACHE.mkdir(exist_ok=True)
    RESULTS.mkdir(exist_ok=True)
    path = CACHE / f"synthetic_{args.atoms}x{args.frames}.dump"
    if not path.exists():
        print(f"writing {path} ...", flush=True)
        write_dump(path, args.atoms, args.frames)
    with open(path, "rb") as fh:  # warm the page cache so both readers start equal
        while fh.read(1 << 24):
            pass

    load_before = os.getloadavg()[0]
    runs = {name: run_worker(name, path) for name in WORKERS}
    for r in runs.values():
        r["atom_frames_per_s"] = r["atoms"] * r["frames"] / r["seconds"]
    diff = float(np.max(np.abs(runs["mdvib"]["last"] - runs["MDAnalysis"]["last"])))
    ratio = runs["mdvib"]["atom_frames_per_s"] / runs["MDAnalysis"]["atom_frames_per_s"]

    print(f"\n{path.name}: {path.stat().st_size / 2**20:.1f} MiB, {args.atoms} atoms x {args.frames} frames")
    print(f"load average before: {load_before:.2f} on {os.cpu_count()} CPUs (other work slows the wall-clock rates)")
    print(
        f"{'reader':<12} {'threads':>7} {'wall s':>7} {'cpu s':>7} {'atom-frames/s':>14} "
        f"{'per cpu-s':>10} {'peak RSS MiB':>13} {'RSS growth MiB':>15}"
    )
    for name, r in runs.items():
        r["atom_frames_per_cpu_s"] = r["atoms"] * r["frames"] / r["cpu_seconds"]
        growth = r["peak_rss_mb"] - r["rss_before_mb"]
        print(
            f"{name:<12} {r['threads']:7d} {r['seconds']:7.2f} {r['cpu_seconds']:7.2f} {r['atom_frames_per_s']:14.3e} "
            f"{r['atom_frames_per_cpu_s']:10.3e} {r['peak_rss_mb']:13.0f} {growth:15.0f}"
        )
    print(f"speed-up mdvib / MDAnalysis: {ratio:.1f}x; max |position difference| last frame: {diff:.2e} A")

    report = {
        "benchmark": "lammps text dump reading, full pass",
        "file": str(path.relative_to(HERE.parent)),
        "file_mib": path.stat().st_size / 2**20,
        "n_atoms": args.atoms,
        "n_frames": args.frames,
        "columns": "id type xu yu zu vx vy vz",
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_before": load_before,
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "readers": {name: {k: v for k, v in r.items() if k != "last"} for name, r in runs.items()},
        "speedup": ratio,
        "max_abs_position_difference_A": diff,
    }
    out = RESULTS / "bench_reader.json"
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    os.replace(tmp, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
