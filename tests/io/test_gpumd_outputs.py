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


# ------------------------------------------------------------------ dump.xyz (dump_xyz, dump_exyz)
#: Per-atom properties as GPUMD writes them (src/measure/dump_xyz.cu): name → (Properties entry, width), in
#: GPUMD's column order. dump_exyz (v3.0-v5.6) writes only vel, forces and energy_atom, in this order too.
GPUMD_PROPERTIES = {
    "mass": ("mass:R:1", 1),
    "charge": ("charge:R:1", 1),
    "bec": ("bec:R:9", 9),
    "velocity": ("vel:R:3", 3),
    "force": ("forces:R:3", 3),
    "potential": ("energy_atom:R:1", 1),
    "unwrapped_position": ("unwrapped_position:R:3", 3),
    "virial": ("virial:R:9", 9),
    "group_labels": ("group:I:{n}", None),
}

#: Number format of each GPUMD generation: after v5.6 ``%.9g`` (``precision single``, the default) or ``%.17g``
#: (``precision double``); v4.0-v5.6 dump_xyz and every dump_exyz ``%.8f``. ``Time=`` is ``%.8f`` in all.
GPUMD_FORMATS = {"latest": "%.9g", "latest-double": "%.17g", "5.6": "%.8f", "exyz": "%.8f"}


def gpumd_dump_text(style, symbols, cells, positions, times_fs, properties=None, rng=None):
    """Text of a GPUMD trajectory dump in the documented extended-XYZ layout of ``style`` (GPUMD_FORMATS).

    ``cells`` (n_frames, 3, 3) rows a, b, c in Å; ``positions`` (n_frames, n_atoms, 3) Å; ``times_fs`` the
    ``Time=`` values; ``properties`` {GPUMD property name: array (n_frames, n_atoms, width)} in any order;
    velocities in Å/fs, forces in eV/Å, masses in amu. Frame-level energy/virial/stress are random numbers.
    """
    fmt = GPUMD_FORMATS[style]
    rng = rng or np.random.default_rng(0)
    properties = properties or {}
    allowed = ("velocity", "force", "potential") if style == "exyz" else tuple(GPUMD_PROPERTIES)
    assert set(properties) <= set(allowed), f"{style} cannot write {set(properties) - set(allowed)}"
    names = [name for name in GPUMD_PROPERTIES if name in properties]  # GPUMD's order, not the caller's

    def tensor(key, values):
        return f' {key}="' + " ".join(fmt % v for v in values) + '"'

    lines = []
    for k in range(positions.shape[0]):
        header = f"Time={times_fs[k]:.8f}" + ' pbc="T T T"' + tensor("Lattice", cells[k].reshape(-1))
        header += " energy=" + fmt % rng.normal(-300, 1) + tensor("virial", rng.normal(size=9))
        header += tensor("stress", rng.normal(size=9)) + " Properties=species:S:1:pos:R:3"
        for name in names:
            entry, _ = GPUMD_PROPERTIES[name]
            header += ":" + entry.format(n=properties[name].shape[-1])
        lines += [str(len(symbols)), header]
        for i, symbol in enumerate(symbols):
            row = symbol + "".join(" " + fmt % v for v in positions[k, i])
            for name in names:
                values = np.atleast_1d(properties[name][k, i])
                row += "".join(f" {int(v)}" if name == "group_labels" else " " + fmt % v for v in values)
            lines.append(row)
    return "\n".join(lines) + "\n"


def random_frames(n_frames=3, n_atoms=5, seed=2):
    """Triclinic cell, positions, velocities (Å/fs), forces (eV/Å) and masses of a small Si/C system."""
    rng = np.random.default_rng(seed)
    cell = np.array([[5.43, 0.0, 0.0], [1.2, 5.1, 0.0], [0.3, -0.4, 5.6]])
    symbols = ["Si", "C", "Si", "C", "Si"][:n_atoms]
    masses = np.array([{"Si": 28.085, "C": 12.011}[s] for s in symbols])
    return {
        "rng": rng,
        "symbols": symbols,
        "cells": np.broadcast_to(cell, (n_frames, 3, 3)),
        "positions": rng.uniform(0, 5, size=(n_frames, n_atoms, 3)),
        "velocity": rng.normal(scale=0.01, size=(n_frames, n_atoms, 3)),
        "force": rng.normal(size=(n_frames, n_atoms, 3)),
        "mass": np.broadcast_to(masses[None, :, None], (n_frames, n_atoms, 1)),
    }


@pytest.mark.parametrize("style, extra", [
    ("latest", ("potential", "virial", "group_labels", "charge", "bec")),
    ("latest-double", ()),
    ("5.6", ("potential", "virial")),
    ("exyz", ("potential",)),
])
def test_gpumd_dumps_read_like_ase(tmp_path, style, extra):
    """Every GPUMD dump generation: mdvib's reader and ASE's agree on positions, velocities, forces, masses, time.

    Units are GPUMD's (Time fs, Å/fs, eV/Å): no conversion, so mdvib's numbers equal the file's.
    """
    import ase.io

    data = random_frames()
    n_frames, n_atoms = data["positions"].shape[:2]
    rng = data["rng"]
    wanted = ("velocity", "force") if style == "exyz" else ("mass", "velocity", "force")
    properties = {name: data[name] for name in wanted}
    widths = {"potential": 1, "virial": 9, "charge": 1, "bec": 9}
    for name in extra:
        properties[name] = (rng.integers(0, 3, size=(n_frames, n_atoms, 2)) if name == "group_labels"
                            else rng.normal(size=(n_frames, n_atoms, widths[name])))
    times = 1000.0 + 5.0 * np.arange(1, n_frames + 1)  # global time: equilibration first, dump every 5 fs
    path = tmp_path / "dump.xyz"
    path.write_text(gpumd_dump_text(style, data["symbols"], data["cells"], data["positions"], times,
                                    properties, rng))

    traj = Trajectory.open(path)
    assert traj.info.format == "extxyz" and traj.n_frames == n_frames and traj.species == tuple(data["symbols"])
    assert traj.info.has_velocities and traj.info.has_forces
    assert traj.info.source_units["velocity"] == "A/fs" and traj.info.source_units["time"] == "fs"
    assert traj.frame_spacing_fs() == pytest.approx(5.0)
    got = {name: np.concatenate([getattr(c, name) for c in traj.iter_chunks(chunk_frames=2)])
           for name in ("positions", "velocities", "forces", "cells", "times")}

    frames = ase.io.read(path, index=":", format="extxyz")
    assert len(frames) == n_frames
    reference = {
        "positions": np.stack([f.positions for f in frames]),
        "velocities": np.stack([f.arrays["vel"] for f in frames]),
        "forces": np.stack([f.get_forces() for f in frames]),
        "cells": np.stack([f.cell.array for f in frames]),
        "times": np.array([f.info["Time"] for f in frames]),
    }
    digits = 1e-8 if style in ("5.6", "exyz") else 1e-7  # %.8f, or 9 significant digits of numbers up to ~10
    for name, values in reference.items():
        np.testing.assert_allclose(got[name], values, atol=digits, rtol=0, err_msg=name)
    np.testing.assert_allclose(got["velocities"], data["velocity"], atol=digits)  # Å/fs as written
    if "mass" in properties:
        np.testing.assert_allclose(traj.masses, frames[0].arrays["mass"], rtol=1e-9)
    else:
        import ase.data

        standard = [ase.data.atomic_masses[ase.data.atomic_numbers[s]] for s in data["symbols"]]
        np.testing.assert_allclose(traj.masses, standard, rtol=1e-9)  # dump_exyz has no masses


def test_gpumd_unwrapped_positions_are_used(tmp_path):
    """``dump_xyz ... unwrapped_position``: the unwrapped column is the trajectory, the chunks say so."""
    data = random_frames(n_frames=4)
    unwrapped = data["positions"] + np.arange(4)[:, None, None] * 5.43  # atoms crossed the box
    properties = {"mass": data["mass"], "velocity": data["velocity"], "unwrapped_position": unwrapped}
    path = tmp_path / "dump.xyz"
    path.write_text(gpumd_dump_text("latest", data["symbols"], data["cells"], data["positions"],
                                    10.0 * np.arange(4), properties))
    chunks = list(Trajectory.open(path).iter_chunks())
    assert all(c.unwrapped for c in chunks)
    np.testing.assert_allclose(np.concatenate([c.positions for c in chunks]), unwrapped, rtol=1e-8)
