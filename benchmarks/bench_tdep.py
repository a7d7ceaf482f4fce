"""Benchmark: TDEP effective FC2 + FC3 fit, mdvib vs hiPhive vs symfc.

Problem (issue 4): 512-atom Stillinger–Weber Si (4×4×4 conventional cells),
100 snapshots from LAMMPS MD at 300 K (Nosé–Hoover NVT, forces dumped every
20 steps after 2 ps of equilibration; cached in ``benchmarks/cache/``),
cutoffs rc2 = 5 Å, rc3 = 4 Å, joint least squares of FC2 and FC3 (hiPhive and
symfc fit jointly; mdvib is run in the same mode).

Each tool runs in its own child process (``_common.run_measured``: CPU time,
wall time, peak RSS). All read the same dump with mdvib's reader and use the
same displacements (minimum image from the ideal structure); what is timed is
the fit itself as each tool's documentation does it:

* mdvib: ``TDEPAnalysis.run`` (reading, mapping, basis, streamed normal
  equations, solve) then phonopy frequencies at Γ/X/L;
* hiPhive: ``ClusterSpace`` + ``StructureContainer`` + trainstation
  ``Optimizer`` (least squares) + ``ForceConstantPotential.get_force_constants``;
* symfc: ``Symfc(...).run(max_order=3)`` with cutoffs {2: rc2, 3: rc3}, compact
  force constants (``is_compact_fc=False`` would try to allocate 27 GiB of
  FC3 indices for 512 atoms).

Every worker writes its full FC2 (N, N, 3, 3) in reference atom order; the
parent computes Γ/X/L frequencies of all of them with the same phonopy set-up.

Usage::

    .venv/bin/python benchmarks/bench_tdep.py [--snapshots 100] [--skip-symfc] [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    DEFAULT_CACHE,
    RESULTS_DIR,
    atomic_write_json,
    atomic_write_text,
    python_exe,
    run_measured,
)

REPS = 4
A = 5.431
RC2, RC3 = 5.0, 4.0
QPOINTS = {"Γ": [0.0, 0.0, 0.0], "X": [0.5, 0.5, 0.0], "L": [0.5, 0.5, 0.5]}


# --------------------------------------------------------------------------- data


def ensure_md(cache: Path, n_snapshots: int) -> tuple[Path, Path]:
    """LAMMPS data file and dump (``id type x y z fx fy fz``, wrapped, sorted) of 300 K SW-Si MD."""
    from mdvib.engines.lammps_library import create_lammps, potentials_dir

    cache.mkdir(parents=True, exist_ok=True)
    name = f"tdep_si512_sw_300K_{n_snapshots}"
    dump, data = cache / f"{name}.dump", cache / f"{name}.data"
    if dump.exists() and data.exists():
        return data, dump
    partial = cache / f"{name}.dump.partial"
    lmp = create_lammps(log=str(cache / f"{name}.log"))
    try:
        lmp.commands_string(f"""
units metal
atom_style atomic
boundary p p p
lattice diamond {A}
region box block 0 {REPS} 0 {REPS} 0 {REPS}
create_box 1 box
create_atoms 1 box
mass 1 28.0855
pair_style sw
pair_coeff * * {potentials_dir() / 'Si.sw'} Si
neighbor 1.0 bin
write_data {data}
timestep 0.001
velocity all create 600 4928459 mom yes rot yes dist gaussian
fix nvt all nvt temp 300 300 0.1
run 2000
reset_timestep 0
dump d all custom 20 {partial} id type x y z fx fy fz
dump_modify d sort id format float %.10g
run {20 * (n_snapshots - 1)}
""")
    finally:
        lmp.close()
    os.replace(partial, dump)
    return data, dump


# --------------------------------------------------------------------------- workers (child processes)


def _snapshots(data: str, dump: str):
    """(reference, displacements (n, N, 3) Å, forces (n, N, 3) eV/Å) with mdvib's reader."""
    from mdvib.analysis.tdep.reference import map_atoms, read_reference, snapshot_displacements
    from mdvib.trajectory import Trajectory

    reference = read_reference(data, type_map={1: "Si"})
    traj = Trajectory.open(dump, dt_fs=1.0, type_map={1: "Si"})
    us, fs = [], []
    atom_map = None
    for chunk in traj.iter_chunks(chunk_frames=64):
        if atom_map is None:
            atom_map = map_atoms(reference, traj.info.atom_ids, traj.species, chunk.positions[0], chunk.cells[0], dump)
        u, f = snapshot_displacements(reference, atom_map, chunk, traj.info.atom_ids, dump,
                                      np.arange(chunk.n_frames), remove_drift=False)
        us.append(u)
        fs.append(f)
    return reference, np.concatenate(us), np.concatenate(fs)


def worker_mdvib(data: str, dump: str, out: str, fit: str) -> None:
    from mdvib.analysis.tdep import TDEPAnalysis, read_reference
    from mdvib.analysis.tdep.export import build_phonopy
    from mdvib.trajectory import Trajectory

    t0 = time.perf_counter()
    reference = read_reference(data, type_map={1: "Si"})
    traj = Trajectory.open(dump, dt_fs=1.0, type_map={1: "Si"})
    result = TDEPAnalysis(reference, rc2=RC2, rc3=RC3, fit=fit, remove_drift=False).run(traj)
    t_fit = time.perf_counter() - t0
    model = build_phonopy(result)
    model.phonon.run_qpoints(list(QPOINTS.values()))
    t_total = time.perf_counter() - t0
    np.save(out, result.full_fc2())
    print(json.dumps({"fit_s": t_fit, "total_s": t_total, "r2": result.r2,
                      "n_parameters": [result.n_parameters_fc2, result.n_parameters_fc3]}))


def worker_hiphive(data: str, dump: str, out: str) -> None:
    import hiphive
    from ase.build import bulk
    from trainstation import Optimizer

    reference, u, f = _snapshots(data, dump)
    t0 = time.perf_counter()
    ideal = reference.to_ase()
    cs = hiphive.ClusterSpace(bulk("Si", "diamond", a=A), [RC2, RC3])
    sc = hiphive.StructureContainer(cs)
    for disp, force in zip(u, f):
        atoms = ideal.copy()
        atoms.new_array("displacements", disp)
        atoms.new_array("forces", force)
        sc.add_structure(atoms)
    opt = Optimizer(sc.get_fit_data(), fit_method="least-squares", train_size=1.0)
    opt.train()
    fcs = hiphive.ForceConstantPotential(cs, opt.parameters).get_force_constants(ideal)
    fc2 = fcs.get_fc_array(order=2)
    t_fit = time.perf_counter() - t0
    np.save(out, fc2)
    print(json.dumps({"fit_s": t_fit, "r2": float(opt.summary.get("r2_train", float("nan"))),
                      "n_parameters": [cs.get_n_dofs_by_order(2), cs.get_n_dofs_by_order(3)]}))


def worker_symfc(data: str, dump: str, out: str) -> None:
    from symfc import Symfc
    from symfc.utils.utils import SymfcAtoms

    reference, u, f = _snapshots(data, dump)
    t0 = time.perf_counter()
    atoms = SymfcAtoms(numbers=[14] * reference.n_atoms, cell=reference.cell,
                       scaled_positions=reference.scaled_positions)
    symfc = Symfc(atoms, displacements=u, forces=f, cutoff={2: RC2, 3: RC3}).run(max_order=3)  # compact FCs
    compact = symfc.force_constants[2]  # (n_p, N, 3, 3); full FC3 would need 27 GiB of indices
    t_fit = time.perf_counter() - t0
    trans = symfc.basis_set[2].translation_permutations  # (n_t, N)
    fc2 = np.zeros((reference.n_atoms, reference.n_atoms, 3, 3))
    for row, atom in enumerate(symfc.p2s_map):
        fc2[trans[:, atom][:, None], trans] = compact[row][None]
    np.save(out, fc2)
    print(json.dumps({"fit_s": t_fit}))


# --------------------------------------------------------------------------- comparison


def frequencies(data: Path, fc2_full: np.ndarray) -> dict[str, list[float]]:
    """Γ/X/L frequencies (THz) of a full FC2 in reference order, via one fixed phonopy set-up."""
    from phonopy import Phonopy
    from phonopy.structure.atoms import PhonopyAtoms
    from scipy.spatial import cKDTree

    from mdvib.analysis.tdep import read_reference

    reference = read_reference(data, type_map={1: "Si"})
    basis = np.array([[0, 0, 0], [0, .5, .5], [.5, 0, .5], [.5, .5, 0],
                      [.25, .25, .25], [.25, .75, .75], [.75, .25, .75], [.75, .75, .25]])
    unit = PhonopyAtoms(symbols=["Si"] * 8, cell=np.eye(3) * A, scaled_positions=basis, masses=[28.0855] * 8)
    phonon = Phonopy(unit, supercell_matrix=np.eye(3, dtype=int) * REPS, primitive_matrix="F")
    tree = cKDTree(np.mod(reference.scaled_positions, 1.0) % 1.0, boxsize=1.0)
    _, index = tree.query(np.mod(phonon.supercell.scaled_positions, 1.0) % 1.0)
    phonon.force_constants = fc2_full[np.ix_(index, index)]
    phonon.run_qpoints(list(QPOINTS.values()))
    return {k: [round(float(x), 4) for x in v] for k, v in zip(QPOINTS, phonon.qpoints.frequencies)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--snapshots", type=int, default=100)
    ap.add_argument("--cache", default=str(DEFAULT_CACHE))
    ap.add_argument("--skip-symfc", action="store_true", help="symfc's FC3 needs minutes and several GB")
    ap.add_argument("--skip-hiphive", action="store_true")
    ap.add_argument("--repeat", type=int, default=1,
                    help="keep the fastest of N runs of each tool (symfc, which takes minutes, runs once)")
    ap.add_argument("--timeout", type=float, default=1200.0, help="seconds per child process")
    ap.add_argument("--worker", choices=["mdvib", "mdvib-sequential", "hiphive", "symfc"], help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--dump", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        if args.worker.startswith("mdvib"):
            worker_mdvib(args.data, args.dump, args.out,
                         "sequential" if args.worker.endswith("sequential") else "joint")
        elif args.worker == "hiphive":
            worker_hiphive(args.data, args.dump, args.out)
        else:
            worker_symfc(args.data, args.dump, args.out)
        return

    data, dump = ensure_md(Path(args.cache), args.snapshots)
    tools = ["mdvib", "mdvib-sequential"] + ([] if args.skip_hiphive else ["hiphive"]) \
        + ([] if args.skip_symfc else ["symfc"])
    load_start = os.getloadavg()[0]
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for tool in tools:
            best = None
            for _ in range(1 if tool == "symfc" else args.repeat):
                out = Path(tmp) / f"{tool}.npy"
                m = run_measured([python_exe(), __file__, "--worker", tool, "--data", str(data), "--dump", str(dump),
                                  "--out", str(out)], timeout=args.timeout)
                if not m.ok:
                    print(f"[{tool}] failed (exit {m.returncode}):\n{m.tail()}", flush=True)
                    best = {"ok": False, "returncode": m.returncode, "cpu_s": m.cpu_s, "wall_s": m.wall_s,
                            "peak_mb": m.peak_mb, "error": m.tail(600)}
                    break
                if best is None or m.cpu_s < best["cpu_s"]:
                    info = json.loads(m.stdout.strip().splitlines()[-1])
                    best = {"ok": True, "cpu_s": m.cpu_s, "wall_s": m.wall_s, "peak_mb": m.peak_mb, **info,
                            "frequencies_thz": frequencies(data, np.load(out))}
            rows[tool] = best
            print(f"[{tool}] " + (f"CPU {best['cpu_s']:.2f} s, wall {best['wall_s']:.2f} s, "
                                   f"peak {best['peak_mb']:.0f} MB" if best["ok"] else "failed"), flush=True)
    base = rows["mdvib"]
    for _tool, row in rows.items():
        if row["ok"] and base["ok"]:
            row["cpu_ratio_vs_mdvib"] = row["cpu_s"] / base["cpu_s"]
            row["max_freq_diff_vs_mdvib_thz"] = max(
                abs(a - b) for q in QPOINTS for a, b in zip(row["frequencies_thz"][q], base["frequencies_thz"][q]))
    record = {
        "benchmark": "bench_tdep",
        "problem": {"atoms": 8 * REPS**3, "snapshots": args.snapshots, "rc2": RC2, "rc3": RC3,
                    "data": "LAMMPS SW-Si MD 300 K (Nosé–Hoover), forces every 20 steps", "dump": str(dump)},
        "load_average": {"start": load_start, "end": os.getloadavg()[0]},
        "cpu_count": os.cpu_count(),
        "results": rows,
    }
    RESULTS_DIR.mkdir(exist_ok=True)
    atomic_write_json(RESULTS_DIR / "bench_tdep.json", record)
    lines = ["# bench_tdep: FC2 + FC3 fit, 512-atom SW Si, "
             f"{args.snapshots} snapshots, rc2 = {RC2} Å, rc3 = {RC3} Å", "",
             f"load average {load_start:.2f} → {record['load_average']['end']:.2f}; one child process per tool", "",
             "| tool | CPU s | wall s | peak MB | CPU × mdvib | Γ_O (THz) | X (THz) | L (THz) | "
             "max Δν vs mdvib (THz) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for tool, row in rows.items():
        if not row["ok"]:
            lines.append(f"| {tool} | failed ({row['returncode']}) after {row['cpu_s']:.0f} s | | {row['peak_mb']:.0f} "
                         "| | | | | |")
            continue
        fr = row["frequencies_thz"]
        lines.append(
            f"| {tool} | {row['cpu_s']:.2f} | {row['wall_s']:.2f} | {row['peak_mb']:.0f} | "
            f"{row.get('cpu_ratio_vs_mdvib', 1.0):.1f} | {fr['Γ'][-1]:.3f} | "
            f"{' '.join(f'{x:.3f}' for x in sorted(set(np.round(fr['X'], 3))))} | "
            f"{' '.join(f'{x:.3f}' for x in sorted(set(np.round(fr['L'], 3))))} | "
            f"{row.get('max_freq_diff_vs_mdvib_thz', 0.0):.4f} |")
    atomic_write_text(RESULTS_DIR / "bench_tdep.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
