"""Tests of the LAMMPS text dump reader (mdvib.io.lammps_dump).

Three tiers: a slow ``str.split`` reference parser and LAMMPS's own arrays as
independent implementations; hand-written dumps with known answers (boxes,
units, times); and every kind of bad input.
"""

from __future__ import annotations

import gzip
import re
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from mdvib.errors import MissingDataError, SettingsError, TrajectoryFormatError
from mdvib.io.lammps_dump import LammpsDumpReader, TruncatedDumpWarning
from mdvib.io.registry import detect_format, open_reader
from mdvib.trajectory import Trajectory
from mdvib.units import LAMMPS_UNIT_STYLES
from tests.lammps_helpers import dump_text

KCAL_PER_MOL_A_IN_EV_PER_A = LAMMPS_UNIT_STYLES["real"]["force_to_eV_per_A"]


# --------------------------------------------------------------------------- helpers


def simple_frames(n_frames: int = 3, n_atoms: int = 5, seed: int = 0, shuffle: bool = True) -> list:
    """Frames of rows ``id type x y z vx vy vz`` (ids 1..n) in random order."""
    rng = np.random.default_rng(seed)
    frames = []
    for k in range(n_frames):
        ids, types = np.arange(1, n_atoms + 1), np.ones(n_atoms)
        rows = np.column_stack([ids, types, rng.uniform(0, 10, (n_atoms, 3)), rng.normal(size=(n_atoms, 3))])
        frames.append((10 * k, rows[rng.permutation(n_atoms)] if shuffle else rows))
    return frames


def replace_field(text: str, frame: int, atom_id: int, column: int, token: str) -> str:
    """Replace value ``column`` of atom ``atom_id``'s line in ``frame`` by ``token``."""
    lines = text.splitlines(keepends=True)
    i = [k for k, ln in enumerate(lines) if ln.startswith("ITEM: ATOMS")][frame] + 1
    while lines[i].split()[0] != str(atom_id):
        i += 1
    fields = lines[i].split()
    fields[column] = token
    lines[i] = " ".join(fields) + "\n"
    return "".join(lines)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def reference_parse(path: Path) -> list[dict]:
    """Slow, independent parser: str.split per line, rows sorted by id."""
    lines = Path(path).read_text().splitlines()
    frames, i = [], 0
    while i < len(lines):
        assert lines[i] == "ITEM: TIMESTEP", lines[i]
        step, n = int(lines[i + 1]), int(lines[i + 3])
        bounds = [list(map(float, lines[i + 5 + k].split())) for k in range(3)]
        columns = lines[i + 8].split()[2:]
        table = np.array([list(map(float, ln.split())) for ln in lines[i + 9 : i + 9 + n]])
        table = table[np.argsort(table[:, columns.index("id")])]
        frames.append({"step": step, "bounds": bounds, "data": {c: table[:, j] for j, c in enumerate(columns)}})
        i += 9 + n
    return frames


def shuffled_copy(src: Path, dst: Path, seed: int = 1) -> Path:
    """Copy a dump, shuffling the atom lines of every frame."""
    rng = np.random.default_rng(seed)
    lines = src.read_text().splitlines(keepends=True)
    out, i = [], 0
    while i < len(lines):
        n = int(lines[i + 3])
        atoms = lines[i + 9 : i + 9 + n]
        out += lines[i : i + 9] + [atoms[j] for j in rng.permutation(n)]
        i += 9 + n
    dst.write_text("".join(out))
    return dst


# --------------------------------------------------------------------------- registry


def test_registry_detects_by_name_and_content(tmp_path):
    text = dump_text(simple_frames(1))
    for name in ("a.dump", "a.dump.gz", "a.lammpstrj", "dump.si", "run.dump.17", "A.LAMMPSTRJ"):
        assert detect_format(write(tmp_path / name, text)) == "lammps-dump"
    odd = write(tmp_path / "trajectory.txt", dump_text(simple_frames(1), units="metal"))
    assert detect_format(odd) == "lammps-dump"
    reader = open_reader(odd, type_map={1: "Si"})
    assert isinstance(reader, LammpsDumpReader)
    assert reader.info.n_frames == 1


# --------------------------------------------------------------------------- hand-written dumps


def test_atoms_mapped_by_id_and_sorted(tmp_path, read_all):
    frames = simple_frames(n_frames=4, n_atoms=7)
    path = write(tmp_path / "a.dump", dump_text(frames, columns="id type xu yu zu vx vy vz"))
    reader = LammpsDumpReader(path, type_map={1: "Ar"}, dt_fs=2.0)
    info = reader.info
    assert (info.n_atoms, info.n_frames) == (7, 4)
    np.testing.assert_array_equal(info.atom_ids, np.arange(1, 8))
    assert info.species == ("Ar",) * 7
    np.testing.assert_allclose(info.masses, 39.948)
    assert info.has_velocities and not info.has_forces
    assert info.frame_spacing_fs == 20.0
    assert info.source_units["velocity"] == "A/ps" and info.uniform_spacing
    assert info.unit_styles == ("metal", "real")
    got = read_all(reader, chunk_frames=3)
    for k, (_, rows) in enumerate(frames):
        rows = rows[np.argsort(rows[:, 0])]
        np.testing.assert_array_equal(got["positions"][k], rows[:, 2:5])
        np.testing.assert_allclose(got["velocities"][k], rows[:, 5:8] * 1e-3, rtol=1e-15)
    np.testing.assert_array_equal(got["steps"], [0, 10, 20, 30])
    np.testing.assert_array_equal(got["times"], [0.0, 20.0, 40.0, 60.0])
    np.testing.assert_array_equal(got["cells"], np.broadcast_to(np.eye(3) * 10, (4, 3, 3)))
    assert got["unwrapped"]


def test_chunking_and_frame_ranges(tmp_path, read_all):
    path = write(tmp_path / "a.dump", dump_text(simple_frames(n_frames=10), columns="id type xu yu zu vx vy vz"))
    reader = LammpsDumpReader(path, type_map={1: "Si"})
    full = read_all(reader)
    chunks = list(reader.iter_chunks(chunk_frames=3, start=2, stop=9))
    assert [c.first_frame for c in chunks] == [2, 5, 8]
    assert [c.n_frames for c in chunks] == [3, 3, 1]
    np.testing.assert_array_equal(np.concatenate([c.positions for c in chunks]), full["positions"][2:9])
    assert list(reader.iter_chunks(start=10)) == []
    assert sum(c.n_frames for c in reader.iter_chunks(stop=100)) == 10
    with pytest.raises(SettingsError):
        next(reader.iter_chunks(chunk_frames=0))
    with pytest.raises(SettingsError):
        next(reader.iter_chunks(start=-1))


def test_gzip_equals_plain(tmp_path, read_all):
    path = write(tmp_path / "a.dump", dump_text(simple_frames(n_frames=5), columns="id type xu yu zu vx vy vz"))
    gz = tmp_path / "a.dump.gz"
    with open(path, "rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    a = read_all(LammpsDumpReader(path, type_map={1: "Si"}), chunk_frames=2)
    b = read_all(LammpsDumpReader(gz, type_map={1: "Si"}), chunk_frames=2)
    for name in ("positions", "velocities", "cells", "steps"):
        np.testing.assert_array_equal(a[name], b[name])
    # reading a range behind the stream position restarts decompression
    reader = LammpsDumpReader(gz, type_map={1: "Si"})
    late = next(reader.iter_chunks(chunk_frames=1, start=4))
    early = next(reader.iter_chunks(chunk_frames=1, start=1))
    np.testing.assert_array_equal(late.positions[0], a["positions"][4])
    np.testing.assert_array_equal(early.positions[0], a["positions"][1])


def test_orthogonal_box_with_offset_origin_and_scaled_coordinates(tmp_path):
    box = "ITEM: BOX BOUNDS pp pp pp\n-1 3\n2 7\n0.5 6.5\n"
    rows = np.array([[2, 1, 0.25, 0.5, 0.75], [1, 1, 0.0, 0.1, 1.0]])
    path = write(tmp_path / "s.dump", dump_text([(0, rows)], columns="id type xs ys zs", box=box))
    chunk = next(LammpsDumpReader(path, type_map={1: "Si"}).iter_chunks())
    np.testing.assert_allclose(chunk.cells[0], np.diag([4.0, 5.0, 6.0]))
    np.testing.assert_allclose(chunk.positions[0], [[-1.0, 2.5, 6.5], [0.0, 4.5, 5.0]], rtol=1e-14)
    assert not chunk.unwrapped


def test_restricted_triclinic_box_bounds(tmp_path):
    # LAMMPS writes bounding-box extents: xlo_bound = xlo + min(0, xy, xz, xy+xz), ...
    xlo, xhi, ylo, yhi, zlo, zhi, xy, xz, yz = 1.0, 11.0, -2.0, 7.0, 0.0, 8.0, -3.0, 2.0, 1.5
    box = (
        "ITEM: BOX BOUNDS xy xz yz pp pp pp\n"
        f"{xlo + min(0, xy, xz, xy + xz)} {xhi + max(0, xy, xz, xy + xz)} {xy}\n"
        f"{ylo + min(0, yz)} {yhi + max(0, yz)} {xz}\n"
        f"{zlo} {zhi} {yz}\n"
    )
    cell = np.array([[xhi - xlo, 0, 0], [xy, yhi - ylo, 0], [xz, yz, zhi - zlo]])
    origin = np.array([xlo, ylo, zlo])
    frac = np.array([[0.1, 0.2, 0.3], [0.9, 0.5, 0.05]])
    images = np.array([[1, 0, -1], [0, -2, 1]])
    rows = np.column_stack([[1, 2], [1, 1], frac, images])
    path = write(tmp_path / "t.dump", dump_text([(0, rows)], columns="id type xs ys zs ix iy iz", box=box))
    chunk = next(LammpsDumpReader(path, type_map={1: "Si"}).iter_chunks())
    np.testing.assert_allclose(chunk.cells[0], cell, atol=1e-14)
    np.testing.assert_allclose(chunk.positions[0], origin + (frac + images) @ cell, rtol=1e-14, atol=1e-14)
    assert chunk.unwrapped


def test_general_triclinic_box_abc_origin(tmp_path):
    cell = np.array([[0.0, 2.7, 2.7], [2.7, 0.0, 2.7], [2.7, 2.7, 0.0]])
    origin = np.array([0.5, -1.0, 2.0])
    box = "ITEM: BOX BOUNDS abc origin pp pp pp\n" + "".join(
        f"{a[0]} {a[1]} {a[2]} {o}\n" for a, o in zip(cell, origin, strict=True)
    )
    frac = np.array([[0.25, 0.25, 0.25], [0.5, 0.0, 0.75]])
    rows = np.column_stack([[1, 2], [1, 1], frac])
    path = write(tmp_path / "g.dump", dump_text([(0, rows)], columns="id type xsu ysu zsu", box=box))
    chunk = next(LammpsDumpReader(path, type_map={1: "Si"}).iter_chunks())
    np.testing.assert_array_equal(chunk.cells[0], cell)
    np.testing.assert_allclose(chunk.positions[0], origin + frac @ cell, rtol=1e-14)
    assert chunk.unwrapped


def test_image_flags_unwrap_cartesian(tmp_path):
    rows = np.array([[1, 1, 9.5, 0.5, 5.0, -1, 2, 0], [2, 1, 0.5, 9.5, 5.0, 3, 0, -1]])
    path = write(tmp_path / "i.dump", dump_text([(0, rows)], columns="id type x y z ix iy iz"))
    reader = LammpsDumpReader(path, type_map={1: "Si"})
    chunk = next(reader.iter_chunks())
    np.testing.assert_allclose(chunk.positions[0], [[-0.5, 20.5, 5.0], [30.5, 9.5, -5.0]])
    assert chunk.unwrapped and reader.info.source_units["positions"] == "x y z ix iy iz"
    # without image flags wrapped positions are returned as they are
    path = write(tmp_path / "w.dump", dump_text([(0, rows[:, :5])], columns="id type x y z"))
    chunk = next(LammpsDumpReader(path, type_map={1: "Si"}).iter_chunks())
    np.testing.assert_array_equal(chunk.positions[0], rows[:, 2:5])
    assert not chunk.unwrapped


def test_units_real_versus_metal(tmp_path, read_all):
    rows = np.array([[1, 1, 0.0, 0.0, 0.0, 1.5, -2.0, 3.0, 10.0, -20.0, 30.0]])
    text = dump_text([(0, rows), (100, rows)], columns="id type xu yu zu vx vy vz fx fy fz")
    path = write(tmp_path / "u.dump", text)
    metal = read_all(LammpsDumpReader(path, units="metal", type_map={1: "C"}, dt_fs=1.0))
    real = LammpsDumpReader(path, units="real", type_map={1: "C"}, dt_fs=1.0)
    assert real.info.source_units["velocity"] == "A/fs"
    assert real.info.source_units["force"] == "kcal/mol/A"
    real = read_all(real)
    np.testing.assert_allclose(metal["velocities"][0, 0], [1.5e-3, -2.0e-3, 3.0e-3], rtol=1e-15)
    np.testing.assert_allclose(real["velocities"][0, 0], [1.5, -2.0, 3.0])
    np.testing.assert_allclose(metal["forces"][0, 0], [10.0, -20.0, 30.0])
    np.testing.assert_allclose(real["forces"][0, 0], np.array([10.0, -20.0, 30.0]) * 0.0433641, rtol=1e-5)
    np.testing.assert_allclose(real["forces"] / metal["forces"], KCAL_PER_MOL_A_IN_EV_PER_A, rtol=1e-15)
    with pytest.raises(SettingsError, match="unit style"):
        LammpsDumpReader(path, units="lj")


def test_item_units_and_time(tmp_path, read_all):
    frames = simple_frames(n_frames=3)
    text = dump_text(frames, columns="id type xu yu zu vx vy vz", times=[0.0, 0.025, 0.05], units="metal")
    path = write(tmp_path / "t.dump", text)
    reader = LammpsDumpReader(path, type_map={1: "Si"}, dt_fs=99.0)  # ITEM: TIME wins over dt_fs
    info = reader.info
    assert info.source_units["style"] == "metal" and info.source_units["style_from"] == "ITEM: UNITS"
    assert info.frame_spacing_fs == pytest.approx(25.0)
    np.testing.assert_allclose(read_all(reader)["times"], [0.0, 25.0, 50.0])
    with pytest.raises(SettingsError, match="ITEM: UNITS metal"):
        LammpsDumpReader(path, units="real", type_map={1: "Si"}).info
    real = write(
        tmp_path / "r.dump", dump_text(frames, columns="id type xu yu zu vx vy vz", times=[0, 2.5, 5], units="real")
    )
    reader = LammpsDumpReader(real, type_map={1: "Si"})
    assert reader.info.source_units["style"] == "real" and reader.info.frame_spacing_fs == 2.5


def test_non_uniform_spacing_is_recorded(tmp_path):
    frames = [(s, rows) for s, (_, rows) in zip([0, 10, 30], simple_frames(3), strict=True)]
    path = write(tmp_path / "n.dump", dump_text(frames))
    reader = LammpsDumpReader(path, type_map={1: "Si"}, dt_fs=1.0)
    info = reader.info
    assert info.frame_spacing_fs is None
    assert info.uniform_spacing is False and info.uneven_frame == 2
    assert info.n_frames == 3
    with pytest.raises(MissingDataError) as err:
        Trajectory(reader).frame_spacing_fs()
    message = str(err.value)
    assert "not evenly spaced in time: the spacing changes at frame 2" in message
    assert "split the file at frame 2" in message
    assert "select an evenly spaced part" not in message  # the old advice, useless here


def test_element_and_mass_columns_and_overrides(tmp_path):
    rows = "1 Si 28.1 0 0 0\n2 O 16.0 1 1 1\n3 O 16.0 2 2 2\n"
    header = "ITEM: TIMESTEP\n0\nITEM: NUMBER OF ATOMS\n3\nITEM: BOX BOUNDS pp pp pp\n0 5\n0 5\n0 5\n"
    path = write(tmp_path / "e.dump", header + "ITEM: ATOMS id element mass x y z\n" + rows)
    info = LammpsDumpReader(path).info
    assert info.species == ("Si", "O", "O")
    np.testing.assert_array_equal(info.masses, [28.1, 16.0, 16.0])
    info = LammpsDumpReader(path, masses={"O": 18.0}).info
    np.testing.assert_array_equal(info.masses, [28.1, 18.0, 18.0])
    # type labels that are element symbols need no type_map
    path = write(tmp_path / "l.dump", header + "ITEM: ATOMS id type x y z\n1 Si 0 0 0\n2 O 1 1 1\n3 O 2 2 2\n")
    info = LammpsDumpReader(path).info
    assert info.species == ("Si", "O", "O")
    np.testing.assert_allclose(info.masses[1:], 15.999, rtol=1e-4)


def test_numeric_types_need_type_map(tmp_path):
    path = write(tmp_path / "a.dump", dump_text(simple_frames(1)))
    with pytest.raises(SettingsError, match=r"--types 1=Si,2=O"):
        LammpsDumpReader(path).info
    rows = simple_frames(1)[0][1]
    rows[:, 1] = [1, 2, 1, 2, 3]
    path = write(tmp_path / "b.dump", dump_text([(0, rows)]))
    with pytest.raises(SettingsError, match=r"type 3 has no element"):
        LammpsDumpReader(path, type_map={1: "Si", 2: "O"}).info


# --------------------------------------------------------------------------- bad input


def frames_text(n_frames: int = 4, n_atoms: int = 5) -> tuple[list, str]:
    frames = simple_frames(n_frames=n_frames, n_atoms=n_atoms, shuffle=False)
    return frames, dump_text(frames, columns="id type xu yu zu vx vy vz")


def read_everything(path: Path, **kw) -> None:
    for _ in LammpsDumpReader(path, type_map={1: "Si"}, **kw).iter_chunks(chunk_frames=2):
        pass


def test_missing_atom_in_a_frame(tmp_path):
    frames, _ = frames_text()
    frames[2] = (frames[2][0], frames[2][1][[0, 1, 3, 4]])  # atom id 3 gone, header says 4 atoms
    path = write(tmp_path / "m.dump", dump_text(frames, columns="id type xu yu zu vx vy vz"))
    with pytest.raises(TrajectoryFormatError, match=r"m\.dump, frame 2, atom id 3: atom id missing") as exc:
        read_everything(path)
    assert exc.value.frame == 2 and exc.value.atom_id == 3
    assert "NUMBER OF ATOMS is 4" in str(exc.value)


def test_extra_atom_in_a_frame(tmp_path):
    frames, _ = frames_text()
    extra = frames[1][1][:1].copy()
    extra[0, 0] = 99
    frames[1] = (frames[1][0], np.vstack([frames[1][1], extra]))
    path = write(tmp_path / "x.dump", dump_text(frames, columns="id type xu yu zu vx vy vz"))
    with pytest.raises(TrajectoryFormatError, match=r"x\.dump, frame 1, atom id 99: atom id is not in frame 0"):
        read_everything(path)


def test_duplicated_id(tmp_path):
    frames, _ = frames_text()
    frames[3][1][4, 0] = 2
    path = write(tmp_path / "d.dump", dump_text(frames, columns="id type xu yu zu vx vy vz"))
    with pytest.raises(TrajectoryFormatError, match=r"d\.dump, frame 3, atom id 2: .*more than once"):
        read_everything(path)
    frames, _ = frames_text()
    frames[0][1][4, 0] = 2
    path = write(tmp_path / "d0.dump", dump_text(frames, columns="id type xu yu zu vx vy vz"))
    with pytest.raises(TrajectoryFormatError, match=r"d0\.dump, frame 0, atom id 2: .*more than once"):
        read_everything(path)


def test_ids_not_matching_first_frame(tmp_path):
    frames, _ = frames_text()
    frames[2][1][0, 0] = 42  # same count, different id
    path = write(tmp_path / "r.dump", dump_text(frames, columns="id type xu yu zu vx vy vz"))
    with pytest.raises(TrajectoryFormatError, match=r"r\.dump, frame 2, atom id 42"):
        read_everything(path)


@pytest.mark.parametrize("token", ["nan", "-nan", "inf", "-inf", "1e999"])
def test_non_finite_values(tmp_path, token):
    _, text = frames_text()
    path = write(tmp_path / "nan.dump", replace_field(text, frame=1, atom_id=3, column=6, token=token))
    with pytest.raises(TrajectoryFormatError, match=r"nan\.dump, frame 1, atom id 3: non-finite value .* 'vy'"):
        read_everything(path)


def test_bad_number_token(tmp_path):
    _, text = frames_text()
    path = write(tmp_path / "b.dump", replace_field(text, frame=0, atom_id=4, column=2, token="0.5x"))
    with pytest.raises(TrajectoryFormatError, match=r"b\.dump, frame 0, atom id 4: cannot read column 'xu'"):
        read_everything(path)


def test_non_increasing_timesteps(tmp_path):
    frames, _ = frames_text()
    frames[2] = (frames[1][0], frames[2][1])
    path = write(tmp_path / "s.dump", dump_text(frames))
    with pytest.raises(TrajectoryFormatError, match=r"s\.dump, frame 2: timestep does not increase \(10 then 10\)"):
        LammpsDumpReader(path, type_map={1: "Si"}).info


def test_missing_id_column(tmp_path):
    rows = simple_frames(1)[0][1][:, :5]
    path = write(tmp_path / "n.dump", dump_text([(0, rows)], columns="q type x y z"))
    with pytest.raises(TrajectoryFormatError, match=r"n\.dump, frame 0: no 'id' column"):
        LammpsDumpReader(path, type_map={1: "Si"}).info


def test_missing_position_columns(tmp_path):
    rows = simple_frames(1)[0][1][:, :5]
    path = write(tmp_path / "p.dump", dump_text([(0, rows)], columns="id type x y q"))
    with pytest.raises(TrajectoryFormatError, match=r"columns \['z'\] are missing"):
        LammpsDumpReader(path, type_map={1: "Si"}).info


@pytest.mark.parametrize(
    "cut, why",
    [
        (lambda t: t[: t.rindex("\n", 0, len(t) - 1) + 1], "4 of 5 atom lines"),  # lost whole lines
        (lambda t: t[: t.rindex(" ")], "the file ends inside an atom line"),  # cut inside a line: a value lost
        (lambda t: t[: t.rindex("ITEM: NUMBER")], "the file ends inside its header"),
    ],
)
def test_truncated_last_frame_is_dropped_with_warning(tmp_path, cut, why, read_all):
    frames, text = frames_text(n_frames=4)
    path = write(tmp_path / "t.dump", cut(text))
    reader = LammpsDumpReader(path, type_map={1: "Si"})
    with pytest.warns(TruncatedDumpWarning, match=rf"t\.dump: frame 3 is truncated \({why}"):
        info = reader.info
    assert info.n_frames == 3
    got = read_all(reader)
    assert got["positions"].shape == (3, 5, 3)
    np.testing.assert_array_equal(got["positions"][2], frames[2][1][:, 2:5])


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("n_frames", [1, 4])
def test_last_line_without_newline_is_complete(tmp_path, read_all, suffix, n_frames):
    frames, text = frames_text(n_frames=n_frames)
    assert text.endswith("\n")
    whole = write(tmp_path / "whole.lammpstrj", text)
    path = tmp_path / f"nonl.lammpstrj{suffix}"
    path.write_bytes(gzip.compress(text[:-1].encode()) if suffix else text[:-1].encode())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = read_all(LammpsDumpReader(path, type_map={1: "Si"}))
    expected = read_all(LammpsDumpReader(whole, type_map={1: "Si"}))
    assert got["positions"].shape[0] == n_frames
    for name in ("positions", "velocities", "cells", "steps"):
        np.testing.assert_array_equal(got[name], expected[name])
    mda = pytest.importorskip("MDAnalysis")  # MDAnalysis reads the same file, last frame included
    plain = write(tmp_path / "nonl_plain.lammpstrj", text[:-1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        universe = mda.Universe(str(plain), format="LAMMPSDUMP", lammps_coordinate_convention="unwrapped")
        positions = np.array([universe.atoms.positions.copy() for _ in universe.trajectory])
    np.testing.assert_allclose(got["positions"], positions, atol=2e-6)  # MDAnalysis keeps float32


def test_last_line_cut_inside_a_number_is_a_truncation(tmp_path):
    frames, text = frames_text(n_frames=3)
    text = text[: text.rindex(" ") + 1] + "1.5e-05\n"  # the last value is "1.5e-05" ...
    path = write(tmp_path / "e.dump", text[:-3])  # ... cut to "1.5e-"
    with pytest.warns(TruncatedDumpWarning, match=r"frame 2 is truncated \(the file ends inside an atom line\)"):
        assert LammpsDumpReader(path, type_map={1: "Si"}).info.n_frames == 2
    spaces = write(tmp_path / "s.dump", text + "  ")  # blanks after the last newline change nothing
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert LammpsDumpReader(spaces, type_map={1: "Si"}).info.n_frames == 3


def test_truncated_only_frame(tmp_path):
    _, text = frames_text(n_frames=1)
    path = write(tmp_path / "one.dump", text[:-20])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TruncatedDumpWarning)
        with pytest.raises(TrajectoryFormatError, match="no complete frame"):
            LammpsDumpReader(path, type_map={1: "Si"}).info


def test_truncated_frame_in_the_middle_is_an_error(tmp_path):
    _, text = frames_text(n_frames=4)
    lines = text.splitlines(keepends=True)
    atoms1 = [k for k, ln in enumerate(lines) if ln.startswith("ITEM: ATOMS")][1] + 1
    # frame 1 keeps atoms 1-2 and half of atom 3's line; atoms 4 and 5 are gone
    cut = lines[: atoms1 + 2] + [lines[atoms1 + 2][:12]] + lines[atoms1 + 5 :]
    path = write(tmp_path / "mid.dump", "".join(cut))
    with pytest.raises(TrajectoryFormatError, match=r"mid\.dump, frame 1, atom id 3: atom line 2 has fewer"):
        read_everything(path)
    # the same, cut at a line end: the error names the first missing atom
    cut = lines[: atoms1 + 3] + lines[atoms1 + 5 :]
    path = write(tmp_path / "mid2.dump", "".join(cut))
    with pytest.raises(TrajectoryFormatError, match=r"mid2\.dump, frame 1, atom id 4: atom id missing"):
        read_everything(path)


def test_line_with_too_many_or_too_few_values(tmp_path):
    _, text = frames_text()
    path = write(tmp_path / "f.dump", replace_field(text, frame=2, atom_id=5, column=7, token="0.1 7"))
    with pytest.raises(TrajectoryFormatError, match=r"frame 2, atom id 5: atom line 4 has more than 8 values"):
        read_everything(path)
    path = write(tmp_path / "g.dump", replace_field(text, frame=1, atom_id=2, column=7, token=""))
    with pytest.raises(TrajectoryFormatError, match=r"frame 1, atom id 2: atom line 1 has fewer than 8 values"):
        read_everything(path)


def test_columns_changing_mid_file(tmp_path):
    frames = simple_frames(2)
    text = dump_text(frames[:1], columns="id type xu yu zu vx vy vz") + dump_text(frames[1:])
    path = write(tmp_path / "c.dump", text)
    with pytest.raises(TrajectoryFormatError, match=r"c\.dump, frame 1: ITEM: ATOMS columns changed"):
        LammpsDumpReader(path, type_map={1: "Si"}).info


def test_not_a_dump(tmp_path):
    path = write(tmp_path / "x.dump", "hello\nworld\n")
    with pytest.raises(TrajectoryFormatError, match="not a LAMMPS text dump"):
        LammpsDumpReader(path).info
    with pytest.raises(TrajectoryFormatError, match="empty file"):
        LammpsDumpReader(write(tmp_path / "e.dump", "")).info
    with pytest.raises(TrajectoryFormatError, match="file not found"):
        LammpsDumpReader(tmp_path / "missing.dump").info


# --------------------------------------------------------------------------- real LAMMPS


@pytest.fixture(scope="module")
def lammps_si(tmp_path_factory):
    """64-atom SW Si, metal units: dumps written by LAMMPS plus LAMMPS's own final arrays (by id)."""
    pytest.importorskip("lammps")
    from mdvib.engines.lammps_library import create_lammps, potentials_dir

    d = tmp_path_factory.mktemp("lammps_si")
    lmp = create_lammps()
    lmp.commands_string(
        f"""
        units metal
        atom_modify map yes
        lattice diamond 5.431
        region box block 0 2 0 2 0 2
        create_box 1 box
        create_atoms 1 box
        displace_atoms all move 1.3 0.7 -0.9 units box
        mass 1 28.0855
        pair_style sw
        pair_coeff * * {potentials_dir()}/Si.sw Si
        velocity all create 3000 4928459 mom yes rot yes dist gaussian
        timestep 0.002
        fix nve all nve
        dump exact all custom 10 {d}/exact.dump id type xu yu zu vx vy vz fx fy fz
        dump_modify exact format float %.17g
        dump plain all custom 10 {d}/plain.lammpstrj id type x y z ix iy iz vx vy vz fx fy fz
        dump_modify plain time yes units yes
        run 100
        """
    )
    final = {name: np.array(lmp.gather_atoms(name, 1, 3)).reshape(-1, 3) for name in ("x", "v", "f")}
    final["image"] = np.array(lmp.gather_atoms("image", 0, 3)).reshape(-1, 3)
    boxlo, boxhi = lmp.extract_box()[:2]
    final["cell"] = np.diag(np.subtract(boxhi, boxlo))
    lmp.close()
    return d, final


def test_real_lammps_dump_matches_lammps_arrays(lammps_si, read_all):
    d, final = lammps_si
    reader = LammpsDumpReader(d / "exact.dump", type_map={1: "Si"}, dt_fs=2.0)
    info = reader.info
    assert (info.n_atoms, info.n_frames) == (64, 11)
    assert info.frame_spacing_fs == pytest.approx(20.0)
    got = read_all(reader, chunk_frames=4)
    unwrapped = final["x"] + final["image"] @ final["cell"]
    np.testing.assert_allclose(got["positions"][-1], unwrapped, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got["velocities"][-1], final["v"] * 1e-3, rtol=1e-14, atol=1e-18)
    np.testing.assert_allclose(got["forces"][-1], final["f"], rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(got["cells"][-1], final["cell"], atol=1e-12)
    np.testing.assert_array_equal(got["steps"], np.arange(0, 101, 10))
    # the displaced lattice was wrapped back into the cell: unwrapping matters
    assert np.abs(final["image"]).max() > 0


def test_real_lammps_dump_matches_reference_parser(lammps_si, tmp_path, read_all):
    d, final = lammps_si
    src = d / "plain.lammpstrj"
    reader = LammpsDumpReader(src, type_map={1: "Si"})
    info = reader.info
    assert info.source_units["style_from"] == "ITEM: UNITS"
    assert info.source_units["positions"] == "x y z ix iy iz"
    assert info.frame_spacing_fs == pytest.approx(20.0)  # from ITEM: TIME (ps)
    got = read_all(reader, chunk_frames=3)
    assert got["unwrapped"]
    # strip the UNITS/TIME items for the simple reference parser
    stripped = write(tmp_path / "stripped.dump", _strip_time_and_units(src.read_text()))
    ref = reference_parse(stripped)
    assert len(ref) == info.n_frames
    for k, frame in enumerate(ref):
        data = frame["data"]
        lo_hi = np.array(frame["bounds"])
        cell = np.diag(lo_hi[:, 1] - lo_hi[:, 0])
        images = np.column_stack([data["ix"], data["iy"], data["iz"]])
        pos = np.column_stack([data["x"], data["y"], data["z"]]) + images @ cell
        np.testing.assert_allclose(got["positions"][k], pos, rtol=1e-15, atol=1e-13)
        vel = np.column_stack([data["vx"], data["vy"], data["vz"]]) * 1e-3
        np.testing.assert_array_equal(got["velocities"][k], vel)
        np.testing.assert_array_equal(got["forces"][k], np.column_stack([data["fx"], data["fy"], data["fz"]]))
        assert got["steps"][k] == frame["step"]
    # LAMMPS's own final state agrees to the dump's %g precision
    np.testing.assert_allclose(got["velocities"][-1], final["v"] * 1e-3, rtol=1e-5, atol=1e-8)
    # shuffled atom lines give identical arrays (mapping by id)
    shuffled = shuffled_copy(stripped, tmp_path / "shuffled.dump")
    mixed = read_all(LammpsDumpReader(shuffled, type_map={1: "Si"}), chunk_frames=5)
    for name in ("positions", "velocities", "forces", "cells"):
        np.testing.assert_array_equal(mixed[name], got[name])


def _strip_time_and_units(text: str) -> str:
    lines = text.splitlines(keepends=True)
    out, i = [], 0
    while i < len(lines):
        if lines[i] in ("ITEM: TIME\n", "ITEM: UNITS\n"):
            i += 2
            continue
        out.append(lines[i])
        i += 1
    return "".join(out)


def test_real_lammps_triclinic_all_position_styles(tmp_path):
    pytest.importorskip("lammps")
    from mdvib.engines.lammps_library import create_lammps, potentials_dir

    lmp = create_lammps()
    lmp.commands_string(
        f"""
        units metal
        lattice diamond 5.431
        region box prism 0 2 0 2 0 2 0.5 -0.3 0.2
        create_box 1 box
        create_atoms 1 box
        mass 1 28.0855
        pair_style sw
        pair_coeff * * {potentials_dir()}/Si.sw Si
        displace_atoms all move 7.3 -4.1 2.9 units box
        displace_atoms all random 0.2 0.2 0.2 2837 units box
        dump d all custom 1 {tmp_path}/tri.dump id type xu yu zu x y z ix iy iz xs ys zs xsu ysu zsu
        dump_modify d format float %.17g
        run 0
        """
    )
    boxlo, boxhi, xy, yz, xz = lmp.extract_box()[:5]
    lmp.close()
    cell = np.array([[boxhi[0] - boxlo[0], 0, 0], [xy, boxhi[1] - boxlo[1], 0], [xz, yz, boxhi[2] - boxlo[2]]])
    full = (tmp_path / "tri.dump").read_text().splitlines(keepends=True)
    header_cols = full[8].split()[2:]

    def subset(names: list[str], file: str) -> Path:
        idx = [header_cols.index(n) for n in ["id", "type"] + names]
        out = full[:8] + ["ITEM: ATOMS " + " ".join(["id", "type"] + names) + "\n"]
        out += [" ".join(ln.split()[i] for i in idx) + "\n" for ln in full[9:]]
        return write(tmp_path / file, "".join(out))

    variants = {
        "xu yu zu": True,
        "x y z ix iy iz": True,
        "xs ys zs ix iy iz": True,
        "xsu ysu zsu": True,
        "x y z": False,
        "xs ys zs": False,
    }
    results = {}
    for k, (names, unwrapped) in enumerate(variants.items()):
        chunk = next(LammpsDumpReader(subset(names.split(), f"v{k}.dump"), type_map={1: "Si"}).iter_chunks())
        assert chunk.unwrapped is unwrapped, names
        np.testing.assert_allclose(chunk.cells[0], cell, atol=1e-12)
        results[names] = chunk.positions[0]
    for names in ("x y z ix iy iz", "xs ys zs ix iy iz", "xsu ysu zsu"):
        np.testing.assert_allclose(results[names], results["xu yu zu"], atol=1e-9, err_msg=names)
    np.testing.assert_allclose(results["xs ys zs"], results["x y z"], atol=1e-9)
    assert np.abs(results["x y z"] - results["xu yu zu"]).max() > 1.0  # images were non-zero


# --------------------------------------------------------------------------- damaged gzip, bad boxes, one frame


def gzip_dump(tmp_path, n_frames: int = 30) -> tuple[bytes, bytes]:
    """(dump text, its gzip bytes) of ``n_frames`` frames of 5 atoms."""
    _, text = frames_text(n_frames=n_frames)
    return text.encode(), gzip.compress(text.encode())


def test_truncated_gzip_drops_the_cut_frame_like_a_plain_dump(tmp_path, read_all):
    text, raw = gzip_dump(tmp_path)
    path = tmp_path / "cut.dump.gz"
    path.write_bytes(raw[: int(len(raw) * 0.6)])
    reader = LammpsDumpReader(path, type_map={1: "Si"})
    with pytest.warns(TruncatedDumpWarning, match=r"cut\.dump\.gz: frame (\d+) is truncated \(.*; the gzip file is "
                                                  r"cut short before its end marker\); it is skipped") as record:
        n_frames = reader.info.n_frames
    assert f"frame {n_frames} is truncated" in str(record[0].message)
    plain = write(tmp_path / "plain.dump", text.decode())
    expected = read_all(LammpsDumpReader(plain, type_map={1: "Si"}), stop=n_frames)
    np.testing.assert_array_equal(read_all(reader)["positions"], expected["positions"])


def test_gzip_cut_after_a_complete_frame_warns(tmp_path):
    _, raw = gzip_dump(tmp_path, n_frames=3)
    path = tmp_path / "trailer.dump.gz"
    path.write_bytes(raw[:-4])  # the data are whole, the CRC/length trailer is cut
    with pytest.warns(TruncatedDumpWarning, match=r"the gzip file is cut short .* right after frame 2; frames 0 to 2 "
                                                  r"are complete and read"):
        assert LammpsDumpReader(path, type_map={1: "Si"}).info.n_frames == 3


def test_gzip_with_a_bad_crc_is_a_format_error(tmp_path):
    _, raw = gzip_dump(tmp_path)
    bad = bytearray(raw)
    bad[-6] ^= 0xFF
    path = tmp_path / "crc.dump.gz"
    path.write_bytes(bytes(bad))
    with pytest.raises(TrajectoryFormatError) as err:
        LammpsDumpReader(path, type_map={1: "Si"}).info
    assert str(err.value) == (
        f"{path}: the gzip data are corrupt (CRC check failed): frames 0 to 29 decompress, but their bytes are not "
        "the ones that were compressed, so some frame holds damaged numbers. The file was damaged in writing or "
        "copying: check it with 'gzip -t' and copy it again from the original")


def test_damaged_gzip_names_the_last_good_frame(tmp_path, stored_gzip):
    text, _ = gzip_dump(tmp_path)
    starts = [m.start() for m in re.finditer(b"ITEM: TIMESTEP", text)]
    block = 100
    bad_block = (starts[10] + starts[11]) // 2 // block  # damage in the middle of frame 10
    assert bad_block * block - 64 > starts[10] and (bad_block + 1) * block < starts[11]
    path = tmp_path / "damaged.dump.gz"
    path.write_bytes(stored_gzip(text, block=block, bad_block=bad_block))
    with pytest.raises(TrajectoryFormatError) as err:
        LammpsDumpReader(path, type_map={1: "Si"}).info
    message = str(err.value)
    assert message.startswith(f"{path}: the gzip data are corrupt (invalid stored block lengths) after ")
    assert "the last frame complete before it is frame 9." in message
    assert "'gzip -dc FILE > part.dump'" in message


@pytest.mark.parametrize(
    "box, message",
    [
        ("ITEM: BOX BOUNDS pp pp pp\n0 10\n0 nan\n0 10\n", "BOX BOUNDS yhi is nan"),
        ("ITEM: BOX BOUNDS pp pp pp\n0 10\n0 10\n10 0\n",
         "BOX BOUNDS zhi 0 is not above zlo 10: the box is inverted or empty along z"),
        ("ITEM: BOX BOUNDS pp pp pp\n3 3\n0 10\n0 10\n",
         "BOX BOUNDS xhi 3 is not above xlo 3: the box is inverted or empty along x"),
        ("ITEM: BOX BOUNDS xy xz yz pp pp pp\n0 10 inf\n0 10 0\n0 10 0\n", "BOX BOUNDS xy is inf"),
        ("ITEM: BOX BOUNDS xy xz yz pp pp pp\n0 10 0\n5 4 0\n0 10 0\n",
         "BOX BOUNDS yhi_bound 4 is not above ylo_bound 5 after removing the tilt factors"),
        ("ITEM: BOX BOUNDS abc origin pp pp pp\n10 0 0 0\n20 0 0 0\n0 0 10 0\n",
         "BOX BOUNDS vectors a, b, c [[10.0, 0.0, 0.0], [20.0, 0.0, 0.0], [0.0, 0.0, 10.0]] span no volume"),
    ],
)
def test_nan_or_inverted_box_names_the_frame_and_the_bound(tmp_path, box, message):
    good = "ITEM: BOX BOUNDS pp pp pp\n0 10\n0 10\n0 10\n"
    frames = simple_frames(n_frames=4)
    text = dump_text(frames[:2], box=good) + dump_text(frames[2:3], box=box) + dump_text(frames[3:], box=good)
    path = write(tmp_path / "box.dump", text)
    with pytest.raises(TrajectoryFormatError) as err:
        LammpsDumpReader(path, type_map={1: "Si"}).info
    assert str(err.value).startswith(f"{path}, frame 2: malformed frame header: {message}")
    assert str(err.value).endswith("the simulation probably blew up before this frame: cut the trajectory before it")


def test_single_frame_dump_says_so_instead_of_asking_for_dt(tmp_path):
    path = write(tmp_path / "one.dump", dump_text(simple_frames(n_frames=1)))
    trajectory = Trajectory.open(path, type_map={1: "Si"}, dt_fs=1.0)
    assert trajectory.n_frames == 1 and trajectory.info.frame_spacing_fs is None
    with pytest.raises(MissingDataError) as err:
        trajectory.frame_spacing_fs()
    assert str(err.value) == (f"{path}: the file holds a single frame, so there is no time between frames; "
                              "a correlation analysis needs a trajectory of many frames")
    assert "--dt" not in str(err.value)


def test_unit_styles_say_whether_units_applies(tmp_path):
    frames = simple_frames(n_frames=2)
    plain = LammpsDumpReader(write(tmp_path / "a.dump", dump_text(frames)), type_map={1: "Si"})
    stated = LammpsDumpReader(write(tmp_path / "b.dump", dump_text(frames, units="real")), type_map={1: "Si"})
    assert plain.info.unit_styles == ("metal", "real")
    assert stated.info.unit_styles == ()  # ITEM: UNITS fixes the style
