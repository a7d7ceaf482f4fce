"""GPUMD run-directory writer: run.in stages and keywords, model.xyz contents, bad settings."""

from __future__ import annotations

import math

import ase.io
import ase.units
import numpy as np
import pytest
import yaml
from ase.build import bulk

from mdvib.engines.gpumd import (
    GpumdDOSSettings,
    GpumdRunSettings,
    nep_species,
    write_gpumd_run,
    write_gpumd_runs,
)
from mdvib.engines.structures import LatticeSpec
from mdvib.errors import SettingsError

# A NEP file needs only its header line for the writer (GPUMD reads the rest).
NEP_HEADER = "nep4 2 Si C\ncutoff 5 4 8 6\nn_max 4 4\n"


@pytest.fixture()
def nep(tmp_path):
    path = tmp_path / "models" / "SiC_nep.txt"
    path.parent.mkdir()
    path.write_text(NEP_HEADER)
    return path


def parse_run_in(path):
    """``run.in`` as a list of (keyword, [arguments]); comments and blank lines dropped."""
    commands = []
    for line in path.read_text().splitlines():
        tokens = line.split("#", 1)[0].split()
        if tokens:
            commands.append((tokens[0], tokens[1:]))
    return commands


def stages(commands):
    """Split commands into the setup block and one list per ``run`` (from its ``ensemble``)."""
    setup, runs, current = [], [], None
    for keyword, args in commands:
        if keyword == "ensemble":
            current = [(keyword, args)]
        elif current is None:
            setup.append((keyword, args))
        else:
            current.append((keyword, args))
            if keyword == "run":
                runs.append(dict((k, a) for k, a in current))
                current = None
    assert current is None, "commands after the last run"
    return setup, runs


def sic_supercell():
    atoms = bulk("SiC", "zincblende", a=4.36, cubic=True) * (2, 2, 2)
    rng = np.random.default_rng(3)
    atoms.positions += rng.normal(scale=0.02, size=atoms.positions.shape)
    return atoms


def test_run_directory_round_trip(tmp_path, nep):
    atoms = sic_supercell()
    settings = GpumdRunSettings(
        timestep_fs=1.0, equilibration_steps=2000, production_steps=10000, dump_stride=5,
        thermostat="nvt_bdp", velocity_seed=7, dos=GpumdDOSSettings(correlation_steps=400),
    )
    run = write_gpumd_run(tmp_path / "run", atoms, nep, 300.0, settings)

    # run.in: setup, NVT equilibration, NVE production with dumps and DOS
    setup, runs = stages(parse_run_in(run.run_in))
    assert setup == [("potential", ["SiC_nep.txt"]), ("velocity", ["300", "seed", "7"]), ("time_step", ["1"])]
    equilibration, production = runs
    assert equilibration == {"ensemble": ["nvt_bdp", "300", "300", "100"], "dump_thermo": ["5"], "run": ["2000"]}
    assert production["ensemble"] == ["nve"]
    assert production["dump_thermo"] == ["5"]
    assert production["dump_exyz"] == ["5", "1", "1"]
    assert production["run"] == ["10000"]
    interval, nc, omega = production["compute_dos"]
    assert (int(interval), int(nc)) == (5, 400)
    # default ν_max = Nyquist 1/(2·5 fs) = 100 THz; ω_max = 2πν_max in rad/ps, never above GPUMD's π/Δt_ps
    dt_ps = 5 * 1e-3
    assert float(omega) <= math.pi / dt_ps
    assert float(omega) == pytest.approx(2 * math.pi * 100.0, rel=1e-6)
    assert settings.mdvib_window_frames == 400
    assert settings.frame_spacing_fs == 5.0

    # model.xyz read back by ASE: cell, pbc, species, positions, masses
    model = ase.io.read(run.model_xyz)
    assert model.get_chemical_symbols() == atoms.get_chemical_symbols()
    np.testing.assert_allclose(model.cell.array, atoms.cell.array, atol=1e-9)
    np.testing.assert_allclose(model.positions, atoms.positions, atol=1e-9)
    np.testing.assert_allclose(model.get_masses(), atoms.get_masses(), atol=1e-9)
    assert model.pbc.all()
    header = run.model_xyz.read_text().splitlines()[:2]
    assert header[0] == str(len(atoms))
    assert 'pbc="T T T"' in header[1] and "Properties=species:S:1:pos:R:3:mass:R:1" in header[1]

    # the NEP file is copied next to run.in; provenance records it and the units
    assert (run.directory / "SiC_nep.txt").read_text() == NEP_HEADER
    record = yaml.safe_load((run.directory / "mdvib-gpumd.yaml").read_text())
    assert record["temperature_k"] == 300.0 and record["n_atoms"] == len(atoms)
    assert record["species"] == {"Si": 32, "C": 32}
    assert len(record["nep_model"]["sha256"]) == 64
    assert record["outputs"]["dump.xyz"]["velocities"] == "A/fs"
    assert record["derived"]["equilibration_thermo_rows"] == 400 == run.equilibration_thermo_rows
    assert "--window 400" in record["analyse"]
    assert run.trajectory == run.directory / "dump.xyz"


def test_triclinic_lattice_and_velocities(tmp_path, nep):
    atoms = bulk("Si", "diamond", a=5.43) * (2, 2, 2)  # primitive fcc cell: triclinic box
    rng = np.random.default_rng(0)
    atoms.set_velocities(rng.normal(scale=0.01, size=atoms.positions.shape))
    settings = GpumdRunSettings(production_steps=1000, dump_stride=10, velocities_from_structure=True,
                                equilibration_steps=0, dos=None)
    run = write_gpumd_run(tmp_path, atoms, nep, 500, settings)
    model = ase.io.read(run.model_xyz)
    np.testing.assert_allclose(model.cell.array, atoms.cell.array, atol=1e-9)
    lines = run.model_xyz.read_text().splitlines()
    assert lines[1].endswith("Properties=species:S:1:pos:R:3:mass:R:1:vel:R:3")
    written = np.array([line.split()[5:8] for line in lines[2:]], dtype=float)
    np.testing.assert_allclose(written, atoms.get_velocities() * ase.units.fs, atol=1e-9)  # Å/fs
    _, runs = stages(parse_run_in(run.run_in))
    assert len(runs) == 1 and runs[0]["ensemble"] == ["nve"]  # no equilibration stage
    assert "compute_dos" not in runs[0]
    setup, _ = stages(parse_run_in(run.run_in))
    assert ("velocity", ["500"]) in setup  # GPUMD needs the keyword even with file velocities


def test_lattice_spec_thermostats_and_relative_potential(tmp_path, nep):
    spec = LatticeSpec("Si", "diamond", 5.43, (2, 2, 2))
    settings = GpumdRunSettings(thermostat="nvt_nhc", thermostat_coupling=50, production_steps=2000,
                                dump_stride=4, thermo_stride=100, dump_forces=False,
                                dos=GpumdDOSSettings(correlation_steps=100, sample_interval=2,
                                                     max_frequency_thz=30.0, num_dos_points=250))
    run = write_gpumd_run(tmp_path / "a" / "b", spec, nep, 1200, settings, copy_potential=False)
    setup, (equilibration, production) = stages(parse_run_in(run.run_in))
    assert setup[0] == ("potential", ["../../models/SiC_nep.txt"])
    assert (run.directory / setup[0][1][0]).resolve() == nep.resolve() == run.potential
    assert equilibration["ensemble"] == ["nvt_nhc", "1200", "1200", "50"]
    assert production["dump_thermo"] == ["100"] and production["dump_exyz"] == ["4", "1", "0"]
    assert production["compute_dos"][:2] == ["2", "100"]
    assert float(production["compute_dos"][2]) == pytest.approx(2 * math.pi * 30.0, rel=1e-6)
    assert production["compute_dos"][3:] == ["num_dos_points", "250"]
    assert settings.mdvib_window_frames == 50
    assert run.n_atoms == 64 and set(run.species) == {"Si"}


def test_temperature_series(tmp_path, nep):
    runs = write_gpumd_runs(tmp_path / "series", sic_supercell(), nep, [300, 612.5],
                            GpumdRunSettings(production_steps=1000, dos=GpumdDOSSettings(correlation_steps=50)))
    assert [r.directory.name for r in runs] == ["T_300K", "T_612.5K"]
    assert (tmp_path / "series" / "SiC_nep.txt").is_file()
    for run in runs:
        setup, (equilibration, _) = stages(parse_run_in(run.run_in))
        assert setup[0] == ("potential", ["../SiC_nep.txt"])
        assert equilibration["ensemble"][1:3] == [f"{run.temperature_k:g}"] * 2


def test_nep_species_header(tmp_path, nep):
    assert nep_species(nep) == ("Si", "C")
    other = tmp_path / "other.txt"
    other.write_text("not a nep file\n")
    assert nep_species(other) is None


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"production_steps": 1001, "dump_stride": 10}, "dump_stride=10 does not divide production_steps=1001"),
        ({"production_steps": 1000, "thermo_stride": 300}, "thermo_stride=300 does not divide"),
        ({"thermostat": "nvt_lan"}, "thermostat 'nvt_lan' is not offered"),
        ({"thermostat_coupling": 0.5}, "thermostat_coupling"),
        ({"timestep_fs": 0.0}, "timestep_fs"),
        ({"dump_stride": 2.5}, "dump_stride must be an integer"),
        ({"equilibration_steps": -1}, "equilibration_steps must be >= 0"),
        ({"production_steps": 1000, "dos": GpumdDOSSettings(correlation_steps=200)},
         "at least correlation_steps=200 velocity samples"),
        ({"dump_stride": 10, "dos": GpumdDOSSettings(max_frequency_thz=60.0)}, "exceeds the Nyquist frequency 50"),
        ({"dos": "yes"}, "GpumdDOSSettings"),
    ],
)
def test_bad_settings(kwargs, match):
    with pytest.raises(SettingsError, match=match):
        GpumdRunSettings(**kwargs)


def test_bad_dos_settings():
    with pytest.raises(SettingsError, match="correlation_steps must be positive"):
        GpumdDOSSettings(correlation_steps=0)
    with pytest.raises(SettingsError, match="max_frequency_thz must be a positive number"):
        GpumdDOSSettings(max_frequency_thz=-1)


def test_bad_inputs(tmp_path, nep):
    atoms = sic_supercell()
    missing = tmp_path / "nowhere" / "nep.txt"
    with pytest.raises(SettingsError, match=f"NEP model file {missing} not found"):
        write_gpumd_run(tmp_path / "run", atoms, missing, 300)
    with pytest.raises(SettingsError, match="covers Si, C but the structure has Ge"):
        write_gpumd_run(tmp_path / "run", bulk("Ge", "diamond", a=5.66), nep, 300)
    with pytest.raises(SettingsError, match="temperature_k"):
        write_gpumd_run(tmp_path / "run", atoms, nep, -5)
    molecule = atoms.copy()
    molecule.set_cell(np.zeros((3, 3)))
    molecule.pbc = False
    with pytest.raises(SettingsError, match="needs a box"):
        write_gpumd_run(tmp_path / "run", molecule, nep, 300)
    with pytest.raises(SettingsError, match="at least one temperature"):
        write_gpumd_runs(tmp_path / "series", atoms, nep, [])
    with pytest.raises(SettingsError, match="repeat"):
        write_gpumd_runs(tmp_path / "series", atoms, nep, [300, 300.0])
    assert not (tmp_path / "run").exists()  # nothing written on bad input


def test_cli_writes_one_directory_per_temperature(tmp_path, nep, capsys):
    from ase.build import bulk
    from ase.io import write

    from mdvib.cli.main import main

    structure = tmp_path / "SiC.xyz"
    write(structure, bulk("SiC", "zincblende", a=4.36, cubic=True).repeat(2), format="extxyz")
    out = tmp_path / "runs"
    status = main(["gpumd", str(structure), str(nep), "-T", "300", "900", "--production-steps", "2000",
                   "--dump-stride", "10", "--dos-correlation-steps", "100", "-o", str(out)])
    assert status == 0
    for name in ("T_300K", "T_900K"):
        run_in = (out / name / "run.in").read_text()
        assert "dump_exyz 10 1 1" in run_in and "compute_dos" in run_in
        assert (out / name / "model.xyz").read_text().splitlines()[0].strip() == "64"
    assert "T_900K" in capsys.readouterr().out
    assert main(["gpumd", str(structure), str(tmp_path / "missing_nep.txt"), "-T", "300", "-o", str(out)]) == 1
    assert "missing_nep.txt" in capsys.readouterr().err
