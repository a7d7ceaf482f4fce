#!/usr/bin/env python
"""Benchmark: IR spectrum from dipoles — mdvib vs calorine's processing on the same input.

Two inputs, generated once with NumPy and cached:

* **series**: a 10⁵-frame total-dipole series (three AR(2) components with a
  band near 1500 cm⁻¹, 1 fs apart), ``.npy``;
* **charges**: a 10⁴-frame × 3000-atom fixed-charge trajectory (1000 rigid-site
  "water" triples O/H/H, each atom oscillating about its site, 1 fs apart) in
  an H5MD file (float32 positions, 30 Å cubic box).

Each tool runs in its own child process (wall time and the child's peak RSS
from ``os.wait4``, see ``_common.py``):

* **mdvib** — ``IRAnalysis`` through the Python API: ``SeriesDipoles`` on the
  series (a one-atom in-memory trajectory supplies the time axis), or
  ``ChargeDipoles`` streaming the H5MD file chunk by chunk (positions made
  continuous by minimum-image steps); ``method="dipole"``, one block, Gaussian
  lag window of W frames (σ = W/3) — calorine's estimator, so the spectra must agree.
* **calorine** 4.1 — what a calorine user writes: the series as a DataFrame
  (``mu_x, mu_y, mu_z``), or for charges the whole position array read with
  h5py, M = Σ q r with NumPy, then ``calorine.tools.get_ir_spectrum(column='mu',
  t_sigma=W/3·Δt, window_size=W·Δt)``.

The spectra (ε″ with the volume) are compared on calorine's grid (mdvib's
interpolated): maximum difference over the peak.

Usage::

    python benchmarks/bench_ir.py            # 10⁵ frames; 10⁴ frames × 3000 atoms (~720 MB of positions)
    python benchmarks/bench_ir.py --quick    # 10⁴ frames; 2000 frames × 3000 atoms

Results: ``benchmarks/results/bench_ir.json`` and ``.md`` (``bench_ir_quick.*`` with ``--quick``).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import DEFAULT_CACHE, RESULTS_DIR, atomic_write_json, atomic_write_text, run_measured  # noqa: E402

TEMPERATURE_K = 300.0
DT_FS = 1.0
BOX_A = 30.0
CHARGES = {"O": -0.8476, "H": 0.4238}
#: Correlation window in frames (``--quick``: 500).
WINDOW = 2000


# --------------------------------------------------------------------------- inputs


def ensure_series(cache: Path, n_frames: int) -> Path:
    """Cached dipole series, shape (n_frames, 3), e·Å: AR(2) noise with a resonance near 1500 cm⁻¹."""
    path = cache / f"ir_dipoles_{n_frames}.npy"
    if path.exists():
        return path
    from scipy.signal import lfilter

    rng = np.random.default_rng(12)
    radius, theta = 0.995, 2 * np.pi * 1500.0 * 2.99792458e10 * DT_FS * 1e-15
    series = lfilter([0.01], [1.0, -2 * radius * np.cos(theta), radius**2], rng.normal(size=(n_frames, 3)), axis=0)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, series + 0.5)
    os.replace(tmp, path)
    return path


def ensure_charges(cache: Path, n_frames: int, n_molecules: int = 1000) -> Path:
    """Cached H5MD file of n_frames × 3·n_molecules atoms oscillating about fixed sites (float32 Å)."""
    import h5py

    path = cache / f"ir_charges_{n_frames}x{3 * n_molecules}.h5"
    if path.exists():
        return path
    rng = np.random.default_rng(5)
    n_atoms = 3 * n_molecules
    sites = rng.uniform(0, BOX_A, (n_atoms, 3))
    nu_cm = rng.uniform(300, 3800, (n_atoms, 3))
    omega = 2 * np.pi * nu_cm * 2.99792458e10 * 1e-15  # rad/fs
    amplitude = 0.05 * rng.uniform(0.5, 1.5, (n_atoms, 3))
    phase = rng.uniform(0, 2 * np.pi, (n_atoms, 3))
    numbers = np.tile([8.0, 1.0, 1.0], n_molecules)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.h5")
    with h5py.File(tmp, "w") as f:
        f.create_group("h5md").attrs["version"] = np.array([1, 1])
        atoms = f.create_group("particles/atoms")
        box = atoms.create_group("box")
        box.attrs["dimension"] = 3
        box.attrs["boundary"] = np.array([b"periodic"] * 3)
        box.create_dataset("edges", data=np.full(3, BOX_A)).attrs["unit"] = "Angstrom"
        atoms.create_dataset("species", data=numbers)
        group = atoms.create_group("position")
        value = group.create_dataset("value", (n_frames, n_atoms, 3), dtype=np.float32, chunks=(64, n_atoms, 3))
        value.attrs["unit"] = "Angstrom"
        group.create_dataset("step", data=np.arange(n_frames))
        group.create_dataset("time", data=np.arange(n_frames) * DT_FS).attrs["unit"] = "fs"
        for lo in range(0, n_frames, 256):
            t = np.arange(lo, min(lo + 256, n_frames))[:, None, None] * DT_FS
            value[lo : lo + t.shape[0]] = np.mod(sites + amplitude * np.cos(omega * t + phase), BOX_A)
    os.replace(tmp, path)
    return path


# --------------------------------------------------------------------------- workers (child processes)


def _save(out: str, nu_thz: np.ndarray, eps: np.ndarray) -> None:
    np.savez(out, nu_thz=nu_thz, eps=eps)


def worker_mdvib(job: dict) -> None:
    from mdvib.analysis.dipoles import ChargeDipoles, SeriesDipoles
    from mdvib.analysis.ir import IRAnalysis
    from mdvib.trajectory import Trajectory

    options = dict(method="dipole", window=job["window"], window_function="gaussian", blocks=1)
    if job["case"] == "series":
        series = np.load(job["input"])
        trajectory = Trajectory.from_arrays(np.zeros((series.shape[0], 1, 3)), ["O"], DT_FS,
                                            cells=np.eye(3) * BOX_A)
        result = IRAnalysis(TEMPERATURE_K, SeriesDipoles(series, job["input"]), **options).run(trajectory)
    else:
        trajectory = Trajectory.open(job["input"])
        result = IRAnalysis(TEMPERATURE_K, ChargeDipoles(CHARGES), **options).run(trajectory)
    _save(job["out"], result.frequencies_thz, result.eps_imag)


def worker_calorine(job: dict) -> None:
    import pandas as pd
    from calorine.tools import get_ir_spectrum

    if job["case"] == "series":
        dipoles = np.load(job["input"])
    else:
        import h5py

        with h5py.File(job["input"]) as f:
            positions = f["particles/atoms/position/value"][()].astype(np.float64)
            numbers = f["particles/atoms/species"][()]
        charges = np.where(numbers == 8.0, CHARGES["O"], CHARGES["H"])
        continuous = positions[0] + np.cumsum(np.concatenate(
            [np.zeros_like(positions[:1]), _minimum_image(np.diff(positions, axis=0))]), axis=0)
        dipoles = np.einsum("i,fij->fj", charges, continuous)
    frame = pd.DataFrame(dipoles, columns=["mu_x", "mu_y", "mu_z"])
    window_ps = job["window"] * DT_FS * 1e-3
    spectrum = get_ir_spectrum(frame, volume=BOX_A**3, temperature=TEMPERATURE_K, column="mu", dt=DT_FS * 1e-3,
                               t_sigma=window_ps / 3, window_size=window_ps + 0.5 * DT_FS * 1e-3)
    _save(job["out"], spectrum["angular_frequency"].to_numpy() / (2 * np.pi), spectrum["epsilon_imag"].to_numpy())


def _minimum_image(steps: np.ndarray) -> np.ndarray:
    return steps - BOX_A * np.round(steps / BOX_A)


WORKERS = {"mdvib": worker_mdvib, "calorine": worker_calorine}


# --------------------------------------------------------------------------- driver


def measure(tool: str, case: str, path: Path, work: Path, window: int) -> tuple[dict, dict]:
    out = work / f"{tool}_{case}.npz"
    job = {"case": case, "input": str(path), "out": str(out), "window": window}
    cmd = [sys.executable, __file__, "--worker", tool, "--job", json.dumps(job)]
    measured = run_measured(cmd)
    if not measured.ok:
        raise SystemExit(f"{tool} {case} failed:\n{measured.tail()}")
    print(f"  {tool:9s} {case:8s} {measured.wall_s:8.2f} s  {measured.peak_mb:8.0f} MB", flush=True)
    data = np.load(out)
    return ({"tool": tool, "case": case, "wall_s": measured.wall_s, "peak_mb": measured.peak_mb,
             "cpu_s": measured.cpu_s}, {"nu_thz": data["nu_thz"], "eps": data["eps"]})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="10⁴-frame series, 2000 × 3000 charges")
    ap.add_argument("--cache", default=str(DEFAULT_CACHE), help="input cache (default %(default)s)")
    ap.add_argument("--results", default=str(RESULTS_DIR), help="output folder (default %(default)s)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--job", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        WORKERS[args.worker](json.loads(args.job))
        return 0
    cache = Path(args.cache)
    n_series, n_traj = (10_000, 2_000) if args.quick else (100_000, 10_000)
    window = 500 if args.quick else WINDOW
    inputs = {"series": ensure_series(cache, n_series), "charges": ensure_charges(cache, n_traj)}
    work = cache / "bench_ir_work"
    work.mkdir(parents=True, exist_ok=True)
    # warm-up: numba's on-disk cache and the page cache
    measure("mdvib", "series", inputs["series"], work, window)
    rows, checks = [], {}
    for case, path in inputs.items():
        print(f"bench_ir: {case}: {path.name}", flush=True)
        spectra = {}
        for tool in ("mdvib", "calorine"):
            row, spectra[tool] = measure(tool, case, path, work, window)
            rows.append(row)
        ours, theirs = spectra["mdvib"], spectra["calorine"]
        mine = np.interp(theirs["nu_thz"], ours["nu_thz"], ours["eps"])
        checks[case] = float(np.abs(mine - theirs["eps"]).max() / theirs["eps"].max())
    table = ["| case | tool | wall (s) | peak RSS (MB) |", "| --- | --- | ---: | ---: |"]
    table += [f"| {r['case']} | {r['tool']} | {r['wall_s']:.2f} | {r['peak_mb']:.0f} |" for r in rows]
    ratios = {case: next(r["wall_s"] for r in rows if r["case"] == case and r["tool"] == "calorine")
              / next(r["wall_s"] for r in rows if r["case"] == case and r["tool"] == "mdvib") for case in inputs}
    summary = {
        "benchmark": "bench_ir", "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "host": platform.node(), "cpus": os.cpu_count(), "load_average": os.getloadavg(),
        "inputs": {"series_frames": n_series, "charges_frames": n_traj, "charges_atoms": 3000,
                   "window_frames": window, "dt_fs": DT_FS},
        "rows": rows, "speedup_calorine_over_mdvib": ratios, "max_eps_difference_over_peak": checks,
    }
    name = "bench_ir_quick" if args.quick else "bench_ir"
    results = Path(args.results)
    atomic_write_json(results / f"{name}.json", summary)
    lines = [f"# {name}", "", f"{summary['date']}, {summary['cpus']} CPUs, load {summary['load_average'][0]:.1f}",
             "", *table, "",
             *[f"- {case}: calorine/mdvib wall-time ratio {ratios[case]:.2f}, max |Δε″|/peak {checks[case]:.1e}"
               for case in inputs], ""]
    atomic_write_text(results / f"{name}.md", "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
