"""The frame spacing is checked against the data: a wrong --dt or velocity unit is refused, with the right value."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mdvib.analysis.dos import DOSAnalysis
from mdvib.cli.main import main
from mdvib.errors import UnitsError
from mdvib.trajectory import Trajectory

#: LAMMPS dump of SW Si, 1 fs steps, written every 5 steps (``id type xu yu zu vx vy vz``, metal units)
DUMP = Path(__file__).resolve().parents[2] / "mdvib" / "data" / "si_sw_300K.dump.gz"


def test_frame_spacing_instead_of_the_md_time_step_is_refused():
    """``--dt 5`` (the frame spacing, as dynasor/MDANSE take it) for a dump of step numbers: TO peak at 3 THz."""
    trajectory = Trajectory.open(DUMP, dt_fs=5.0, type_map={1: "Si"})
    with pytest.raises(UnitsError, match=r"frames 0-15 are 0\.19\d × the recorded velocities, so consecutive frames "
                                         r"are about 4\.8\d+ fs apart, not 25 fs; --dt 0\.97\d+ would give that"):
        DOSAnalysis().run(trajectory)


def test_wrong_velocity_unit_is_named():
    trajectory = Trajectory.open(DUMP, dt_fs=1.0, units="real", type_map={1: "Si"})
    with pytest.raises(UnitsError, match=r"recorded velocities are 1\.0\de\+03 × what the positions .* imply .*"
                                         r"a file in A/ps \(LAMMPS .metal.\) read as A/fs\? try --units metal"):
        DOSAnalysis().run(trajectory)


def test_right_spacing_passes_also_for_strided_and_coarse_frames():
    trajectory = Trajectory.open(DUMP, dt_fs=1.0, type_map={1: "Si"})
    for step in (1, 3, 5):  # 5, 15, 25 fs between analysed frames (25 fs: too coarse to judge, not refused)
        trajectory.check_time_axis(trajectory.select(0, None, step))


def test_the_check_can_be_turned_off(tmp_path, capsys):
    args = ["dos", str(DUMP), "--dt", "5", "--types", "1=Si", "--window", "50", "-o", str(tmp_path / "dos.h5")]
    assert main(args) == 1
    assert "--no-time-check" in capsys.readouterr().err
    assert main(args + ["--no-time-check", "--quiet"]) == 0


def test_arrays_with_a_consistent_time_axis():
    """A harmonic oscillator sampled every 1 fs: recorded and finite-difference velocities agree (k ≈ 1)."""
    t = np.arange(200.0)
    omega = 2 * np.pi * 0.01  # 10 THz in rad/fs
    x = 0.05 * np.sin(omega * t)
    positions = np.zeros((200, 2, 3))
    velocities = np.zeros((200, 2, 3))
    positions[:, 1, 0] = 2.0 + x
    velocities[:, 1, 0] = 0.05 * omega * np.cos(omega * t)
    good = Trajectory.from_arrays(positions, ["Si", "Si"], 1.0, velocities=velocities)
    good.check_time_axis(good.select())
    wrong = Trajectory.from_arrays(positions, ["Si", "Si"], 3.0, velocities=velocities)
    with pytest.raises(UnitsError, match=r"about 0\.99\d* fs apart, not 3 fs"):
        wrong.check_time_axis(wrong.select())
