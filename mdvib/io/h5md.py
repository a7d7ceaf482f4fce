"""H5MD trajectory reader (h5py, no MDAnalysis).

Reads one particle group of an `H5MD <https://nongnu.org/h5md/>`_ file:
``position`` (required), ``velocity`` (or ``momentum``, divided by the
masses), ``force`` (or ``forces``), ``image``, ``id``, ``species``, ``mass``
and ``box/edges``, each either a time-dependent element (a group with
``value`` and ``step``/``time``) or a time-independent dataset. This covers
files written by MDAnalysis' ``H5MDWriter`` (full box matrix, units such as
``nm``/``ps``/``nm ps-1``/``kJ mol-1 nm-1``), ZnH5MD (ASE), LAMMPS
``dump h5md`` and hand-made files.

Units come from the ``unit`` attributes (H5MD units module: space-separated
symbols with SI prefixes and integer powers, e.g. ``nm ps-1``,
``kJ mol-1 nm-1``, ``Angstrom``, ``u``) and are converted to Å, fs, Å/fs,
eV/Å and amu. A quantity without a ``unit`` attribute needs the ``units``
option.

Species: integer values are type numbers (LAMMPS writes its atom types),
named with ``type_map``; floating-point values that are whole numbers are
atomic numbers (ZnH5MD stores ASE's ``numbers`` as floats, e.g. ``29.0`` for
Cu), which ``type_map`` may still rename.

ZnH5MD (``/h5md/creator`` named ``znh5md``, releases up to
:data:`ZNH5MD_CHECKED`) stores ASE's velocities and momenta, in ASE's time
unit (Å·√(amu/eV) ≈ 10.18 fs), under ``unit`` attributes ``Angstrom/fs`` and
``eV/fs``; they are read in ASE units, with a warning.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import h5py
import numpy as np

from mdvib.errors import SettingsError, TrajectoryFormatError
from mdvib.io._common import (
    check_chunk_finite,
    check_options,
    resolve_masses,
    resolve_species,
    time_axis,
)
from mdvib.io.base import FrameChunk, TrajectoryInfo, TrajectoryReader
from mdvib.io.registry import register_reader
from mdvib.units import (
    ASE_VELOCITY_TO_A_PER_FS,
    INTERNAL_UNITS,
    LAMMPS_STYLE_UNIT_STRINGS,
    parse_unit,
    unit_factor,
)

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"

#: Dimension (exponents of length, time, mass) of a momentum, and amu·Å/fs in SI.
_MOMENTUM_DIMENSION = (1, -1, 1)
_MOMENTUM_INTERNAL_SI = INTERNAL_UNITS["mass"][1] * INTERNAL_UNITS["velocity"][1]

#: Newest ZnH5MD release checked to write ASE-unit velocities (``Angstrom/fs``) and momenta (``eV/fs``).
ZNH5MD_CHECKED = (0, 4, 8)
#: ``(quantity, unit attribute)`` pairs ZnH5MD writes for values in ASE units → factor to Å/fs or amu·Å/fs.
_ZNH5MD_ASE_UNITS = {("velocity", "Angstrom/fs"): ASE_VELOCITY_TO_A_PER_FS,
                     ("momentum", "eV/fs"): ASE_VELOCITY_TO_A_PER_FS}


def _sniff(head: bytes) -> bool:
    return head.startswith(_HDF5_MAGIC) and b"h5md" in head


@dataclass(frozen=True)
class _Element:
    """An H5MD element: where its values live and how to convert them."""

    name: str  # path inside the file
    time_dependent: bool
    factor: float


@register_reader(
    "h5md",
    patterns=("*.h5md",),
    sniff=_sniff,
    description="H5MD (HDF5) trajectories, e.g. from MDAnalysis H5MDWriter or LAMMPS dump h5md",
)
class H5MDReader(TrajectoryReader):
    """Reader of H5MD files.

    Parameters
    ----------
    path : str or Path
        Trajectory file.
    group : str, optional
        Particle group under ``/particles`` (default: the only one, or ``all``).
    dt_fs : float, optional
        MD time step in fs, used when the file has steps but no times (else
        the time between frames when it has neither).
    units : str or dict, optional
        Units of quantities that have no ``unit`` attribute: a LAMMPS unit
        style (``metal``, ``real``) or ``{"length": "nm", "time": "ps",
        "velocity": "nm ps-1", "force": "kJ mol-1 nm-1", "mass": "u"}``
        (a momentum without a unit is in mass unit × velocity unit, or
        ``"momentum": "u nm ps-1"``).
    type_map : dict, optional
        ``{species number: symbol}`` for the integer ``species`` dataset (it
        also renames the atomic numbers of float species).
    species : sequence of str, optional
        Symbol of every atom (needed when the file has no species, as with
        MDAnalysis' writer), in id order.
    masses : dict, optional
        ``{symbol: amu}`` overriding the ``mass`` dataset and standard weights.

    Notes
    -----
    Atoms are sorted by ``id`` when the group has one (ids may be
    time-dependent); otherwise ids are 0..n-1 in file order. With an
    ``image`` element, positions are unwrapped (``position + image · box``).
    Without ``velocity``, a ``momentum`` element gives the velocities,
    momentum / mass with the masses of ``info.masses``; a ``momentum`` whose
    unit is not mass × velocity is ignored with a warning. Velocities or
    forces sampled at other steps than positions are ignored with a warning.
    """

    _OPTIONS = {"group", "dt_fs", "units", "type_map", "species", "masses"}

    # ---------------------------------------------------------------- scan
    def _scan(self) -> TrajectoryInfo:
        check_options("h5md", self.options, self._OPTIONS)
        self._default_units = self._user_units()
        self._source_units: dict = {}
        self._units_from_option: set[str] = set()
        try:
            fh = h5py.File(self.path, "r")
        except OSError as exc:
            raise TrajectoryFormatError(self.path, f"cannot open as HDF5: {exc}") from exc
        with fh:
            self._znh5md = _znh5md_version(fh)
            if "particles" not in fh:
                raise TrajectoryFormatError(self.path, "no /particles group: not an H5MD trajectory")
            group = self._group_name(fh)
            particles = fh[group]
            if "position" not in particles:
                raise TrajectoryFormatError(self.path, f"{group} has no position element")
            self._position = self._element(particles, "position", "length")
            shape = fh[self._position.name].shape
            if len(shape) != 3 or shape[2] != 3:
                raise TrajectoryFormatError(
                    self.path, f"{group}/position has shape {shape}; expected (frames, atoms, 3)"
                )
            n_frames, n_atoms = shape[0], shape[1]
            self._steps, times = self._steps_times(fh, self._position, n_frames)
            self._velocity = self._optional(fh, particles, "velocity", "velocity", n_frames)
            self._momentum = None if self._velocity is not None else self._momentum_element(fh, particles, n_frames)
            force = "force" if "force" in particles else "forces"  # ZnH5MD before 0.3 wrote "forces"
            self._force = self._optional(fh, particles, force, "force", n_frames)
            self._image = self._optional(fh, particles, "image", None, n_frames)
            self._edges = self._box(particles, group)
            file_ids = self._atom_ids(fh, particles, n_atoms)
            labels = self._labels(fh, particles, file_ids, group)
            file_masses = self._file_masses(fh, particles, n_atoms)
        # per-atom data are stored in file order (of frame 0); chunks use id order
        perm = np.argsort(file_ids, kind="stable")
        self._static_order = (
            perm if self._ids is None and not np.array_equal(perm, np.arange(n_atoms)) else None
        )
        if labels is None and self.options.get("species") is None:
            raise TrajectoryFormatError(
                self.path,
                f"{group} has no species; name the element of every atom with --species "
                "(species=[...], one symbol per atom, in id order)",
            )
        user_map = {str(k): v for k, v in (self.options.get("type_map") or {}).items()}
        species = resolve_species(
            self.path,
            [""] * n_atoms if labels is None else [labels[i] for i in perm],
            {**self._number_symbols, **user_map} or None,
            self.options.get("species"),
        )
        masses = resolve_masses(
            self.path, species, self.options.get("masses"), None if file_masses is None else file_masses[perm]
        )
        axis = time_axis(self.path, n_frames, times, self._steps, self.options.get("dt_fs"))
        self._times = axis.times
        return TrajectoryInfo(
            path=str(self.path),
            format=self.format_name,
            n_atoms=n_atoms,
            n_frames=n_frames,
            atom_ids=file_ids[perm],
            species=species,
            masses=masses,
            has_velocities=self._velocity is not None or self._momentum is not None,
            has_forces=self._force is not None,
            frame_spacing_fs=axis.spacing_fs,
            source_units=dict(self._source_units),
            uniform_spacing=axis.uniform,
            uneven_frame=axis.uneven_frame,
            unit_styles=self._unit_styles(),
        )

    def _user_units(self) -> dict[str, str]:
        """Unit strings of the ``units`` option by quantity (momentum: mass unit × velocity unit by default)."""
        units = self.options.get("units") or {}
        if isinstance(units, str):
            if units not in LAMMPS_STYLE_UNIT_STRINGS:
                raise SettingsError(
                    f"h5md reader: units={units!r}; give a LAMMPS style {sorted(LAMMPS_STYLE_UNIT_STRINGS)} or a dict"
                )
            units = LAMMPS_STYLE_UNIT_STRINGS[units]
        known = {*INTERNAL_UNITS, "momentum"}
        bad = set(units) - known
        if bad:
            raise SettingsError(f"h5md reader: units keys {sorted(bad)} unknown; use {sorted(known)}")
        units = {"mass": "u", **units}
        if "velocity" in units:
            units.setdefault("momentum", f"{units['mass']} {units['velocity']}")
        return units

    def _unit_styles(self) -> tuple[str, ...]:
        """LAMMPS styles ``units=`` can switch the velocities between (only when they have no ``unit``)."""
        if self._velocity is not None and "velocity" in self._units_from_option:
            return tuple(LAMMPS_STYLE_UNIT_STRINGS)
        if self._momentum is not None and "momentum" in self._units_from_option:
            return tuple(LAMMPS_STYLE_UNIT_STRINGS)
        return ()

    def _group_name(self, fh: h5py.File) -> str:
        groups = sorted(fh["particles"])
        name = self.options.get("group")
        if name is None:
            if len(groups) == 1:
                name = groups[0]
            elif "all" in groups:
                name = "all"
            else:
                raise SettingsError(f"{self.path}: several particle groups {groups}; pass group=NAME")
        if name not in groups:
            raise SettingsError(f"{self.path}: no particle group {name!r}; the file has {groups}")
        return f"particles/{name}"

    def _unit(self, dataset: h5py.Dataset, quantity: str) -> str:
        """The ``unit`` attribute of a dataset, else the ``units`` option's unit of ``quantity``."""
        unit = dataset.attrs.get("unit")
        if unit is None:
            unit = self._default_units.get(quantity)
            self._units_from_option.add(quantity)
        if unit is None:
            raise TrajectoryFormatError(
                self.path,
                f"{dataset.name} has no unit attribute; pass units={{'{quantity}': '...'}} or units='metal'/'real'",
            )
        return unit.decode() if isinstance(unit, bytes) else str(unit)

    def _factor(self, dataset: h5py.Dataset, quantity: str) -> float:
        """Conversion factor of a dataset to mdvib's unit of ``quantity`` (momentum: amu·Å/fs)."""
        unit = self._unit(dataset, quantity)
        factor = self._ase_unit_factor(dataset, quantity, unit)
        if factor is None:
            try:
                factor = _momentum_factor(unit) if quantity == "momentum" else unit_factor(quantity, unit)
            except ValueError as exc:
                raise TrajectoryFormatError(self.path, f"{dataset.name}: {exc}") from None
        self._source_units[quantity] = unit
        return factor

    def _ase_unit_factor(self, dataset: h5py.Dataset, quantity: str, unit: str) -> float | None:
        """Factor of ZnH5MD's ASE-unit velocities and momenta (see the module notes), else ``None``."""
        factor = _ZNH5MD_ASE_UNITS.get((quantity, unit)) if self._znh5md else None
        if factor is not None:
            warnings.warn(
                f"{self.path}: {dataset.name} is labelled {unit!r}, but ZnH5MD ({self._znh5md}) writes ASE's "
                f"{quantity} there, in ASE's time unit (1 Å·√(amu/eV) = {1 / ASE_VELOCITY_TO_A_PER_FS:.4f} fs); "
                "read in ASE units",
                stacklevel=5,
            )
        return factor

    def _momentum_element(self, fh: h5py.File, particles: h5py.Group, n_frames: int) -> _Element | None:
        """The ``momentum`` element (velocities = momentum / mass), or ``None``.

        A momentum whose unit is not mass × velocity (ZnH5MD's ``eV/fs`` aside)
        is ignored with a warning rather than guessed.
        """
        if "momentum" not in particles:
            return None
        obj = particles["momentum"]
        value = obj["value"] if isinstance(obj, h5py.Group) else obj
        unit = self._unit(value, "momentum")
        if not (self._znh5md and ("momentum", unit) in _ZNH5MD_ASE_UNITS):
            try:
                dimension = parse_unit(unit)[1]
            except ValueError:
                dimension = None
            if dimension != _MOMENTUM_DIMENSION:
                warnings.warn(
                    f"{self.path}: {value.name} has unit {unit!r}, which is not a momentum (mass × velocity, "
                    "e.g. 'u Angstrom fs-1'); velocities are not read from it. Compute them from the positions "
                    "with --from-positions",
                    stacklevel=4,
                )
                return None
        return self._optional(fh, particles, "momentum", "momentum", n_frames)

    def _element(self, particles: h5py.Group, name: str, quantity: str | None) -> _Element:
        obj = particles[name]
        time_dependent = isinstance(obj, h5py.Group)
        value = obj["value"] if time_dependent else obj
        factor = 1.0 if quantity is None else self._factor(value, quantity)
        return _Element(value.name, time_dependent, factor)

    def _steps_times(
        self, fh: h5py.File, element: _Element, n_frames: int
    ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """MD steps and times (fs) of every frame of ``element``, when recorded."""
        group = fh[element.name].parent
        steps = self._sampling(group, "step", n_frames, np.int64)
        times = self._sampling(group, "time", n_frames, np.float64)
        if times is not None:
            times = times * self._factor(group["time"], "time")
        return steps, times

    @staticmethod
    def _sampling(group: h5py.Group, name: str, n_frames: int, dtype: type) -> np.ndarray | None:
        """``step``/``time`` of every frame: an array, or a scalar interval with ``offset``."""
        if name not in group:
            return None
        ds = group[name]
        if ds.shape == ():
            return ds.attrs.get("offset", 0) + np.arange(n_frames, dtype=dtype) * ds[()]
        return np.asarray(ds[:n_frames], dtype=dtype)

    def _optional(
        self, fh: h5py.File, particles: h5py.Group, name: str, quantity: str | None, n_frames: int
    ) -> _Element | None:
        """A time-dependent element sampled like the positions, else ``None``."""
        if name not in particles:
            return None
        element = self._element(particles, name, quantity)
        aligned = element.time_dependent and fh[element.name].shape[:1] == (n_frames,)
        if aligned and self._steps is not None:
            steps = self._sampling(fh[element.name].parent, "step", n_frames, np.int64)
            aligned = steps is None or np.array_equal(steps, self._steps)
        if not aligned:
            warnings.warn(
                f"{self.path}: {element.name} is not sampled at the same frames as the positions; ignored",
                stacklevel=4,
            )
            return None
        return element

    def _box(self, particles: h5py.Group, group: str) -> _Element | None:
        if "box" not in particles or "edges" not in particles["box"]:
            return None
        box = particles["box"]
        dimension = int(box.attrs.get("dimension", 3))
        if dimension != 3:
            raise TrajectoryFormatError(self.path, f"{group}/box has dimension {dimension}; mdvib needs 3")
        return self._element(box, "edges", "length")

    def _atom_ids(self, fh: h5py.File, particles: h5py.Group, n_atoms: int) -> np.ndarray:
        """Atom ids of frame 0 in file order; sets ``_ids`` to a time-dependent id element or ``None``."""
        self._ids = None
        if "id" not in particles:
            return np.arange(n_atoms, dtype=np.int64)
        element = self._element(particles, "id", None)
        value = fh[element.name]
        first = np.asarray(value[0] if element.time_dependent else value[()], dtype=np.int64)
        if first.shape != (n_atoms,) or np.unique(first).size != n_atoms:
            raise TrajectoryFormatError(self.path, f"{element.name} is not a set of {n_atoms} distinct ids")
        if element.time_dependent:
            self._ids = element
        return first

    def _labels(self, fh: h5py.File, particles: h5py.Group, file_ids: np.ndarray, group: str) -> list[str] | None:
        """Species label of every atom of frame 0 (file order); sets ``_number_symbols``."""
        self._number_symbols: dict[str, str] = {}
        if "species" not in particles:
            return None
        n_atoms = file_ids.shape[0]
        element = self._element(particles, "species", None)
        value = fh[element.name]
        data = np.asarray(value[0] if element.time_dependent else value[()])
        if data.shape == ():
            data = np.full(n_atoms, data)
        if data.shape != (n_atoms,):
            raise TrajectoryFormatError(
                self.path, f"{group}/species has shape {data.shape}, expected ({n_atoms},)"
            )
        if data.dtype.kind == "f":
            return self._atomic_number_labels(data, file_ids, element.name)
        return [x.decode() if isinstance(x, bytes) else str(x) for x in data.tolist()]

    def _atomic_number_labels(self, data: np.ndarray, file_ids: np.ndarray, name: str) -> list[str]:
        """Labels (``"29"``) of float species, which are atomic numbers (``29.0``: Cu); fills ``_number_symbols``."""
        from ase.data import chemical_symbols

        whole = np.isfinite(data) & (data == np.round(data)) & (data >= 1) & (data < len(chemical_symbols))
        if not whole.all():
            k = int(np.flatnonzero(~whole)[0])
            why = (" (NaN pads the frames of a changing number of particles; mdvib needs a fixed set of atoms)"
                   if np.isnan(data[k]) else "")
            raise TrajectoryFormatError(
                self.path,
                f"{name} holds {data[k]}{why}; floating-point species are read as atomic numbers "
                "(ZnH5MD's convention), so they must be whole numbers from 1 to 118",
                atom_id=int(file_ids[k]),
            )
        numbers = data.astype(np.int64)
        self._number_symbols = {str(z): chemical_symbols[z] for z in np.unique(numbers)}
        return [str(z) for z in numbers.tolist()]

    def _file_masses(self, fh: h5py.File, particles: h5py.Group, n_atoms: int) -> np.ndarray | None:
        if "mass" not in particles:
            return None
        element = self._element(particles, "mass", "mass")
        value = fh[element.name]
        data = np.asarray(value[0] if element.time_dependent else value[()], dtype=np.float64)
        return np.broadcast_to(data, (n_atoms,)) * element.factor

    # -------------------------------------------------------------- chunks
    def _iter_frames(self, frames: range, chunk_frames: int) -> Iterator[FrameChunk]:
        """Yield ``frames`` in chunks of ``chunk_frames`` (see base class)."""
        with h5py.File(self.path, "r") as fh:
            for first in range(frames.start, frames.stop, chunk_frames):
                last = min(first + chunk_frames, frames.stop)
                yield self._chunk(fh, first, last)

    def _read(self, fh: h5py.File, element: _Element, first: int, last: int) -> np.ndarray:
        return np.asarray(fh[element.name][first:last], dtype=np.float64) * element.factor

    def _chunk(self, fh: h5py.File, first: int, last: int) -> FrameChunk:
        info = self.info
        n = last - first
        order = self._frame_orders(fh, first, last)
        positions = self._sorted(self._read(fh, self._position, first, last), order)
        cells = self._cells(fh, first, last, n)
        unwrapped = self._image is not None
        if unwrapped:
            image = self._sorted(self._read(fh, self._image, first, last), order)
            positions = positions + np.einsum("fnk,fkj->fnj", image, cells)
        velocities = forces = None
        if self._velocity is not None:
            velocities = self._sorted(self._read(fh, self._velocity, first, last), order)
        elif self._momentum is not None:  # amu·Å/fs over amu
            velocities = self._sorted(self._read(fh, self._momentum, first, last), order) / info.masses[:, None]
        if self._force is not None:
            forces = self._sorted(self._read(fh, self._force, first, last), order)
        chunk = FrameChunk(
            first_frame=first,
            cells=cells,
            positions=positions,
            unwrapped=unwrapped,
            steps=None if self._steps is None else self._steps[first:last].copy(),
            times=None if self._times is None else self._times[first:last].copy(),
            velocities=velocities,
            forces=forces,
        )
        check_chunk_finite(self.path, chunk, info.atom_ids)
        return chunk

    def _frame_orders(self, fh: h5py.File, first: int, last: int) -> np.ndarray | None:
        """Per-frame permutation to id order, shape (n, n_atoms), or ``None`` for file order."""
        if self._ids is None:
            if self._static_order is None:
                return None
            return np.broadcast_to(self._static_order, (last - first, self.info.n_atoms))
        ids = np.asarray(fh[self._ids.name][first:last], dtype=np.int64)
        order = np.argsort(ids, axis=1, kind="stable")
        sorted_ids = np.take_along_axis(ids, order, axis=1)
        bad = np.flatnonzero((sorted_ids != self.info.atom_ids[None, :]).any(axis=1))
        if bad.size:
            raise TrajectoryFormatError(
                self.path,
                "the set of particle ids differs from frame 0; mdvib needs a fixed set of atoms",
                frame=first + int(bad[0]),
            )
        return order

    @staticmethod
    def _sorted(values: np.ndarray, order: np.ndarray | None) -> np.ndarray:
        if order is None:
            return values
        return np.take_along_axis(values, order[:, :, None], axis=1)

    def _cells(self, fh: h5py.File, first: int, last: int, n: int) -> np.ndarray:
        """Cell vectors as rows, Å, shape (n, 3, 3)."""
        if self._edges is None:
            return np.zeros((n, 3, 3))
        ds = fh[self._edges.name]
        edges = np.asarray(ds[first:last] if self._edges.time_dependent else ds[()], dtype=np.float64)
        edges = edges * self._edges.factor
        if edges.shape[-1:] != (3,) or edges.ndim - int(self._edges.time_dependent) not in (1, 2):
            raise TrajectoryFormatError(self.path, f"{ds.name} has shape {ds.shape}; expected (3,) or (3, 3)")
        if edges.ndim - int(self._edges.time_dependent) == 1:  # cuboid: space diagonal
            edges = edges[..., :, None] * np.eye(3)
        edges = np.nan_to_num(edges)  # non-periodic directions may hold NaN
        return np.broadcast_to(edges, (n, 3, 3)).copy()


def _momentum_factor(unit: str) -> float:
    """Factor converting a momentum from the H5MD unit string ``unit`` to amu·Å/fs.

    Raises
    ------
    ValueError
        If the unit is unknown or not mass × velocity.
    """
    value, dimension = parse_unit(unit)
    if dimension != _MOMENTUM_DIMENSION:
        raise ValueError(f"unit {unit!r} is not a momentum unit (expected something like u Angstrom fs-1)")
    return value / _MOMENTUM_INTERNAL_SI


def _znh5md_version(fh: h5py.File) -> str | None:
    """``"ZnH5MD <version>"`` for a file whose ASE-unit labels need correcting (see the module notes), else ``None``.

    ``/h5md/creator`` names ZnH5MD (any case) with no version (before 0.4) or
    one up to :data:`ZNH5MD_CHECKED`; later releases are trusted as labelled.
    """
    creator = fh.get("h5md/creator")
    if not isinstance(creator, h5py.Group):
        return None
    name, version = (_text(creator.attrs.get(key, "")) for key in ("name", "version"))
    if name.lower() != "znh5md":
        return None
    match = re.match(r"(\d+)\.(\d+)\.(\d+)", version)
    if match and tuple(int(x) for x in match.groups()) > ZNH5MD_CHECKED:
        return None
    return f"{name} {version}".strip()


def _text(value) -> str:
    """An HDF5 string attribute (bytes or str) as str."""
    return value.decode() if isinstance(value, bytes) else str(value)
