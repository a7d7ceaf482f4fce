"""Fallback reader for every trajectory format MDAnalysis reads.

DCD, XTC, TRR, AMBER NetCDF, GRO, PDB, LAMMPS dumps, ... through
:class:`MDAnalysis.Universe`. MDAnalysis converts on read to Å, ps, Å/ps and
kJ/(mol·Å); this reader converts those to Å, fs, Å/fs and eV/Å. Frames are
read one chunk at a time by slicing ``universe.trajectory``.

Most of these formats need a topology (``topology=`` option, command line
``--topology``: PDB, GRO, PSF, LAMMPS data, PRMTOP, ...) for atom names and
elements.

Files MDAnalysis reads without units (LAMMPS text dumps) or with LAMMPS'
units rather than the ones MDAnalysis assumes (LAMMPS DCD headers, whose time
step is in LAMMPS time units, not AKMA) are converted with a LAMMPS unit style
(``units=``, command line ``--units``; default ``metal``).

Masses are taken from the topology only when its format stores them (PSF,
PRMTOP, TPR, LAMMPS data with a ``Masses`` section, a LAMMPS dump with a
``mass`` column, ...): MDAnalysis gives every atom of a LAMMPS dump without a
``mass`` column 1.0 amu without marking it as guessed.
"""

from __future__ import annotations

import contextlib
import gzip
import re
import warnings
from collections.abc import Iterator
from pathlib import Path

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
from mdvib.io.base import FrameChunk, TrajectoryInfo, TrajectoryReader
from mdvib.io.registry import register_reader
from mdvib.units import LAMMPS_UNIT_STYLES, MDANALYSIS_TO_INTERNAL, VELOCITY_TO_A_PER_FS

#: MDAnalysis base units → internal units.
_PS_TO_FS = MDANALYSIS_TO_INTERNAL["time"]
_VELOCITY_TO_A_PER_FS = MDANALYSIS_TO_INTERNAL["velocity"]
_FORCE_TO_EV_PER_A = MDANALYSIS_TO_INTERNAL["force"]

#: MDAnalysis topology formats that store masses (when MDAnalysis has not guessed them: a LAMMPS data file
#: without a Masses section). Others (PDB, GRO, XYZ, CRD ...) only let MDAnalysis guess masses.
_MASS_FORMATS = frozenset({"PSF", "TOP", "PRMTOP", "PARM7", "TPR", "ITP", "GSD", "XML", "DMS", "DATA"})
#: Columns of a LAMMPS data file's Atoms section per atom style, as MDAnalysis' ``atom_style`` (it assumes
#: ``full`` otherwise and misreads the columns of the ``atomic`` files LAMMPS' ``write_data`` writes).
_DATA_ATOM_STYLES = {
    "atomic": "id type x y z",
    "charge": "id type q x y z",
    "molecular": "id resid type x y z",
    "bond": "id resid type x y z",
    "angle": "id resid type x y z",
    "full": "id resid type q x y z",
}
_DATA_ATOMS_HEADER = re.compile(rb"^\s*Atoms\s*#\s*(\w+)")
#: LAMMPS DCD files: the header's time step is in the run's LAMMPS time unit.
_LAMMPS_DCD_REMARK = "Written by LAMMPS"

def _sniff(head: bytes) -> bool:
    """Magic numbers of DCD, XTC, TRR and classic NetCDF files."""
    return (
        head[4:8] == b"CORD"  # DCD (little- or big-endian record marker first)
        or head[:4] in (b"\x00\x00\x07\xcb", b"\x00\x00\x07\xc9")  # XTC (1995), TRR (1993)
        or head[:4] in (b"CDF\x01", b"CDF\x02")  # NetCDF classic / 64-bit offset (AMBER)
    )


@contextlib.contextmanager
def _quiet_mdanalysis() -> Iterator[None]:
    """Silence MDAnalysis' warnings about attributes a format lacks and guessed time steps (mdvib sets those)."""
    with warnings.catch_warnings():
        for category in (UserWarning, DeprecationWarning, PendingDeprecationWarning):
            warnings.filterwarnings("ignore", category=category, module=r"MDAnalysis\.")
        yield


def _read_head(path: Path, n: int = 65536) -> bytes:
    """The first ``n`` bytes of a (possibly gzipped) file; empty if unreadable."""
    try:
        with gzip.open(path) if path.suffix == ".gz" else open(path, "rb") as fh:
            return fh.read(n)
    except OSError:
        return b""


def _data_atom_style(path: Path) -> str | None:
    """MDAnalysis ``atom_style`` for a LAMMPS data file whose ``Atoms`` header names its style (``Atoms # atomic``)."""
    with open(path, "rb") as fh:
        for line in fh:  # the Atoms section comes after the header and the Masses: stop there
            match = _DATA_ATOMS_HEADER.match(line)
            if match is not None:
                return _DATA_ATOM_STYLES.get(match.group(1).decode())
            if line.strip() == b"Atoms":
                return None
    return None


def _lammps_dump_columns(head: bytes) -> list[str] | None:
    """Columns of a LAMMPS text dump's ``ITEM: ATOMS`` line; ``None`` if ``head`` is not a LAMMPS dump."""
    if not head.lstrip().startswith(b"ITEM:"):
        return None
    for line in head.splitlines():
        if line.startswith(b"ITEM: ATOMS"):
            return line.decode(errors="replace").split()[2:]
    return None


@register_reader(
    "mdanalysis",
    patterns=(
        "*.dcd", "*.xtc", "*.trr", "*.nc", "*.ncdf", "*.netcdf", "*.mdcrd", "*.crd",
        "*.gro", "*.pdb", "*.tng", "*.trz",
    ),  # fmt: skip
    sniff=_sniff,
    description="anything MDAnalysis reads (DCD, XTC, TRR, NetCDF, GRO, PDB, ...); needs topology= for most",
    fallback=True,
)
class MDAnalysisReader(TrajectoryReader):
    """Reader delegating to MDAnalysis.

    Parameters
    ----------
    path : str or Path
        Trajectory file.
    topology : str or Path, optional
        Topology file for MDAnalysis (PDB, GRO, PSF, LAMMPS data, PRMTOP...);
        without it the trajectory file itself must be a topology (GRO, PDB,
        LAMMPS dump).
    topology_format, trajectory_format : str, optional
        MDAnalysis format names when the file extensions do not tell (a
        LAMMPS text dump is recognised by its content).
    dt_fs : float, optional
        LAMMPS dumps: the MD time step in fs (frames are ``dt_fs`` × step
        difference apart, as with the ``lammps-dump`` reader). Other formats:
        the time between frames in fs, overriding the file.
    units : {"metal", "real"}, optional
        LAMMPS unit style of files MDAnalysis reads without converting units:
        LAMMPS text dumps (velocities, forces) and LAMMPS DCD headers (time
        step). Default ``metal``. Refused for formats MDAnalysis converts.
    type_map : dict, optional
        ``{type or name: symbol}`` naming the element of every atom type (or
        atom name) of the topology; wins over the topology's elements.
    species : sequence of str, optional
        Symbol of every atom (topology order), overriding the topology.
    masses : dict, optional
        ``{symbol: amu}`` overriding topology masses and standard weights.

    Notes
    -----
    Species: ``species``, else ``type_map`` applied to atom types then
    names, else topology elements, else MDAnalysis' element guess from names
    (with a warning); an atom nothing resolves is an error asking for
    ``type_map``. Masses: the user's ``masses``; else topology masses when its
    format stores them and the elements are not the user's (``type_map`` or
    ``species``: then standard weights); else standard atomic weights. Atoms
    are sorted by topology id when ids are unique.
    """

    _OPTIONS = {
        "topology", "topology_format", "trajectory_format", "dt_fs", "units", "type_map", "species", "masses",
    }  # fmt: skip

    # ------------------------------------------------------------ opening
    def _formats(self) -> tuple[str | None, str | None]:
        """(topology_format, trajectory_format): the options, or LAMMPSDUMP for a LAMMPS text dump."""
        topology_format = self.options.get("topology_format")
        trajectory_format = self.options.get("trajectory_format")
        if trajectory_format is None and _lammps_dump_columns(_read_head(self.path)) is not None:
            trajectory_format = "LAMMPSDUMP"
            if self.options.get("topology") is None:
                topology_format = topology_format or "LAMMPSDUMP"
        return topology_format, trajectory_format

    def _universe(self):
        import MDAnalysis as mda  # imported on use: it takes about a second

        topology = self.options.get("topology")
        topology_format, trajectory_format = self._formats()
        kwargs = {}
        if topology_format:
            kwargs["topology_format"] = topology_format
        if trajectory_format:
            kwargs["format"] = trajectory_format
        if topology is not None and not Path(topology).exists():
            raise SettingsError(f"topology {topology}: file not found")
        files = (str(topology), str(self.path)) if topology is not None else (str(self.path),)
        if self._topology_format_names() & {"DATA"}:
            style = _data_atom_style(Path(files[0]))
            kwargs.update({"atom_style": style} if style else {})
        try:
            with _quiet_mdanalysis():  # e.g. DCD timesteps are copies: irrelevant, chunks copy the data
                return mda.Universe(*files, **kwargs)
        except Exception as exc:  # MDAnalysis raises many types for unreadable input
            hint = (
                ""
                if topology is not None
                else "; most trajectory formats need a topology: --topology FILE (topology=): PDB, GRO, PSF, "
                "LAMMPS data, ..."
            )
            raise TrajectoryFormatError(self.path, f"MDAnalysis cannot open it: {exc}{hint}") from exc

    # ------------------------------------------------------------ scanning
    def _scan(self) -> TrajectoryInfo:
        check_options("mdanalysis", self.options, self._OPTIONS)
        self._u = universe = self._universe()
        atoms = universe.atoms
        n_atoms, n_frames = len(atoms), universe.trajectory.n_frames
        ids = np.asarray(atoms.ids, dtype=np.int64) if hasattr(atoms, "ids") else np.arange(n_atoms)
        if np.unique(ids).size != n_atoms:
            ids = np.arange(n_atoms, dtype=np.int64)
        self._perm = np.argsort(ids, kind="stable")
        species, masses, masses_from = self._atoms(universe, ids[self._perm])
        with _quiet_mdanalysis():
            ts = universe.trajectory[0]
            has_velocities, has_forces = bool(ts.has_velocities), bool(ts.has_forces)
            units = self._conversion(universe.trajectory, has_velocities, has_forces)
            spacing = self._frame_spacing(universe.trajectory, n_frames)
        units["masses"] = masses_from
        if self.options.get("topology") is not None:
            units["topology"] = str(self.options["topology"])
        return TrajectoryInfo(
            path=str(self.path),
            format=self.format_name,
            n_atoms=n_atoms,
            n_frames=n_frames,
            atom_ids=ids[self._perm],
            species=species,
            masses=masses,
            has_velocities=has_velocities,
            has_forces=has_forces,
            frame_spacing_fs=spacing,
            source_units=units,
            unit_styles=tuple(LAMMPS_UNIT_STYLES) if self._lammps else (),
        )

    def _atoms(self, universe, atom_ids: np.ndarray) -> tuple[tuple[str, ...], np.ndarray, str]:
        """Species, masses (amu) in id order, and where the masses came from (``file``/``standard``)."""
        named_by_user = self.options.get("species") is not None or bool(self.options.get("type_map"))
        labels = self._labels(universe)
        species = resolve_species(
            self.path,
            [labels[i] for i in self._perm],
            self.options.get("type_map"),
            self.options.get("species"),
            atom_ids,
        )
        file_masses = self._file_masses(universe)
        if file_masses is not None:
            file_masses = file_masses[self._perm]
        masses = resolve_masses(self.path, species, self.options.get("masses"), file_masses,
                                named_by_user=named_by_user, atom_ids=atom_ids)
        return species, masses, "file" if file_masses is not None and not named_by_user else "standard"

    def _file_masses(self, universe) -> np.ndarray | None:
        """Topology masses (topology order) when its format really stores them, else ``None``."""
        atoms = universe.atoms
        if not hasattr(atoms, "masses") or getattr(universe._topology.masses, "is_guessed", True):
            return None
        topology = self.options.get("topology")
        source = Path(topology if topology is not None else self.path)
        names = self._topology_format_names()
        if "LAMMPSDUMP" in names:
            stores = "mass" in (_lammps_dump_columns(_read_head(source)) or [])
        else:
            stores = bool(names & _MASS_FORMATS)
        return np.asarray(atoms.masses, dtype=np.float64) if stores else None

    def _topology_format_names(self) -> set[str]:
        """MDAnalysis format names of the topology's parser (empty when MDAnalysis has none for it)."""
        from MDAnalysis.core._get_readers import get_parser_for

        topology = self.options.get("topology")
        topology_format, trajectory_format = self._formats()
        source = topology if topology is not None else self.path
        try:
            parser = get_parser_for(str(source), format=topology_format or (None if topology else trajectory_format))
        except ValueError:
            return set()
        return {parser.format} if isinstance(parser.format, str) else set(parser.format)

    def _labels(self, universe) -> list[str]:
        """Per-atom label in topology order: mapped type/name, element, or guessed element."""
        atoms = universe.atoms
        if self.options.get("species") is not None:
            return [""] * len(atoms)
        type_map = {str(k) for k in (self.options.get("type_map") or {})}
        if type_map:
            return self._mapped_labels(atoms, type_map)
        if hasattr(atoms, "elements") and all(element_symbol(str(e)) for e in atoms.elements):
            return [str(e) for e in atoms.elements]
        from MDAnalysis.guesser.default_guesser import DefaultGuesser

        if hasattr(atoms, "names"):
            source = atoms.names
        elif hasattr(atoms, "types"):
            source = atoms.types
        else:
            raise TrajectoryFormatError(
                self.path,
                "no atom names, types or elements; pass --topology FILE (topology=) or --species (species=[...])",
            )
        guesser = DefaultGuesser(universe)
        guessed = {str(n): str(guesser.guess_atom_element(str(n))) for n in set(source)}
        labels = [guessed[str(n)] for n in source]
        if all(element_symbol(label) for label in labels):
            warnings.warn(
                f"{self.path}: no elements in the topology; guessed {dict(sorted(guessed.items()))} from atom "
                "names; pass --types NAME=Element,... (type_map={...}) if that is wrong",
                stacklevel=5,
            )
        return labels

    def _mapped_labels(self, atoms, type_map: set[str]) -> list[str]:
        """Atom types (else names) when ``type_map`` names every one of them."""
        found = {}
        for attr in ("types", "names"):
            if hasattr(atoms, attr):
                values = [str(v) for v in getattr(atoms, attr)]
                if set(values) <= type_map:
                    return values
                found[attr] = sorted(set(values) - type_map)
        missing = "; ".join(f"{attr} {values[:8]}" for attr, values in found.items()) or "no types or names"
        raise SettingsError(
            f"{self.path}: --types (type_map=) names {sorted(type_map)} but not every atom type or name of the "
            f"topology (missing {missing}); name them all, or give --species"
        )

    # ------------------------------------------------------------ units and time
    def _conversion(self, trajectory, has_velocities: bool, has_forces: bool) -> dict:
        """Set the velocity/force factors to internal units; return the source units for provenance."""
        from MDAnalysis.coordinates.DCD import DCDReader
        from MDAnalysis.coordinates.LAMMPS import DumpReader

        style = self.options.get("units")
        if style is not None and style not in LAMMPS_UNIT_STYLES:
            raise SettingsError(f"units={style!r}: LAMMPS files read by MDAnalysis are {sorted(LAMMPS_UNIT_STYLES)}")
        self._dump = isinstance(trajectory, DumpReader)
        header = getattr(getattr(trajectory, "_file", None), "header", {}) if isinstance(trajectory, DCDReader) else {}
        dcd_remarks = header.get("remarks", "")
        self._lammps_dcd = str(dcd_remarks).startswith(_LAMMPS_DCD_REMARK)
        self._lammps = self._dump or self._lammps_dcd
        kind = type(trajectory).__name__.removesuffix("Reader")
        if style is not None and not self._lammps:
            raise SettingsError(
                f"{self.path}: --units (units=) does not apply: MDAnalysis reads {kind} files in their own units "
                f"({trajectory.units}) and converts them"
            )
        self._style = style or "metal"
        units = {"length": "A"}
        if self._dump:
            spec = LAMMPS_UNIT_STYLES[self._style]
            self._velocity_factor = VELOCITY_TO_A_PER_FS[str(spec["velocity"])]
            self._force_factor = float(spec["force_to_eV_per_A"])
            units.update(style=self._style, style_from="option" if style else "default")
            units.update({"velocity": str(spec["velocity"])} if has_velocities else {})
            units.update({"force": str(spec["force"])} if has_forces else {})
            return units
        self._velocity_factor, self._force_factor = _VELOCITY_TO_A_PER_FS, _FORCE_TO_EV_PER_A
        if self._lammps_dcd:
            units.update(style=self._style, style_from="option" if style else "default")
        units.update({"velocity": "A/ps"} if has_velocities else {})
        units.update({"force": "kJ/(mol*A)"} if has_forces else {})
        return units

    def _frame_spacing(self, trajectory, n_frames: int) -> float | None:
        """Time between frames in fs (``None``: unknown); sets how chunks get their times."""
        dt_fs = self.options.get("dt_fs")
        ts = trajectory[0]
        self._step0 = self._step_interval = None
        self._file_times = False
        if self._dump:  # steps are real, MDAnalysis' times (step × 1 ps) are not
            steps = [int(trajectory[k].data["step"]) for k in range(min(n_frames, 2))]
            self._step0 = steps[0]
            self._step_interval = steps[1] - steps[0] if len(steps) == 2 else None
            axis = time_axis(self.path, len(steps), steps=np.array(steps), dt_fs=dt_fs)
            return axis.spacing_fs
        if dt_fs is not None or n_frames < 2:
            return time_axis(self.path, n_frames, dt_fs=dt_fs).spacing_fs
        if self._lammps_dcd:
            header = trajectory._file.header
            time_to_fs = float(LAMMPS_UNIT_STYLES[self._style]["time_to_fs"])
            return float(header["delta"]) * int(header["nsavc"]) * time_to_fs
        if "time" not in ts.data and "dt" not in ts.data:
            return None
        from MDAnalysis.coordinates.DCD import DCDReader

        if isinstance(trajectory, DCDReader):
            warnings.warn(
                f"{self.path}: DCD frame times assume CHARMM/NAMD AKMA units; pass --dt (dt_fs=) with the time "
                "between frames if that is wrong",
                stacklevel=4,
            )
        spacing = float(trajectory[1].time - trajectory[0].time) * _PS_TO_FS
        if not spacing > 0:
            raise TrajectoryFormatError(self.path, "time does not increase between frames 0 and 1", frame=1)
        self._file_times = True
        return spacing

    # ------------------------------------------------------------ frames
    def _frame_time(self, ts, frame: int, previous: float | None) -> float:
        """Time of frame ``frame`` in fs (``nan`` when unknown), checked against the frame before."""
        info = self.info
        if self._dump:
            step = int(ts.data["step"])
            interval = self._step_interval
            if interval is not None and step != self._step0 + frame * interval:
                raise TrajectoryFormatError(
                    self.path,
                    f"step {step} breaks the even spacing of {interval} steps between frames; read the dump "
                    "with --format lammps-dump",
                    frame=frame,
                )
            dt_fs = self.options.get("dt_fs")
            return np.nan if dt_fs is None else step * float(dt_fs)
        if self._file_times:
            time = ts.time * _PS_TO_FS
            if previous is not None and not time > previous:
                raise TrajectoryFormatError(
                    self.path, f"time does not increase ({previous} fs then {time} fs)", frame=frame
                )
            return time
        return np.nan if info.frame_spacing_fs is None else frame * info.frame_spacing_fs

    def _iter_frames(self, frames: range, chunk_frames: int) -> Iterator[FrameChunk]:
        """Yield ``frames`` in chunks of ``chunk_frames`` (see base class)."""
        info = self.info
        previous_time = None
        for first in range(frames.start, frames.stop, chunk_frames):
            with _quiet_mdanalysis():
                chunk = self._chunk(first, min(first + chunk_frames, frames.stop), previous_time)
            previous_time = chunk.times[-1] if chunk.times is not None else None
            check_chunk_finite(self.path, chunk, info.atom_ids)
            yield chunk

    def _chunk(self, first: int, last: int, previous_time: float | None) -> FrameChunk:
        """Frames ``first <= k < last`` (``previous_time``: of frame ``first - 1``, fs, to check times)."""
        info = self.info
        trajectory = self._u.trajectory
        n, perm = last - first, self._perm
        positions = np.empty((n, info.n_atoms, 3))
        cells = np.zeros((n, 3, 3))
        times = np.empty(n)
        velocities = np.empty((n, info.n_atoms, 3)) if info.has_velocities else None
        forces = np.empty((n, info.n_atoms, 3)) if info.has_forces else None
        for k, ts in enumerate(trajectory[first:last]):
            positions[k] = ts.positions[perm]
            if ts.dimensions is not None and np.all(ts.dimensions[:3] > 0):
                cells[k] = ase.geometry.cellpar_to_cell(np.asarray(ts.dimensions, dtype=np.float64))
            for name, values, present in (
                ("velocities", velocities, ts.has_velocities),
                ("forces", forces, ts.has_forces),
            ):
                if values is not None and not present:
                    raise TrajectoryFormatError(
                        self.path,
                        f"frame has no {name} although frame 0 has (e.g. TRR nstvout/nstfout larger "
                        "than nstxout); read only frames that have them",
                        frame=first + k,
                    )
            if velocities is not None:
                velocities[k] = np.asarray(ts.velocities[perm], dtype=np.float64) * self._velocity_factor
            if forces is not None:
                forces[k] = np.asarray(ts.forces[perm], dtype=np.float64) * self._force_factor
            times[k] = previous_time = self._frame_time(ts, first + k, previous_time)
        return FrameChunk(
            first_frame=first,
            cells=cells,
            positions=positions,
            times=None if np.isnan(times).any() else times,
            velocities=velocities,
            forces=forces,
        )
