"""Degenerate and misleading inputs to ``mdvib dos``: too few lags, a single frame, velocities from positions.

Every refusal names options that ``mdvib dos --help`` lists; the finite-difference temperature is checked
against harmonic oscillators (analytic damping sinc²(2πνΔt)) and against the recorded velocities of the
bundled SW-Si dump.
"""

from __future__ import annotations

import gzip
import re

import ase.io
import numpy as np
import pytest
from ase.build import bulk
from ase.units import _amu, _k

from mdvib.analysis.dos import MIN_WINDOW, DOSAnalysis
from mdvib.cli.demo import demo_trajectory
from mdvib.cli.main import main
from mdvib.errors import MissingDataError, SettingsError, UnitsError
from mdvib.trajectory import Trajectory

#: Lines per frame of the bundled dump (9 header lines + 216 atoms, ``id type xu yu zu vx vy vz``, metal units).
FRAME_LINES = 225


@pytest.fixture(scope="module")
def dump_lines():
    return gzip.decompress(demo_trajectory().read_bytes()).decode().splitlines(keepends=True)


@pytest.fixture(scope="module")
def dos_options():
    """Every ``--option`` that ``mdvib dos --help`` lists."""
    import subprocess
    import sys

    text = subprocess.run([sys.executable, "-m", "mdvib.cli.main", "dos", "--help"], capture_output=True,
                          text=True, check=True).stdout
    return set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", text))


def named_options(message):
    return set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", message))


def run_dos(capsys, *args):
    status = main(["dos", *map(str, args), "--quiet"])
    captured = capsys.readouterr()
    return status, captured.err


def frames_file(tmp_path, dump_lines, n_frames, name="part.dump"):
    path = tmp_path / name
    path.write_text("".join(dump_lines[: FRAME_LINES * n_frames]))
    return path


# ------------------------------------------------------------------ too few lags
def test_eleven_frames_are_refused_naming_window_and_blocks(tmp_path, capsys, dump_lines, dos_options):
    """Before: an 11-frame file gave a spectrum on 2 lags (4 blocks) or 5 lags (1 block). Now: refused."""
    path = frames_file(tmp_path, dump_lines, 11)
    out = tmp_path / "dos.h5"
    status, err = run_dos(capsys, path, "--dt", 1, "--types", "1=Si", "-o", out)
    assert status == 1 and not out.exists()
    assert ("11 frames in 4 blocks (--blocks) leave a default window (half a block) of only 2 lags; a spectrum "
            "needs at least 10: pass --window 10 --blocks 1") in err
    assert "at least 80 frames for the default window (half a block) with --blocks 4" in err
    assert named_options(err) == {"--blocks", "--window"} <= dos_options

    status, err = run_dos(capsys, path, "--dt", 1, "--types", "1=Si", "--blocks", 1, "-o", out)
    assert status == 1
    assert "in 1 block (--blocks) leave a default window (half a block) of only 5 lags" in err
    assert "pass --window 10, or use at least 20 frames" in err
    # the hint works
    assert run_dos(capsys, path, "--dt", 1, "--types", "1=Si", "--window", 10, "--blocks", 1, "-o", out)[0] == 0
    assert out.exists()


def test_short_window_and_from_positions_counts(tmp_path, capsys, dump_lines, dos_options):
    path = frames_file(tmp_path, dump_lines, 11)
    status, err = run_dos(capsys, path, "--dt", 1, "--types", "1=Si", "--window", 5, "-o", tmp_path / "d.h5")
    assert status == 1 and "a window of 5 lags is too short for a spectrum: pass --window 10 or more" in err
    assert named_options(err) <= dos_options

    # --from-positions uses two frames: 11 → 9 velocity frames, fewer than 10 lags even in one block
    status, err = run_dos(capsys, path, "--dt", 1, "--types", "1=Si", "--from-positions", "--blocks", 1,
                          "-o", tmp_path / "d.h5")
    assert status == 1
    assert "11 frames, of which --from-positions' central differences use 2, in 1 block" in err
    assert "use a trajectory of at least 12 frames (--window 10 --blocks 1), or 22 frames" in err
    assert named_options(err) <= dos_options

    status, err = run_dos(capsys, path, "--dt", 1, "--types", "1=Si", "--stop", 5, "-o", tmp_path / "d.h5")
    assert status == 1 and "5 frames (selected of 11) in 4 blocks" in err


def test_window_longer_than_blocks_says_how_many_frames(tmp_path, capsys, dump_lines, dos_options):
    path = frames_file(tmp_path, dump_lines, 50)
    status, err = run_dos(capsys, path, "--dt", 1, "--types", "1=Si", "--window", 30, "-o", tmp_path / "d.h5")
    assert status == 1
    assert "window of 30 frames is longer than a block (12 frames = 50 frames / 4 blocks)" in err
    assert "--window 30 with --blocks 4 needs at least 120 frames" in err
    assert named_options(err) <= dos_options


def test_minimum_window_is_accepted():
    rng = np.random.default_rng(0)
    v = rng.normal(scale=0.01, size=(MIN_WINDOW, 4, 3))
    traj = Trajectory.from_arrays(np.cumsum(v, axis=0), ["Si"] * 4, 1.0, velocities=v)
    with pytest.warns(UserWarning) as record:
        result = DOSAnalysis(blocks=1, window=MIN_WINDOW, check_time_axis=False).run(traj)
    assert result.provenance.settings["window"] == MIN_WINDOW
    coarse, noisy = (str(w.message) for w in record)  # computed, with both statistics warnings
    assert coarse.endswith("it cannot resolve phonons; use a longer trajectory")
    assert noisy.endswith("the single block has 10 frames for a window of 10 lags, so the longest lags are averaged "
                          "over only 1 time origin and the spectrum is noisy; use a longer trajectory")
    with pytest.raises(SettingsError, match=r"10 frames in 1 block .* of only 5 lags"):
        DOSAnalysis(blocks=1).run(traj)


# ------------------------------------------------------------------ a single frame
@pytest.mark.parametrize("kind", ["lammps", "extxyz"])
@pytest.mark.parametrize("dt", [[], ["--dt", "1"]])
def test_single_frame_is_not_told_to_pass_dt(tmp_path, capsys, dump_lines, dos_options, kind, dt):
    """Before: extxyz + --dt said "use a shorter --window or fewer --blocks" (no window fits one frame)."""
    if kind == "lammps":
        path, extra = frames_file(tmp_path, dump_lines, 1), ["--types", "1=Si"]
    else:
        atoms = bulk("Si", "diamond", a=5.43, cubic=True)
        atoms.set_velocities(np.random.default_rng(1).normal(scale=0.1, size=(8, 3)))
        path, extra = tmp_path / "one.extxyz", []
        ase.io.write(path, atoms, format="extxyz")
    status, err = run_dos(capsys, path, *dt, *extra, "-o", tmp_path / "d.h5")
    assert status == 1
    assert f"{path}: the file holds a single frame: a velocity autocorrelation needs a trajectory of at least " \
           "10 frames (--window 10 --blocks 1)" in err
    assert "--dt" not in err and "shorter --window" not in err
    assert named_options(err) <= dos_options


def test_single_frame_in_the_library():
    traj = Trajectory.from_arrays(np.zeros((1, 2, 3)), ["Si", "Si"], 1.0, velocities=np.ones((1, 2, 3)))
    with pytest.raises(MissingDataError, match="single frame") as info:
        traj.frame_spacing_fs()
    assert "--dt" not in str(info.value)
    with pytest.raises(SettingsError, match="holds a single frame") as info:
        DOSAnalysis().run(traj)
    assert "--dt" not in str(info.value)


# ------------------------------------------------------------------ velocities from positions
def oscillators(nu_thz, dt_fs, n_frames=2000, n_atoms=8, amplitude=0.05, seed=0):
    """Si atoms oscillating at ν in all directions, sampled every ``dt_fs``: positions, velocities (Å/fs), T (K)."""
    rng = np.random.default_rng(seed)
    omega = 2 * np.pi * nu_thz * 1e-3  # rad/fs
    t = dt_fs * np.arange(n_frames)
    arg = omega * t[:, None, None] + rng.uniform(0, 2 * np.pi, size=(n_atoms, 3))
    positions = 2.0 * np.arange(n_atoms)[None, :, None] + amplitude * np.sin(arg)
    velocities = amplitude * omega * np.cos(arg)
    mass = 28.085  # mdvib's standard mass of Si (ase.data)
    kinetic = 0.5 * mass * _amu * np.sum((velocities * 1e5) ** 2, axis=(1, 2))  # Å/fs = 1e5 m/s
    return positions, velocities, float(kinetic.mean() * 2 / ((3 * n_atoms - 3) * _k))


def test_finite_difference_temperature_is_lowered_by_sinc_squared():
    """Oscillators at 15 THz, 5 fs apart: central differences keep sinc²(2πνΔt) = 0.929 of the kinetic energy."""
    nu, dt = 15.0, 5.0
    positions, _, true_t = oscillators(nu, dt)
    x = 2 * np.pi * nu * dt * 1e-3
    traj = Trajectory.from_arrays(positions, ["Si"] * positions.shape[1], dt)
    with pytest.warns(UserWarning, match="lowers the kinetic temperature"):
        result = DOSAnalysis(from_positions=True, blocks=1, window=400).run(traj)
    assert result.temperature_k == pytest.approx(true_t * (np.sin(x) / x) ** 2, rel=2e-3)
    assert result.temperature_k < 0.95 * true_t
    assert result.temperature_undamped_k == pytest.approx(true_t, rel=5e-3)
    (note,) = [w for w in result.warnings if "finite differences" in w]
    assert "positions 5 fs apart damp a mode at ν by sinc²(2πνΔt), which lowers the kinetic temperature" in note
    assert f"{result.temperature_k:.1f} K here, about {result.temperature_undamped_k:.1f} K" in note
    assert "higher still" not in note
    line = next(s for s in result.summary().splitlines() if s.startswith("kinetic temperature"))
    assert "from finite differences of positions, which lower it" in line
    assert f"about {result.temperature_undamped_k:.1f} K" in line


def test_quantum_correction_on_finite_differences_asks_for_the_temperature():
    positions, _, _ = oscillators(15.0, 5.0, n_frames=400)
    traj = Trajectory.from_arrays(positions, ["Si"] * positions.shape[1], 5.0)
    with pytest.warns(UserWarning, match="the quantum correction used the lowered temperature: give the true one "
                                         "with --temperature K"):
        DOSAnalysis(from_positions=True, blocks=1, window=100, quantum_correction="harmonic").run(traj)
    with pytest.warns(UserWarning) as record:  # a given temperature: nothing to ask
        DOSAnalysis(from_positions=True, blocks=1, window=100, quantum_correction="harmonic",
                    temperature_k=400.0).run(traj)
    assert not any("--temperature" in str(w.message) for w in record)


def test_finite_differences_near_nyquist_are_flagged():
    """70 THz sampled every 5 fs (Nyquist 100 THz): above the 50 THz where the damping can be undone."""
    positions, _, true_t = oscillators(70.0, 5.0, n_frames=800)
    traj = Trajectory.from_arrays(positions, ["Si"] * positions.shape[1], 5.0)
    with pytest.warns(UserWarning, match="true temperature is higher still: the frames are too far apart"):
        result = DOSAnalysis(from_positions=True, blocks=1, window=200, check_temperature=False).run(traj)
    assert result.temperature_k < 0.2 * true_t


def test_recorded_velocities_get_no_finite_difference_note():
    positions, velocities, _ = oscillators(15.0, 5.0, n_frames=400)
    traj = Trajectory.from_arrays(positions, ["Si"] * positions.shape[1], 5.0, velocities=velocities)
    result = DOSAnalysis(blocks=1, window=100).run(traj)
    assert result.temperature_undamped_k is None
    assert not any("finite differences" in w for w in result.warnings)
    assert "finite differences" not in result.summary()


def test_from_positions_on_sw_silicon_against_recorded_velocities(tmp_path, capsys, dump_lines):
    """The bundled SW-Si dump (5 fs between frames): T from its recorded velocities, parsed here with NumPy, vs
    ``--from-positions`` (lower by ~5 %) and its undamped estimate (within 1 %)."""
    rows = [line.split() for line in dump_lines if len(line.split()) == 8 and not line.startswith("ITEM")]
    velocities = np.array(rows, dtype=float)[:, 5:8].reshape(-1, 216, 3) * 100.0  # Å/ps → m/s
    kinetic = 0.5 * 28.085 * _amu * np.sum(velocities**2, axis=(1, 2))
    recorded_t = float(kinetic[1:-1].mean() * 2 / ((3 * 216 - 3) * _k))  # the frames --from-positions keeps

    out = tmp_path / "dos.h5"
    assert main(["dos", str(demo_trajectory()), "--dt", "1", "--types", "1=Si", "--from-positions", "-o",
                 str(out)]) == 0
    printed = capsys.readouterr().out
    from mdvib.results import load_result

    result = load_result(out)
    assert result.temperature_k < 0.97 * recorded_t
    assert result.temperature_undamped_k == pytest.approx(recorded_t, rel=0.01)
    check = next(s for s in printed.splitlines() if s.startswith("kinetic temperature (equipartition check)"))
    assert "from finite differences of positions, which lower it" in check
    assert any("lowers the kinetic temperature (equipartition check)" in w for w in result.warnings)
    assert "warning: velocities from finite differences of positions 5 fs apart" in printed


def test_implausible_finite_difference_temperature_points_at_dt():
    """Positions 1000× too large (or a 1000× too short --dt) with --from-positions: the hint is --dt, not --units."""
    positions, _, _ = oscillators(15.0, 5.0, n_frames=200)
    traj = Trajectory.from_arrays(positions * 1000.0, ["Si"] * positions.shape[1], 5.0)
    with pytest.raises(UnitsError, match=r"from finite differences of positions is .* implausible; it scales as "
                                         r"1/Δt², so the time between frames \(5 fs\) looks too short: check --dt"):
        DOSAnalysis(from_positions=True, blocks=1, window=50).run(traj)
