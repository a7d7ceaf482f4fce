"""Sources of the total dipole moment M(t) of each frame, for the IR analyser.

One small interface, :class:`DipoleSource`, with three implementations:

* :class:`TrajectoryDipoles`: per-frame dipoles stored in the trajectory
  (extxyz ``dipole="x y z"``, ASE results), e·Å;
* :class:`SeriesDipoles`: a dipole series from a file (GPUMD ``dipole.out``,
  plain text with 3 columns or a step/time column and 3, ``.npy``) or an
  array, one row per frame;
* :class:`CalculatorDipoles`: a dipole model evaluated on every frame (any
  ASE calculator with the ``dipole`` property);
* :class:`ChargeDipoles`: fixed per-species charges, M = Σ_i q_i r_i with
  positions made continuous in time (minimum-image steps between frames), so
  that the bulk dipole does not jump when an atom crosses the cell boundary.

A source is set up once per trajectory (:meth:`DipoleSource.check`, which also
validates lengths and charges) and then turns chunks of frames into dipoles
(:meth:`DipoleSource.dipoles`). The per-part state it needs between chunks
(the last frame, to unwrap positions) lives in a dict the caller keeps, so a
source travels unchanged to parallel workers.
"""

from __future__ import annotations

import abc
from pathlib import Path

import numpy as np
import scipy.constants as _sc

from mdvib.errors import MissingDataError, SettingsError
from mdvib.io.base import FrameChunk
from mdvib.trajectory import FrameSelection, Trajectory
from mdvib.units import BOHR_TO_A

#: Dipole units a series file may be in → e·Å (1 D = 0.20819434 e·Å).
DIPOLE_UNITS: dict[str, float] = {
    "e*A": 1.0,
    "debye": 1.0e-21 / _sc.c / _sc.e * 1e10,
    "e*bohr": BOHR_TO_A,
}

#: Net charge (e) of a cell below which fixed charges count as neutral.
NEUTRAL_TOLERANCE_E = 1.0e-5


class DipoleSource(abc.ABC):
    """Where the total dipole of each selected frame comes from."""

    #: Short name recorded in the result's provenance.
    kind: str = ""

    def check(self, trajectory: Trajectory, selection: FrameSelection) -> None:
        """Validate the source against the trajectory and the frame selection (raise on a mismatch)."""
        return None

    def settings(self) -> dict:
        """What the source is, for provenance."""
        return {"kind": self.kind}

    def inputs(self) -> tuple[str, ...]:
        """Input files besides the trajectory."""
        return ()

    @abc.abstractmethod
    def dipoles(self, chunk: FrameChunk, state: dict) -> np.ndarray:
        """Total dipoles of the chunk's frames, e·Å, shape (n_frames, 3).

        Parameters
        ----------
        chunk : FrameChunk
            Consecutive selected frames; ``chunk.first_frame`` counts selected frames from 0.
        state : dict
            Per-part state kept between the chunks of one part (empty at its start).
        """


class TrajectoryDipoles(DipoleSource):
    """Dipoles stored with every frame of the trajectory (``FrameChunk.dipoles``)."""

    kind = "trajectory"

    def check(self, trajectory: Trajectory, selection: FrameSelection) -> None:
        """Refuse a trajectory without per-frame dipoles, naming the alternatives."""
        if not trajectory.info.has_dipoles:
            raise MissingDataError(
                f"{trajectory.path}: the trajectory has no per-frame dipoles (extxyz dipole=\"x y z\"); give a "
                "dipole series with --dipoles FILE or fixed charges with --charges O=-0.8476,H=0.4238")

    def dipoles(self, chunk: FrameChunk, state: dict) -> np.ndarray:
        """The chunk's stored dipoles, e·Å, shape (n_frames, 3)."""
        return chunk.dipoles


def read_series_file(path: Path, option: str, what: str) -> np.ndarray:
    """Values of a per-frame series file: ``.npy`` as stored, text (``#`` comments) as a 2D array.

    Parameters
    ----------
    path : Path
    option : str
        Command-line option that names the file (for error messages).
    what : str
        What the file holds (for error messages).

    Raises
    ------
    SettingsError
        If the file does not exist or cannot be parsed.
    """
    if not path.is_file():
        raise SettingsError(f"{option} {path}: no such file")
    try:
        return np.load(path) if path.suffix == ".npy" else np.loadtxt(path, comments="#", ndmin=2)
    except ValueError as exc:
        raise SettingsError(f"{path}: cannot read {what}: {exc}") from exc


class FrameRows:
    """A per-frame series given beside a trajectory, matched to its frames (dipoles, polarizabilities).

    Parameters
    ----------
    values : ndarray, shape (n_rows, ...)
        One row per frame.
    name : str
        File it came from (messages).
    what : str
        What the rows are (messages), e.g. ``"the dipole series"``.

    Raises
    ------
    SettingsError
        If a row holds a value that is not finite.
    """

    def __init__(self, values: np.ndarray, name: str, what: str):
        bad = np.flatnonzero(~np.isfinite(values.reshape(len(values), -1)).all(axis=1))
        if bad.size:
            raise SettingsError(f"{name}: row {int(bad[0])} of {what} is not finite: {values[bad[0]].tolist()}")
        self.values, self.name, self.what = values, name, what
        self._start, self._step = 0, 1

    def match(self, trajectory: Trajectory, selection: FrameSelection) -> None:
        """Match the rows to file frames or to selected frames (:func:`match_rows`)."""
        self._start, self._step = match_rows(len(self.values), trajectory, selection, self.name, self.what)

    def of(self, chunk: FrameChunk) -> np.ndarray:
        """Rows of the chunk's frames, shape (n_frames, ...)."""
        first = self._start + chunk.first_frame * self._step
        return self.values[first : first + chunk.n_frames * self._step : self._step]


class SeriesDipoles(DipoleSource):
    """A dipole series given separately from the trajectory, one row per frame.

    Parameters
    ----------
    values : ndarray, shape (n_rows, 3)
        Total dipole, e·Å.
    name : str
        File it came from (messages, provenance).

    Notes
    -----
    The series is matched to the frames when it has one row per frame of the
    trajectory file (row = file frame) or one row per selected frame (row =
    selected frame); any other length is refused.
    """

    kind = "series"

    def __init__(self, values: np.ndarray, name: str = "<array>"):
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 2 or values.shape[1] != 3 or values.shape[0] < 2:
            raise SettingsError(f"{name}: a dipole series needs shape (n_frames >= 2, 3), got {values.shape}")
        self.rows = FrameRows(values, name, "the dipole series")
        self.name = name

    @classmethod
    def from_file(cls, path: str | Path, unit: str = "e*A") -> SeriesDipoles:
        """Read a series: ``.npy`` of shape (n, 3), or text with 3 columns, or 4 (GPUMD ``dipole.out``: step first).

        Parameters
        ----------
        path : str or Path
            The file; lines starting with ``#`` are comments (GPUMD's headers).
        unit : {"e*A", "debye", "e*bohr"}
            Unit of the values in the file.
        """
        if unit not in DIPOLE_UNITS:
            raise SettingsError(f"unknown dipole unit {unit!r}; choose one of {sorted(DIPOLE_UNITS)}")
        path = Path(path)
        values = read_series_file(path, "--dipoles", "a dipole series")
        if values.ndim == 2 and values.shape[1] == 4 and path.suffix != ".npy":
            values = values[:, 1:]  # step or time column (GPUMD dipole.out)
        if values.ndim != 2 or values.shape[1] != 3:
            raise SettingsError(f"{path}: a dipole series needs 3 columns (mu_x mu_y mu_z) or 4 (step mu_x mu_y "
                                f"mu_z), got shape {values.shape}")
        return cls(values * DIPOLE_UNITS[unit], str(path))

    def check(self, trajectory: Trajectory, selection: FrameSelection) -> None:
        """Match the rows to file frames or to selected frames; refuse any other length, naming both counts."""
        self.rows.match(trajectory, selection)

    def settings(self) -> dict:
        """Kind and file of the series."""
        return {"kind": self.kind, "file": self.name, "rows": len(self.rows.values)}

    def inputs(self) -> tuple[str, ...]:
        """The series file."""
        return (self.name,)

    def dipoles(self, chunk: FrameChunk, state: dict) -> np.ndarray:
        """Rows of the chunk's frames, e·Å, shape (n_frames, 3)."""
        return self.rows.of(chunk)


class CalculatorDipoles(DipoleSource):
    """Dipoles from a model evaluated on every frame: an ASE calculator with the ``dipole`` property.

    Parameters
    ----------
    calculator : ase.calculators.calculator.Calculator
        Any ASE calculator returning ``dipole`` in e·Å (``atoms.get_dipole_moment()``):
        a machine-learned dipole model, a quantum-chemistry code, ... It must be
        picklable for ``workers > 1``.
    pbc : bool
        Periodicity of the :class:`ase.Atoms` built for each frame (with the frame's cell).

    Notes
    -----
    For periodic systems the model must return a dipole continuous in time (a
    polarization branch that does not jump); the spectrum only uses its changes.
    """

    kind = "calculator"

    def __init__(self, calculator, pbc: bool = True):
        self.calculator = calculator
        self.pbc = pbc
        self._symbols: tuple[str, ...] = ()
        self._masses = np.zeros(0)
        self._path = ""

    def check(self, trajectory: Trajectory, selection: FrameSelection) -> None:
        """Remember the species and masses the frames' :class:`ase.Atoms` get."""
        self._symbols, self._masses, self._path = trajectory.species, trajectory.masses, trajectory.path

    def settings(self) -> dict:
        """Kind and calculator class."""
        return {"kind": self.kind, "calculator": type(self.calculator).__name__}

    def dipoles(self, chunk: FrameChunk, state: dict) -> np.ndarray:
        """The model's dipole of each frame, e·Å, shape (n_frames, 3)."""
        from ase import Atoms
        from ase.calculators.calculator import PropertyNotImplementedError

        out = np.empty((chunk.n_frames, 3))
        for k in range(chunk.n_frames):
            atoms = Atoms(self._symbols, positions=chunk.positions[k], cell=chunk.cells[k], pbc=self.pbc,
                          masses=self._masses)
            atoms.calc = self.calculator
            try:
                out[k] = atoms.get_dipole_moment()
            except PropertyNotImplementedError as exc:
                raise MissingDataError(f"{self._path}: frame {chunk.first_frame + k}: the calculator "
                                       f"{type(self.calculator).__name__} does not provide a dipole") from exc
        return out


def match_rows(rows: int, trajectory: Trajectory, selection: FrameSelection, name: str,
               what: str) -> tuple[int, int]:
    """Row of selected frame k is ``start + k·step``: rows per file frame, or per selected frame.

    Parameters
    ----------
    rows : int
        Rows of the series.
    trajectory, selection
        The trajectory and its frame selection.
    name, what : str
        The series' file and what it holds, for the message.

    Raises
    ------
    SettingsError
        When ``rows`` is neither the file's frame count nor the selection's, naming both.
    """
    if rows == trajectory.n_frames:
        return selection.start, selection.step
    if rows == selection.n_frames:
        return 0, 1
    raise SettingsError(
        f"{name}: {what} has {rows} rows but {trajectory.path} has {trajectory.n_frames} frames "
        f"({selection.n_frames} selected); it needs one row per frame of the file or per selected frame")


def parse_charges(text: str) -> dict[str, float]:
    """Parse ``"O=-0.8476,H=0.4238"`` into ``{"O": -0.8476, "H": 0.4238}`` (charges in e)."""
    charges: dict[str, float] = {}
    for item in text.split(","):
        symbol, sep, value = item.partition("=")
        symbol = symbol.strip()
        try:
            charge = float(value)
        except ValueError:
            charge = float("nan")
        if not sep or not symbol or not np.isfinite(charge):
            raise SettingsError(f"--charges: cannot parse {item!r}; expected Element=CHARGE in e, "
                                "e.g. O=-0.8476,H=0.4238")
        if symbol in charges:
            raise SettingsError(f"--charges: {symbol} is given twice")
        charges[symbol] = charge
    return charges


class ChargeDipoles(DipoleSource):
    """Fixed charges per species: M(t) = Σ_i q_i r_i(t), positions continuous in time.

    Parameters
    ----------
    charges : dict or str
        Charge in e of each species (``{"O": -0.8476, "H": 0.4238}`` or the
        same as ``"O=-0.8476,H=0.4238"``).
    allow_net_charge : bool
        Accept charges that do not sum to zero over the cell (then the dipole
        depends on the origin; the analysis records a warning). Default: refuse.

    Notes
    -----
    Wrapped positions are unwrapped by minimum-image steps between consecutive
    selected frames (no atom may move half a cell between them); the first
    frame of every part is taken as read. Only dipole changes enter the
    spectrum, so the choice of images at the start does not matter.
    """

    kind = "charges"

    def __init__(self, charges: dict[str, float] | str, allow_net_charge: bool = False):
        self.charges = parse_charges(charges) if isinstance(charges, str) else {k: float(v) for k, v in
                                                                               charges.items()}
        self.allow_net_charge = allow_net_charge
        self.net_charge = 0.0
        self._q = np.zeros(0)

    def check(self, trajectory: Trajectory, selection: FrameSelection) -> None:
        """Give every atom its charge; refuse a species without one, and a charged cell unless allowed."""
        missing = sorted(set(trajectory.species) - set(self.charges))
        if missing:
            raise SettingsError(f"--charges: no charge for species {missing} of {trajectory.path} "
                                f"(given: {sorted(self.charges)})")
        self._q = np.array([self.charges[s] for s in trajectory.species])
        self.net_charge = float(self._q.sum())
        if abs(self.net_charge) > NEUTRAL_TOLERANCE_E and not self.allow_net_charge:
            counts = {s: trajectory.species.count(s) for s in dict.fromkeys(trajectory.species)}
            terms = " + ".join(f"{n}×({self.charges[s]:+g})" for s, n in counts.items())
            raise SettingsError(
                f"--charges: the charges of the {trajectory.n_atoms} atoms of {trajectory.path} sum to "
                f"{self.net_charge:+.6g} e ({terms}), not zero: the dipole of a charged cell depends on the origin; "
                "fix the charges, or pass --allow-net-charge if the total momentum is conserved")

    def warning(self) -> str | None:
        """The note recorded with a result from a charged cell (``None`` when neutral)."""
        if abs(self.net_charge) <= NEUTRAL_TOLERANCE_E:
            return None
        return (f"the fixed charges sum to {self.net_charge:+.6g} e over the cell: the spectrum includes the "
                "net charge times the centre-of-mass velocity, which vanishes only when the total momentum is zero")

    def settings(self) -> dict:
        """Kind, charges and net charge."""
        return {"kind": self.kind, "charges_e": dict(self.charges), "net_charge_e": self.net_charge}

    def dipoles(self, chunk: FrameChunk, state: dict) -> np.ndarray:
        """Σ q r over continuous positions, e·Å, shape (n_frames, 3)."""
        if chunk.unwrapped:
            return np.tensordot(chunk.positions, self._q, axes=(1, 0))
        positions = chunk.positions
        if "positions" in state:
            previous, start = state["positions"], state["dipole"]
        else:
            previous, start = positions[0], self._q @ positions[0]
            positions = positions[1:]
        steps = np.diff(np.concatenate([previous[None], positions]), axis=0)  # (n, atoms, 3)
        increments = np.tensordot(steps, self._q, axes=(1, 0))  # Σ q Δr, (n, 3)
        if steps.shape[0]:
            cells = chunk.cells[chunk.n_frames - steps.shape[0]:]
            if not (np.abs(np.linalg.det(cells)) > 1e-12).all():
                raise SettingsError("positions are wrapped but a frame's cell has no volume, so fixed-charge "
                                    "dipoles cannot be unwrapped; write unwrapped positions (LAMMPS: xu yu zu)")
            if (cells == cells[0]).all():
                frac = steps @ np.linalg.inv(cells[0])
            else:
                frac = np.einsum("fij,fjk->fik", steps, np.linalg.inv(cells))
            # minimum image: subtract the charge-weighted cell vectors of every jump across the boundary
            jumps = np.tensordot(np.round(frac), self._q, axes=(1, 0))  # (n, 3), in cell-vector units
            increments -= np.einsum("fk,fkl->fl", jumps, cells)
        dipoles = start + np.cumsum(increments, axis=0)
        if "positions" not in state:
            dipoles = np.concatenate([start[None], dipoles])
        state["positions"], state["dipole"] = chunk.positions[-1], dipoles[-1]
        return dipoles
