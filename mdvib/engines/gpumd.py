"""GPUMD run directories for a phonon-DOS run with a NEP model.

GPUMD (a CUDA MD code) is not driven from Python here: :func:`write_gpumd_run`
writes a directory that ``gpumd`` runs as it is (``cd T_300K && gpumd``) on a
GPU machine, and :mod:`mdvib.io.gpumd_outputs` plus the extended-XYZ reader
read what it leaves behind. The directory holds

* ``model.xyz`` - the structure in GPUMD's extended-XYZ model format: line 1
  the atom count, line 2 ``pbc="T T T" Lattice="ax ay az bx by bz cx cy cz"
  Properties=species:S:1:pos:R:3:mass:R:1`` (``:vel:R:3`` too with
  ``velocities_from_structure``), then one atom per line. Units Å, amu, Å/fs.
* ``run.in`` - ``potential``, ``velocity T``, ``time_step``, then two runs:

  1. NVT equilibration with a velocity-rescaling thermostat (``nvt_bdp``
     Bussi-Donadio-Parrinello by default, ``nvt_nhc``, ``nvt_ber``): none of
     them writes into the forces;
  2. NVE production with ``dump_thermo``, the trajectory dump into
     ``dump.xyz`` (positions Å, masses amu, velocities Å/fs, forces eV/Å,
     ``Time=`` in fs) and ``compute_dos`` (``mvac.out``, ``dos.out``), so
     GPUMD's own DOS can be compared with mdvib's from ``dump.xyz``.

* the NEP model, copied (default) or referenced by a relative path;
* ``mdvib-gpumd.yaml`` - provenance: settings, units of every output, the
  NEP file's SHA-256, and the matching ``mdvib dos`` lag window.

GPUMD appends to ``thermo.out``, ``dump.xyz``, ``mvac.out`` and ``dos.out``:
run each directory once (rewriting the inputs does not remove old outputs).

The trajectory keyword depends on the GPUMD version
(:attr:`GpumdRunSettings.gpumd_version`; checked against the GPUMD sources and
documentation, ``src/measure/dump_xyz.cu``, ``src/measure/dump_exyz.cu`` and
``doc/gpumd/input_parameters/dump_xyz.rst``, at the tags v3.6, v3.9.5, v4.0,
v5.6 and the development branch of 2026-08-23, commit d98135de):

* ``"latest"`` (default; GPUMD after v5.6, where ``dump_exyz`` was removed):
  ``dump_xyz <stride> dump.xyz mass velocity force`` (options after the file
  name; ``group <method> <id>`` and ``precision`` are optional);
* v4.0 to v5.6: ``dump_xyz -1 0 <stride> dump.xyz mass velocity force`` (a
  negative grouping method: the whole system; this form is refused by GPUMD
  after v5.6);
* v3.6 to v3.9.x: ``dump_exyz <stride> 1 <0|1>`` (velocities, forces; no
  masses), which always writes ``dump.xyz``.

All three write extended XYZ with ``Time=`` in fs (the time of the dumped
step), ``pbc``, ``Lattice`` (Å), ``energy`` (eV), ``virial`` (eV) and
``stress`` (eV/Å³) on the comment line and ``Properties=species:S:1:pos:R:3``
followed by ``mass:R:1``, ``vel:R:3`` (Å/fs) and ``forces:R:3`` (eV/Å) in
that order; GPUMD after v5.6 formats numbers with ``%.9g`` (``precision
single``), earlier versions with ``%.8f``. :mod:`mdvib.io.extxyz` reads all of
them. ``velocity T seed N`` needs v3.9.1 or later; ``model.xyz`` v3.6 or later.

GPUMD keywords and units used (GPUMD documentation, ``doc/gpumd/input_parameters``):
``time_step`` in fs; ``velocity`` and ``ensemble`` temperatures in K;
``T_coup`` = τ_T/Δt (dimensionless, ~100 suggested); ``dump_thermo``,
``dump_xyz``/``dump_exyz`` and ``compute_dos`` intervals in steps, output when
(step + 1) is a multiple of the interval; ``compute_dos sample_interval Nc
omega_max`` with ω_max the *angular* frequency 2πν_max in rad/ps (GPUMD's
"THz"), which GPUMD requires to be at most π/Δt_sample (the Nyquist
frequency ν_max ≤ 1/(2Δt_sample)).
"""
from __future__ import annotations

import dataclasses
import datetime
import math
import numbers
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import yaml

from mdvib.engines.structures import LatticeSpec, read_structure
from mdvib.errors import SettingsError
from mdvib.results import atomic_path, file_sha256, temperature_dirname, write_text_atomic

#: Thermostats of the equilibration stage: GPUMD ensemble name → description.
#: All rescale velocities and leave the force array to the potential
#: (the Langevin ``nvt_lan``/``nvt_bao`` are left out on purpose).
THERMOSTATS: dict[str, str] = {
    "nvt_bdp": "Bussi-Donadio-Parrinello stochastic velocity rescaling",
    "nvt_nhc": "Nose-Hoover chain",
    "nvt_ber": "Berendsen velocity rescaling (equilibration only; not canonical)",
}

#: Names of the files GPUMD reads and writes in a run directory.
MODEL_FILE = "model.xyz"
RUN_FILE = "run.in"
PROVENANCE_FILE = "mdvib-gpumd.yaml"
TRAJECTORY_FILE = "dump.xyz"
THERMO_FILE = "thermo.out"
MVAC_FILE = "mvac.out"
DOS_FILE = "dos.out"

#: Units of what a run directory holds (GPUMD documentation and ``dump_xyz``/``dump_exyz`` output).
OUTPUT_UNITS: dict[str, dict[str, str]] = {
    MODEL_FILE: {"positions": "A", "lattice": "A", "mass": "amu", "velocities": "A/fs"},
    TRAJECTORY_FILE: {"positions": "A", "lattice": "A", "mass": "amu", "velocities": "A/fs", "forces": "eV/A",
                      "Time": "fs", "energy": "eV", "virial": "eV", "stress": "eV/A^3"},
    THERMO_FILE: {"T": "K", "K": "eV", "U": "eV", "pressure": "GPa", "box": "A"},
    MVAC_FILE: {"time": "ps", "vac": "dimensionless C(t)/C(0)"},
    DOS_FILE: {"omega": "rad/ps (angular; nu = omega/2pi THz)", "dos": "1/THz per group, integral 3N over nu"},
}

#: ``gpumd_version`` value for GPUMD after v5.6 (the development branch checked: 2026-08-23, d98135de).
LATEST = "latest"
#: Oldest GPUMD that reads ``model.xyz`` (earlier versions read ``xyz.in``).
MIN_GPUMD_VERSION = (3, 6)
#: First GPUMD with ``dump_xyz``; before it mdvib writes ``dump_exyz``.
DUMP_XYZ_SINCE = (4, 0)
#: Last GPUMD whose ``dump_xyz`` takes ``<grouping_method> <group_id>`` first (positional form).
POSITIONAL_DUMP_XYZ_UNTIL = (5, 6)
#: First GPUMD whose ``velocity`` takes ``seed N``.
VELOCITY_SEED_SINCE = (3, 9, 1)

#: Significant digits of the ω_max written to run.in (rounded down, so the
#: Nyquist frequency itself never exceeds GPUMD's check by a rounding error).
OMEGA_DIGITS = 7


def _positive_float(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or not value > 0:
        raise SettingsError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def parse_gpumd_version(value) -> tuple[int, ...] | None:
    """GPUMD version of a ``gpumd_version`` setting: ``"5.6"``/``"v4.0"`` → (5, 6)/(4, 0); ``"latest"`` → None.

    Raises
    ------
    SettingsError
        For anything else, or a version older than :data:`MIN_GPUMD_VERSION`.
    """
    text = str(value).strip().lower()
    if text == LATEST:
        return None
    parts = text.removeprefix("v").split(".")
    if not isinstance(value, str) or not 2 <= len(parts) <= 3 or not all(p.isdigit() for p in parts):
        raise SettingsError(
            f"gpumd_version must be {LATEST!r} (GPUMD after v5.6) or a release such as '5.6' or '3.9.5', "
            f"got {value!r}"
        )
    version = tuple(int(p) for p in parts)
    if version < MIN_GPUMD_VERSION:
        raise SettingsError(
            f"gpumd_version {value!r}: GPUMD before v{'.'.join(map(str, MIN_GPUMD_VERSION))} reads xyz.in, not "
            "the model.xyz mdvib writes; use a newer GPUMD"
        )
    return version


def _version_text(version: tuple[int, ...]) -> str:
    return "v" + ".".join(str(v) for v in version)


def _positive_int(name: str, value, zero_ok: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise SettingsError(f"{name} must be an integer, got {value!r}")
    if value < (0 if zero_ok else 1):
        raise SettingsError(f"{name} must be {'>= 0' if zero_ok else 'positive'}, got {value}")
    return int(value)


@dataclasses.dataclass(frozen=True)
class GpumdDOSSettings:
    """GPUMD's on-the-fly DOS (``compute_dos``) in the production run.

    Attributes
    ----------
    correlation_steps : int
        Nc, the number of lags of the mass-weighted VACF (in samples). The
        GPUMD DOS resolution is about 1/(Nc·Δt_sample); mdvib's DOS with
        ``window = Nc·sample_interval/dump_stride`` frames and the Hann window
        (GPUMD's) is the like-for-like comparison.
    sample_interval : int, optional
        Steps between velocity samples; default the dump stride.
    max_frequency_thz : float, optional
        Highest *linear* frequency ν_max in THz (GPUMD is given ω_max = 2πν_max);
        default the Nyquist frequency 1/(2Δt_sample).
    num_dos_points : int, optional
        Frequencies in ``dos.out`` (GPUMD's default: Nc).
    """

    correlation_steps: int = 500
    sample_interval: int | None = None
    max_frequency_thz: float | None = None
    num_dos_points: int | None = None

    def __post_init__(self) -> None:
        _positive_int("compute_dos correlation_steps", self.correlation_steps)
        if self.sample_interval is not None:
            _positive_int("compute_dos sample_interval", self.sample_interval)
        if self.max_frequency_thz is not None:
            object.__setattr__(
                self, "max_frequency_thz", _positive_float("compute_dos max_frequency_thz", self.max_frequency_thz)
            )
        if self.num_dos_points is not None:
            _positive_int("compute_dos num_dos_points", self.num_dos_points)


@dataclasses.dataclass(frozen=True)
class GpumdRunSettings:
    """MD protocol of a GPUMD phonon run (everything but the temperature).

    Attributes
    ----------
    timestep_fs : float
        Integration time step, fs.
    equilibration_steps : int
        NVT steps before production (0: no equilibration run).
    production_steps : int
        NVE steps; must be a multiple of ``dump_stride`` and ``thermo_stride``.
    dump_stride : int
        Steps between ``dump.xyz`` frames (positions, velocities, forces).
    thermo_stride : int, optional
        Steps between ``thermo.out`` rows; default ``dump_stride``.
    thermostat : str
        Equilibration ensemble, a key of :data:`THERMOSTATS`.
    thermostat_coupling : float
        GPUMD's ``T_coup`` = τ_T/Δt (≥ 1; ~100 recommended by GPUMD).
    velocity_seed : int, optional
        Seed of GPUMD's initial velocities (``velocity T seed N``; recent
        GPUMD only). Default: GPUMD draws a new one each run.
    velocities_from_structure : bool
        Write the structure's velocities into ``model.xyz`` (GPUMD then uses
        them instead of drawing new ones).
    dump_forces : bool
        Include forces in ``dump.xyz`` (needed for TDEP).
    dos : GpumdDOSSettings or None
        GPUMD's own DOS during production; ``None`` leaves ``compute_dos`` out.
    gpumd_version : str
        GPUMD the directory is for, which picks the trajectory keyword (module
        docstring): ``"latest"`` (default: GPUMD after v5.6, ``dump_xyz
        <stride> dump.xyz ...``) or a release such as ``"5.6"`` (v4.0-v5.6:
        ``dump_xyz -1 0 <stride> dump.xyz ...``) or ``"3.9.5"`` (v3.6-v3.9:
        ``dump_exyz``).

    Raises
    ------
    SettingsError
        On construction, for any inconsistent setting (message names the fix).
    """

    timestep_fs: float = 1.0
    equilibration_steps: int = 20_000
    production_steps: int = 100_000
    dump_stride: int = 10
    thermo_stride: int | None = None
    thermostat: str = "nvt_bdp"
    thermostat_coupling: float = 100.0
    velocity_seed: int | None = None
    velocities_from_structure: bool = False
    dump_forces: bool = True
    dos: GpumdDOSSettings | None = GpumdDOSSettings()
    gpumd_version: str = LATEST

    def __post_init__(self) -> None:
        version = parse_gpumd_version(self.gpumd_version)
        object.__setattr__(self, "timestep_fs", _positive_float("timestep_fs (fs)", self.timestep_fs))
        object.__setattr__(
            self, "thermostat_coupling", _positive_float("thermostat_coupling", self.thermostat_coupling)
        )
        _positive_int("equilibration_steps", self.equilibration_steps, zero_ok=True)
        production = _positive_int("production_steps", self.production_steps)
        stride = _positive_int("dump_stride", self.dump_stride)
        if production % stride:
            raise SettingsError(
                f"dump_stride={stride} does not divide production_steps={production}; use a multiple, "
                f"e.g. production_steps={math.ceil(production / stride) * stride}"
            )
        thermo = _positive_int("thermo_stride", self.thermo_stride_steps)
        if production % thermo:
            raise SettingsError(f"thermo_stride={thermo} does not divide production_steps={production}")
        if self.thermostat not in THERMOSTATS:
            raise SettingsError(
                f"thermostat {self.thermostat!r} is not offered; choose one of {sorted(THERMOSTATS)} (velocity "
                "rescaling thermostats that leave the forces to the potential)"
            )
        if not self.thermostat_coupling >= 1.0:
            raise SettingsError(f"thermostat_coupling (T_coup = tau_T/dt) must be >= 1, got {self.thermostat_coupling}")
        if self.velocity_seed is not None:
            _positive_int("velocity_seed", self.velocity_seed)
            if version is not None and version < VELOCITY_SEED_SINCE:
                raise SettingsError(
                    f"velocity_seed needs GPUMD {_version_text(VELOCITY_SEED_SINCE)} or later ('velocity T seed N'); "
                    f"gpumd_version is {self.gpumd_version!r}: leave the seed out or use a newer GPUMD"
                )
        if self.dos is not None:
            if not isinstance(self.dos, GpumdDOSSettings):
                raise SettingsError(f"dos must be a GpumdDOSSettings or None, got {type(self.dos).__name__}")
            samples = production // self.dos_sample_interval
            if samples < self.dos.correlation_steps:
                raise SettingsError(
                    f"compute_dos needs at least correlation_steps={self.dos.correlation_steps} velocity samples, "
                    f"but production_steps={production} with sample_interval={self.dos_sample_interval} gives "
                    f"{samples}; run longer or use fewer correlation steps"
                )
            nyquist = self.dos_nyquist_thz
            if self.dos.max_frequency_thz is not None and self.dos.max_frequency_thz > nyquist:
                raise SettingsError(
                    f"compute_dos max_frequency_thz={self.dos.max_frequency_thz} exceeds the Nyquist frequency "
                    f"{nyquist:.4g} THz of sampling every {self.dos_sample_interval} steps of {self.timestep_fs} fs; "
                    "lower it or sample more often"
                )

    @property
    def dump_command(self) -> str:
        """The ``run.in`` line that writes ``dump.xyz`` for :attr:`gpumd_version` (module docstring)."""
        version = parse_gpumd_version(self.gpumd_version)
        if version is not None and version < DUMP_XYZ_SINCE:
            return f"dump_exyz {self.dump_stride} 1 {1 if self.dump_forces else 0}"
        properties = "mass velocity" + (" force" if self.dump_forces else "")
        if version is not None and version[:2] <= POSITIONAL_DUMP_XYZ_UNTIL:
            return f"dump_xyz -1 0 {self.dump_stride} {TRAJECTORY_FILE} {properties}"
        return f"dump_xyz {self.dump_stride} {TRAJECTORY_FILE} {properties}"

    @property
    def thermo_stride_steps(self) -> int:
        """``thermo_stride`` or, by default, ``dump_stride``."""
        return self.dump_stride if self.thermo_stride is None else self.thermo_stride

    @property
    def frame_spacing_fs(self) -> float:
        """Time between ``dump.xyz`` frames, fs."""
        return self.dump_stride * float(self.timestep_fs)

    @property
    def dos_sample_interval(self) -> int:
        """Steps between ``compute_dos`` velocity samples."""
        if self.dos is None or self.dos.sample_interval is None:
            return self.dump_stride
        return self.dos.sample_interval

    @property
    def dos_nyquist_thz(self) -> float:
        """Nyquist frequency of the ``compute_dos`` sampling, 1/(2Δt_sample), THz."""
        return 1.0 / (2.0 * self.dos_sample_interval * float(self.timestep_fs) * 1e-3)

    @property
    def dos_max_frequency_thz(self) -> float | None:
        """ν_max of ``compute_dos`` in THz (linear), ``None`` without DOS."""
        if self.dos is None:
            return None
        return self.dos_nyquist_thz if self.dos.max_frequency_thz is None else float(self.dos.max_frequency_thz)

    @property
    def mdvib_window_frames(self) -> int | None:
        """mdvib DOS lag window (frames of ``dump.xyz``) matching GPUMD's Nc, or ``None``.

        ``None`` without DOS or when Nc samples do not span a whole number of frames.
        """
        if self.dos is None:
            return None
        span = self.dos.correlation_steps * self.dos_sample_interval
        return span // self.dump_stride if span % self.dump_stride == 0 else None


@dataclasses.dataclass(frozen=True)
class GpumdRunDirectory:
    """A written GPUMD run directory.

    Attributes
    ----------
    directory : Path
    run_in, model_xyz : Path
        The two GPUMD input files.
    potential : Path
        The NEP file as ``run.in`` names it, resolved.
    temperature_k : float
    n_atoms : int
    species : tuple of str
        Chemical symbol of every atom, in ``model.xyz`` order.
    settings : GpumdRunSettings
    """

    directory: Path
    run_in: Path
    model_xyz: Path
    potential: Path
    temperature_k: float
    n_atoms: int
    species: tuple[str, ...]
    settings: GpumdRunSettings

    @property
    def trajectory(self) -> Path:
        """``dump.xyz`` (written by GPUMD): open with :meth:`mdvib.trajectory.Trajectory.open`."""
        return self.directory / TRAJECTORY_FILE

    @property
    def thermo(self) -> Path:
        """``thermo.out``: read with :func:`mdvib.io.gpumd_outputs.read_thermo_out`."""
        return self.directory / THERMO_FILE

    @property
    def mvac(self) -> Path:
        """``mvac.out``: :func:`mdvib.io.gpumd_outputs.read_mvac_out`."""
        return self.directory / MVAC_FILE

    @property
    def dos(self) -> Path:
        """``dos.out``: :func:`mdvib.io.gpumd_outputs.read_dos_out`."""
        return self.directory / DOS_FILE

    @property
    def equilibration_thermo_rows(self) -> int:
        """Rows of ``thermo.out`` written by the equilibration run (production rows follow)."""
        return self.settings.equilibration_steps // self.settings.thermo_stride_steps


def nep_species(path: str | Path) -> tuple[str, ...] | None:
    """Elements a NEP model file covers, from its first line (``nep4 2 Si C``).

    Returns ``None`` when the first line is not a NEP header.
    """
    with open(path, errors="replace") as fh:
        for line in fh:
            tokens = line.split()
            if tokens:
                break
        else:
            return None
    if len(tokens) < 3 or not tokens[0].lower().startswith("nep") or not tokens[1].isdigit():
        return None
    n_types = int(tokens[1])
    return tuple(tokens[2 : 2 + n_types]) if len(tokens) >= 2 + n_types else None


def _as_atoms(structure):
    """``ase.Atoms`` from Atoms, a :class:`LatticeSpec` or a structure file."""
    if isinstance(structure, LatticeSpec):
        return structure.build()
    if isinstance(structure, (str, os.PathLike)):
        return read_structure(structure)
    if hasattr(structure, "get_positions") and hasattr(structure, "get_chemical_symbols"):
        return structure.copy()
    raise SettingsError(
        f"structure must be ase.Atoms, a LatticeSpec or a structure file, got {type(structure).__name__}"
    )


def _check_structure(atoms, nep_path: Path) -> None:
    if len(atoms) == 0:
        raise SettingsError("the structure has no atoms")
    cell = np.asarray(atoms.cell.array, dtype=np.float64)
    if not abs(np.linalg.det(cell)) > 1e-6:
        raise SettingsError(
            "GPUMD's model.xyz needs a box (Lattice) with a volume: give the structure a cell, e.g. "
            "atoms.center(vacuum=10.0) for a molecule"
        )
    covered = nep_species(nep_path)
    if covered is not None:
        missing = sorted(set(atoms.get_chemical_symbols()) - set(covered))
        if missing:
            raise SettingsError(
                f"NEP model {nep_path} covers {', '.join(covered)} but the structure has {', '.join(missing)}"
            )


def model_xyz_text(atoms, velocities: bool = False) -> str:
    """GPUMD ``model.xyz`` text of ``atoms`` (Å, amu; velocities Å/fs when asked).

    Parameters
    ----------
    atoms : ase.Atoms
        Structure with a cell; masses are taken from ``atoms.get_masses()``.
    velocities : bool
        Add ``vel:R:3`` from the atoms' momenta (ASE units converted to Å/fs).
    """
    import ase.units

    positions = atoms.get_positions()
    masses = atoms.get_masses()
    symbols = atoms.get_chemical_symbols()
    lattice = " ".join(f"{x:.10f}" for x in np.asarray(atoms.cell.array).reshape(-1))
    pbc = " ".join("T" if p else "F" for p in atoms.pbc)
    properties = "species:S:1:pos:R:3:mass:R:1"
    columns = [positions, masses[:, None]]
    if velocities:
        properties += ":vel:R:3"
        columns.append(atoms.get_velocities() * ase.units.fs)
    lines = [str(len(atoms)), f'pbc="{pbc}" Lattice="{lattice}" Properties={properties}']
    values = np.hstack(columns)
    for symbol, row in zip(symbols, values):
        lines.append(" ".join([symbol, *(f"{v:.10f}" for v in row)]))
    return "\n".join(lines) + "\n"


def _omega_text(max_frequency_thz: float) -> str:
    """ω_max = 2πν_max (rad/ps) rounded down to :data:`OMEGA_DIGITS` significant digits."""
    omega = 2.0 * math.pi * max_frequency_thz
    scale = 10.0 ** (OMEGA_DIGITS - 1 - math.floor(math.log10(omega)))
    return f"{math.floor(omega * scale) / scale:.{OMEGA_DIGITS}g}"


def run_in_text(temperature_k: float, potential: str, settings: GpumdRunSettings) -> str:
    """GPUMD ``run.in`` text: NVT equilibration, then NVE production with dumps and DOS.

    Parameters
    ----------
    temperature_k : float
        Initial-velocity and thermostat temperature, K.
    potential : str
        NEP file name as GPUMD should open it (relative to the run directory).
    settings : GpumdRunSettings
    """
    from mdvib import __version__

    s = settings
    t = f"{float(temperature_k):g}"
    velocity = f"velocity {t}" + ("" if s.velocity_seed is None else f" seed {s.velocity_seed}")
    lines = [
        f"# GPUMD input written by mdvib {__version__}: NVT equilibration at {t} K, then NVE production",
        "# Units: time_step fs, temperatures K, intervals in MD steps.",
        f"potential {potential}",
        velocity,
        f"time_step {float(s.timestep_fs):g}",
        "",
    ]
    if s.equilibration_steps:
        lines += [
            f"# equilibration: {THERMOSTATS[s.thermostat]}, T_coup = tau_T/dt = {float(s.thermostat_coupling):g}",
            f"ensemble {s.thermostat} {t} {t} {float(s.thermostat_coupling):g}",
            f"dump_thermo {s.thermo_stride_steps}",
            f"run {s.equilibration_steps}",
            "",
        ]
    lines += [
        "# production: NVE, so the dumped forces are the potential's own",
        "ensemble nve",
        f"dump_thermo {s.thermo_stride_steps}",
        f"# dump.xyz: {_dump_contents(s)}, Time (fs)",
        f"# {_syntax_note(s.gpumd_version)}",
        s.dump_command,
    ]
    if s.dos is not None:
        nu_max = s.dos_max_frequency_thz
        command = f"compute_dos {s.dos_sample_interval} {s.dos.correlation_steps} {_omega_text(nu_max)}"
        if s.dos.num_dos_points is not None:
            command += f" num_dos_points {s.dos.num_dos_points}"
        lines += [
            f"# mass-weighted VACF and DOS up to nu_max = {nu_max:.6g} THz (omega_max = 2 pi nu_max, rad/ps)",
            command,
        ]
    lines += [f"run {s.production_steps}", ""]
    return "\n".join(lines)


def _dump_contents(settings: GpumdRunSettings) -> str:
    version = parse_gpumd_version(settings.gpumd_version)
    items = ["positions (A)"]
    if version is None or version >= DUMP_XYZ_SINCE:
        items.append("masses (amu)")
    items.append("velocities (A/fs)")
    if settings.dump_forces:
        items.append("forces (eV/A)")
    return ", ".join(items)


def _syntax_note(gpumd_version: str) -> str:
    """Which GPUMD versions the dump line of ``run.in`` is written for."""
    version = parse_gpumd_version(gpumd_version)
    if version is None:
        return "dump_xyz of GPUMD after v5.6 (for v4.0-v5.6: mdvib gpumd --gpumd-version 5.6)"
    if version < DUMP_XYZ_SINCE:
        return f"dump_exyz of GPUMD v3.6-v5.6 (written for {_version_text(version)})"
    return f"dump_xyz of GPUMD v4.0-v5.6 (written for {_version_text(version)}; refused after v5.6)"


def _place_potential(directory: Path, nep: Path, copy: bool) -> tuple[str, Path]:
    """The NEP file name for ``run.in`` and its resolved path (copied when ``copy``)."""
    if copy:
        target = directory / nep.name
        if not (target.exists() and target.resolve() == nep.resolve()):
            with atomic_path(target) as tmp:
                shutil.copyfile(nep, tmp)
        name, target = nep.name, target.resolve()
    else:
        target = nep.resolve()
        name = os.path.relpath(target, directory.resolve())
    if any(c.isspace() for c in name):
        raise SettingsError(
            f"GPUMD cannot read the potential path {name!r} (it splits run.in lines at spaces); "
            "rename the NEP file or let mdvib copy it"
        )
    return name, target


def write_gpumd_run(
    directory: str | Path,
    structure,
    nep_model: str | Path,
    temperature_k: float,
    settings: GpumdRunSettings | None = None,
    copy_potential: bool = True,
) -> GpumdRunDirectory:
    """Write a ready-to-run GPUMD directory (``model.xyz``, ``run.in``, NEP model).

    Parameters
    ----------
    directory : str or Path
        Run directory (created; existing inputs are replaced atomically).
    structure : ase.Atoms, LatticeSpec, str or Path
        The supercell, or a file :func:`ase.io.read` reads.
    nep_model : str or Path
        NEP potential file (``nep.txt``). Its species line is checked against
        the structure.
    temperature_k : float
        Temperature of the initial velocities and of the NVT thermostat, K.
    settings : GpumdRunSettings, optional
        MD protocol; defaults as in :class:`GpumdRunSettings`.
    copy_potential : bool
        Copy the NEP file into ``directory`` (default) or refer to it with a
        path relative to ``directory``.

    Returns
    -------
    GpumdRunDirectory

    Raises
    ------
    SettingsError
        If the NEP file is missing (naming the path), the temperature is not
        positive, the structure has no cell or has elements the NEP model
        lacks.
    """
    settings = GpumdRunSettings() if settings is None else settings
    if not isinstance(settings, GpumdRunSettings):
        raise SettingsError(f"settings must be a GpumdRunSettings, got {type(settings).__name__}")
    temperature_k = _positive_float("temperature_k (K)", temperature_k)
    nep = Path(nep_model)
    if not nep.is_file():
        raise SettingsError(f"NEP model file {nep} not found; pass the path of the nep.txt to run with")
    atoms = _as_atoms(structure)
    _check_structure(atoms, nep)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    potential_name, potential = _place_potential(directory, nep, copy_potential)
    write_text_atomic(directory / MODEL_FILE, model_xyz_text(atoms, settings.velocities_from_structure))
    write_text_atomic(directory / RUN_FILE, run_in_text(temperature_k, potential_name, settings))
    run = GpumdRunDirectory(
        directory=directory,
        run_in=directory / RUN_FILE,
        model_xyz=directory / MODEL_FILE,
        potential=potential,
        temperature_k=float(temperature_k),
        n_atoms=len(atoms),
        species=tuple(atoms.get_chemical_symbols()),
        settings=settings,
    )
    write_text_atomic(directory / PROVENANCE_FILE, _provenance_yaml(run, nep))
    return run


def write_gpumd_runs(
    directory: str | Path,
    structure,
    nep_model: str | Path,
    temperatures_k: Sequence[float],
    settings: GpumdRunSettings | None = None,
) -> list[GpumdRunDirectory]:
    """Write one GPUMD run directory per temperature, ``directory/T_<value>K/``.

    The NEP file is copied once into ``directory`` and each run refers to it
    as ``../<name>``. Parameters as in :func:`write_gpumd_run`.

    Raises
    ------
    SettingsError
        If no temperature is given or one appears twice, and as
        :func:`write_gpumd_run`.
    """
    temperatures = [float(t) for t in temperatures_k]
    if not temperatures:
        raise SettingsError("give at least one temperature")
    names = [temperature_dirname(t) for t in temperatures]
    if len(set(names)) != len(names):
        raise SettingsError(f"temperatures repeat: {temperatures}")
    nep = Path(nep_model)
    if not nep.is_file():
        raise SettingsError(f"NEP model file {nep} not found; pass the path of the nep.txt to run with")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    _, shared = _place_potential(directory, nep, copy=True)
    atoms = _as_atoms(structure)
    return [
        write_gpumd_run(directory / name, atoms, shared, t, settings, copy_potential=False)
        for name, t in zip(names, temperatures)
    ]


def _provenance_yaml(run: GpumdRunDirectory, nep_source: Path) -> str:
    from mdvib import __version__

    s = run.settings
    counts: dict[str, int] = {}
    for symbol in run.species:
        counts[symbol] = counts.get(symbol, 0) + 1
    record = {
        "mdvib_version": __version__,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "engine": "GPUMD",
        "temperature_k": run.temperature_k,
        "n_atoms": run.n_atoms,
        "species": counts,
        "nep_model": {"source": str(nep_source.resolve()), "run_in_path": str(run.potential),
                      "sha256": file_sha256(nep_source)},
        "settings": dataclasses.asdict(s),
        "derived": {
            "frame_spacing_fs": s.frame_spacing_fs,
            "equilibration_thermo_rows": run.equilibration_thermo_rows,
            "dos_max_frequency_thz": s.dos_max_frequency_thz,
            "dos_sample_interval": s.dos_sample_interval if s.dos is not None else None,
            "mdvib_window_frames": s.mdvib_window_frames,
        },
        "outputs": {name: units for name, units in OUTPUT_UNITS.items() if name != MODEL_FILE},
        "analyse": (
            f"mdvib dos {TRAJECTORY_FILE} -o dos.csv --window-function hann"
            + (f" --window {s.mdvib_window_frames}" if s.mdvib_window_frames else "")
        ),
    }
    return yaml.safe_dump(record, sort_keys=False, allow_unicode=True)
