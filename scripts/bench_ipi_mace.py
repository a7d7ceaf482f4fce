"""Cost of one i-PI step with MACE as ASE clients vs the NequIP/Allegro plugin as LAMMPS clients.

Runs :func:`mdvib.engines.ipi.run_pimd` for

* MACE: the tiny Cu model of :mod:`mdvib.engines.mace_env` (trained if
  missing) in the MACE environment's interpreter, fcc Cu 32 and 108 atoms;
* Allegro: mdvib's shipped ``si_allegro.nequip.pt2`` through the plugin pair
  style (LAMMPS clients), diamond Si 64 and 216 atoms;

with 1 and 4 beads (one client each, ``OMP_NUM_THREADS=1``). The cost per
step is the slope of the wall time at which ``simulation.out`` reaches each
printed step, between the first printed step at or after :data:`WARM_UP_STEPS`
and the last one (so the clients' start-up and first, slower, evaluations are
left out); ASE clients also report their calculator's mean time per call. Prints one JSON object per run and
writes them all to ``--out``.

Usage: python scripts/bench_ipi_mace.py [--steps 40] [--out bench_ipi_mace.json]
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import threading
import time
from pathlib import Path

from ase.build import bulk

from mdvib.engines.ipi import last_step, run_pimd
from mdvib.engines.ipi_input import PIMDSettings
from mdvib.engines.mace_env import find_mace_python, model_path, train_tiny_model
from mdvib.engines.potentials import make_potential
from mdvib.results import write_text_atomic

#: Steps left out at the start of the timing window.
WARM_UP_STEPS = 10


def _timed_run(settings: PIMDSettings, atoms, potential, workdir: Path) -> dict:
    """Run and return wall-clock times of the printed steps."""
    seen: list[tuple[float, int]] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            step = last_step(workdir / "simulation.out")
            if step is not None and (not seen or step > seen[-1][1]):
                seen.append((time.perf_counter(), step))
            time.sleep(0.02)

    thread = threading.Thread(target=watch, daemon=True)
    start = time.perf_counter()
    thread.start()
    run = run_pimd(settings, atoms, potential, workdir)
    done.set()
    thread.join()
    (t0, s0), (t1, s1) = next(p for p in seen if p[1] >= WARM_UP_STEPS), seen[-1]
    calculator = [re.search(r"calculator ([0-9.]+) ms per call", log.read_text()) for log in run.client_logs]
    return {"steps": run.last_step, "wall_s": time.perf_counter() - start, "startup_s": seen[0][0] - start,
            "ms_per_step": 1e3 * (t1 - t0) / (s1 - s0),
            "calculator_ms_per_call": float(calculator[0][1]) if calculator[0] else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--out", default="bench_ipi_mace.json")
    parser.add_argument("--only", choices=("mace", "allegro"), default=None, help="run one route only")
    args = parser.parse_args()
    python = find_mace_python()
    if python is None:
        raise SystemExit("no MACE interpreter: python -m mdvib.engines.mace_env venv")
    model = model_path(python)
    model = model if model.is_file() else train_tiny_model(python)
    mace = make_potential("ase", ["Cu"], params={
        "calculator": "mace.calculators:MACECalculator", "python": str(python),
        "kwargs": {"model_paths": str(model), "device": "cpu", "default_dtype": "float64"}})
    allegro = make_potential("allegro", ["Si"], file="si_allegro.nequip.pt2")
    systems = [("mace", mace, bulk("Cu", "fcc", a=3.61, cubic=True), n) for n in (2, 3)]
    systems += [("allegro", allegro, bulk("Si", "diamond", a=5.43, cubic=True), n) for n in (2, 3)]
    systems = [row for row in systems if args.only in (None, row[0])]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, potential, cell, repeat in systems:
            atoms = cell.repeat((repeat, repeat, repeat))
            for beads in (1, 4):
                settings = PIMDSettings(beads=beads, clients=1, steps=args.steps, stride=2, temperature_k=300.0,
                                        timestep_fs=1.0, tau_fs=50.0, timeout_s=300.0, bead_trajectories=False)
                timing = _timed_run(settings, atoms, potential, Path(tmp) / f"{name}_{len(atoms)}_{beads}")
                row = {"potential": name, "atoms": len(atoms), "beads": beads, **timing,
                       "atom_evaluations_per_s": len(atoms) * beads / (timing["ms_per_step"] / 1e3)}
                print(json.dumps(row), flush=True)
                results.append(row)
    write_text_atomic(args.out, json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
