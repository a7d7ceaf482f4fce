"""Extended XYZ / GPUMD / i-PI reader: values, unit conversions, frame spacing, bad input."""

from __future__ import annotations

import gzip

import ase.geometry
import ase.io
import ase.units
import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator
from scipy.constants import physical_constants

from mdvib.errors import SettingsError, TrajectoryFormatError
from mdvib.io import detect_format, open_reader
from mdvib.units import BOHR_PER_ATU_TO_A_PER_FS

BOHR_A = physical_constants["Bohr radius"][0] * 1e10
HARTREE_EV = physical_constants["Hartree energy in eV"][0]


# ---------------------------------------------------------------- ASE files
def ase_frames(n_frames=4, masses=None, seed=0):
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n_frames):
        atoms = bulk("SiO", "rocksalt", a=4.2) * (2, 1, 1)
        atoms.set_cell(atoms.cell.array + rng.normal(scale=0.05, size=(3, 3)), scale_atoms=False)
        atoms.positions += rng.normal(scale=0.1, size=atoms.positions.shape)
        if masses is not None:
            atoms.set_masses(masses)
        atoms.set_velocities(rng.normal(scale=0.01, size=atoms.positions.shape))
        atoms.calc = SinglePointCalculator(atoms, forces=rng.normal(size=atoms.positions.shape), energy=-1.0)
        atoms.info["time"] = 2.5 * i
        frames.append(atoms)
    return frames


@pytest.mark.parametrize("masses", [None, [28.0, 17.0, 29.0, 18.0]])
def test_ase_written_extxyz_roundtrip(tmp_path, masses, read_all):
    path = tmp_path / "ase.extxyz"
    ase.io.write(path, ase_frames(masses=masses))
    expected = ase.io.read(path, ":")  # what the file holds (8 decimals)
    reader = open_reader(path)
    info = reader.info
    assert detect_format(path) == "extxyz"
    assert info.n_frames == 4 and info.n_atoms == 4
    assert info.species == ("Si", "O", "Si", "O")
    np.testing.assert_allclose(info.masses, expected[0].get_masses(), rtol=0, atol=1e-12)
    assert info.has_velocities and info.has_forces and not info.has_dipoles
    assert info.frame_spacing_fs == pytest.approx(2.5)
    data = read_all(reader, chunk_frames=3)
    assert data["first_frames"] == [0, 3]
    for k, atoms in enumerate(expected):
        np.testing.assert_allclose(data["positions"][k], atoms.positions, rtol=0, atol=1e-12)
        np.testing.assert_allclose(data["cells"][k], atoms.cell.array, rtol=0, atol=1e-12)
        # ASE momenta (amu Å / ASE time) → Å/fs
        np.testing.assert_allclose(
            data["velocities"][k], atoms.get_velocities() * ase.units.fs, rtol=1e-10, atol=1e-14
        )
        np.testing.assert_allclose(data["forces"][k], atoms.get_forces(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(data["times"], [0.0, 2.5, 5.0, 7.5])


def test_masses_option_overrides_file_but_not_momentum_conversion(tmp_path, read_all):
    path = tmp_path / "ase.extxyz"
    ase.io.write(path, ase_frames(n_frames=2))
    expected = ase.io.read(path, ":")
    reader = open_reader(path, masses={"O": 18.0})
    assert reader.info.masses[1] == 18.0 and reader.info.masses[0] == pytest.approx(28.085)
    data = read_all(reader)
    np.testing.assert_allclose(data["velocities"][1], expected[1].get_velocities() * ase.units.fs, rtol=1e-10)


# ------------------------------------------------------------ GPUMD dump_xyz
GPUMD_CELL = np.array([[10.0, 0.0, 0.0], [1.5, 9.0, 0.0], [0.5, -0.7, 11.0]])


def write_gpumd(path, n_frames=3, n_atoms=5, seed=1, extra="", dipole=False, unwrapped=False, opener=open):
    """A GPUMD dump_xyz file with mass, vel (Å/fs) and forces, values written exactly."""
    rng = np.random.default_rng(seed)
    symbols = ["Si", "O", "O", "Si", "O"][:n_atoms]
    data = {
        "positions": rng.uniform(0, 9, size=(n_frames, n_atoms, 3)),
        "velocities": rng.normal(scale=0.02, size=(n_frames, n_atoms, 3)),
        "forces": rng.normal(size=(n_frames, n_atoms, 3)),
        "unwrapped": rng.uniform(-20, 20, size=(n_frames, n_atoms, 3)),
        "dipoles": rng.normal(size=(n_frames, 3)),
        "masses": np.array([28.1, 16.0, 16.0, 28.1, 16.0][:n_atoms]),
        "symbols": symbols,
        "times": 0.5 * 100 * np.arange(1, n_frames + 1),  # dump every 100 steps of 0.5 fs
    }
    props = "species:S:1:pos:R:3:mass:R:1:vel:R:3:forces:R:3" + (
        ":unwrapped_position:R:3" if unwrapped else ""
    )
    lattice = " ".join(repr(float(x)) for x in GPUMD_CELL.reshape(-1))
    with opener(path, "wt") as fh:
        for f in range(n_frames):
            fh.write(f"{n_atoms}\n")
            comment = (
                f'Time={data["times"][f]:.8f} pbc="T T T" Lattice="{lattice}" energy=-12.5 '
                f'virial="1 0 0 0 1 0 0 0 1" stress="0 0 0 0 0 0 0 0 0" Properties={props}{extra}'
            )
            if dipole:
                comment += ' dipole="{} {} {}"'.format(*(repr(float(x)) for x in data["dipoles"][f]))
            fh.write(comment + "\n")
            for i in range(n_atoms):
                row = [
                    *data["positions"][f, i],
                    data["masses"][i],
                    *data["velocities"][f, i],
                    *data["forces"][f, i],
                ]
                if unwrapped:
                    row += list(data["unwrapped"][f, i])
                fh.write(symbols[i] + " " + " ".join(repr(float(x)) for x in row) + "\n")
    return data


@pytest.mark.parametrize("gz", [False, True])
def test_gpumd_dump_xyz_exact(tmp_path, gz, read_all):
    path = tmp_path / ("dump.xyz.gz" if gz else "dump.xyz")
    data = write_gpumd(path, opener=gzip.open if gz else open, dipole=True)
    assert detect_format(path) == "extxyz"
    reader = open_reader(path)
    info = reader.info
    assert info.species == tuple(data["symbols"])
    np.testing.assert_array_equal(info.masses, data["masses"])  # from the mass column
    assert info.frame_spacing_fs == pytest.approx(50.0, rel=1e-12)
    assert info.has_dipoles and info.source_units["velocity"] == "A/fs"
    out = read_all(reader)
    np.testing.assert_array_equal(out["positions"], data["positions"])
    np.testing.assert_allclose(out["velocities"], data["velocities"], rtol=1e-15, atol=1e-15)
    np.testing.assert_array_equal(out["forces"], data["forces"])
    np.testing.assert_array_equal(out["dipoles"], data["dipoles"])
    np.testing.assert_array_equal(out["cells"], np.broadcast_to(GPUMD_CELL, (3, 3, 3)))
    np.testing.assert_allclose(out["times"], data["times"])
    assert out["steps"] is None and not out["unwrapped"]


def test_gpumd_unwrapped_positions_preferred(tmp_path, read_all):
    path = tmp_path / "dump.xyz"
    data = write_gpumd(path, unwrapped=True)
    out = read_all(open_reader(path))
    assert out["unwrapped"]
    np.testing.assert_array_equal(out["positions"], data["unwrapped"])


def test_velocity_unit_option(tmp_path, read_all):
    path = tmp_path / "dump.xyz"
    data = write_gpumd(path)
    out = read_all(open_reader(path, velocity_unit="A/ps"))
    np.testing.assert_allclose(out["velocities"], data["velocities"] * 1e-3, rtol=1e-15)
    with pytest.raises(SettingsError, match="velocity_unit"):
        open_reader(path, velocity_unit="furlong/fortnight").info


def test_start_stop_and_chunks_agree(tmp_path, read_all):
    path = tmp_path / "dump.xyz"
    data = write_gpumd(path, n_frames=7)
    reader = open_reader(path)
    part = read_all(reader, chunk_frames=2, start=2, stop=6)
    assert part["first_frames"] == [2, 4]
    np.testing.assert_array_equal(part["positions"], data["positions"][2:6])
    assert list(reader.iter_chunks(start=7)) == []


def test_step_numbers_and_dt(tmp_path, read_all):
    path = tmp_path / "steps.xyz"
    with open(path, "w") as fh:
        for step in (0, 10, 20):
            fh.write(
                f'1\nLattice="3 0 0 0 3 0 0 0 3" Properties=species:S:1:pos:R:3 Step={step}\nCu 0 0 {step}\n'
            )
    assert open_reader(path).info.frame_spacing_fs is None
    reader = open_reader(path, dt_fs=2.0)
    assert reader.info.frame_spacing_fs == pytest.approx(20.0)
    out = read_all(reader)
    np.testing.assert_array_equal(out["steps"], [0, 10, 20])
    np.testing.assert_allclose(out["times"], [0.0, 20.0, 40.0])


def test_plain_xyz_and_dt_as_frame_spacing(tmp_path, read_all):
    path = tmp_path / "plain.xyz"
    path.write_text("2\nframe one\nAr 0 0 0\nAr 1 1 1\n2\nframe two\nAr 0 0 0.5\nAr 1 1 1.5\n")
    reader = open_reader(path, dt_fs=4.0)
    assert reader.info.frame_spacing_fs == 4.0 and not reader.info.has_velocities
    out = read_all(reader)
    np.testing.assert_array_equal(out["cells"], 0.0)  # no cell in the file
    np.testing.assert_allclose(out["times"], [0.0, 4.0])
    assert out["positions"][1, 1, 2] == 1.5


# ----------------------------------------------------------------------- i-PI
def test_ipi_atomic_units_with_companions(tmp_path, read_all, write_ipi_xyz):
    rng = np.random.default_rng(3)
    symbols = ["O", "H", "H"]
    steps = [0, 4, 8]
    cellpar = np.array([[20.0, 21.0, 22.0, 90.0, 90.0, 90.0]] * 3)  # bohr
    q = rng.normal(size=(3, 3, 3))
    v = rng.normal(scale=1e-3, size=(3, 3, 3))
    f = rng.normal(scale=1e-2, size=(3, 3, 3))
    write_ipi_xyz(
        tmp_path / "sim.pos_0.xyz", q, cellpar, "positions", "atomic_unit", "atomic_unit", steps, symbols
    )
    write_ipi_xyz(
        tmp_path / "sim.vel_0.xyz", v, cellpar, "velocities", "atomic_unit", "atomic_unit", steps, symbols
    )
    write_ipi_xyz(tmp_path / "sim.for_0.xyz", f, cellpar, "forces", "atomic_unit", "atomic_unit", steps, symbols)
    reader = open_reader(
        tmp_path / "sim.pos_0.xyz",
        velocities_file=tmp_path / "sim.vel_0.xyz",
        forces_file=tmp_path / "sim.for_0.xyz",
        dt_fs=0.5,
    )
    info = reader.info
    assert info.species == ("O", "H", "H") and info.has_velocities and info.has_forces
    assert info.frame_spacing_fs == pytest.approx(2.0)
    out = read_all(reader)
    np.testing.assert_allclose(out["positions"], q * BOHR_A, rtol=1e-13)
    np.testing.assert_allclose(out["velocities"], v * BOHR_PER_ATU_TO_A_PER_FS, rtol=1e-10)
    np.testing.assert_allclose(out["forces"], f * HARTREE_EV / BOHR_A, rtol=1e-10)
    np.testing.assert_allclose(out["cells"][0], np.diag([20.0, 21.0, 22.0]) * BOHR_A, atol=1e-12)
    np.testing.assert_array_equal(out["steps"], steps)
    np.testing.assert_allclose(out["times"], [0.0, 2.0, 4.0])
    # a velocity file given as the trajectory is refused with the fix
    with pytest.raises(SettingsError, match="velocities_file"):
        open_reader(tmp_path / "sim.vel_0.xyz").info


def test_ipi_angstrom_triclinic_cell(tmp_path, read_all, write_ipi_xyz):
    symbols = ["Cu", "Cu"]
    q = np.arange(12, dtype=float).reshape(2, 2, 3) / 7
    cellpar = np.array([[5.0, 6.0, 7.0, 80.0, 95.0, 100.0]] * 2)
    path = tmp_path / "pos.xyz"
    write_ipi_xyz(path, q, cellpar, "x_centroid", "angstrom", "angstrom", [0, 1], symbols)
    out = read_all(open_reader(path))
    np.testing.assert_array_equal(out["positions"], q)
    cell = ase.geometry.cellpar_to_cell(cellpar[0])
    np.testing.assert_allclose(out["cells"][0], cell, atol=1e-12)
    np.testing.assert_allclose(ase.geometry.cell_to_cellpar(out["cells"][1]), cellpar[1])


def test_ipi_mismatched_companion_steps(tmp_path, write_ipi_xyz):
    q = np.zeros((2, 1, 3))
    cellpar = np.array([[10.0, 10, 10, 90, 90, 90]] * 2)
    write_ipi_xyz(tmp_path / "p.xyz", q, cellpar, "positions", "angstrom", "angstrom", [0, 10], ["Ar"])
    write_ipi_xyz(tmp_path / "v.xyz", q, cellpar, "velocities", "atomic_unit", "angstrom", [0, 20], ["Ar"])
    with pytest.raises(TrajectoryFormatError, match=r"v\.xyz, frame 1: step 20"):
        open_reader(tmp_path / "p.xyz", velocities_file=tmp_path / "v.xyz").info


# ------------------------------------------------------------------ bad input
def test_nan_names_file_frame_and_atom(tmp_path, read_all):
    path = tmp_path / "nan.xyz"
    write_gpumd(path)
    lines = path.read_text().splitlines()
    lines[2 * 7 + 2 + 3] = "Si nan 1 2 28.1 0 0 0 0 0 0"  # frame 2, atom 3
    path.write_text("\n".join(lines) + "\n")
    reader = open_reader(path)
    with pytest.raises(
        TrajectoryFormatError, match=r"nan\.xyz, frame 2, atom id 3: positions contain a non-finite"
    ):
        read_all(reader)


def test_changing_atom_count(tmp_path):
    path = tmp_path / "count.xyz"
    path.write_text("1\n\nAr 0 0 0\n1\n\nAr 0 0 1\n2\n\nAr 0 0 0\nAr 1 1 1\n")
    with pytest.raises(TrajectoryFormatError, match=r"count\.xyz, frame 2: atom count changes from 1 to 2"):
        open_reader(path).info


@pytest.mark.parametrize("cut", ["mid_frame", "mid_line"])
def test_truncated_last_frame_is_dropped(tmp_path, cut, read_all):
    path = tmp_path / "trunc.xyz"
    write_gpumd(path, n_frames=3)
    lines = path.read_text().splitlines()
    if cut == "mid_frame":  # the writer stopped after a complete line
        path.write_text("\n".join(lines[:-2]) + "\n")
    else:  # the writer stopped inside the last line
        path.write_text("\n".join(lines[:-1] + [lines[-1][:20]]))
    with pytest.warns(UserWarning, match=r"trunc\.xyz.*frame 2"):
        reader = open_reader(path)
        assert reader.info.n_frames == 2
    assert read_all(reader)["positions"].shape == (2, 5, 3)


def test_malformed_line_names_frame_and_atom(tmp_path, read_all):
    path = tmp_path / "bad.xyz"
    write_gpumd(path)
    lines = path.read_text().splitlines()
    lines[7 + 2 + 4] = "O 1 2 3"  # frame 1, atom 4: columns missing
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(TrajectoryFormatError, match=r"bad\.xyz, frame 1, atom id 4: atom line has 4 columns"):
        read_all(open_reader(path))


def test_reordered_species_and_non_increasing_time(tmp_path, read_all):
    path = tmp_path / "order.xyz"
    path.write_text("2\nTime=0\nAr 0 0 0\nKr 1 1 1\n2\nTime=1\nKr 0 0 0\nAr 1 1 1\n")
    with pytest.raises(TrajectoryFormatError, match=r"order\.xyz, frame 1, atom id 0: species 'Kr'"):
        read_all(open_reader(path))
    path.write_text("1\nTime=5\nAr 0 0 0\n1\nTime=5\nAr 0 0 1\n")
    with pytest.raises(TrajectoryFormatError, match=r"order\.xyz, frame 1: time does not increase"):
        open_reader(path).info


def test_uneven_times_leave_spacing_unknown(tmp_path):
    path = tmp_path / "uneven.xyz"
    path.write_text("".join(f"1\nTime={t}\nAr 0 0 0\n" for t in (0, 1, 2, 4)))
    with pytest.warns(UserWarning, match="not evenly spaced"):
        info = open_reader(path).info
    assert info.frame_spacing_fs is None and info.uniform_spacing is False and info.uneven_frame == 3
    assert set(info.unit_styles) == {"metal", "real", "gpumd", "ase"}  # units= (--units) may change them


def test_unknown_label_needs_type_map(tmp_path):
    path = tmp_path / "types.xyz"
    path.write_text("2\n\n1 0 0 0\n2 1 1 1\n")
    with pytest.raises(TrajectoryFormatError, match="type_map"):
        open_reader(path).info
    assert open_reader(path, type_map={1: "Ga", 2: "N"}).info.species == ("Ga", "N")


# ----------------------------------------------------------------- cells (Lattice) frame by frame
def lattice_frames(lattices, pbc='pbc="T T T" '):
    """Two-atom extxyz text, one frame per ``Lattice`` string (``None``: no Lattice key)."""
    out = []
    for k, lattice in enumerate(lattices):
        key = "" if lattice is None else f'Lattice="{lattice}" {pbc}'
        out.append(f"2\n{key}Properties=species:S:1:pos:R:3 Time={k}\nSi 0 0 0\nSi 1.3 1.3 1.3\n")
    return "".join(out)


CUBE = "5 0 0 0 5 0 0 0 5"


@pytest.mark.parametrize(
    "lattices, frame, message",
    [
        ([CUBE, CUBE, None, CUBE], 2, 'frame has no Lattice="..." although frame 0 has one'),
        ([CUBE, "5 0 0 0 0 0 0 0 5", CUBE], 1, r"Lattice is degenerate \(cell vector\(s\) b are zero: no volume\)"),
        ([CUBE, CUBE, "5 0 0 5 0 0 0 0 5"], 2, r"Lattice is degenerate \(its cell vectors lie in one plane"),
        ([CUBE, "nan 0 0 0 5 0 0 0 5"], 1, "Lattice holds a non-finite number"),
        ([None, CUBE], 1, 'frame has a Lattice="..." but frame 0 has none'),
    ],
)
def test_missing_or_degenerate_lattice_names_the_frame(tmp_path, read_all, lattices, frame, message):
    path = tmp_path / "cells.xyz"
    path.write_text(lattice_frames(lattices))
    with pytest.raises(TrajectoryFormatError, match=rf"cells\.xyz, frame {frame}: {message}"):
        read_all(open_reader(path), chunk_frames=1)


def test_no_lattice_anywhere_and_non_periodic_slab_are_fine(tmp_path, read_all):
    molecule = tmp_path / "molecule.xyz"
    molecule.write_text(lattice_frames([None, None]))
    assert not read_all(open_reader(molecule))["cells"].any()  # all-zero cells: no cell
    slab = tmp_path / "slab.xyz"  # zero c vector along a non-periodic z
    slab.write_text(lattice_frames(["5 0 0 0 5 0 0 0 0"] * 2, pbc='pbc="T T F" '))
    np.testing.assert_array_equal(read_all(open_reader(slab))["cells"][1], np.diag([5.0, 5.0, 0.0]))


def test_truncated_gzip_drops_the_cut_frame(tmp_path, read_all):
    path = tmp_path / "cut.xyz.gz"
    text = lattice_frames([CUBE] * 400).encode()
    path.write_bytes(gzip.compress(text)[:-200])
    with pytest.warns(UserWarning, match="truncated|ends inside frame"):
        reader = open_reader(path)
        n_frames = reader.info.n_frames
    assert 300 < n_frames < 400
    assert read_all(reader)["positions"].shape == (n_frames, 2, 3)


# ----------------------------------------------------------------- masses from the file, unit styles
@pytest.mark.parametrize("symbol, mass, error", [
    ("Si", 1.0, r"mass\.xyz, atom id 0: atom is Si but the file gives it 1\.0 amu.*--types/--species.*--masses Si="),
    ("X", 1.0, r"atom label 'X' is not a chemical element; .*--types X=Si"),
    ("H", 1.0, None),  # 1.0 amu is a plausible (rounded) hydrogen mass
    ("Si", 28.0855, None),
])  # fmt: skip
def test_mass_column_placeholder_refused(tmp_path, symbol, mass, error):
    path = tmp_path / "mass.xyz"
    path.write_text(f"1\nProperties=species:S:1:pos:R:3:mass:R:1 Time=0\n{symbol} 0 0 0 {mass}\n")
    if error is not None:
        with pytest.raises(TrajectoryFormatError, match=error):
            open_reader(path).info
    else:
        assert open_reader(path).info.masses.tolist() == [mass]


def test_named_species_replace_the_mass_column(tmp_path):
    path = tmp_path / "mass.xyz"
    path.write_text("1\nProperties=species:S:1:pos:R:3:mass:R:1 Time=0\nSi 0 0 0 1.0\n")
    assert open_reader(path, type_map={"Si": "Si"}).info.masses.tolist() == [pytest.approx(28.085)]
    assert open_reader(path, species=["Ge"]).info.masses.tolist() == [pytest.approx(72.63, rel=1e-3)]
    assert open_reader(path, masses={"Si": 29.0}).info.masses.tolist() == [29.0]


def test_unit_styles_of_a_non_lammps_file(tmp_path, read_all):
    """An extxyz written in Å/ps with Time in ps (not by LAMMPS): units='metal' reads it, forces stay eV/Å."""
    path = tmp_path / "ps.xyz"
    path.write_text("".join(f"1\nProperties=species:S:1:pos:R:3:vel:R:3:forces:R:3 Time={0.005 * k}\n"
                            f"Si {0.01 * k} 0 0 2.0 0 0 0.5 0 0\n" for k in range(3)))
    default = open_reader(path)
    assert default.info.source_units["style"] == "gpumd" and default.info.frame_spacing_fs == pytest.approx(0.005)
    metal = read_all(open_reader(path, units="metal"))
    np.testing.assert_allclose(metal["velocities"][:, 0, 0], 2.0e-3)
    np.testing.assert_allclose(metal["times"], [0.0, 5.0, 10.0])
    np.testing.assert_allclose(metal["forces"][:, 0, 0], 0.5)
    real = read_all(open_reader(path, units="real"))
    np.testing.assert_allclose(real["forces"][:, 0, 0], 0.5 * 4184 / 6.02214076e23 / 1.602176634e-19)

