"""MDAnalysis and ASE fallback readers: values and units against what was written, bad input."""

from __future__ import annotations

import shutil
import warnings

import ase.io
import ase.units
import numpy as np
import pytest
import scipy.constants as sc
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from mdvib.errors import SettingsError, TrajectoryFormatError
from mdvib.io import detect_format, open_reader

mda = pytest.importorskip("MDAnalysis")

KJ_MOL_A_TO_EV_A = 1e3 / sc.N_A / sc.e


# ------------------------------------------------------------------ MDAnalysis
N_ATOMS = 4
DIMENSIONS = [10.0, 11.0, 12.0, 90.0, 90.0, 90.0]


def mda_trajectory(tmp_path, ext, n_frames=5, seed=0, names=("Si1", "Si2", "O1", "O2"), elements=True):
    """Write a PDB topology and a trajectory with MDAnalysis; return what was written (Å, ps, kJ/mol/Å)."""
    rng = np.random.default_rng(seed)
    u = mda.Universe.empty(
        N_ATOMS, trajectory=True, velocities=True, forces=True, atom_resindex=[0] * N_ATOMS
    )
    u.add_TopologyAttr("names", list(names))
    if elements:
        u.add_TopologyAttr("elements", ["Si", "Si", "O", "O"])
    u.dimensions = DIMENSIONS
    data = {
        "positions": rng.uniform(0, 9, size=(n_frames, N_ATOMS, 3)).astype(np.float32),
        "velocities": rng.normal(size=(n_frames, N_ATOMS, 3)).astype(np.float32),
        "forces": rng.normal(size=(n_frames, N_ATOMS, 3)).astype(np.float32),
        "times": 0.25 * np.arange(n_frames),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        u.atoms.write(str(tmp_path / "top.pdb"))
        kwargs = {"velocities": True, "forces": True} if ext == "nc" else {}
        with mda.Writer(str(tmp_path / f"traj.{ext}"), n_atoms=N_ATOMS, **kwargs) as writer:
            for i in range(n_frames):
                u.atoms.positions = data["positions"][i]
                u.atoms.velocities = data["velocities"][i]
                u.atoms.forces = data["forces"][i]
                u.trajectory.ts.data["time"] = data["times"][i]
                writer.write(u)
    return tmp_path / f"traj.{ext}", tmp_path / "top.pdb", data


def test_netcdf_velocities_forces_units(tmp_path, read_all):
    path, top, data = mda_trajectory(tmp_path, "nc")
    assert detect_format(path) == "mdanalysis"
    reader = open_reader(path, topology=top)
    info = reader.info
    assert info.species == ("Si", "Si", "O", "O") and info.has_velocities and info.has_forces
    np.testing.assert_array_equal(info.atom_ids, [1, 2, 3, 4])
    assert info.frame_spacing_fs == pytest.approx(250.0)
    out = read_all(reader, chunk_frames=3)
    assert out["first_frames"] == [0, 3]
    np.testing.assert_allclose(out["positions"], data["positions"], atol=1e-4)  # NetCDF stores float32
    np.testing.assert_allclose(out["velocities"], data["velocities"] * 1e-3, rtol=1e-6)  # Å/ps → Å/fs
    # kJ/(mol Å) → eV/Å (the file stores kcal; MDAnalysis converts back)
    np.testing.assert_allclose(out["forces"], data["forces"] * KJ_MOL_A_TO_EV_A, rtol=1e-5)
    np.testing.assert_allclose(out["cells"], np.broadcast_to(np.diag(DIMENSIONS[:3]), (5, 3, 3)), atol=1e-6)
    np.testing.assert_allclose(out["times"], data["times"] * 1e3, rtol=1e-6)


def test_dcd_with_dt_and_type_map(tmp_path, read_all):
    path, top, data = mda_trajectory(tmp_path, "dcd", names=("A", "A", "B", "B"), elements=False)
    reader = open_reader(path, topology=top, dt_fs=2.0, type_map={"A": "Ge", "B": "Se"})
    info = reader.info
    assert info.species == ("Ge", "Ge", "Se", "Se")
    assert info.frame_spacing_fs == 2.0 and not info.has_velocities
    out = read_all(reader)
    np.testing.assert_allclose(out["positions"], data["positions"], rtol=1e-6)
    np.testing.assert_allclose(out["times"], 2.0 * np.arange(5))
    # without dt_fs the DCD header time is used, with a warning about AKMA units
    with pytest.warns(UserWarning, match="AKMA"):
        open_reader(path, topology=top, type_map={"A": "Ge", "B": "Se"}).info


def test_mdanalysis_guesses_elements_and_needs_topology(tmp_path):
    path, top, _ = mda_trajectory(tmp_path, "dcd", elements=False)
    with pytest.warns(UserWarning, match="guessed"):
        assert open_reader(path, topology=top, dt_fs=1.0).info.species == ("Si", "Si", "O", "O")
    with pytest.raises(
        TrajectoryFormatError, match=r"traj\.dcd: no atom names, types or elements.*topology="
    ):
        open_reader(path).info  # MDAnalysis opens a DCD alone, without any atom information


def test_unguessable_types_ask_for_type_map(tmp_path):
    path, top, _ = mda_trajectory(tmp_path, "dcd", names=("1", "1", "2", "2"), elements=False)
    with pytest.raises(TrajectoryFormatError, match="type_map"):
        open_reader(path, topology=top, dt_fs=1.0).info


def test_mdanalysis_sniffs_renamed_dcd(tmp_path):
    path, _, _ = mda_trajectory(tmp_path, "dcd")
    renamed = tmp_path / "trajectory.bin"
    shutil.copy(path, renamed)
    assert detect_format(renamed) == "mdanalysis"


def test_mdanalysis_nan_names_frame_and_atom(tmp_path, read_all):
    path, top, data = mda_trajectory(tmp_path, "nc", n_frames=3)
    data["positions"][1, 2, 0] = np.nan
    u = mda.Universe(str(top), str(path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with mda.Writer(str(tmp_path / "nan.nc"), n_atoms=N_ATOMS) as writer:
            for i, ts in enumerate(u.trajectory):
                ts.positions = data["positions"][i]
                writer.write(u)
    with pytest.raises(TrajectoryFormatError, match=r"nan\.nc, frame 1, atom id 3: positions contain"):
        read_all(open_reader(tmp_path / "nan.nc", topology=top))


# ------------------------------------------------------------------------- ASE
def ase_frames(n_frames=5, n_atoms=3, seed=0):
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(n_frames):
        atoms = Atoms(
            "CuAuCu"[: 2 * n_atoms], positions=rng.uniform(0, 5, (n_atoms, 3)), cell=[5, 6, 7], pbc=True
        )
        atoms.set_velocities(rng.normal(scale=0.01, size=(n_atoms, 3)))
        atoms.calc = SinglePointCalculator(
            atoms, energy=-1.0, forces=rng.normal(size=(n_atoms, 3)), dipole=rng.normal(size=3)
        )
        frames.append(atoms)
    return frames


def test_ase_traj_roundtrip(tmp_path, read_all):
    path = tmp_path / "md.traj"
    frames = ase_frames()
    ase.io.write(path, frames)
    assert detect_format(path) == "ase"
    reader = open_reader(path, dt_fs=5.0)
    info = reader.info
    assert info.n_frames == 5 and info.species == ("Cu", "Au", "Cu")
    assert info.has_velocities and info.has_forces and info.has_dipoles
    assert info.frame_spacing_fs == 5.0
    out = read_all(reader, chunk_frames=2, start=1)
    assert out["first_frames"] == [1, 3]
    for k, atoms in enumerate(frames[1:]):
        np.testing.assert_allclose(out["positions"][k], atoms.positions, rtol=1e-15)
        np.testing.assert_allclose(out["cells"][k], atoms.cell.array, rtol=1e-15)
        # ASE velocity unit Å/(ASE time) → Å/fs
        np.testing.assert_allclose(out["velocities"][k], atoms.get_velocities() * ase.units.fs, rtol=1e-12)
        np.testing.assert_allclose(out["forces"][k], atoms.get_forces(), rtol=1e-15)
        np.testing.assert_allclose(out["dipoles"][k], atoms.get_dipole_moment(), rtol=1e-15)
    np.testing.assert_allclose(out["times"], [5.0, 10.0, 15.0, 20.0])


def test_ase_xdatcar_and_sniffed_traj(tmp_path, read_all):
    frames = ase_frames(n_frames=3)
    path = tmp_path / "XDATCAR"
    ase.io.write(path, frames, format="vasp-xdatcar")
    assert detect_format(path) == "ase"
    reader = open_reader(path)
    assert reader.info.n_frames == 3 and not reader.info.has_velocities
    assert reader.info.frame_spacing_fs is None
    out = read_all(reader)
    np.testing.assert_allclose(out["positions"], np.stack([a.positions for a in frames]), atol=1e-6)
    renamed = tmp_path / "run.data"
    ase.io.write(tmp_path / "x.traj", frames)
    shutil.copy(tmp_path / "x.traj", renamed)
    assert detect_format(renamed) == "ase"


def test_ase_changing_atom_count_and_nan(tmp_path, read_all):
    frames = ase_frames(n_frames=3)
    frames[2] = ase_frames(n_frames=1, n_atoms=2)[0]
    ase.io.write(tmp_path / "count.traj", frames)
    with pytest.raises(TrajectoryFormatError, match=r"count\.traj, frame 2: atom count changes from 3 to 2"):
        read_all(open_reader(tmp_path / "count.traj"))
    frames = ase_frames(n_frames=3)
    frames[1].calc.results["forces"][2, 1] = np.inf
    ase.io.write(tmp_path / "nan.traj", frames)
    with pytest.raises(TrajectoryFormatError, match=r"nan\.traj, frame 1, atom id 2: forces contain"):
        read_all(open_reader(tmp_path / "nan.traj"))


def test_unknown_extension_not_claimed_by_fallbacks(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello\n")
    with pytest.raises(TrajectoryFormatError, match="cannot tell the file format"):
        detect_format(path)


def test_unreadable_file_error_names_file(tmp_path):
    path = tmp_path / "broken.xtc"
    path.write_bytes(b"\x00\x00\x07\xcb garbage")
    with pytest.raises(TrajectoryFormatError, match=r"broken\.xtc: MDAnalysis cannot open it"):
        open_reader(path).info


def test_ase_reader_units_and_type_map(tmp_path):
    path = tmp_path / "md.traj"
    ase.io.write(path, ase_frames(n_frames=2))
    assert open_reader(path, units="ase").info.species == ("Cu", "Au", "Cu")
    with pytest.raises(SettingsError, match=r"md\.traj: ASE files are in ASE units .*--units metal \(units=\) does"):
        open_reader(path, units="metal").info
    info = open_reader(path, type_map={"Cu": "Ag"}).info
    assert info.species == ("Ag", "Au", "Ag") and info.masses[0] == pytest.approx(107.87, rel=1e-4)


def test_dummy_element_gets_no_mass():
    from mdvib.io._masses import masses_for_species

    with pytest.raises(SettingsError, match=r"the dummy element 'X' has no mass: give it with --masses X=AMU"):
        masses_for_species(["Si", "X"])
    assert masses_for_species(["X"], {"X": 4.0}).tolist() == [4.0]
