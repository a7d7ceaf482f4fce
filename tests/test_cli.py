"""The ``mdvib`` command line: help texts, the demo, ``mdvib dos`` outputs and error exits."""

import re
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from mdvib.cli.demo import demo_trajectory
from mdvib.cli.main import main
from mdvib.results import load_result

DEMO_DUMP = demo_trajectory()


def test_top_level_help_lists_subcommands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "dos" in out and "demo" in out and "THz" in out


def test_dos_help_documents_units_and_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["dos", "--help"])
    out = capsys.readouterr().out
    for text in ("--dt", "--units", "metal", "Å/ps", "--window", "--weights", "--blocks", "default: 4", "1/THz"):
        assert text in out, text


def test_demo_from_dump_writes_results_and_prints_peaks(tmp_path, capsys):
    """``mdvib demo --from-dump``: the DOS of the shipped dump, no MD (the campaign demo: tests/test_demo.py)."""
    assert main(["demo", "--from-dump", "-o", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "peaks:" in out and "kinetic temperature" in out
    for name in ("dos.h5", "dos.csv", "dos.png", "dos.h5.provenance.yaml"):
        assert (tmp_path / name).stat().st_size > 0
    result = load_result(tmp_path / "dos.h5")
    assert result.total_err is not None
    assert np.trapezoid(result.total, result.frequencies_thz) == pytest.approx(3.0, rel=1e-6)
    # SW Si at 300 K: TA, LA and TO bands
    peaks = result.peaks()
    assert any(4 < p < 6.5 for p in peaks) and any(14.5 < p < 17.5 for p in peaks)
    assert 250 < result.temperature_k < 350


def test_dos_csv_and_h5_outputs(tmp_path):
    csv = tmp_path / "dos.csv"
    png = tmp_path / "dos.png"
    argv = ["dos", str(demo_trajectory()), "--dt", "1", "--types", "1=Si", "--window", "100",
            "--weights", "neutron", "--quiet", "-o", str(csv), "--plot", str(png)]
    assert main(argv) == 0
    assert csv.read_text().splitlines()[0] == "frequency_THz,total,Si,total_err,Si_err"
    assert png.stat().st_size > 0
    h5 = tmp_path / "dos.h5"
    assert main(argv[:-4] + ["-o", str(h5)]) == 0
    with h5py.File(h5) as f:
        assert f["frequencies_thz"].attrs["unit"] == "THz"
        assert f["weights"].asstr()[()] == "neutron"


@pytest.mark.parametrize("argv,message", [
    (["dos", "no-such-file.dump"], "no-such-file.dump: file not found"),
    (["dos", "DEMO", "--types", "1=Si"], "--dt"),
    (["dos", "DEMO", "--dt", "1", "--types", "1:Si"], "expected TYPE=Element"),
    (["dos", "DEMO", "--dt", "1", "--types", "1=Si", "--units", "real"], "--units metal"),
    (["dos", "DEMO", "--dt", "1", "--types", "1=Si", "--window", "5000"], "shorter --window"),
])
def test_errors_are_one_line_with_exit_status_1(argv, message, capsys):
    argv = [str(demo_trajectory()) if a == "DEMO" else a for a in argv]
    assert main(argv + ["--quiet"]) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and err.startswith("mdvib dos: error:") and "\n" not in err


def test_console_script_runs():
    completed = subprocess.run([sys.executable, "-m", "mdvib.cli.main", "--version"], capture_output=True, text=True)
    assert completed.returncode == 0 and completed.stdout.startswith("mdvib ")


def test_dos_reads_extxyz_without_lammps_options(tmp_path):
    """Reader options meant for LAMMPS dumps (--units) are not passed to other readers by default."""
    from ase.build import bulk
    from ase.io import write

    rng = np.random.default_rng(0)
    frames = []
    for k in range(64):
        atoms = bulk("Si", "diamond", a=5.431, cubic=True)
        atoms.positions += rng.normal(scale=0.02, size=atoms.positions.shape)
        atoms.arrays["vel"] = rng.normal(scale=0.05, size=atoms.positions.shape)  # Å/fs
        atoms.info["Time"] = 10.0 * k  # fs
        frames.append(atoms)
    path = tmp_path / "dump.xyz"
    write(path, frames, format="extxyz")
    assert main(["dos", str(path), "-o", str(tmp_path / "dos.h5"), "--window", "16"]) == 0
    assert load_result(tmp_path / "dos.h5").frequencies_thz.size > 0


@pytest.mark.parametrize("types, message", [
    ("1=X", r"--types: 'X' \(type 1\) is not a chemical element symbol"),
    ("1=Xx", r"'Xx' \(type 1\) is not a chemical element"),
    ("1=Si,1=Ge", r"--types: type 1 is given twice \(Si and Ge\)"),
])
def test_bad_type_maps(types, message, capsys):
    assert main(["dos", str(DEMO_DUMP), "--dt", "1", "--types", types, "-o", "x.h5"]) == 1
    assert re.search(message, capsys.readouterr().err)


@pytest.mark.parametrize("args, message", [
    (["-o", "out.txt"], r"-o out.txt: unknown format '.txt'; use one of .h5, .hdf5, .csv"),
    (["-o", "missing/dir/out.h5"], r"-o missing/dir/out.h5: the folder missing/dir does not exist"),
    (["--plot", "dos.bmp"], r"--plot dos.bmp: unknown format '.bmp'"),
])
def test_output_paths_are_checked_before_the_analysis(args, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["dos", str(DEMO_DUMP), "--dt", "1", "--types", "1=Si", *args]) == 1
    assert re.search(message, capsys.readouterr().err)


def test_full_disk_keeps_the_earlier_result_and_leaves_no_temporary(tmp_path, monkeypatch):
    import errno

    import h5py

    from mdvib.errors import MdvibError
    from mdvib.results import write_text_atomic

    target = tmp_path / "dos.csv"
    target.write_text("earlier result\n")

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(h5py, "File", full)
    from mdvib.analysis.dos import DOSAnalysis
    from mdvib.trajectory import Trajectory

    result = DOSAnalysis(blocks=1).run(Trajectory.open(DEMO_DUMP, dt_fs=1.0, type_map={1: "Si"}), stop=100)
    with pytest.raises(MdvibError, match=r"dos.h5: writing failed \(No space left on device\)"):
        result.save(tmp_path / "dos.h5")
    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(MdvibError, match=r"dos.csv: writing failed"):
        write_text_atomic(target, "new")
    monkeypatch.undo()
    assert target.read_text() == "earlier result\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dos.csv"]


def test_temporary_file_of_a_killed_save_is_removed(tmp_path):
    from mdvib.results import write_text_atomic

    stale = tmp_path / ".dos.csv.999999999.abc.tmp"  # a PID that does not exist
    stale.write_text("half-written")
    write_text_atomic(tmp_path / "dos.csv", "ok\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dos.csv"]
