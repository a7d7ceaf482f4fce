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
    assert production["dump_xyz"] == ["5", "dump.xyz", "mass", "velocity", "force"]  # GPUMD after v5.6
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
    assert production["dump_thermo"] == ["100"] and production["dump_xyz"] == ["4", "dump.xyz", "mass", "velocity"]
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
        ({"gpumd_version": "3.5"}, "before v3.6 reads xyz.in"),
        ({"gpumd_version": 5.6}, "or a release such as '5.6'"),
        ({"gpumd_version": "five"}, "gpumd_version must be 'latest'"),
        ({"gpumd_version": "3.9", "velocity_seed": 4}, "velocity_seed needs GPUMD v3.9.1 or later"),
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
        assert "\ndump_xyz 10 dump.xyz mass velocity force\n" in run_in and "compute_dos" in run_in
        assert (out / name / "model.xyz").read_text().splitlines()[0].strip() == "64"
    assert "T_900K" in capsys.readouterr().out
    assert main(["gpumd", str(structure), str(tmp_path / "missing_nep.txt"), "-T", "300", "-o", str(out)]) == 1
    assert "missing_nep.txt" in capsys.readouterr().err


# ------------------------------------------------------------------ the dump keyword of each GPUMD generation
#: GPUMD's quantity keywords of dump_xyz (doc/gpumd/input_parameters/dump_xyz.rst).
DUMP_XYZ_QUANTITIES = {"mass", "velocity", "force", "potential", "virial", "charge", "bec", "group_labels",
                       "unwrapped_position"}


def _is_int(token):
    try:
        int(token)
    except ValueError:
        return False
    return True


def gpumd_dump_line(generation, args):
    """(interval, file name, quantities) of a dump line as GPUMD of ``generation`` parses it, or ValueError.

    The grammars of the GPUMD documentation: ``latest`` (after v5.6) ``dump_xyz <interval> <filename>
    [group <method> <id>] [precision single|double] {quantity}``, refusing two leading integers;
    ``5.6`` (v4.0-v5.6) ``dump_xyz <method> <id> <interval> <filename> {quantity}``; ``exyz`` (v3.x)
    ``dump_exyz <interval> <has_velocity> <has_force>`` into dump.xyz.
    """
    keyword, *params = args
    if generation == "exyz":
        if keyword != "dump_exyz" or len(params) != 3 or not all(_is_int(p) for p in params):
            raise ValueError(f"not a v3 dump_exyz line: {args}")
        quantities = {"velocity"} if params[1] == "1" else set()
        return int(params[0]), "dump.xyz", quantities | ({"force"} if params[2] == "1" else set())
    if keyword != "dump_xyz" or len(params) < 2:
        raise ValueError(f"no dump_xyz: {args}")
    if generation == "5.6":
        if len(params) < 4 or not all(_is_int(p) for p in params[:3]):
            raise ValueError(f"v5.6 dump_xyz needs <grouping_method> <group_id> <interval> <filename>: {args}")
        assert int(params[0]) < 0, "the whole system"
        return int(params[2]), params[3], set(params[4:]) & DUMP_XYZ_QUANTITIES
    if len(params) >= 3 and _is_int(params[1]) and _is_int(params[2]):
        raise ValueError("dump_xyz no longer takes <grouping_method> <group_id> as its first two parameters")
    if not _is_int(params[0]) or _is_int(params[1]):
        raise ValueError(f"dump_xyz <interval> <filename>: {args}")
    quantities = set(params[2:])
    if not quantities <= DUMP_XYZ_QUANTITIES:
        raise ValueError(f"Unrecognized argument in dump_xyz: {quantities - DUMP_XYZ_QUANTITIES}")
    return int(params[0]), params[1], quantities


@pytest.mark.parametrize("version, generation", [
    ("latest", "latest"), ("5.7", "latest"), ("5.6", "5.6"), ("v4.0", "5.6"), ("3.9.5", "exyz"), ("3.6", "exyz"),
])
def test_dump_line_is_what_that_gpumd_accepts(tmp_path, nep, version, generation):
    """Each gpumd_version gets the dump line its GPUMD parses, which the other generations refuse."""
    settings = GpumdRunSettings(production_steps=1000, dump_stride=5, dos=None, gpumd_version=version)
    run = write_gpumd_run(tmp_path, sic_supercell(), nep, 300, settings)
    _, (_, production) = stages(parse_run_in(run.run_in))
    line = next((k, a) for k, a in parse_run_in(run.run_in) if k.startswith("dump_") and k != "dump_thermo")
    interval, filename, quantities = gpumd_dump_line(generation, [line[0], *line[1]])
    assert (interval, filename) == (5, "dump.xyz") and run.trajectory.name == filename
    assert quantities == ({"velocity", "force"} if generation == "exyz" else {"mass", "velocity", "force"})
    for other in {"latest", "5.6", "exyz"} - {generation}:
        with pytest.raises(ValueError):
            gpumd_dump_line(other, [line[0], *line[1]])
    assert yaml.safe_load((run.directory / "mdvib-gpumd.yaml").read_text())["settings"]["gpumd_version"] == version
    assert "dump_exyz" not in production or generation == "exyz"


def test_cli_gpumd_version_option(tmp_path, nep, capsys):
    from mdvib.cli.main import main

    structure = tmp_path / "SiC.xyz"
    ase.io.write(structure, sic_supercell(), format="extxyz")
    args = ["gpumd", str(structure), str(nep), "-T", "300", "--production-steps", "2000", "--no-dos",
            "-o", str(tmp_path / "runs")]
    assert main(args + ["--gpumd-version", "5.6"]) == 0
    assert "\ndump_xyz -1 0 10 dump.xyz mass velocity force\n" in (tmp_path / "runs" / "T_300K" / "run.in").read_text()
    assert main(args + ["--gpumd-version", "3.9.5"]) == 0
    assert "\ndump_exyz 10 1 1\n" in (tmp_path / "runs" / "T_300K" / "run.in").read_text()
    assert main(args + ["--gpumd-version", "2.9"]) == 1
    assert "before v3.6" in capsys.readouterr().err


@pytest.mark.parametrize("version, generation", [("latest", "latest"), ("5.6", "5.6"), ("3.9.5", "exyz")])
def test_run_directory_to_mdvib_dos(tmp_path, nep, capsys, version, generation):
    """A run directory, GPUMD's dump of it (written here as that GPUMD writes it), then ``mdvib dos`` on it.

    The dump holds harmonic oscillators at 8 THz with known velocities: mdvib finds the peak and the kinetic
    temperature 2 E_kin / ((3N - 3) k_B) computed here from the written numbers (no unit conversion: Å/fs, fs).
    """
    from ase.units import _amu, _k

    from mdvib.cli.main import main
    from tests.io.test_gpumd_outputs import gpumd_dump_text

    atoms = bulk("SiC", "zincblende", a=4.36, cubic=True)
    settings = GpumdRunSettings(timestep_fs=1.0, equilibration_steps=1000, production_steps=2400, dump_stride=5,
                                dos=GpumdDOSSettings(correlation_steps=100), gpumd_version=version)
    run = write_gpumd_run(tmp_path / "T_300K", atoms, nep, 300, settings)
    line = next((k, a) for k, a in parse_run_in(run.run_in) if k.startswith("dump_") and k != "dump_thermo")
    interval, filename, quantities = gpumd_dump_line(generation, [line[0], *line[1]])

    n_frames, n_atoms, nu_thz = settings.production_steps // interval, len(atoms), 8.0
    times_fs = (settings.equilibration_steps + interval * np.arange(1, n_frames + 1)) * settings.timestep_fs
    rng = np.random.default_rng(1)
    phases = rng.uniform(0, 2 * np.pi, size=(n_atoms, 3))
    omega = 2 * np.pi * nu_thz * 1e-3  # rad/fs
    amplitude = 0.05  # Å
    arg = omega * times_fs[:, None, None] + phases
    positions = atoms.positions + amplitude * np.sin(arg)
    velocities = amplitude * omega * np.cos(arg)  # Å/fs
    masses = atoms.get_masses()
    properties = {"velocity": velocities, "force": -masses[None, :, None] * omega**2 * (positions - atoms.positions)}
    if "mass" in quantities:
        properties["mass"] = np.broadcast_to(masses[None, :, None], (n_frames, n_atoms, 1))
    cells = np.broadcast_to(atoms.cell.array, (n_frames, 3, 3))
    (run.directory / filename).write_text(gpumd_dump_text(generation, atoms.get_chemical_symbols(), cells, positions,
                                                          times_fs, properties, rng))

    kinetic_j = 0.5 * np.sum(masses[None, :, None] * _amu * (velocities * 1e5) ** 2, axis=(1, 2))  # Å/fs = 1e5 m/s
    expected_t = kinetic_j.mean() * 2 / ((3 * n_atoms - 3) * _k)
    record = yaml.safe_load((run.directory / "mdvib-gpumd.yaml").read_text())
    program, command, trajectory, *options = record["analyse"].split()  # mdvib dos dump.xyz <options>
    assert (program, command, trajectory) == ("mdvib", "dos", filename)
    out = run.directory / "dos.h5"
    assert main(["dos", str(run.trajectory), *[str(out) if a == "dos.csv" else a for a in options],
                 "--blocks", "2"]) == 0
    from mdvib.results import load_result

    result = load_result(out)
    assert result.provenance.frame_spacing_fs == pytest.approx(5.0)  # Time= in fs, 5 steps of 1 fs
    assert result.temperature_k == pytest.approx(expected_t, rel=1e-6)
    assert result.peaks(max_peaks=1)[0] == pytest.approx(nu_thz, abs=0.1)
    assert "kinetic temperature" in capsys.readouterr().out
