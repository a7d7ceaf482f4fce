"""The analyser framework changed no number: DOS and TDEP against the outputs of 4756f58.

``tests/data/regression/`` holds what the analysers computed before they were
ported to :class:`mdvib.analysis.base.AnalysisBase` (commit 4756f58), made by
the script beside the data. This pins the port, not the physics: the physics
is tested against analytic limits and independent codes elsewhere.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from mdvib.analysis.dos import DOSAnalysis
from mdvib.analysis.tdep import Reference, TDEPAnalysis
from mdvib.trajectory import Trajectory

DATA = Path(__file__).resolve().parents[1] / "data" / "regression"
DUMP = Path(__file__).resolve().parents[2] / "mdvib" / "data" / "si_sw_300K.dump.gz"
SI_MASS_AMU = 28.0855

DOS_CASES = {
    "default": ({}, {}),
    "neutron8": (dict(weights="neutron", blocks=8, window=50, window_function="gaussian",
                      quantum_correction="harmonic"), dict(start=10, stop=900, step=2)),
    "positions": (dict(from_positions=True, weights="none", blocks=3, window=100), dict(stop=700)),
}

TDEP_CASES = {
    "seq_cv": (dict(rc2=4.0, rc3=3.5, cv_folds=3), 1),
    "joint": (dict(rc2=4.0, rc3=3.5, fit="joint"), 2),
    "fc2_auto": (dict(rc2=4.5), "auto"),
}


@pytest.mark.parametrize("case", sorted(DOS_CASES))
def test_dos_unchanged(case):
    expected = np.load(DATA / "dos_4756f58.npz")
    settings, selection = DOS_CASES[case]
    result = DOSAnalysis(**settings).run(Trajectory.open(DUMP, dt_fs=1.0, type_map={1: "Si"}), **selection)
    for name in ("frequencies_thz", "total", "partial", "raw_power", "total_err", "partial_err", "raw_power_err",
                 "temperature_k"):
        reference = expected[f"{case}/{name}"]
        # atol scaled to the array: round-off of 1e-17 on near-zero points (parallel sums, other BLAS) is no change
        np.testing.assert_allclose(getattr(result, name), reference, rtol=1e-12,
                                   atol=1e-12 * float(np.max(np.abs(reference))), err_msg=f"{case}: {name}")


def _rattled():
    data = np.load(DATA / "tdep_input_rattled_si64.npz")
    n = data["positions"].shape[1]
    reference = Reference(cell=data["cell"], positions=data["reference_positions"], species=("Si",) * n,
                          masses=np.full(n, SI_MASS_AMU))
    trajectory = Trajectory.from_arrays(data["positions"], ["Si"] * n, 1.0, forces=data["forces"], cells=data["cell"])
    return reference, trajectory


@pytest.mark.parametrize("case", sorted(TDEP_CASES))
def test_tdep_unchanged(case):
    expected = np.load(DATA / "tdep_4756f58.npz")
    settings, step = TDEP_CASES[case]
    reference, trajectory = _rattled()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = TDEPAnalysis(reference, **settings).run(trajectory, step=step)
    for key in expected.files:
        prefix, name = key.split("/")
        if prefix == case:
            # atol scaled to the array: entries that vanish by symmetry carry ~1e-14 of BLAS rounding
            # that depends on the machine's threads, not on the code
            scale = float(np.max(np.abs(expected[key]))) if np.asarray(expected[key]).size else 0.0
            np.testing.assert_allclose(getattr(result, name), expected[key], rtol=1e-10, atol=1e-12 * max(scale, 1.0),
                                       err_msg=f"{case}: {name}")
