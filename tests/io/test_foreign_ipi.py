"""i-PI output of a real run (tests/data/foreign/ipi): positions, velocities and forces files against i-PI's reader.

The files were written by i-PI 3.3.1 driving LAMMPS (see ORIGIN.md there): positions in Å,
velocities in atomic units, forces in eV/Å, cells in Å or bohr. i-PI's own reader
(:func:`ipi.utils.io.iter_file`, converting to atomic units) and i-PI's unit table
(:func:`ipi.utils.units.unit_to_user`) give the reference values.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mdvib.errors import SettingsError
from mdvib.io import open_reader
from mdvib.io.ipi_beads import companion_files

IPI_DIR = Path(__file__).resolve().parents[1] / "data" / "foreign" / "ipi"
POS, VEL, FOR = (IPI_DIR / f"sim.{name}_0.xyz" for name in ("pos", "vel", "for"))
#: i-PI's mass of Si (its table; mdvib's is 28.085).
IPI_SI_AMU = 28.0855


def ipi_arrays(path: Path, **units) -> dict[str, np.ndarray]:
    """Per-frame values (atomic units) and cells (bohr, vectors as rows) as i-PI reads them."""
    ipi_io = pytest.importorskip("ipi.utils.io")
    values, cells = [], []
    with open(path) as fh:
        for frame in ipi_io.iter_file("xyz", fh, **units):
            values.append(np.array(frame["atoms"].q).reshape(-1, 3))
            cells.append(np.array(frame["cell"].h).T)
    return {"values": np.array(values), "cells": np.array(cells)}


def to_user(dimension: str, unit: str, values: np.ndarray) -> np.ndarray:
    """i-PI's conversion from atomic units."""
    units = pytest.importorskip("ipi.utils.units")
    return units.unit_to_user(dimension, unit, values)


@pytest.fixture(scope="module")
def ipi_reference() -> dict[str, np.ndarray]:
    fs_per_atu = to_user("time", "femtosecond", 1.0)
    # i-PI 3.3.1's reader takes unit names matching [A-Za-z_]* from the header, so it reads its own
    # forces{ev/ang} as atomic units: name that unit for it
    pos, vel, force = ipi_arrays(POS), ipi_arrays(VEL), ipi_arrays(FOR, dimension="force", units="ev/ang")
    return {
        "positions": to_user("length", "angstrom", pos["values"]),
        "velocities": to_user("length", "angstrom", vel["values"]) / fs_per_atu,  # Å/fs
        "forces": to_user("force", "ev/ang", force["values"]),
        "cells": to_user("length", "angstrom", pos["cells"]),
        "velocity_cells": to_user("length", "angstrom", vel["cells"]),
    }


def test_run_matches_ipi_reader(ipi_reference, read_all):
    reader = open_reader(POS, velocities_file=VEL, forces_file=FOR, dt_fs=1.0)
    info = reader.info
    assert info.n_frames == 151 and info.has_velocities and info.has_forces
    assert info.source_units["velocities_file"] == str(VEL) and info.source_units["velocity"] == "atomic_unit"
    assert info.frame_spacing_fs == 2.0  # Step: 0, 2, 4 ... × 1 fs
    out = read_all(reader, chunk_frames=40)
    # i-PI's and mdvib's unit constants (CODATA editions) agree to about 1e-8
    for name in ("positions", "velocities", "forces", "cells"):
        np.testing.assert_allclose(out[name], ipi_reference[name], rtol=1e-7, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(ipi_reference["velocity_cells"], ipi_reference["cells"], rtol=1e-5)  # bohr ↔ Å
    np.testing.assert_allclose(out["times"], 2.0 * np.arange(151))


def test_kinetic_energy_matches_ipi_output(read_all):
    """Velocities in eV: ½ Σ m v² per frame equals i-PI's kinetic_md in sim.out (6 printed digits)."""
    out = read_all(open_reader(POS, velocities_file=VEL, dt_fs=1.0, masses={"Si": IPI_SI_AMU}), chunk_frames=200)
    from mdvib.units import AMU_A2_PER_FS2_IN_EV

    kinetic = 0.5 * IPI_SI_AMU * np.sum(out["velocities"] ** 2, axis=(1, 2)) * AMU_A2_PER_FS2_IN_EV
    table = np.loadtxt(IPI_DIR / "sim.out")
    np.testing.assert_allclose(table[:, 0], 2 * np.arange(151))  # the same steps
    np.testing.assert_allclose(kinetic, table[:, 3], rtol=2e-5)


def test_companions_are_found_beside_the_positions_file(tmp_path):
    assert companion_files(POS) == {"velocities": VEL, "forces": FOR}
    assert companion_files(VEL) == {} and companion_files(IPI_DIR / "sim.out") == {}
    for name in ("sim.xc.xyz", "sim.vc.xyz", "run.pos_03.xyz", "run.for_03.xyz"):
        (tmp_path / name).write_text("")
    assert companion_files(tmp_path / "sim.xc.xyz") == {"velocities": tmp_path / "sim.vc.xyz"}
    assert companion_files(tmp_path / "run.pos_03.xyz") == {"forces": tmp_path / "run.for_03.xyz"}
    assert companion_files(tmp_path / "sim.pos.xyz") == {}  # a per-bead name needs its bead index


def test_misplaced_files_and_units_are_named():
    with pytest.raises(SettingsError, match=r"sim\.vel_0\.xyz holds i-PI velocities but was given as the "
                       r"trajectory path; .*--velocities/--forces"):
        open_reader(VEL).info
    with pytest.raises(SettingsError, match=r"holds i-PI forces but was given as the velocities file \(--velocities"):
        open_reader(POS, velocities_file=FOR).info
    with pytest.raises(SettingsError, match=r"i-PI files name their units .*--units \(units=\) does not apply"):
        open_reader(POS, units="metal").info
