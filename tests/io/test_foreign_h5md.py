"""H5MD files as other codes write them, against ASE, h5py and MDAnalysis.

* ``znh5md_cu.h5``: written by ZnH5MD 0.4.8 itself (committed; see
  ``tests/data/foreign/h5md/ORIGIN.md``): float species, ASE-unit velocities
  labelled ``Angstrom/fs``;
* the layout of MDAnalysisTests' ``cu.h5md`` (ZnH5MD before 0.3), rebuilt here
  with h5py from an ASE run: ``momentum`` (ASE momenta labelled ``eV/fs``),
  ``forces``, float species;
* H5MD 1.1 files with a ``momentum`` element in a real momentum unit, or in a
  unit that is not one.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import ase.build
import h5py
import numpy as np
import pytest
import scipy.constants as sc
from ase import units as ase_units
from ase.calculators.emt import EMT
from ase.data import atomic_masses, atomic_numbers
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
from ase.md.verlet import VelocityVerlet

from mdvib.cli.main import main
from mdvib.errors import TrajectoryFormatError
from mdvib.io import open_reader
from mdvib.results import load_result

ZNH5MD_FILE = Path(__file__).parents[1] / "data" / "foreign" / "h5md" / "znh5md_cu.h5"
#: kJ/mol per eV; amu Å²/fs² per eV.
KJ_PER_MOL_PER_EV = sc.e * sc.N_A / 1e3
AMU_A2_PER_FS2_PER_EV = sc.e / (sc.atomic_mass * 1e10)
KB_EV = sc.k / sc.e
DT_FS = 5.0


@pytest.fixture(scope="module")
def cu_run():
    """EMT Cu (32 atoms) velocity-Verlet MD, 160 frames 5 fs apart: ASE Atoms with momenta and forces."""
    atoms = ase.build.bulk("Cu", "fcc", a=3.61, cubic=True).repeat((2, 2, 2))
    atoms.calc = EMT()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        MaxwellBoltzmannDistribution(atoms, temperature_K=600.0, rng=np.random.default_rng(3))
    dyn = VelocityVerlet(atoms, timestep=DT_FS * ase_units.fs)
    frames = []
    for _ in range(160):
        frame = atoms.copy()
        frame.arrays["forces"] = atoms.get_forces()
        frames.append(frame)
        dyn.run(1)
    return frames


def ase_arrays(frames) -> dict:
    """Positions Å, velocities Å/fs (from ASE's own unit system), forces eV/Å, momenta in ASE units."""
    return {
        "positions": np.array([f.positions for f in frames]),
        "velocities": np.array([f.get_velocities() for f in frames]) * ase_units.fs,
        "forces": np.array([f.arrays["forces"] for f in frames]),
        "momenta": np.array([f.get_momenta() for f in frames]),
        "cells": np.array([f.cell.array for f in frames]),
    }


def ase_temperature(frames) -> float:
    """Mean kinetic temperature from ASE's kinetic energies, over 3N - 3 degrees of freedom (as mdvib counts)."""
    kinetic = np.mean([f.get_kinetic_energy() for f in frames])
    return 2 * kinetic / ((3 * len(frames[0]) - 3) * KB_EV)


def time_element(group, name, value, unit=None, times_fs=None):
    """A time-dependent H5MD element with integer steps and times in fs."""
    g = group.create_group(name)
    ds = g.create_dataset("value", data=value)
    if unit is not None:
        ds.attrs["unit"] = unit
    n = len(value)
    g["step"] = np.arange(n)
    g["time"] = np.arange(n) * DT_FS if times_fs is None else times_fs
    g["time"].attrs["unit"] = "fs"


def write_h5md(path, frames, *, creator="ZnH5MD", momentum=None, momentum_unit="eV/fs", forces="forces",
               force_unit="eV/Angstrom", species=None, length_unit="Angstrom"):
    """An H5MD file laid out as ZnH5MD wrote it before 0.3 (MDAnalysisTests' ``cu.h5md``).

    ``momentum`` (n_frames, n_atoms, 3) in ``momentum_unit`` (default: ASE's
    momenta); ``forces`` the name of the force element; ``species`` per atom
    (default: ASE's numbers as float64, per frame).
    """
    data = ase_arrays(frames)
    n_frames, n_atoms = data["positions"].shape[:2]
    with h5py.File(path, "w") as f:
        h5md = f.create_group("h5md")
        h5md.attrs["version"] = np.array([1, 1])
        h5md.create_group("author").attrs["name"] = "N/A"
        h5md.create_group("creator").attrs["name"] = creator
        atoms = f.create_group("particles/atoms")
        box = atoms.create_group("box")
        box.attrs["dimension"] = 3
        box.attrs["boundary"] = np.array([b"periodic"] * 3)
        time_element(box, "edges", data["cells"], length_unit)
        time_element(atoms, "position", data["positions"], length_unit)
        time_element(atoms, "momentum", data["momenta"] if momentum is None else momentum, momentum_unit)
        force_values = data["forces"] * (KJ_PER_MOL_PER_EV if force_unit.startswith("kJ") else 1.0)
        time_element(atoms, forces, force_values, force_unit)
        numbers = np.array([f.numbers for f in frames], dtype=np.float64)
        time_element(atoms, "species", numbers if species is None else np.broadcast_to(species, (n_frames, n_atoms)))
    return path


def read_all_frames(reader) -> dict:
    chunks = list(reader.iter_chunks(chunk_frames=32))
    return {name: np.concatenate([getattr(c, name) for c in chunks])
            for name in ("positions", "velocities", "forces", "cells", "times")
            if getattr(chunks[0], name) is not None}


# --------------------------------------------------------------------------- the file ZnH5MD wrote


def test_znh5md_file_float_species_and_ase_velocities(read_all):
    with h5py.File(ZNH5MD_FILE) as f:  # h5py: what the file holds
        assert f["h5md/creator"].attrs["name"] == "znh5md" and f["h5md/creator"].attrs["version"] == "0.4.8"
        atoms = f["particles/atoms"]
        raw = {name: atoms[f"{name}/value"][()] for name in ("position", "velocity", "force", "species")}
        raw["edges"], raw["time"] = atoms["box/edges/value"][()], atoms["position/time"][()]
        assert atoms["velocity/value"].attrs["unit"] == "Angstrom/fs" and raw["species"].dtype == np.float64
    reader = open_reader(ZNH5MD_FILE)
    with pytest.warns(UserWarning, match=r"velocity/value is labelled 'Angstrom/fs', but ZnH5MD \(znh5md 0\.4\.8\) "
                                         r"writes ASE's velocity there.*10\.1805 fs"):
        info = reader.info
    assert info.species == ("Cu",) * 32  # 29.0 is copper's atomic number
    np.testing.assert_array_equal(info.masses, atomic_masses[atomic_numbers["Cu"]])
    assert info.frame_spacing_fs == pytest.approx(DT_FS, rel=1e-12)
    got = read_all(reader, chunk_frames=10)
    np.testing.assert_array_equal(got["positions"], raw["position"])
    np.testing.assert_array_equal(got["forces"], raw["force"])
    np.testing.assert_array_equal(got["cells"], raw["edges"])
    np.testing.assert_array_equal(got["times"], raw["time"])
    np.testing.assert_allclose(got["velocities"], raw["velocity"] * ase_units.fs, rtol=1e-15)
    # physics, trusting no label: central differences of the positions (5 fs apart) are the velocities
    central = (got["positions"][2:] - got["positions"][:-2]) / (2 * DT_FS)
    misfit = np.linalg.norm(central - got["velocities"][1:-1]) / np.linalg.norm(got["velocities"][1:-1])
    assert misfit < 0.05
    face_value = np.linalg.norm(central - raw["velocity"][1:-1]) / np.linalg.norm(raw["velocity"][1:-1])
    assert face_value > 0.85  # read as labelled, the velocities would be 10.18 times too large


def test_znh5md_positions_and_box_agree_with_mdanalysis(tmp_path):
    mda_h5md = pytest.importorskip("MDAnalysis.coordinates.H5MD")
    copy = tmp_path / "positions_only.h5"
    shutil.copy(ZNH5MD_FILE, copy)
    with h5py.File(copy, "a") as f:  # MDAnalysis 2.11 knows neither 'Angstrom/fs' nor 'eV/Angstrom'
        del f["particles/atoms/velocity"], f["particles/atoms/force"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mda = mda_h5md.H5MDReader(str(copy), convert_units=True)
        positions = np.array([ts.positions.copy() for ts in mda])
        boxes = np.array([ts.dimensions.copy() for ts in mda])
        times_ps = np.array([ts.time for ts in mda])
    got = read_all_frames(open_reader(copy))
    np.testing.assert_allclose(got["positions"], positions, atol=2e-6)  # MDAnalysis keeps float32
    np.testing.assert_allclose(np.diagonal(got["cells"], axis1=1, axis2=2), boxes[:, :3], rtol=1e-7)
    np.testing.assert_allclose(got["times"], times_ps * 1e3, rtol=1e-12)


def test_a_newer_znh5md_is_trusted_as_labelled(tmp_path):
    copy = tmp_path / "future.h5"
    shutil.copy(ZNH5MD_FILE, copy)
    with h5py.File(copy, "a") as f:
        f["h5md/creator"].attrs["version"] = "0.5.0"
        raw = f["particles/atoms/velocity/value"][()]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reader = open_reader(copy)
        np.testing.assert_allclose(read_all_frames(reader)["velocities"], raw, rtol=1e-15)


def test_type_map_renames_atomic_numbers():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        info = open_reader(ZNH5MD_FILE, type_map={29: "Ni"}).info
    assert info.species == ("Ni",) * 32
    np.testing.assert_array_equal(info.masses, atomic_masses[atomic_numbers["Ni"]])


def test_znh5md_file_from_the_command_line(tmp_path):
    out = tmp_path / "dos.h5"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["dos", str(ZNH5MD_FILE), "--blocks", "1", "--quiet", "-o", str(out)]) == 0
    with h5py.File(ZNH5MD_FILE) as f:  # ASE's kinetic energy of the stored velocities (ASE units)
        velocities = f["particles/atoms/velocity/value"][()]
    mass = atomic_masses[atomic_numbers["Cu"]]
    kinetic = 0.5 * mass * (velocities**2).sum(axis=(1, 2)).mean()  # amu (Å / ASE time)² = eV
    expected = 2 * kinetic / ((3 * 32 - 3) * KB_EV)
    assert load_result(out).temperature_k == pytest.approx(expected, rel=1e-7)  # ASE and scipy: different CODATA


# --------------------------------------------------------------------------- ZnH5MD before 0.3 (cu.h5md)


def test_old_znh5md_momentum_and_forces(tmp_path, cu_run, read_all):
    path = write_h5md(tmp_path / "cu.h5md", cu_run[:20])
    reader = open_reader(path)
    with pytest.warns(UserWarning, match=r"momentum/value is labelled 'eV/fs', but ZnH5MD \(ZnH5MD\) writes "
                                         r"ASE's momentum there"):
        info = reader.info
    assert info.species == ("Cu",) * 32 and info.has_velocities and info.has_forces
    expected = ase_arrays(cu_run[:20])
    got = read_all(reader)
    np.testing.assert_allclose(got["velocities"], expected["velocities"], rtol=1e-13)
    np.testing.assert_array_equal(got["forces"], expected["forces"])
    np.testing.assert_array_equal(got["positions"], expected["positions"])


def test_old_znh5md_layout_from_the_command_line(tmp_path, cu_run):
    path = write_h5md(tmp_path / "cu.h5md", cu_run)
    out = tmp_path / "dos.h5"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["dos", str(path), "--window", "60", "--blocks", "2", "--quiet", "-o", str(out)]) == 0
    result = load_result(out)
    assert result.species == ("Cu",)
    assert result.temperature_k == pytest.approx(ase_temperature(cu_run), rel=1e-7)
    # EMT copper's phonons lie below about 7.5 THz, their mean near 4.5 THz: a wrong time unit moves them
    mean = np.trapezoid(result.total * result.frequencies_thz, result.frequencies_thz) / 3.0
    assert 3.5 < mean < 5.5


# --------------------------------------------------------------------------- momentum in H5MD 1.1 files


def test_momentum_in_a_momentum_unit_is_divided_by_the_masses(tmp_path, cu_run, read_all):
    data = ase_arrays(cu_run[:12])
    masses = cu_run[0].get_masses()
    momentum = data["velocities"] * 1e3 * masses[None, :, None]  # u Å/ps
    path = write_h5md(tmp_path / "p.h5md", cu_run[:12], creator="hand", momentum=momentum,
                      momentum_unit="u Angstrom ps-1", forces="force", force_unit="kJ mol-1 Angstrom-1")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        reader = open_reader(path)
        got = read_all(reader)
    assert reader.info.source_units["momentum"] == "u Angstrom ps-1"
    np.testing.assert_allclose(got["velocities"], data["velocities"], rtol=1e-13)
    np.testing.assert_allclose(got["forces"], data["forces"], rtol=1e-12)
    mda_h5md = pytest.importorskip("MDAnalysis.coordinates.H5MD")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mda = mda_h5md.H5MDReader(str(path), convert_units=True)  # MDAnalysis: Å, kJ/(mol Å), ps
        forces = np.array([ts.forces.copy() for ts in mda])
        positions = np.array([ts.positions.copy() for ts in mda])
    np.testing.assert_allclose(got["forces"] * KJ_PER_MOL_PER_EV, forces, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got["positions"], positions, atol=2e-6)


def test_momentum_in_a_unit_that_is_not_one_is_ignored(tmp_path, cu_run):
    path = write_h5md(tmp_path / "bad.h5md", cu_run[:4], creator="someone else")
    reader = open_reader(path)
    with pytest.warns(UserWarning, match=r"momentum/value has unit 'eV/fs', which is not a momentum \(mass × "
                                         r"velocity.*not read from it\. Compute them from the positions with "
                                         r"--from-positions"):
        info = reader.info
    assert not info.has_velocities and info.has_forces


def test_momentum_without_unit_takes_the_units_option(tmp_path, cu_run, read_all):
    data = ase_arrays(cu_run[:4])
    momentum = data["velocities"] * 1e3 * cu_run[0].get_masses()[None, :, None]  # metal: u Å/ps
    path = write_h5md(tmp_path / "nounit.h5md", cu_run[:4], creator="hand", momentum=momentum, momentum_unit=None)
    reader = open_reader(path, units="metal")
    np.testing.assert_allclose(read_all(reader)["velocities"], data["velocities"], rtol=1e-13)
    assert reader.info.unit_styles == ("metal", "real")


# --------------------------------------------------------------------------- bad species


@pytest.mark.parametrize("value, message", [
    (29.5, r"atom id 3: /particles/atoms/species/value holds 29\.5; floating-point species are read as atomic "
           r"numbers \(ZnH5MD's convention\), so they must be whole numbers from 1 to 118"),
    (np.nan, r"atom id 3: /particles/atoms/species/value holds nan \(NaN pads the frames of a changing number "
             r"of particles; mdvib needs a fixed set of atoms\)"),
])
def test_float_species_that_are_not_atomic_numbers(tmp_path, cu_run, value, message):
    species = np.full(32, 29.0)
    species[3] = value
    path = write_h5md(tmp_path / "s.h5md", cu_run[:2], species=species)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(TrajectoryFormatError, match=message):
            open_reader(path).info


def test_integer_species_are_types_that_need_types(tmp_path, cu_run):
    path = write_h5md(tmp_path / "t.h5md", cu_run[:2], species=np.ones(32, dtype=np.int64))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(TrajectoryFormatError, match=r"atom label '1' is not a chemical element; .*--types 1=Si"):
            open_reader(path).info
        assert open_reader(path, type_map={1: "Cu"}).info.species == ("Cu",) * 32
