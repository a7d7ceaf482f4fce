"""Readers of GPUMD's tabulated outputs: ``thermo.out``, ``mvac.out`` and ``dos.out``.

GPUMD's trajectory is extended XYZ and is read by :mod:`mdvib.io.extxyz`:
``dump_xyz`` files (GPUMD v4.0 and later; the only trajectory dump after v5.6)
and ``dump.xyz`` from ``dump_exyz`` (v3.0-v5.6). Both write ``Time=`` in fs,
``Lattice`` and positions in Å, ``vel`` in Å/fs, ``forces`` in eV/Å and
(``dump_xyz ... mass``) ``mass`` in amu; :mod:`mdvib.engines.gpumd` lists the
versions checked. This module covers the plain-number tables GPUMD writes
next to it. Every reader converts to mdvib's
internal units (Å, fs, eV, K, linear THz) and keeps GPUMD's own columns beside
where a conversion is not one-to-one.

Units, from the GPUMD documentation (``doc/gpumd/output_files/*.rst`` and
``doc/gpumd/input_parameters/compute_dos.rst`` of the GPUMD repository,
published at gpumd.org):

* ``thermo.out`` (``dump_thermo``): one row per output step, no header, no
  time column. T in K, kinetic energy K and potential energy U in eV,
  pressures in GPa, box in Å. Column layouts:

  - 12 columns, orthogonal box: ``T K U Px Py Pz Pyz Pxz Pxy Lx Ly Lz``;
  - 18 columns, triclinic box (and every box in the newest releases):
    ``T K U Px Py Pz Pyz Pxz Pxy ax ay az bx by bz cx cy cz``;
  - older releases without the shear pressures, as read by other GPUMD tools
    (calorine): 9 columns ``T K U Px Py Pz Lx Ly Lz`` and 15 columns
    ``T K U Px Py Pz ax ay az bx by bz cx cy cz``. The shear pressures of these
    layouts are reported as NaN.

* ``mvac.out`` (``compute_dos``): column 1 the correlation time in **ps**,
  columns 2-4 the mass-weighted velocity autocorrelation in x, y, z. The
  current documentation (and code) normalise each direction by its value at
  t = 0 (C_α(t)/C_α(0), dimensionless); an older page gave unnormalised values
  (labelled Å²/s², a typo for Å²/ps²). The reader detects which one a file
  holds (:attr:`GpumdMVAC.normalized`).

* ``dos.out`` (``compute_dos``): column 1 the **angular** frequency ω in rad/ps
  (GPUMD labels it "THz"; ``compute_dos`` takes ω_max = 2πν_max), columns 2-4
  the DOS in x, y, z in 1/THz. GPUMD normalises the total to 3N over *linear*
  frequency: each direction is 2N∫C_α(t)/C_α(0)·w(t)·e^{-iωt}dt (w the Hann lag
  window), so ∫₀^∞ D_α dν = N and ∫₀^∞ (D_x + D_y + D_z) dν = 3N with ν = ω/2π
  in THz and N the atoms of the ``compute_dos`` group. mdvib's DOS
  (docs/physics.md, "Phonon DOS from the VACF") is per atom, ∫₀^∞ g dν = 3: g(ν) = (D_x + D_y + D_z)/N
  (:meth:`GpumdDOS.per_atom`). The first frequency is Δω = ω_max/n_points,
  not 0.

Both ``mvac.out`` and ``dos.out`` are appended to: a second ``compute_dos`` run,
or ``compute_dos ... group <method>`` without a group id (one block per group),
adds another block of rows whose time (frequency) axis starts again. Blocks
are returned along the first axis of the arrays.

Malformed rows raise :class:`~mdvib.errors.TrajectoryFormatError` naming the
file and the line.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from mdvib.errors import SettingsError, TrajectoryFormatError
from mdvib.results import quantity
from mdvib.units import GPUMD_MVAC_TIME_TO_FS, RAD_PER_PS_PER_THZ

# ------------------------------------------------------------------ tables

#: thermo.out layouts: number of columns → (box kind, has shear pressures).
THERMO_LAYOUTS: dict[int, tuple[str, bool]] = {
    12: ("orthogonal", True),
    18: ("triclinic", True),
    9: ("orthogonal", False),
    15: ("triclinic", False),
}

#: Tolerance on C(0) = 1 for "this mvac.out is normalised" (GPUMD prints 6 digits).
NORMALIZED_TOLERANCE = 1e-4


def _read_table(path: Path, what: str, widths: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Numbers of a whitespace-separated table, checked row by row.

    Parameters
    ----------
    path : Path
        File to read.
    what : str
        Name of the file kind for messages (``"thermo.out"``).
    widths : tuple of int
        Accepted numbers of columns; all rows must have the first row's.

    Returns
    -------
    data : ndarray, shape (n_rows, n_columns)
    lines : ndarray, shape (n_rows,)
        1-based line number of each row.

    Raises
    ------
    TrajectoryFormatError
        Naming the file and line of the first row with a wrong number of
        columns or a token that is not a number; or when there are no rows.
    """
    path = Path(path)
    if not path.is_file():
        raise SettingsError(f"{what} file {path} not found")
    text = path.read_text(errors="replace")
    unterminated = bool(text) and not text.endswith("\n")
    raw = text.splitlines()
    rows: list[list[str]] = []
    lines: list[int] = []
    width = None
    expected = " or ".join(str(w) for w in widths)
    for lineno, line in enumerate(raw, start=1):
        tokens = line.split()
        if not tokens or tokens[0].startswith("#"):
            continue
        hint = ""
        if unterminated and lineno == len(raw):
            hint = "; the file ends inside this row (GPUMD was interrupted?): remove the incomplete last line"
        if width is None:
            if len(tokens) not in widths:
                raise TrajectoryFormatError(
                    path, f"line {lineno}: {len(tokens)} columns; a GPUMD {what} has {expected}{hint}"
                )
            width = len(tokens)
        elif len(tokens) != width:
            raise TrajectoryFormatError(
                path,
                f"line {lineno}: {len(tokens)} columns, expected {width} like line {lines[0]} "
                f"(truncated or concatenated file?){hint}",
            )
        rows.append(tokens)
        lines.append(lineno)
    if not rows:
        raise TrajectoryFormatError(path, f"no data rows; is this a GPUMD {what}?")
    try:
        data = np.array(rows, dtype=np.float64)
    except ValueError:
        for tokens, lineno in zip(rows, lines):
            for column, token in enumerate(tokens, start=1):
                try:
                    float(token)
                except ValueError:
                    raise TrajectoryFormatError(
                        path, f"line {lineno}: column {column} is not a number: {token[:40]!r}"
                    ) from None
        raise  # pragma: no cover - every row converted one by one
    return data, np.asarray(lines, dtype=np.int64)


def _split_blocks(path: Path, axis: np.ndarray, lines: np.ndarray, what: str) -> list[slice]:
    """Blocks of rows whose first column increases; a restart begins a new block.

    Raises
    ------
    TrajectoryFormatError
        When blocks differ in length or axis (naming the first line of the
        offending block).
    """
    starts = [0, *(np.flatnonzero(np.diff(axis) <= 0) + 1).tolist()]
    bounds = [*starts, axis.size]
    blocks = [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]
    first = axis[blocks[0]]
    for block in blocks[1:]:
        values = axis[block]
        if values.size != first.size or not np.allclose(values, first, rtol=1e-5, atol=0.0):
            raise TrajectoryFormatError(
                path,
                f"line {lines[block.start]}: a new block of {values.size} rows starts here but the first block "
                f"has {first.size} rows on a different {what} axis; mdvib reads appended blocks only when they "
                "share one axis: split the file",
            )
    return blocks


# ------------------------------------------------------------------ thermo.out


@dataclasses.dataclass(frozen=True)
class GpumdThermo:
    """Contents of a GPUMD ``thermo.out``, one row per ``dump_thermo`` output.

    Row k was written after MD step (k + 1)·interval of its run; equilibration
    and production rows follow each other (the file is appended to).
    """

    path: str = quantity("", "()", "file read")
    temperature_k: np.ndarray = quantity("K", "(n_rows,)", "temperature")
    kinetic_energy_ev: np.ndarray = quantity("eV", "(n_rows,)", "kinetic energy of the system")
    potential_energy_ev: np.ndarray = quantity("eV", "(n_rows,)", "potential energy of the system")
    pressure_gpa: np.ndarray = quantity(
        "GPa", "(n_rows, 6)", "pressure tensor, Voigt order xx yy zz yz xz xy (shear NaN in old 9/15-column files)"
    )
    cells: np.ndarray = quantity("Å", "(n_rows, 3, 3)", "box vectors a, b, c as rows")
    n_columns: int = quantity("", "()", "columns of the file: 12, 18 (9, 15 for old releases)")
    box: str = quantity("", "()", "'orthogonal' (Lx Ly Lz columns) or 'triclinic' (full box matrix)")

    @property
    def n_rows(self) -> int:
        """Number of rows."""
        return int(self.temperature_k.size)

    @property
    def total_energy_ev(self) -> np.ndarray:
        """K + U in eV, shape (n_rows,)."""
        return self.kinetic_energy_ev + self.potential_energy_ev

    @property
    def volume_a3(self) -> np.ndarray:
        """Box volume in Å³, shape (n_rows,)."""
        return np.abs(np.linalg.det(self.cells))

    @property
    def hydrostatic_pressure_gpa(self) -> np.ndarray:
        """(Pxx + Pyy + Pzz)/3 in GPa, shape (n_rows,)."""
        return self.pressure_gpa[:, :3].mean(axis=1)

    def times_fs(self, timestep_fs: float, interval_steps: int, first_step: int = 0) -> np.ndarray:
        """Simulation time of each row in fs, shape (n_rows,).

        Parameters
        ----------
        timestep_fs : float
            MD time step of the run (``time_step``), fs.
        interval_steps : int
            ``dump_thermo`` interval, steps; every stage written to the file
            must have used it and run a multiple of it.
        first_step : int
            Step the first row's run started from.
        """
        if not timestep_fs > 0 or int(interval_steps) < 1:
            raise SettingsError(f"timestep_fs and interval_steps must be positive, got {timestep_fs}, {interval_steps}")
        return (first_step + (np.arange(self.n_rows) + 1) * int(interval_steps)) * float(timestep_fs)


def read_thermo_out(path: str | Path) -> GpumdThermo:
    """Read a GPUMD ``thermo.out``.

    Parameters
    ----------
    path : str or Path
        The file.

    Returns
    -------
    GpumdThermo
        Temperatures (K), energies (eV), pressures (GPa, Voigt order
        xx yy zz yz xz xy) and boxes (Å, vectors as rows).

    Raises
    ------
    TrajectoryFormatError
        For a row with another number of columns than 9, 12, 15 or 18, a
        row whose column count differs from the first row's, or a token that
        is not a number; the message names the file and line.
    """
    path = Path(path)
    data, _ = _read_table(path, "thermo.out", tuple(sorted(THERMO_LAYOUTS)))
    n_rows, n_columns = data.shape
    box, has_shear = THERMO_LAYOUTS[n_columns]
    pressure = np.full((n_rows, 6), np.nan)
    pressure[:, :3] = data[:, 3:6]
    first_box = 6
    if has_shear:
        pressure[:, 3:] = data[:, 6:9]
        first_box = 9
    if box == "orthogonal":
        cells = np.zeros((n_rows, 3, 3))
        cells[:, [0, 1, 2], [0, 1, 2]] = data[:, first_box : first_box + 3]
    else:
        cells = data[:, first_box : first_box + 9].reshape(n_rows, 3, 3).copy()
    return GpumdThermo(
        path=str(path),
        temperature_k=data[:, 0].copy(),
        kinetic_energy_ev=data[:, 1].copy(),
        potential_energy_ev=data[:, 2].copy(),
        pressure_gpa=pressure,
        cells=cells,
        n_columns=n_columns,
        box=box,
    )


# ------------------------------------------------------------------ mvac.out


@dataclasses.dataclass(frozen=True)
class GpumdMVAC:
    """Mass-weighted velocity autocorrelation from a GPUMD ``mvac.out``.

    ``vac[b, k, α]`` is block b (one per ``compute_dos`` run or group), lag k,
    direction α = x, y, z, as written: C_α(t)/C_α(0) when :attr:`normalized`
    (current GPUMD), the raw mass-weighted correlation otherwise.
    """

    path: str = quantity("", "()", "file read")
    time_fs: np.ndarray = quantity("fs", "(n_lags,)", "correlation time (GPUMD writes ps)")
    vac: np.ndarray = quantity("", "(n_blocks, n_lags, 3)", "VAC per block, lag and direction x y z, as written")
    normalized: bool = quantity("", "()", "whether every block and direction has C(0) = 1")

    @property
    def n_blocks(self) -> int:
        """Number of appended blocks."""
        return int(self.vac.shape[0])

    @property
    def normalized_vac(self) -> np.ndarray:
        """C_α(t)/C_α(0), dimensionless, shape (n_blocks, n_lags, 3)."""
        return self.vac / self.vac[:, :1, :]

    @property
    def mean(self) -> np.ndarray:
        """Direction average of :attr:`normalized_vac`, shape (n_blocks, n_lags).

        Equals the normalised total mass-weighted VAC when C_x(0) = C_y(0) =
        C_z(0) (equipartition).
        """
        return self.normalized_vac.mean(axis=2)


def read_mvac_out(path: str | Path) -> GpumdMVAC:
    """Read a GPUMD ``mvac.out`` (``compute_dos``).

    Parameters
    ----------
    path : str or Path
        The file.

    Returns
    -------
    GpumdMVAC
        Correlation time in fs (converted from GPUMD's ps) and the per-direction
        VAC of every block.

    Raises
    ------
    TrajectoryFormatError
        For a row that does not have 4 numbers, or appended blocks on
        different time axes; the message names the file and line.
    """
    path = Path(path)
    data, lines = _read_table(path, "mvac.out", (4,))
    blocks = _split_blocks(path, data[:, 0], lines, "time")
    vac = np.stack([data[block, 1:4] for block in blocks])
    return GpumdMVAC(
        path=str(path),
        time_fs=data[blocks[0], 0] * GPUMD_MVAC_TIME_TO_FS,
        vac=vac,
        normalized=bool(np.all(np.abs(vac[:, 0, :] - 1.0) < NORMALIZED_TOLERANCE)),
    )


# ------------------------------------------------------------------ dos.out


@dataclasses.dataclass(frozen=True)
class GpumdDOS:
    """Phonon DOS from a GPUMD ``dos.out``, in GPUMD's normalisation.

    ``dos[b, k, α]`` is block b, frequency k, direction α = x, y, z, in states
    per linear THz for the whole ``compute_dos`` group: ∫ dos[b, :, α] dν = N
    (N atoms of the group). :meth:`per_atom` converts to mdvib's DOS.
    """

    path: str = quantity("", "()", "file read")
    frequencies_thz: np.ndarray = quantity("THz", "(n_freq,)", "linear frequency ν = ω/2π")
    angular_frequencies: np.ndarray = quantity("rad/ps", "(n_freq,)", "ω as written by GPUMD (its 'THz')")
    dos: np.ndarray = quantity("1/THz", "(n_blocks, n_freq, 3)", "DOS per direction x y z; ∫ dν = N each")

    @property
    def n_blocks(self) -> int:
        """Number of appended blocks."""
        return int(self.dos.shape[0])

    @property
    def total(self) -> np.ndarray:
        """D_x + D_y + D_z in 1/THz, shape (n_blocks, n_freq); ∫ dν = 3N."""
        return self.dos.sum(axis=2)

    def per_atom(self, n_atoms: int | None = None, block: int = 0) -> np.ndarray:
        """The DOS in mdvib's normalisation: per atom, ∫₀^∞ g dν = 3 (1/THz).

        Parameters
        ----------
        n_atoms : int, optional
            Atoms in the ``compute_dos`` group (all atoms by default in GPUMD).
            Without it the spectrum is scaled so that its trapezoid integral
            over the file's frequency range is 3, which is too high a scale
            when ω_max cuts off part of the spectrum.
        block : int
            Which appended block.

        Returns
        -------
        ndarray, shape (n_freq,)
            g(ν) on :attr:`frequencies_thz`, 1/THz.
        """
        if not -self.n_blocks <= block < self.n_blocks:
            raise SettingsError(f"{self.path}: block {block} requested but the file has {self.n_blocks}")
        total = self.total[block]
        if n_atoms is not None:
            if int(n_atoms) < 1:
                raise SettingsError(f"n_atoms must be a positive integer, got {n_atoms}")
            return total / int(n_atoms)
        integral = float(np.trapezoid(total, self.frequencies_thz))
        if not integral > 0:
            raise SettingsError(f"{self.path}: the DOS integrates to {integral}; pass n_atoms= to normalise it")
        return total * (3.0 / integral)

    def on_grid(self, frequencies_thz: np.ndarray, n_atoms: int | None = None, block: int = 0) -> np.ndarray:
        """:meth:`per_atom` linearly interpolated onto other frequencies (THz).

        Use ``dos.on_grid(result.frequencies_thz, n_atoms)`` to put GPUMD's DOS
        on the axis of an mdvib :class:`~mdvib.analysis.dos.DOSResult`.
        Frequencies outside GPUMD's range [Δν, ν_max] give NaN.

        Returns
        -------
        ndarray, shape like ``frequencies_thz``
            g(ν), 1/THz per atom.
        """
        grid = np.asarray(frequencies_thz, dtype=np.float64)
        return np.interp(grid, self.frequencies_thz, self.per_atom(n_atoms, block), left=np.nan, right=np.nan)


def read_dos_out(path: str | Path) -> GpumdDOS:
    """Read a GPUMD ``dos.out`` (``compute_dos``).

    Parameters
    ----------
    path : str or Path
        The file.

    Returns
    -------
    GpumdDOS
        Linear frequencies ν = ω/2π in THz (GPUMD writes the angular
        frequency, kept in :attr:`GpumdDOS.angular_frequencies`) and the
        per-direction DOS in 1/THz of every block.

    Raises
    ------
    TrajectoryFormatError
        For a row that does not have 4 numbers, or appended blocks on
        different frequency axes; the message names the file and line.
    """
    path = Path(path)
    data, lines = _read_table(path, "dos.out", (4,))
    blocks = _split_blocks(path, data[:, 0], lines, "frequency")
    omega = data[blocks[0], 0].copy()
    return GpumdDOS(
        path=str(path),
        frequencies_thz=omega / RAD_PER_PS_PER_THZ,
        angular_frequencies=omega,
        dos=np.stack([data[block, 1:4] for block in blocks]),
    )
