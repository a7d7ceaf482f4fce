"""GPUMD output readers (thermo.out, mvac.out, dos.out) and GPUMD's dump.xyz through the extxyz reader.

Files are written here in the documented layouts (GPUMD doc/gpumd/output_files), with the
number formats GPUMD uses (``%20.10e`` for thermo.out, ``%g`` for mvac.out and dos.out).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from mdvib.errors import SettingsError, TrajectoryFormatError
from mdvib.io.gpumd_outputs import read_dos_out, read_mvac_out, read_thermo_out
from mdvib.trajectory import Trajectory


def write_table(path, rows, fmt="%20.10e", sep="", newline_at_end=True):
    text = "\n".join(sep.join(fmt % v for v in row) for row in rows)
    path.write_text(text + ("\n" if newline_at_end else ""))
    return path


def thermo_rows(n_rows, box_columns, shear=True, seed=0):
    rng = np.random.default_rng(seed)
    n = 3 + 3 + (3 if shear else 0) + box_columns
    rows = rng.normal(size=(n_rows, n))
    rows[:, 0] = 300 + rows[:, 0]  # T
    rows[:, 1] = 3.9 + 0.1 * rows[:, 1]  # K
    rows[:, 2] = -700 + rows[:, 2]  # U
    return rows


# ------------------------------------------------------------------ thermo.out
def test_thermo_orthogonal_12_columns(tmp_path):
    rows = thermo_rows(5, 3)
    rows[:, 9:12] = [10.86, 10.87, 10.88]
    thermo = read_thermo_out(write_table(tmp_path / "thermo.out", rows))
    assert thermo.n_columns == 12 and thermo.box == "orthogonal" and thermo.n_rows == 5
    np.testing.assert_allclose(thermo.temperature_k, rows[:, 0], rtol=1e-10)
    np.testing.assert_allclose(thermo.kinetic_energy_ev, rows[:, 1], rtol=1e-10)
    np.testing.assert_allclose(thermo.potential_energy_ev, rows[:, 2], rtol=1e-10)
    np.testing.assert_allclose(thermo.total_energy_ev, rows[:, 1] + rows[:, 2], rtol=1e-10)
    # Voigt xx yy zz yz xz xy = file columns Px Py Pz Pyz Pxz Pxy
    np.testing.assert_allclose(thermo.pressure_gpa, rows[:, 3:9], rtol=1e-10)
    np.testing.assert_allclose(thermo.hydrostatic_pressure_gpa, rows[:, 3:6].mean(axis=1), rtol=1e-10)
    np.testing.assert_allclose(thermo.cells[0], np.diag([10.86, 10.87, 10.88]), rtol=1e-10)
    np.testing.assert_allclose(thermo.volume_a3, 10.86 * 10.87 * 10.88, rtol=1e-10)
    # row k follows step (k+1)·interval: dump_thermo 100 with 1 fs steps
    np.testing.assert_allclose(thermo.times_fs(1.0, 100), [100, 200, 300, 400, 500])


def test_thermo_triclinic_18_columns(tmp_path):
    cell = np.array([[10.0, 0.0, 0.0], [1.5, 9.0, 0.0], [0.5, -0.7, 11.0]])
    rows = thermo_rows(3, 9)
    rows[:, 9:] = cell.reshape(-1)  # ax ay az bx by bz cx cy cz
    thermo = read_thermo_out(write_table(tmp_path / "thermo.out", rows))
    assert thermo.n_columns == 18 and thermo.box == "triclinic"
    np.testing.assert_allclose(thermo.cells, np.broadcast_to(cell, (3, 3, 3)), rtol=1e-10)
    np.testing.assert_allclose(thermo.volume_a3, abs(np.linalg.det(cell)), rtol=1e-10)
    np.testing.assert_allclose(thermo.pressure_gpa, rows[:, 3:9], rtol=1e-10)


@pytest.mark.parametrize("box_columns, box", [(3, "orthogonal"), (9, "triclinic")])
def test_thermo_old_layouts_without_shear(tmp_path, box_columns, box):
    rows = thermo_rows(4, box_columns, shear=False)
    thermo = read_thermo_out(write_table(tmp_path / "thermo.out", rows, fmt="%.8g", sep=" "))
    assert thermo.n_columns == 6 + box_columns and thermo.box == box
    np.testing.assert_allclose(thermo.pressure_gpa[:, :3], rows[:, 3:6], rtol=1e-7)
    assert np.isnan(thermo.pressure_gpa[:, 3:]).all()


def test_thermo_bad_rows(tmp_path):
    rows = thermo_rows(4, 3)
    path = write_table(tmp_path / "thermo.out", rows)
    lines = path.read_text().splitlines()

    # a run killed while writing: the last row is cut short and has no newline
    path.write_text("\n".join(lines[:3]) + "\n" + lines[3][:95])
    message = r"thermo\.out: line 4: 5 columns, expected 12.*ends inside this row"
    with pytest.raises(TrajectoryFormatError, match=message):
        read_thermo_out(path)

    # a row with one column too many in the middle
    bad = lines.copy()
    bad[1] += "  1.0"
    path.write_text("\n".join(bad) + "\n")
    with pytest.raises(TrajectoryFormatError, match=r"line 2: 13 columns, expected 12 like line 1"):
        read_thermo_out(path)

    # a token that is not a number
    bad = lines.copy()
    bad[2] = bad[2].replace(bad[2].split()[4], "nan?x", 1)
    path.write_text("\n".join(bad) + "\n")
    with pytest.raises(TrajectoryFormatError, match=r"line 3: column 5 is not a number: 'nan\?x'"):
        read_thermo_out(path)

    # a column count no GPUMD version writes
    write_table(path, rows[:, :11])
    with pytest.raises(TrajectoryFormatError, match=r"line 1: 11 columns; a GPUMD thermo\.out has 9 or 12 or 15 or 18"):
        read_thermo_out(path)

    path.write_text("\n\n")
    with pytest.raises(TrajectoryFormatError, match="no data rows"):
        read_thermo_out(path)
    with pytest.raises(SettingsError, match="not found"):
        read_thermo_out(tmp_path / "missing.out")


# ------------------------------------------------------------------ mvac.out
def test_mvac_normalized_blocks(tmp_path):
    dt_ps = 0.005
    t = np.arange(200) * dt_ps
    rows = []
    for nu in (5.0, 7.0):  # two compute_dos runs appended
        c = np.cos(2 * np.pi * nu * t) * np.exp(-t / 0.5)
        rows += [(ti, ci, ci * 0.99 + 0.01, ci) for ti, ci in zip(t, c)]
    mvac = read_mvac_out(write_table(tmp_path / "mvac.out", rows, fmt="%g", sep=" "))
    assert mvac.n_blocks == 2 and mvac.normalized
    np.testing.assert_allclose(mvac.time_fs, t * 1e3, rtol=1e-5)  # ps → fs
    assert mvac.vac.shape == (2, 200, 3)
    np.testing.assert_allclose(mvac.vac[1, :, 0], np.cos(2 * np.pi * 7.0 * t) * np.exp(-t / 0.5), atol=1e-5)
    np.testing.assert_allclose(mvac.mean[:, 0], 1.0)


def test_mvac_unnormalized_and_mismatched_blocks(tmp_path):
    t = np.arange(10) * 0.01
    rows = [(ti, 5 * np.exp(-ti), 4.0, 6 * np.exp(-ti)) for ti in t]
    mvac = read_mvac_out(write_table(tmp_path / "mvac.out", rows, fmt="%g", sep=" "))
    assert not mvac.normalized
    np.testing.assert_allclose(mvac.normalized_vac[0, :, 0], np.exp(-t), rtol=1e-5)
    path = write_table(tmp_path / "mvac.out", rows + rows[:6], fmt="%g", sep=" ")
    with pytest.raises(TrajectoryFormatError, match=r"mvac\.out: line 11: a new block of 6 rows"):
        read_mvac_out(path)
    path.write_text("0 1 1\n")
    with pytest.raises(TrajectoryFormatError, match=r"line 1: 3 columns; a GPUMD mvac\.out has 4"):
        read_mvac_out(path)


# ------------------------------------------------------------------ dos.out
def gaussian(x, mu, sigma):
    return np.exp(-0.5 * ((x - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))


def test_dos_gaussian_axis_and_normalisation(tmp_path):
    """dos.out of known Gaussians (per direction) reads back on ν = ω/2π with ∫ per-atom g dν = 3."""
    n_atoms, sigma = 64, 0.4
    centres = (8.0, 10.0, 12.0)  # THz, one per direction
    omega_max, n_points = 2 * math.pi * 25.0, 500
    omega = omega_max / n_points * np.arange(1, n_points + 1)  # GPUMD's grid: Δω ... ω_max
    nu = omega / (2 * math.pi)
    # GPUMD's normalisation: ∫ D_α dν = N per direction
    columns = [n_atoms * gaussian(nu, c, sigma) for c in centres]
    dos = read_dos_out(write_table(tmp_path / "dos.out", np.column_stack([omega, *columns]), fmt="%g", sep=" "))
    assert dos.n_blocks == 1
    np.testing.assert_allclose(dos.angular_frequencies, omega, rtol=1e-5)
    np.testing.assert_allclose(dos.frequencies_thz, nu, rtol=1e-5)
    for alpha, centre in enumerate(centres):
        assert dos.frequencies_thz[np.argmax(dos.dos[0, :, alpha])] == pytest.approx(centre, abs=0.05)
        assert np.trapezoid(dos.dos[0, :, alpha], dos.frequencies_thz) == pytest.approx(n_atoms, rel=1e-4)
    g = dos.per_atom(n_atoms)
    assert np.trapezoid(g, dos.frequencies_thz) == pytest.approx(3.0, rel=1e-4)
    np.testing.assert_allclose(dos.per_atom(), g, rtol=1e-4)  # numeric normalisation agrees here
    grid = np.array([0.0, 8.0, 10.0, 30.0])
    on_grid = dos.on_grid(grid, n_atoms)
    assert np.isnan(on_grid[[0, 3]]).all()  # outside [Δν, ν_max]
    expected = [sum(gaussian(f, c, sigma) for c in centres) for f in grid[1:3]]
    np.testing.assert_allclose(on_grid[1:3], expected, rtol=2e-3)
    with pytest.raises(SettingsError, match="block 1 requested but the file has 1"):
        dos.per_atom(n_atoms, block=1)
    with pytest.raises(SettingsError, match="n_atoms must be a positive integer"):
        dos.per_atom(0)


def gpumd_style_dos(vac, dt_ps, n_atoms, omega):
    """compute_dos's documented normalisation, written out: D(ω) = 2N∫C(t)/C(0)·w(t)·e^{-iωt}dt.

    The one-sided lag sum uses weight 1 at t = 0 and 2 elsewhere, and the Hann
    window w_k = (1 + cos(πk/Nc))/2.
    """
    nc = vac.size
    k = np.arange(nc)
    weights = 0.5 * (1 + np.cos(np.pi * k / nc)) * np.where(k == 0, 1.0, 2.0)
    c = vac / vac[0]
    return 2.0 * n_atoms * dt_ps * np.cos(np.outer(omega, k * dt_ps)) @ (weights * c)


def test_gpumd_normalisation_is_3n_over_linear_frequency(tmp_path):
    """A damped-cosine VACF through GPUMD's formula gives a line at ν0 (THz) with ∫ D dν = N per direction."""
    n_atoms, nu0, tau_ps, dt_ps, nc = 10, 9.0, 0.15, 0.002, 2000
    t = np.arange(nc) * dt_ps
    vac = np.cos(2 * np.pi * nu0 * t) * np.exp(-0.5 * (t / tau_ps) ** 2)
    omega = 2 * math.pi * 40.0 / 800 * np.arange(1, 801)
    d = gpumd_style_dos(vac, dt_ps, n_atoms, omega)
    path = write_table(tmp_path / "dos.out", np.column_stack([omega, d, d, d]), fmt="%.10g", sep=" ")
    dos = read_dos_out(path)
    g = dos.per_atom(n_atoms)
    assert np.trapezoid(g, dos.frequencies_thz) == pytest.approx(3.0, rel=2e-3)
    assert dos.frequencies_thz[np.argmax(g)] == pytest.approx(nu0, abs=0.05)
    # analytic line shape: D_α(ν) = N·[G(ν − ν0) + G(ν + ν0)], σ_ν = 1/(2πτ)
    sigma = 1 / (2 * math.pi * tau_ps)
    expected = 3 * (gaussian(dos.frequencies_thz, nu0, sigma) + gaussian(dos.frequencies_thz, -nu0, sigma))
    np.testing.assert_allclose(g, expected, atol=5e-3 * expected.max())  # Hann window: slight broadening


def test_dos_compares_with_mdvib(tmp_path):
    """Same velocities: GPUMD-normalised DOS (per atom) on mdvib's axis matches mdvib's DOSResult."""
    from mdvib.analysis.dos import DOSAnalysis

    rng = np.random.default_rng(5)
    n_atoms, n_frames, dt_fs, nu0, window = 16, 4000, 5.0, 7.0, 200
    time_ps = np.arange(n_frames) * dt_fs * 1e-3
    phases = rng.uniform(0, 2 * np.pi, size=(n_atoms, 3))
    # each atom a 3D oscillator at ν0 (0.01 Å/fs amplitude: ~100s of K for Si masses)
    velocities = 0.01 * np.cos(2 * np.pi * nu0 * time_ps[:, None, None] + phases[None])
    positions = np.zeros_like(velocities)
    traj = Trajectory.from_arrays(positions, ["Si"] * n_atoms, dt_fs, velocities=velocities)
    result = DOSAnalysis(window=window, blocks=1, check_temperature=False).run(traj)

    # GPUMD side: mass-weighted VACF per direction (every frame an origin), its compute_dos normalisation
    mass = 28.0855
    vac = np.array([
        [mass * np.mean(np.sum(velocities[: n_frames - k, :, a] * velocities[k:, :, a], axis=1)) for a in range(3)]
        for k in range(window)
    ])
    dt_ps = dt_fs * 1e-3
    omega = 2 * math.pi * (1 / (2 * dt_ps)) / 2000 * np.arange(1, 2001)
    d = np.column_stack([gpumd_style_dos(vac[:, a], dt_ps, n_atoms, omega) for a in range(3)])
    dos = read_dos_out(write_table(tmp_path / "dos.out", np.column_stack([omega, d]), fmt="%.10g", sep=" "))
    g = dos.on_grid(result.frequencies_thz, n_atoms)
    inside = np.isfinite(g)
    assert inside.sum() > 0.9 * inside.size
    peak = result.total.max()
    assert np.max(np.abs(g[inside] - result.total[inside])) < 5e-3 * peak  # interpolation error only
    assert result.frequencies_thz[np.argmax(result.total)] == pytest.approx(nu0, abs=0.1)


# ------------------------------------------------------------------ dump.xyz (dump_exyz)
def test_dump_exyz_opens_with_trajectory(tmp_path):
    """A file in dump_exyz's layout: Time in fs, velocities Å/fs, forces eV/Å, extra energy/virial/stress keys."""
    rng = np.random.default_rng(2)
    n_atoms, n_frames = 4, 3
    cell = np.array([[5.43, 0.0, 0.0], [0.0, 5.43, 0.0], [0.0, 0.0, 5.43]])
    symbols = ["Si", "C", "Si", "C"]
    positions = rng.uniform(0, 5, size=(n_frames, n_atoms, 3)).round(8)
    velocities = rng.normal(scale=0.01, size=(n_frames, n_atoms, 3)).round(8)
    forces = rng.normal(size=(n_frames, n_atoms, 3)).round(8)
    lines = []
    for k in range(n_frames):
        lines.append(str(n_atoms))
        lattice = " ".join(f"{x:.8f}" for x in cell.reshape(-1))
        nine = " ".join(f"{x:.8f}" for x in rng.normal(size=9))
        lines.append(
            f'Time={(k + 1) * 10.0:.8f} pbc="T T T" Lattice="{lattice}" energy={-30.0 + k:.8f} '
            f'virial="{nine}" stress="{nine}" Properties=species:S:1:pos:R:3:vel:R:3:forces:R:3'
        )
        for i in range(n_atoms):
            values = [*positions[k, i], *velocities[k, i], *forces[k, i]]
            lines.append(symbols[i] + "".join(f" {v:.8f}" for v in values))
    path = tmp_path / "dump.xyz"
    path.write_text("\n".join(lines) + "\n")

    traj = Trajectory.open(path)
    assert traj.info.format == "extxyz"
    assert traj.species == tuple(symbols) and traj.n_frames == n_frames
    assert traj.info.has_velocities and traj.info.has_forces
    assert traj.frame_spacing_fs() == pytest.approx(10.0)
    assert traj.info.source_units["velocity"] == "A/fs"
    chunks = list(traj.iter_chunks(chunk_frames=2))
    got = {name: np.concatenate([getattr(c, name) for c in chunks])
           for name in ("positions", "velocities", "forces", "cells", "times")}
    np.testing.assert_allclose(got["positions"], positions, atol=1e-12)
    np.testing.assert_allclose(got["velocities"], velocities, atol=1e-12)  # already Å/fs: no conversion
    np.testing.assert_allclose(got["forces"], forces, atol=1e-12)
    np.testing.assert_allclose(got["cells"], np.broadcast_to(cell, (n_frames, 3, 3)), atol=1e-12)
    np.testing.assert_allclose(got["times"], [10.0, 20.0, 30.0])
