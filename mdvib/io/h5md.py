"""H5MD trajectory reader (h5py, no MDAnalysis).

Reads one particle group of an `H5MD <https://nongnu.org/h5md/>`_ file:
``position`` (required), ``velocity``, ``force``, ``image``, ``id``,
``species``, ``mass`` and ``box/edges``, each either a time-dependent element
(a group with ``value`` and ``step``/``time``) or a time-independent dataset.
This covers files written by MDAnalysis' ``H5MDWriter`` (full box matrix,
units such as ``nm``/``ps``/``nm ps-1``/``kJ mol-1 nm-1``), LAMMPS
``dump h5md`` and hand-made files.

Units come from the ``unit`` attributes (H5MD units module: space-separated
symbols with SI prefixes and integer powers, e.g. ``nm ps-1``,
``kJ mol-1 nm-1``, ``Angstrom``, ``u``) and are converted to Å, fs, Å/fs,
eV/Å and amu. A quantity without a ``unit`` attribute needs the ``units``
option.
"""

from __future__ import annotations

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
from mdvib.units import INTERNAL_UNITS, LAMMPS_STYLE_UNIT_STRINGS, unit_factor

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


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
        "velocity": "nm ps-1", "force": "kJ mol-1 nm-1", "mass": "u"}``.
    type_map : dict, optional
        ``{species number: symbol}`` for the integer ``species`` dataset.
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
    Velocities or forces sampled at other steps than positions are ignored
    with a warning.
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
            self._force = self._optional(fh, particles, "force", "force", n_frames)
            self._image = self._optional(fh, particles, "image", None, n_frames)
            self._edges = self._box(particles, group)
            file_ids = self._atom_ids(fh, particles, n_atoms)
            labels = self._labels(fh, particles, n_atoms, group)
            file_masses = self._file_masses(fh, particles, n_atoms)
        # per-atom data are stored in file order (of frame 0); chunks use id order
        perm = np.argsort(file_ids, kind="stable")
        self._static_order = (
            perm if self._ids is None and not np.array_equal(perm, np.arange(n_atoms)) else None
        )
        if labels is None and self.options.get("species") is None:
            raise TrajectoryFormatError(
                self.path, f"{group} has no species; pass species=[...] (one symbol per atom, in id order)"
            )
        species = resolve_species(
            self.path,
            [""] * n_atoms if labels is None else [labels[i] for i in perm],
            self.options.get("type_map"),
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
            has_velocities=self._velocity is not None,
            has_forces=self._force is not None,
            frame_spacing_fs=axis.spacing_fs,
            source_units=dict(self._source_units),
            uniform_spacing=axis.uniform,
            uneven_frame=axis.uneven_frame,
            unit_styles=self._unit_styles(),
        )

    def _user_units(self) -> dict[str, str]:
        units = self.options.get("units") or {}
        if isinstance(units, str):
            if units not in LAMMPS_STYLE_UNIT_STRINGS:
                raise SettingsError(
                    f"h5md reader: units={units!r}; give a LAMMPS style {sorted(LAMMPS_STYLE_UNIT_STRINGS)} or a dict"
                )
            return dict(LAMMPS_STYLE_UNIT_STRINGS[units])
        bad = set(units) - set(INTERNAL_UNITS)
        if bad:
            raise SettingsError(f"h5md reader: units keys {sorted(bad)} unknown; use {sorted(INTERNAL_UNITS)}")
        return {"mass": "u", **units}

    def _unit_styles(self) -> tuple[str, ...]:
        """LAMMPS styles ``units=`` can switch the velocities between (only when they have no ``unit``)."""
        if self._velocity is not None and "velocity" in self._units_from_option:
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

    def _factor(self, dataset: h5py.Dataset, quantity: str) -> float:
        """Conversion factor of a dataset from its ``unit`` attribute (or the ``units`` option)."""
        unit = dataset.attrs.get("unit")
        if unit is None:
            unit = self._default_units.get(quantity)
            self._units_from_option.add(quantity)
        if unit is None:
            raise TrajectoryFormatError(
                self.path,
                f"{dataset.name} has no unit attribute; pass units={{'{quantity}': '...'}} or units='metal'/'real'",
            )
        unit = unit.decode() if isinstance(unit, bytes) else str(unit)
        try:
            factor = unit_factor(quantity, unit)
        except ValueError as exc:
            raise TrajectoryFormatError(self.path, f"{dataset.name}: {exc}") from None
        self._source_units[quantity] = unit
        return factor

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

    def _labels(self, fh: h5py.File, particles: h5py.Group, n_atoms: int, group: str) -> list[str] | None:
        if "species" not in particles:
            return None
        element = self._element(particles, "species", None)
        value = fh[element.name]
        data = np.asarray(value[0] if element.time_dependent else value[()])
        if data.shape == ():
            data = np.full(n_atoms, data)
        if data.shape != (n_atoms,):
            raise TrajectoryFormatError(
                self.path, f"{group}/species has shape {data.shape}, expected ({n_atoms},)"
            )
        return [x.decode() if isinstance(x, bytes) else str(x) for x in data.tolist()]

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
