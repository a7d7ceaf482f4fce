"""Extended XYZ reader: GPUMD ``dump_xyz``/``dump_exyz``, ASE and i-PI xyz files.

Two comment-line styles are understood:

* **extended XYZ** (``Lattice="..." Properties=species:S:1:pos:R:3:... Time=...``),
  as written by GPUMD, ASE and others. Units: positions and ``Lattice`` Å;
  ``vel``/``velo``/``velocities`` columns Å/fs (GPUMD; option
  ``velocity_unit``); ASE ``momenta`` in ASE units (amu·Å per ASE time unit),
  turned into velocities with the file's masses; ``forces``/``force`` eV/Å;
  ``Time``/``time`` fs (GPUMD; option ``time_unit``); ``dipole`` e·Å (GPUMD
  TNEP). GPUMD's ``unwrapped_position`` column, when present, is used as the
  positions and chunks are flagged unwrapped. The option ``units`` (command
  line ``--units``) sets velocity, time and force units at once by style
  (:data:`UNIT_STYLES`: ``metal``, ``real``, ``gpumd``, ``ase``).
* **LAMMPS** ``dump extxyz`` files (comment lines starting ``Timestep=``)
  are in the run's LAMMPS unit style (``metal``: ``Time`` ps, velocities
  Å/ps; ``real``: fs, Å/fs, kcal/(mol·Å)), which LAMMPS does not write. The
  reader infers it from the ``Temperature=`` LAMMPS writes in the header: the
  kinetic temperature of frame 0's velocities matches it in one style and is
  10⁶ times off in the other. Without velocities or ``Temperature`` it asks
  for ``units``.
* **i-PI** (``# CELL(abcABC): a b c alpha beta gamma  Step: N  Bead: k
  positions{angstrom}  cell{angstrom}``): one quantity per file (positions,
  velocities or forces, plain or centroid) in the unit named in braces,
  atomic units when none is named, and the cell in ``cell{...}`` units (atomic
  units by default). Velocities and forces live in separate i-PI files: read
  the positions file and pass the others as ``velocities_file=`` and
  ``forces_file=``; they are read frame by frame in lockstep.

The file is scanned once for frame offsets (memory: a few numbers per frame);
chunks are then parsed with NumPy straight from those offsets. Gzipped files
(``*.xyz.gz``) are read the same way, sequentially.
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, NoReturn

import ase.data
import ase.geometry
import numpy as np

from mdvib.errors import SettingsError, TrajectoryFormatError
from mdvib.io._common import (
    check_chunk_finite,
    check_options,
    element_symbol,
    resolve_masses,
    resolve_species,
    time_axis,
)
from mdvib.io._gzip import GzipStream
from mdvib.io._masses import masses_for_species
from mdvib.io.base import FrameChunk, TrajectoryInfo, TrajectoryReader
from mdvib.io.registry import register_reader
from mdvib.units import (
    AMU_A2_PER_FS2_IN_EV,
    ASE_VELOCITY_TO_A_PER_FS,
    EXTXYZ_TIME_UNITS,
    EXTXYZ_VELOCITY_UNITS,
    IPI_UNITS,
    KB_EV_PER_K,
    KCAL_PER_MOL_A_TO_EV_PER_A,
    ipi_factor,
)

#: i-PI trajectory names → quantity (``forces_component(...)`` etc. are forces too).
_IPI_QUANTITIES = {
    "positions": "position",
    "x_centroid": "position",
    "velocities": "velocity",
    "v_centroid": "velocity",
    "forces": "force",
    "f_centroid": "force",
}
_QUANTITY_DIMENSION = {"position": "length", "velocity": "velocity", "force": "force"}

_IPI_CELL = re.compile(r"CELL[\(\[\{](abcABC|H|GENH)[\)\]\}]:\s*([-+0-9.eE\s]+)")
_IPI_STEP = re.compile(r"Step:\s*(\d+)")
_IPI_FIELD = re.compile(r"([A-Za-z_][\w()]*)\{([^}]*)\}")
_XYZ_TIME = re.compile(r"(?:^|\s)(?:Time|time)\s*=\s*\"?([-+0-9.eE]+)")
_XYZ_STEP = re.compile(r"(?:^|\s)(?:Step|step|Timestep|timestep)\s*=\s*\"?(\d+)(?=[\"\s]|$)")
_XYZ_DIPOLE = re.compile(r"(?:^|\s)dipole\s*=")

# extended-XYZ property names → quantity
_XYZ_COLUMNS = {
    "pos": "position",
    "unwrapped_position": "unwrapped",
    "vel": "velocity",
    "velo": "velocity",
    "velocities": "velocity",
    "momenta": "momentum",
    "forces": "force",
    "force": "force",
    "mass": "mass",
    "masses": "mass",
}




@dataclass(frozen=True)
class UnitStyle:
    """Units of an extended-XYZ file, chosen by name with the ``units`` option.

    Attributes
    ----------
    velocity_unit : str
        Key of :data:`mdvib.units.EXTXYZ_VELOCITY_UNITS`.
    time_unit : str
        Key of :data:`mdvib.units.EXTXYZ_TIME_UNITS` (``Time=`` values).
    force_unit : str
        Name of the force unit, for provenance.
    force_to_ev_per_a : float
        Factor from ``force_unit`` to eV/Å.
    """

    velocity_unit: str
    time_unit: str
    force_unit: str = "eV/A"
    force_to_ev_per_a: float = 1.0


#: ``units=`` styles (command line ``--units``): LAMMPS metal and real, GPUMD (the default), ASE.
UNIT_STYLES: dict[str, UnitStyle] = {
    "metal": UnitStyle("A/ps", "ps"),
    "real": UnitStyle("A/fs", "fs", "kcal/mol/A", KCAL_PER_MOL_A_TO_EV_PER_A),
    "gpumd": UnitStyle("A/fs", "fs"),
    "ase": UnitStyle("ase", "ase"),
}
#: How LAMMPS' ``dump extxyz`` starts every comment line (``Time=`` unless ``dump_modify time no``).
_LAMMPS_HEADER = re.compile(r'^\s*Timestep=\d+ (?:Time=\S+ )?pbc="')
#: LAMMPS unit styles a ``dump extxyz`` file can be inferred to be in.
_LAMMPS_STYLES = ("metal", "real")
#: A LAMMPS style is accepted when the header temperature and the velocities' agree within this factor.
_TEMPERATURE_FACTOR = 3.0
#: ``style_from`` of a LAMMPS style read off the header temperature.
_LAMMPS_INFERRED = "LAMMPS dump extxyz header (Temperature vs velocities)"
#: Plural of each i-PI quantity, for messages.
_PLURAL = {"position": "positions", "velocity": "velocities", "force": "forces"}


def _ipi_factor(path: Path, dimension: str, unit: str) -> float:
    """Factor from the i-PI ``unit`` of ``dimension`` to internal units (:func:`mdvib.units.ipi_factor`)."""
    try:
        return ipi_factor(dimension, unit)
    except KeyError:
        raise TrajectoryFormatError(
            path,
            f"i-PI {dimension} unit {unit!r} is not supported; use one of {sorted(IPI_UNITS[dimension])} "
            "in the i-PI output",
        ) from None


@dataclass(frozen=True)
class _Layout:
    """Where each quantity sits on an atom line, and its factor to internal units.

    ``columns`` maps ``position``/``unwrapped``/``velocity``/``momentum``/
    ``force`` to the first of three columns and ``mass`` to one column.
    ``momentum`` keeps its ASE units (amu·Å/ASE time); it needs masses.
    """

    n_columns: int
    label_column: int
    label_is_number: bool
    columns: dict[str, int]
    factors: dict[str, float]

    @property
    def usecols(self) -> list[int]:
        """Numeric columns to load, in order."""
        cols: list[int] = []
        for name, first in self.columns.items():
            cols.extend(range(first, first + (1 if name == "mass" else 3)))
        return cols


@dataclass
class _Frame:
    """One parsed frame: per-atom arrays in internal units (momenta excepted).

    ``labels`` are the raw species-column tokens (compared between frames).
    """

    labels: list[bytes]
    data: dict[str, np.ndarray]
    cell: np.ndarray | None = None
    dipole: np.ndarray | None = None


@dataclass
class _XyzFile:
    """Frame index and parser of one xyz file (main file or i-PI companion).

    Parameters
    ----------
    path : Path
        The file.
    role : str
        ``position`` for the main file, ``velocity``/``force`` for i-PI
        companions (what an i-PI file without a declared quantity holds).
    velocity_unit, time_unit : str
        Units of extended-XYZ velocity columns and ``Time`` keys.
    force_unit : str
        Unit of extended-XYZ force columns (name, for provenance).
    force_to_ev_per_a : float
        Factor from ``force_unit`` to eV/Å.
    """

    path: Path
    role: str = "position"
    velocity_unit: str = "A/fs"
    time_unit: str = "fs"
    force_unit: str = "eV/A"
    force_to_ev_per_a: float = 1.0
    ipi: bool = field(init=False, default=False)
    n_atoms: int = field(init=False, default=0)
    offsets: np.ndarray = field(init=False, repr=False)
    times: np.ndarray | None = field(init=False, default=None)
    steps: np.ndarray | None = field(init=False, default=None)
    layout: _Layout = field(init=False, repr=False)
    signature: str = field(init=False, default="")
    has_dipoles: bool = field(init=False, default=False)
    periodic: bool = field(init=False, default=False)
    units: dict[str, str] = field(init=False, default_factory=dict)
    first: _Frame = field(init=False, repr=False)
    _ipi_cell_factor: float = field(init=False, default=1.0, repr=False)
    _unterminated: bool = field(init=False, default=False, repr=False)

    def __post_init__(self) -> None:
        if self.velocity_unit not in EXTXYZ_VELOCITY_UNITS:
            raise SettingsError(
                f"velocity_unit={self.velocity_unit!r}; choose one of {sorted(EXTXYZ_VELOCITY_UNITS)}"
            )
        if self.time_unit not in EXTXYZ_TIME_UNITS:
            raise SettingsError(f"time_unit={self.time_unit!r}; choose one of {sorted(EXTXYZ_TIME_UNITS)}")
        self._index()

    @property
    def n_frames(self) -> int:
        """Number of complete frames."""
        return len(self.offsets) - 1

    def open(self) -> BinaryIO:
        """Open the file for binary reading (gzip-aware)."""
        return _open_binary(self.path)

    # ------------------------------------------------------------ scanning
    def _index(self) -> None:
        offsets: list[int] = []
        times: list[float | None] = []
        steps: list[int | None] = []
        end = 0  # end of the last complete frame
        with self.open() as fh:
            lines = _LineReader(fh)
            while True:
                start = lines.tell()
                line = lines.readline()
                if line is None:
                    break
                if not line.strip():
                    continue
                frame = len(offsets)
                try:
                    natoms = int(line)
                except ValueError:
                    raise TrajectoryFormatError(
                        self.path, f"expected the atom count of a frame, found {line[:60]!r}", frame=frame
                    ) from None
                if frame == 0:
                    self.n_atoms = natoms
                elif natoms != self.n_atoms:
                    raise TrajectoryFormatError(
                        self.path,
                        f"atom count changes from {self.n_atoms} to {natoms}; mdvib needs a fixed set of "
                        "atoms (write all atoms in every frame)",
                        frame=frame,
                    )
                comment = lines.readline()
                done = 0 if comment is None else lines.skip_lines(natoms)
                if done < natoms:
                    warnings.warn(
                        f"{self.path}: frame {frame} is truncated ({done} of {natoms} atom lines); dropped it",
                        stacklevel=4,
                    )
                    break
                text = comment.decode(errors="replace")
                if frame == 0:
                    self._set_layout(text)
                time, step = self._quick_time_step(text)
                times.append(time)
                steps.append(step)
                offsets.append(start)
                end = lines.tell()
            self._unterminated = lines.unterminated and end == lines.tell()
        if not offsets:
            raise TrajectoryFormatError(self.path, "no complete frame found; is this an xyz file?")
        self.offsets = np.array(offsets + [end], dtype=np.int64)
        if all(t is not None for t in times):
            self.times = np.array(times, dtype=np.float64) * EXTXYZ_TIME_UNITS[self.time_unit]
        if all(s is not None for s in steps):
            self.steps = np.array(steps, dtype=np.int64)
        self._check_last_frame()

    def _check_last_frame(self) -> None:
        """Parse the first frame; drop a last frame cut inside its last line."""
        with self.open() as fh:
            self.first = self._parse(_read_span(fh, self.offsets, 0), 0)
            if not self._unterminated or self.n_frames < 2:
                return
            last = self.n_frames - 1
            fh.seek(int(self.offsets[last]))
            try:
                self._parse(_read_span(fh, self.offsets, last), last)
            except TrajectoryFormatError as exc:
                warnings.warn(f"{exc}; the file ends inside frame {last}: dropped it", stacklevel=5)
                self.offsets = self.offsets[:-1]
                self.times = None if self.times is None else self.times[:-1]
                self.steps = None if self.steps is None else self.steps[:-1]

    def _quick_time_step(self, comment: str) -> tuple[float | None, int | None]:
        if self.ipi:
            match = _IPI_STEP.search(comment)
            return None, (int(match.group(1)) if match else None)
        time = _XYZ_TIME.search(comment)
        step = _XYZ_STEP.search(comment)
        return (float(time.group(1)) if time else None), (int(step.group(1)) if step else None)

    def _set_layout(self, comment: str) -> None:
        self.ipi = _IPI_CELL.search(comment) is not None or _IPI_FIELD.search(comment) is not None
        if self.ipi:
            self._set_ipi_layout(comment)
        else:
            self._set_xyz_layout(comment)

    def _set_ipi_layout(self, comment: str) -> None:
        kind, unit = self.role, "atomic_unit"
        for name, field_unit in _IPI_FIELD.findall(comment):
            if name == "cell":
                continue
            kind = _IPI_QUANTITIES.get(name, "force" if name.startswith("forces") else None)
            if kind is None:
                raise TrajectoryFormatError(
                    self.path,
                    f"i-PI trajectory of {name!r} is not supported; output positions, velocities or forces",
                )
            unit = field_unit or "atomic_unit"
            break
        if kind != self.role:
            option = {
                "position": "the trajectory path",
                "velocity": "the velocities file (--velocities, velocities_file=)",
                "force": "the forces file (--forces, forces_file=)",
            }
            raise SettingsError(
                f"{self.path} holds i-PI {_PLURAL[kind]} but was given as {option[self.role]}; pass the "
                "positions file as the trajectory and the velocities and forces files with --velocities/--forces "
                "(velocities_file=/forces_file=)"
            )
        dimension = _QUANTITY_DIMENSION[kind]
        cell_unit = _ipi_field_unit(comment, "cell")
        self.units = {dimension: unit, "cell": cell_unit, "time": "step"}
        self._ipi_cell_factor = _ipi_factor(self.path, "length", cell_unit)
        self.layout = _Layout(4, 0, False, {kind: 1}, {kind: _ipi_factor(self.path, dimension, unit)})
        self.signature = f"{kind}{{{unit}}} cell{{{cell_unit}}}"

    def _set_xyz_layout(self, comment: str) -> None:
        info = _key_values(self.path, comment, 0)
        properties = str(info.get("Properties", "species:S:1:pos:R:3"))
        fields = properties.split(":")
        if len(fields) % 3:
            raise TrajectoryFormatError(self.path, f"malformed Properties={properties!r}", frame=0)
        columns: dict[str, int] = {}
        label_column, label_is_number, column = -1, False, 0
        for name, kind, count in zip(fields[::3], fields[1::3], fields[2::3]):
            width = int(count)
            if name == "species" and kind == "S":
                label_column = column
            elif name == "Z" and kind == "I" and label_column < 0:
                label_column, label_is_number = column, True
            elif name in _XYZ_COLUMNS and kind == "R" and width == (1 if _XYZ_COLUMNS[name] == "mass" else 3):
                columns.setdefault(_XYZ_COLUMNS[name], column)
            column += width
        if label_column < 0:
            raise TrajectoryFormatError(
                self.path, f"Properties={properties!r} has no species or Z column", frame=0
            )
        if "unwrapped" in columns:
            columns.pop("position", None)
        elif "position" not in columns:
            raise TrajectoryFormatError(
                self.path, f"Properties={properties!r} has no pos:R:3 column", frame=0
            )
        if self.role != "position" and self.role not in columns:
            raise SettingsError(f"{self.path} has no {self.role} column (Properties={properties!r})")
        factors = {
            "position": 1.0,
            "unwrapped": 1.0,
            "velocity": EXTXYZ_VELOCITY_UNITS[self.velocity_unit],
            "momentum": 1.0,
            "force": self.force_to_ev_per_a,
            "mass": 1.0,
        }
        self.layout = _Layout(
            column, label_column, label_is_number, columns, {k: factors[k] for k in columns}
        )
        self.signature = properties
        self.periodic = "Lattice" in info
        self.has_dipoles = _XYZ_DIPOLE.search(comment) is not None
        time, step = self._quick_time_step(comment)
        self.units = {
            "length": "A",
            "time": self.time_unit if time is not None else "step" if step is not None else "frame",
        }
        if "velocity" in columns:
            self.units["velocity"] = self.velocity_unit
        if "momentum" in columns:
            self.units["velocity"] = "ase momenta (amu*A/ase_time)"
        if "force" in columns:
            self.units["force"] = self.force_unit
        if self.has_dipoles:
            self.units["dipole"] = "e*A"

    # ------------------------------------------------------------- parsing
    def frames(self, fh: BinaryIO, first: int, stop: int) -> list[_Frame]:
        """Parse frames ``first <= k < stop``; ``fh`` must sit at frame ``first``."""
        data = fh.read(int(self.offsets[stop] - self.offsets[first]))
        base = self.offsets[first]
        return [
            self._parse(data[self.offsets[k] - base : self.offsets[k + 1] - base], k)
            for k in range(first, stop)
        ]

    def _parse(self, data: bytes, frame: int) -> _Frame:
        parts = data.lstrip(b"\r\n\t ").split(b"\n", 2)
        if len(parts) < 3:
            raise TrajectoryFormatError(self.path, "frame is truncated", frame=frame)
        comment, body = parts[1].decode(errors="replace"), parts[2]
        out = _Frame(labels=[], data={})
        if self.ipi:
            self._parse_ipi_header(comment, frame, out)
        else:
            self._parse_xyz_header(comment, frame, out)
        layout = self.layout
        try:
            values = np.loadtxt(io.BytesIO(body), usecols=layout.usecols, ndmin=2, dtype=np.float64)
        except ValueError as exc:
            self._diagnose(body, frame, exc)
        column = layout.label_column
        out.labels = [line.split(None, column + 1)[column] for line in body.splitlines() if line.strip()]
        if values.shape[0] != self.n_atoms or len(out.labels) != self.n_atoms:
            raise TrajectoryFormatError(
                self.path, f"frame has {values.shape[0]} atom lines, expected {self.n_atoms}", frame=frame
            )
        at = 0
        for name in layout.columns:
            width = 1 if name == "mass" else 3
            out.data[name] = values[:, at : at + width].reshape(-1) if width == 1 else values[:, at : at + 3]
            if layout.factors[name] != 1.0:
                out.data[name] = out.data[name] * layout.factors[name]
            at += width
        return out

    def _diagnose(self, body: bytes, frame: int, exc: ValueError) -> NoReturn:
        """Raise a precise error for the first malformed atom line of a frame."""
        for atom, line in enumerate(ln for ln in body.splitlines() if ln.strip()):
            tokens = line.split()
            if len(tokens) < self.layout.n_columns:
                raise TrajectoryFormatError(
                    self.path,
                    f"atom line has {len(tokens)} columns, expected {self.layout.n_columns} "
                    f"({self.signature}): {line[:80].decode(errors='replace')!r}",
                    frame=frame,
                    atom_id=atom,
                )
            for col in self.layout.usecols:
                try:
                    float(tokens[col])
                except ValueError:
                    raise TrajectoryFormatError(
                        self.path,
                        f"column {col + 1} is not a number: {tokens[col].decode(errors='replace')!r}",
                        frame=frame,
                        atom_id=atom,
                    ) from None
        raise TrajectoryFormatError(self.path, f"cannot parse the atom lines: {exc}", frame=frame) from exc

    def _parse_ipi_header(self, comment: str, frame: int, out: _Frame) -> None:
        quantity = next((f"{n}{{{u}}}" for n, u in _IPI_FIELD.findall(comment) if n != "cell"), None)
        expected = self.signature.split(" ")[0]
        if quantity is not None and quantity.split("{")[1] != expected.split("{")[1]:
            raise TrajectoryFormatError(
                self.path, f"units change from {expected} to {quantity} within the file", frame=frame
            )
        match = _IPI_CELL.search(comment)
        if match is None:
            return
        numbers = np.array(match.group(2).split(), dtype=np.float64)
        kind = match.group(1)
        if kind == "abcABC":
            cell = ase.geometry.cellpar_to_cell(numbers[:6])
        elif kind == "H":  # i-PI h matrix: columns are the cell vectors
            cell = numbers[:9].reshape(3, 3).T
        else:  # GENH: rows are the cell vectors, positions given in that frame
            cell = numbers[:9].reshape(3, 3)
        out.cell = cell * self._ipi_cell_factor

    def _parse_xyz_header(self, comment: str, frame: int, out: _Frame) -> None:
        info = _key_values(self.path, comment, frame)
        properties = str(info.get("Properties", "species:S:1:pos:R:3"))
        if properties != self.signature:
            raise TrajectoryFormatError(
                self.path,
                f"Properties change from {self.signature!r} to {properties!r}; mdvib needs the same "
                "columns in every frame",
                frame=frame,
            )
        self._set_cell(info, frame, out)
        if self.has_dipoles:
            dipole = np.asarray(info.get("dipole", np.nan), dtype=np.float64).reshape(-1)
            if dipole.shape != (3,):
                raise TrajectoryFormatError(
                    self.path, 'frame has no dipole="x y z" although the first frame has one', frame=frame
                )
            out.dipole = dipole

    def _set_cell(self, info: dict, frame: int, out: _Frame) -> None:
        """The frame's cell from its ``Lattice``: every frame has one when frame 0 has one, and none otherwise.

        A ``Lattice`` must be finite and, when periodic in x, y and z (``pbc``,
        default ``T T T``), span a volume.
        """
        if "Lattice" not in info:
            if self.periodic:
                raise TrajectoryFormatError(
                    self.path,
                    'frame has no Lattice="..." although frame 0 has one: every frame needs its cell '
                    "(a frame written without its box?); cut the file before this frame or add its Lattice",
                    frame=frame,
                )
            return
        if not self.periodic:
            raise TrajectoryFormatError(
                self.path,
                'frame has a Lattice="..." but frame 0 has none: mdvib needs the cell in every frame or in none',
                frame=frame,
            )
        # key_val_str_to_dict returns the lattice with vectors as columns
        cell = np.asarray(info["Lattice"], dtype=np.float64).T
        if not np.isfinite(cell).all():
            raise TrajectoryFormatError(
                self.path,
                f"Lattice holds a non-finite number ({cell.tolist()}); the simulation probably blew up: "
                "cut the trajectory before this frame",
                frame=frame,
            )
        pbc = np.asarray(info.get("pbc", True), dtype=bool).reshape(-1)
        lengths = np.linalg.norm(cell, axis=1)
        if pbc.all() and abs(np.linalg.det(cell)) <= 1e-10 * np.prod(lengths):
            zero = [name for name, length in zip("abc", lengths) if length == 0]
            what = f"cell vector(s) {', '.join(zero)} are zero" if zero else "its cell vectors lie in one plane"
            raise TrajectoryFormatError(
                self.path,
                f"Lattice is degenerate ({what}: no volume) although the frame is periodic in x, y and z; "
                "write the frame's real cell, or pbc=\"T T F\"-style flags for a non-periodic direction",
                frame=frame,
            )
        out.cell = cell


def _open_binary(path: Path) -> BinaryIO:
    """Open ``path`` for binary reading (gzip-aware)."""
    if path.suffix.lower() == ".gz":
        return GzipStream(path)
    return open(path, "rb")


def _first_frame(path: Path) -> tuple[str, list[bytes]] | None:
    """Comment line and atom lines of frame 0; ``None`` when the file does not start like an xyz frame."""
    with _open_binary(path) as fh:
        lines = _LineReader(fh)
        line = lines.readline()
        while line is not None and not line.strip():
            line = lines.readline()
        try:
            natoms = int(line or b"")
        except ValueError:
            return None
        comment = lines.readline()
        atoms = [lines.readline() for _ in range(natoms)]
    if comment is None or any(a is None for a in atoms):
        return None
    return comment.decode(errors="replace"), atoms


def _lammps_style(path: Path) -> str | None:
    """LAMMPS unit style (``metal``/``real``) of a LAMMPS ``dump extxyz`` file; ``None`` if LAMMPS did not write it.

    LAMMPS starts every comment line with ``Timestep=N Time=T pbc=`` and writes the thermo
    temperature (K) as ``Temperature=``. The kinetic temperature of frame 0's
    velocities (3N − 3 degrees of freedom, the ``mass`` column or standard
    weights) agrees with it, within a factor :data:`_TEMPERATURE_FACTOR`, in
    the file's style only: metal and real velocities differ by 1000.

    Raises
    ------
    SettingsError
        For a LAMMPS file whose style frame 0 cannot tell (no velocities, no
        ``Temperature``, labels that are not elements) or that is neither
        metal nor real: the message asks for ``--units``.
    """
    frame = _first_frame(path)
    if frame is None or not _LAMMPS_HEADER.match(frame[0]):
        return None
    comment, atoms = frame
    ask = "pass --units metal or --units real (units=)"
    try:
        header_k, kinetic_k = _lammps_temperatures(path, comment, atoms)
    except ValueError as why:
        raise SettingsError(
            f"{path}: written by LAMMPS dump extxyz (Timestep= header), which does not record the unit style, "
            f"and frame 0 cannot tell it ({why}); {ask}"
        ) from None
    for name, kelvin in kinetic_k.items():
        if abs(np.log(kelvin / header_k)) < np.log(_TEMPERATURE_FACTOR):
            return name
    found = ", ".join(f"{k:.3g} K as {name}" for name, k in kinetic_k.items())
    raise SettingsError(
        f"{path}: written by LAMMPS dump extxyz, but frame 0's velocities give {found}, not the header's "
        f"Temperature={header_k:g} K; mdvib reads LAMMPS metal and real files: {ask} if it is one of them"
    )


def _lammps_temperatures(path: Path, comment: str, atoms: list[bytes]) -> tuple[float, dict[str, float]]:
    """Header temperature and frame 0's kinetic temperature in each LAMMPS style, K.

    Raises
    ------
    ValueError
        Saying why frame 0 cannot give them.
    """
    info = _key_values(path, comment, 0)
    header_k = float(info.get("Temperature", 0.0))
    if not header_k > 0:
        raise ValueError("no positive Temperature= in the header")
    fields = str(info.get("Properties", "")).split(":")
    column, where = 0, {}
    for name, width in zip(fields[::3], fields[2::3]):
        where[name] = column
        column += int(width)
    if "vel" not in where or "species" not in where:
        raise ValueError("no velocities (dump_modify vel no)")
    table = [line.split() for line in atoms]
    velocities = np.array([row[where["vel"] : where["vel"] + 3] for row in table], dtype=np.float64)
    if "mass" in where:
        masses = np.array([row[where["mass"]] for row in table], dtype=np.float64)
    else:
        symbols = [element_symbol(row[where["species"]].decode(errors="replace")) for row in table]
        if None in symbols:
            raise ValueError("type labels that are not elements, and no mass column")
        masses = masses_for_species(symbols)
    dof = max(3 * len(atoms) - 3, 3)
    twice_kinetic = float(np.sum(masses[:, None] * velocities**2)) * AMU_A2_PER_FS2_IN_EV
    kinetic_k = {}
    for name in _LAMMPS_STYLES:
        factor = EXTXYZ_VELOCITY_UNITS[UNIT_STYLES[name].velocity_unit]
        kinetic_k[name] = twice_kinetic * factor**2 / (dof * KB_EV_PER_K)
    if not all(k > 0 for k in kinetic_k.values()):
        raise ValueError("all velocities of frame 0 are zero")
    return header_k, kinetic_k


def _ipi_field_unit(comment: str, name: str) -> str:
    """Unit in braces after ``name`` in an i-PI comment (``atomic_unit`` if absent)."""
    for field_name, unit in _IPI_FIELD.findall(comment):
        if field_name == name:
            return unit or "atomic_unit"
    return "atomic_unit"


def _key_values(path: Path, comment: str, frame: int) -> dict:
    try:
        from ase.io.extxyz import key_val_str_to_dict  # lazy: importing ase.io costs ~0.7 s

        return key_val_str_to_dict(comment)
    except ValueError as exc:
        raise TrajectoryFormatError(path, f"cannot parse the comment line: {exc}", frame=frame) from None


def _read_span(fh: BinaryIO, offsets: np.ndarray, frame: int) -> bytes:
    return fh.read(int(offsets[frame + 1] - offsets[frame]))


class _LineReader:
    """Buffered line access with absolute byte offsets, for plain or gzip files.

    Never seeks backwards, so gzip streams are read once.
    """

    def __init__(self, fh: BinaryIO, block: int = 1 << 22):
        self._fh = fh
        self._block = block
        self._buf = b""
        self._pos = 0
        self._base = 0  # file offset of self._buf[0]
        #: Whether the file ended with a line lacking its newline.
        self.unterminated = False

    def tell(self) -> int:
        """Absolute offset of the next unread byte."""
        return self._base + self._pos

    def _fill(self) -> bool:
        more = self._fh.read(self._block)
        if not more:
            return False
        self._base += self._pos
        self._buf = self._buf[self._pos :] + more
        self._pos = 0
        return True

    def readline(self) -> bytes | None:
        """Next line without its newline; ``None`` at end of file."""
        while True:
            end = self._buf.find(b"\n", self._pos)
            if end >= 0:
                line = self._buf[self._pos : end]
                self._pos = end + 1
                return line
            if not self._fill():
                if self._pos >= len(self._buf):
                    return None
                line = self._buf[self._pos :]
                self._pos = len(self._buf)
                self.unterminated = True
                return line

    def skip_lines(self, n: int) -> int:
        """Skip ``n`` lines; return how many were there (fewer at end of file)."""
        done = 0
        while done < n:
            need, available = n - done, len(self._buf) - self._pos
            # look at a window about one frame long, doubling until it holds enough lines
            size = min(available, max(need * 128, 4096))
            count = self._buf.count(b"\n", self._pos, self._pos + size)
            while count < need and size < available:
                size = min(available, 2 * size)
                count = self._buf.count(b"\n", self._pos, self._pos + size)
            if count >= need:
                window = np.frombuffer(self._buf, dtype=np.uint8, count=size, offset=self._pos)
                self._pos += int(np.flatnonzero(window == 10)[need - 1]) + 1
                return n
            done += count
            if count:
                self._pos = self._buf.rindex(b"\n", self._pos) + 1
            if not self._fill():
                if self._pos < len(self._buf):  # last line without a newline
                    self._pos = len(self._buf)
                    self.unterminated = True
                    done += 1
                return done
        return done


@register_reader(
    "extxyz",
    patterns=("*.xyz", "*.extxyz", "*.xyz.gz", "*.extxyz.gz"),
    description="extended XYZ (GPUMD dump_xyz/dump_exyz, ASE) and i-PI xyz trajectories",
)
class ExtxyzReader(TrajectoryReader):
    """Reader of extended XYZ and i-PI xyz trajectories.

    Parameters
    ----------
    path : str or Path
        Trajectory file.
    dt_fs : float, optional
        MD time step in fs when frames carry step numbers but no times
        (i-PI ``Step:``, ``Step=``); otherwise the time between frames.
        Ignored when frames carry ``Time=``.
    velocities_file, forces_file : str or Path, optional
        i-PI companion files (velocities, forces) read in lockstep with the
        positions file; frames must match one to one (command line
        ``--velocities``/``--forces``, found beside ``PREFIX.pos_K.xyz``
        when not given: :func:`mdvib.io.ipi_beads.companion_files`).
    units : {"metal", "real", "gpumd", "ase"}, optional
        Unit style of an extended-XYZ file (command line ``--units``), see
        :data:`UNIT_STYLES`: velocities, ``Time=`` and forces at once.
        Default: the LAMMPS style a LAMMPS ``dump extxyz`` header implies,
        else ``gpumd`` (Å/fs, fs, eV/Å). Refused for i-PI files, whose
        header names their units.
    velocity_unit : str, optional
        Unit of extended-XYZ ``vel``/``velo``/``velocities`` columns:
        ``A/fs`` (GPUMD), ``A/ps``, ``bohr/atu`` or ``ase``; not with ``units``.
    time_unit : str, optional
        Unit of ``Time=``/``time=`` keys: ``fs`` (GPUMD), ``ps`` or
        ``ase``; not with ``units``.
    type_map : dict, optional
        ``{label: symbol}`` for species labels that are not element symbols.
    species : sequence of str, optional
        Symbol of every atom, overriding the file.
    masses : dict, optional
        ``{symbol: amu}`` overriding the file's ``mass`` column and standard
        atomic weights. With ``type_map`` or ``species`` the ``mass`` column
        is replaced by standard weights (see
        :func:`mdvib.io._common.resolve_masses`).

    Notes
    -----
    Atoms are in file order (``atom_ids`` 0..n-1); a frame whose species
    column differs from the first frame's is an error. Frames without a cell
    (no ``Lattice``, no i-PI ``CELL``) get an all-zero cell.
    """

    _ROLES = {"velocities_file": "velocity", "forces_file": "force"}
    _OPTIONS = {
        "dt_fs",
        "velocities_file",
        "forces_file",
        "units",
        "velocity_unit",
        "time_unit",
        "type_map",
        "species",
        "masses",
    }

    def _scan(self) -> TrajectoryInfo:
        check_options("extxyz", self.options, self._OPTIONS)
        style, style_from = self._unit_style()
        units = {
            "velocity_unit": style.velocity_unit,
            "time_unit": style.time_unit,
            "force_unit": style.force_unit,
            "force_to_ev_per_a": style.force_to_ev_per_a,
        }
        self._main = _XyzFile(self.path, "position", **units)
        if self._main.ipi and self.options.get("units") is not None:
            raise SettingsError(
                f"{self.path}: i-PI files name their units in the comment line (positions{{angstrom}}; atomic "
                "units when none is named): --units (units=) does not apply"
            )
        self._companions: dict[str, _XyzFile] = {}
        n_frames = self._main.n_frames
        for option, role in self._ROLES.items():
            if self.options.get(option) is not None:
                companion = _XyzFile(Path(self.options[option]), role, **units)
                self._check_companion(companion)
                self._companions[role] = companion
                n_frames = min(n_frames, companion.n_frames)
        if any(c.n_frames != self._main.n_frames for c in self._companions.values()):
            counts = {str(f.path): f.n_frames for f in (self._main, *self._companions.values())}
            warnings.warn(
                f"{self.path}: companion files have different frame counts {counts}; reading the first {n_frames}",
                stacklevel=3,
            )
        self._style_from = None if self._main.ipi else style_from
        main = self._main
        labels = [label.decode() for label in main.first.labels]
        if main.layout.label_is_number:
            labels = [ase.data.chemical_symbols[int(z)] for z in labels]
        species = resolve_species(
            self.path, labels, self.options.get("type_map"), self.options.get("species")
        )
        file_masses = main.first.data.get("mass")
        named_by_user = self.options.get("species") is not None or bool(self.options.get("type_map"))
        masses = resolve_masses(self.path, species, self.options.get("masses"), file_masses,
                                named_by_user=named_by_user)
        # ASE wrote momenta = m v with the masses in the file (whatever they are), else standard weights
        self._momentum_masses = masses_for_species(species) if file_masses is None else file_masses
        times = None if main.times is None else main.times[:n_frames]
        steps = None if main.steps is None else main.steps[:n_frames]
        axis = time_axis(self.path, n_frames, times, steps, self.options.get("dt_fs"))
        self._times = axis.times
        self._steps = steps
        columns = main.layout.columns
        source_units = dict(main.units)
        if self._style_from is not None:
            source_units.update(style=self.options.get("units") or self._style_name, style_from=self._style_from)
        for companion in self._companions.values():
            source_units.update({k: v for k, v in companion.units.items() if k not in ("cell", "time")})
            source_units[f"{_PLURAL[companion.role]}_file"] = str(companion.path)
        return TrajectoryInfo(
            path=str(self.path),
            format=self.format_name,
            n_atoms=main.n_atoms,
            n_frames=n_frames,
            atom_ids=np.arange(main.n_atoms, dtype=np.int64),
            species=species,
            masses=masses,
            has_velocities="velocity" in columns or "momentum" in columns or "velocity" in self._companions,
            has_forces="force" in columns or "force" in self._companions,
            has_dipoles=main.has_dipoles,
            frame_spacing_fs=axis.spacing_fs,
            source_units=source_units,
            uniform_spacing=axis.uniform,
            uneven_frame=axis.uneven_frame,
            # a file whose units the header fixes (i-PI, LAMMPS' Temperature) takes no other --units
            unit_styles=() if self._style_from in (None, _LAMMPS_INFERRED) else tuple(UNIT_STYLES),
        )

    def _unit_style(self) -> tuple[UnitStyle, str]:
        """The units to read the file in, and where they come from (for provenance).

        ``units`` (a style name) wins; else ``velocity_unit``/``time_unit``;
        else the LAMMPS style a ``dump extxyz`` header implies; else GPUMD's.
        """
        name = self.options.get("units")
        given = {k: self.options[k] for k in ("velocity_unit", "time_unit") if self.options.get(k) is not None}
        if name is not None:
            if name not in UNIT_STYLES:
                raise SettingsError(f"{self.path}: units={name!r}; choose one of {sorted(UNIT_STYLES)} (--units)")
            if given:
                raise SettingsError(f"{self.path}: give units= or {' and '.join(f'{k}=' for k in given)}, not both")
            self._style_name = name
            return UNIT_STYLES[name], "option"
        if given:
            self._style_name = "custom"
            base = UNIT_STYLES["gpumd"]
            return UnitStyle(given.get("velocity_unit", base.velocity_unit), given.get("time_unit", base.time_unit)), \
                "velocity_unit/time_unit"
        lammps = _lammps_style(self.path)
        self._style_name = lammps or "gpumd"
        return UNIT_STYLES[self._style_name], _LAMMPS_INFERRED if lammps else "default"

    def _check_companion(self, companion: _XyzFile) -> None:
        main = self._main
        if companion.n_atoms != main.n_atoms:
            raise TrajectoryFormatError(
                companion.path, f"has {companion.n_atoms} atoms but {main.path} has {main.n_atoms}"
            )
        if main.steps is not None and companion.steps is not None:
            n = min(main.n_frames, companion.n_frames)
            bad = np.flatnonzero(main.steps[:n] != companion.steps[:n])
            if bad.size:
                k = int(bad[0])
                raise TrajectoryFormatError(
                    companion.path,
                    f"step {companion.steps[k]} does not match step {main.steps[k]} of {main.path}; "
                    "write all i-PI trajectories with the same stride",
                    frame=k,
                )

    def _iter_frames(self, frames: range, chunk_frames: int) -> Iterator[FrameChunk]:
        """Yield ``frames`` in chunks of ``chunk_frames`` (see base class)."""
        files = {"position": self._main, **self._companions}
        handles = {role: f.open() for role, f in files.items()}
        try:
            for role, fh in handles.items():
                fh.seek(int(files[role].offsets[frames.start]))
            for first in range(frames.start, frames.stop, chunk_frames):
                last = min(first + chunk_frames, frames.stop)
                parsed = {role: files[role].frames(handles[role], first, last) for role in files}
                yield self._assemble(parsed, first, last)
        finally:
            for fh in handles.values():
                fh.close()

    def _assemble(self, parsed: dict[str, list[_Frame]], first: int, last: int) -> FrameChunk:
        info = self.info
        main = parsed["position"]
        reference = self._main.first.labels
        for k, frame in enumerate(main):
            if frame.labels != reference:
                atom = next(i for i, (a, b) in enumerate(zip(frame.labels, reference)) if a != b)
                raise TrajectoryFormatError(
                    self.path,
                    f"species {frame.labels[atom].decode()!r} differs from {reference[atom].decode()!r} in "
                    "frame 0; mdvib needs the atoms in the same order in every frame",
                    frame=first + k,
                    atom_id=atom,
                )
        unwrapped = "unwrapped" in self._main.layout.columns
        positions = np.stack([f.data["unwrapped" if unwrapped else "position"] for f in main])
        cells = np.stack([np.zeros((3, 3)) if f.cell is None else f.cell for f in main])
        velocities = forces = dipoles = None
        if "velocity" in parsed:
            velocities = np.stack([f.data["velocity"] for f in parsed["velocity"]])
        elif "velocity" in self._main.layout.columns:
            velocities = np.stack([f.data["velocity"] for f in main])
        elif "momentum" in self._main.layout.columns:
            momenta = np.stack([f.data["momentum"] for f in main])
            velocities = momenta / self._momentum_masses[None, :, None] * ASE_VELOCITY_TO_A_PER_FS
        if info.has_forces:
            forces = np.stack([f.data["force"] for f in parsed.get("force", main)])
        if info.has_dipoles:
            dipoles = np.stack([f.dipole for f in main])
        chunk = FrameChunk(
            first_frame=first,
            cells=cells,
            positions=positions,
            unwrapped=unwrapped,
            steps=None if self._steps is None else self._steps[first:last].copy(),
            times=None if self._times is None else self._times[first:last].copy(),
            velocities=velocities,
            forces=forces,
            dipoles=dipoles,
        )
        quantity = {"velocity": "velocities", "force": "forces"}
        sources = {quantity[role]: f.path for role, f in self._companions.items()}
        check_chunk_finite(self.path, chunk, info.atom_ids, sources)
        return chunk
