"""H5MD reader: hand-made files (h5py), MDAnalysis' H5MDWriter, unit strings, bad input."""

from __future__ import annotations

import warnings

import h5py
import numpy as np
import pytest
import scipy.constants as sc

from mdvib.errors import TrajectoryFormatError
from mdvib.io import detect_format, open_reader
from mdvib.units import parse_unit, unit_factor

KJ_MOL_NM_TO_EV_A = 1e3 / sc.N_A / sc.e / 10.0


def element(group, name, value, unit=None, step=None, time=None, time_unit="ps"):
    """Write a time-dependent H5MD element."""
    g = group.create_group(name)
    ds = g.create_dataset("value", data=value)
    if unit is not None:
        ds.attrs["unit"] = unit
    if step is not None:
        g["step"] = step
    if time is not None:
        g["time"] = time
        g["time"].attrs["unit"] = time_unit
    return g


def gromacs_like_file(path, n_frames=5, seed=0, ids=None):
    """nm / ps / kJ mol-1 nm-1 file with species numbers, masses, ids and a cuboid box."""
    rng = np.random.default_rng(seed)
    n = 4
    data = {
        "positions": rng.uniform(0, 2, size=(n_frames, n, 3)),
        "velocities": rng.normal(size=(n_frames, n, 3)),
        "forces": rng.normal(scale=100, size=(n_frames, n, 3)),
        "species": np.array([14, 8, 8, 14]),
        "masses": np.array([28.0, 16.5, 16.5, 28.0]),
        "ids": np.array([3, 1, 4, 2]) if ids is None else ids,
        "steps": np.arange(n_frames) * 50,
        "times": np.arange(n_frames) * 0.05,  # ps
    }
    with h5py.File(path, "w") as f:
        f.create_group("h5md").attrs["version"] = [1, 1]
        p = f.create_group("particles/all")
        element(p, "position", data["positions"], "nm", data["steps"], data["times"])
        element(p, "velocity", data["velocities"], "nm ps-1", data["steps"], data["times"])
        element(p, "force", data["forces"], "kJ mol-1 nm-1", data["steps"], data["times"])
        box = p.create_group("box")
        box.attrs["dimension"] = 3
        box.attrs["boundary"] = np.array([b"periodic"] * 3)
        box.create_dataset("edges", data=[2.0, 2.5, 3.0]).attrs["unit"] = "nm"
        p["species"] = data["species"]
        p.create_dataset("mass", data=data["masses"]).attrs["unit"] = "u"
        p["id"] = data["ids"]
    return data


def test_hand_written_h5md_units_ids_species(tmp_path, read_all):
    path = tmp_path / "traj.h5md"
    data = gromacs_like_file(path)
    assert detect_format(path) == "h5md"
    reader = open_reader(path, type_map={14: "Si", 8: "O"})
    info = reader.info
    order = np.argsort(data["ids"])
    np.testing.assert_array_equal(info.atom_ids, [1, 2, 3, 4])
    assert info.species == tuple(np.array(["Si", "O", "O", "Si"])[order])
    np.testing.assert_array_equal(info.masses, data["masses"][order])
    assert info.has_velocities and info.has_forces
    assert info.frame_spacing_fs == pytest.approx(50.0, rel=1e-12)
    assert info.source_units["velocity"] == "nm ps-1"
    assert info.unit_styles == ()  # the file states its units
    out = read_all(reader)
    np.testing.assert_allclose(out["positions"], data["positions"][:, order] * 10.0, rtol=1e-14)
    np.testing.assert_allclose(out["velocities"], data["velocities"][:, order] * 1e-2, rtol=1e-14)
    np.testing.assert_allclose(out["forces"], data["forces"][:, order] * KJ_MOL_NM_TO_EV_A, rtol=1e-12)
    np.testing.assert_allclose(out["cells"], np.broadcast_to(np.diag([20.0, 25.0, 30.0]), (5, 3, 3)))
    np.testing.assert_allclose(out["times"], data["times"] * 1e3, rtol=1e-14)
    np.testing.assert_array_equal(out["steps"], data["steps"])
    assert out["first_frames"] == [0, 2, 4] and not out["unwrapped"]


def test_species_needed(tmp_path):
    path = tmp_path / "traj.h5md"
    gromacs_like_file(path)
    with pytest.raises(TrajectoryFormatError, match="type_map"):
        open_reader(path).info  # species numbers are not elements


def test_interval_steps_triclinic_box_image_and_moving_ids(tmp_path, read_all):
    rng = np.random.default_rng(1)
    n_frames, n = 4, 3
    cells = (
        np.array([[[4.0, 0, 0], [1.0, 5.0, 0], [0.5, 0.3, 6.0]]])
        * (1 + 0.01 * np.arange(n_frames))[:, None, None]
    )
    positions = rng.uniform(0, 4, size=(n_frames, n, 3))
    images = rng.integers(-2, 3, size=(n_frames, n, 3))
    ids = np.array([rng.permutation([7, 8, 9]) for _ in range(n_frames)])
    path = tmp_path / "lammps.h5"
    with h5py.File(path, "w") as f:
        f.create_group("h5md")
        p = f.create_group("particles/atoms")
        g = element(p, "position", positions, "Angstrom")
        g["step"] = 10  # fixed interval
        g["step"].attrs["offset"] = 100
        g["time"] = 5.0
        g["time"].attrs["unit"] = "fs"
        element(p, "image", images)
        element(p, "id", ids)
        element(p.create_group("box"), "edges", cells, "Angstrom")
        p["species"] = np.array([b"Cu", b"Cu", b"Au"])  # element names stored as strings
    assert detect_format(path) == "h5md"  # *.h5 claimed by content
    reader = open_reader(path)
    info = reader.info
    np.testing.assert_array_equal(info.atom_ids, [7, 8, 9])
    assert info.frame_spacing_fs == 5.0
    out = read_all(reader, chunk_frames=3)
    np.testing.assert_array_equal(out["steps"], [100, 110, 120, 130])
    np.testing.assert_allclose(out["times"], [0.0, 5.0, 10.0, 15.0])
    np.testing.assert_allclose(out["cells"], cells)
    assert out["unwrapped"]
    for k in range(n_frames):
        order = np.argsort(ids[k])
        expected = positions[k] + images[k] @ cells[k]
        np.testing.assert_allclose(out["positions"][k], expected[order], rtol=1e-14)


def test_mdanalysis_h5md_writer_layout(tmp_path, read_all):
    mda = pytest.importorskip("MDAnalysis")
    rng = np.random.default_rng(2)
    n = 5
    u = mda.Universe.empty(n, trajectory=True, velocities=True, forces=True)
    u.dimensions = [10.0, 11.0, 12.0, 80.0, 90.0, 100.0]
    path = tmp_path / "mda.h5md"
    units = dict(lengthunit="nm", timeunit="ps", velocityunit="nm/ps", forceunit="kJ/(mol*nm)")
    with mda.Writer(str(path), n_atoms=n, velocities=True, forces=True, **units) as writer:
        for i in range(4):
            u.atoms.positions = rng.uniform(0, 10, size=(n, 3))
            u.atoms.velocities = rng.normal(size=(n, 3))
            u.atoms.forces = rng.normal(size=(n, 3))
            u.trajectory.ts.data["time"] = 0.002 * i
            u.trajectory.ts.data["step"] = 2 * i
            writer.write(u)
    reader = open_reader(path, species=["Si"] * n, dt_fs=1.0)
    info = reader.info
    assert info.frame_spacing_fs == pytest.approx(2.0)  # file times (ps) win over dt_fs
    out = read_all(reader)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = mda.Universe.empty(n, trajectory=False)
        ref.load_new(str(path), format="H5MD")
        for k, ts in enumerate(ref.trajectory):  # MDAnalysis: Å, ps, Å/ps, kJ/(mol Å), float32
            np.testing.assert_allclose(out["positions"][k], ts.positions, rtol=1e-6, atol=1e-5)
            np.testing.assert_allclose(out["velocities"][k], ts.velocities * 1e-3, rtol=1e-6, atol=1e-9)
            np.testing.assert_allclose(
                out["forces"][k], ts.forces * KJ_MOL_NM_TO_EV_A * 10, rtol=1e-6, atol=1e-9
            )
            np.testing.assert_allclose(
                out["cells"][k], mda.lib.mdamath.triclinic_vectors(ts.dimensions), atol=1e-5
            )
            assert out["times"][k] == pytest.approx(ts.time * 1e3)


def test_missing_units_need_option(tmp_path, read_all):
    path = tmp_path / "nounits.h5md"
    with h5py.File(path, "w") as f:
        f.create_group("h5md")
        p = f.create_group("particles/all")
        element(p, "position", np.ones((2, 1, 3)), step=[0, 1])
        element(p, "velocity", np.ones((2, 1, 3)), step=[0, 1])
        p["species"] = [b"Ar"]
    with pytest.raises(TrajectoryFormatError, match=r"nounits\.h5md.*position/value has no unit attribute"):
        open_reader(path).info
    reader = open_reader(path, units="metal", dt_fs=2.0)
    assert reader.info.frame_spacing_fs == 2.0
    assert reader.info.unit_styles == ("metal", "real")  # units= decides the velocity unit here
    out = read_all(reader)
    np.testing.assert_allclose(out["velocities"], 1e-3)  # Å/ps → Å/fs
    np.testing.assert_array_equal(out["cells"], 0.0)  # no box


def test_nan_and_non_increasing_steps(tmp_path, read_all):
    path = tmp_path / "bad.h5md"
    positions = np.zeros((3, 2, 3))
    positions[2, 1, 0] = np.nan
    with h5py.File(path, "w") as f:
        f.create_group("h5md")
        p = f.create_group("particles/all")
        element(p, "position", positions, "nm", step=[0, 1, 2])
        p["species"] = [b"Ar", b"Ar"]
    with pytest.raises(TrajectoryFormatError, match=r"bad\.h5md, frame 2, atom id 1: positions contain"):
        read_all(open_reader(path))
    with h5py.File(path, "r+") as f:
        f["particles/all/position/step"][...] = [0, 2, 2]
    with pytest.raises(TrajectoryFormatError, match=r"bad\.h5md, frame 2: step does not increase"):
        open_reader(path).info


def test_misaligned_velocity_is_ignored(tmp_path):
    path = tmp_path / "sub.h5md"
    with h5py.File(path, "w") as f:
        f.create_group("h5md")
        p = f.create_group("particles/all")
        element(p, "position", np.zeros((4, 1, 3)), "nm", step=[0, 1, 2, 3])
        element(p, "velocity", np.zeros((2, 1, 3)), "nm ps-1", step=[0, 2])
        p["species"] = [b"Ar"]
    with pytest.warns(UserWarning, match="velocity/value is not sampled at the same frames"):
        assert not open_reader(path).info.has_velocities


def test_plain_hdf5_is_not_claimed(tmp_path):
    path = tmp_path / "results.h5"
    with h5py.File(path, "w") as f:
        f["dos"] = np.zeros(3)
    with pytest.raises(TrajectoryFormatError, match="cannot tell the file format"):
        detect_format(path)


@pytest.mark.parametrize(
    "unit, quantity, factor",
    [
        ("nm", "length", 10.0),
        ("Angstrom", "length", 1.0),
        ("ps", "time", 1e3),
        ("nm ps-1", "velocity", 1e-2),
        ("Angstrom fs-1", "velocity", 1.0),
        ("kJ mol-1 nm-1", "force", KJ_MOL_NM_TO_EV_A),
        ("kJ/(mol*nm)", "force", KJ_MOL_NM_TO_EV_A),
        ("kcal mol-1 Angstrom-1", "force", sc.calorie / sc.N_A / sc.e * 1e3),
        ("eV Angstrom-1", "force", 1.0),
        ("u nm ps-2", "force", sc.atomic_mass * 1e-9 / 1e-24 / (sc.e / 1e-10)),
        ("g mol-1", "mass", 1e-3 / sc.N_A / sc.atomic_mass),
        ("1e-3 nm", "length", 1e-2),
    ],
)
def test_unit_strings(unit, quantity, factor):
    assert unit_factor(quantity, unit) == pytest.approx(factor, rel=1e-12)


def test_unit_errors():
    with pytest.raises(ValueError, match="not a velocity unit"):
        unit_factor("velocity", "nm")
    with pytest.raises(ValueError, match="unknown unit symbol"):
        parse_unit("furlong")
