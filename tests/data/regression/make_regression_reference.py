"""Pin the DOS and TDEP outputs of commit 4756f58 (before the analyser framework) for
tests/analysis/test_framework_regression.py.

Run once, at that commit: the .npz files here are its outputs, and the rattled 64-atom SW-Si snapshots it fitted.
"""
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from mdvib.analysis.dos import DOSAnalysis
from mdvib.analysis.tdep import Reference, TDEPAnalysis
from mdvib.trajectory import Trajectory
from tests.lammps_helpers import SI_MASS_AMU, diamond_si_supercell, get_forces, set_positions, sw_si_lammps

out = Path(__file__).resolve().parent
dump = str(Path(__file__).resolve().parents[3] / "mdvib" / "data" / "si_sw_300K.dump.gz")
cases = {
    "default": dict(kw={}, run={}),
    "neutron8": dict(
        kw=dict(weights="neutron", blocks=8, window=50, window_function="gaussian", quantum_correction="harmonic"),
        run=dict(start=10, stop=900, step=2),
    ),
    "positions": dict(kw=dict(from_positions=True, weights="none", blocks=3, window=100), run=dict(stop=700)),
}
arrays = {}
for name, c in cases.items():
    t = Trajectory.open(dump, dt_fs=1.0, type_map={1: "Si"})
    r = DOSAnalysis(**c["kw"]).run(t, **c["run"])
    for f in ("frequencies_thz", "total", "partial", "raw_power", "total_err", "partial_err", "raw_power_err"):
        v = getattr(r, f)
        if v is not None:
            arrays[f"{name}/{f}"] = v
    arrays[f"{name}/temperature_k"] = r.temperature_k
    print(name, r.temperature_k, r.provenance.settings["window"], r.provenance.n_frames)
np.savez_compressed(out / "dos_4756f58.npz", **arrays)

cell, pos = diamond_si_supercell(2)
n = len(pos)
rng = np.random.default_rng(7)
lmp = sw_si_lammps(cell, pos)
P, F = [], []
for _ in range(24):
    p = pos + rng.normal(0, 0.02, pos.shape)
    set_positions(lmp, p)
    lmp.command("run 0")
    P.append(p)
    F.append(get_forces(lmp))
lmp.close()
P, F = np.array(P), np.array(F)
np.savez_compressed(out / "tdep_input_rattled_si64.npz", positions=P, forces=F, cell=cell, reference_positions=pos)
ref = Reference(cell=cell, positions=pos, species=("Si",)*n, masses=np.full(n, SI_MASS_AMU))
arrays = {}
warnings.simplefilter("ignore")
for name, kw, step in (("seq_cv", dict(rc2=4.0, rc3=3.5, cv_folds=3), 1),
                       ("joint", dict(rc2=4.0, rc3=3.5, fit="joint"), 2),
                       ("fc2_auto", dict(rc2=4.5), "auto")):
    t = Trajectory.from_arrays(P, ["Si"]*n, 1.0, forces=F, cells=cell)
    r = TDEPAnalysis(ref, **kw).run(t, step=step)
    for f in ("fc2_tensors", "fc3_tensors", "r2", "rmse", "r2_harmonic", "anharmonicity", "force_rms", "cv_rmse",
              "stride", "n_snapshots"):
        v = getattr(r, f)
        if v is not None:
            arrays[f"{name}/{f}"] = v
    print(name, r.r2, r.stride, r.n_snapshots, r.cv_rmse)
np.savez_compressed(out / "tdep_4756f58.npz", **arrays)
