"""Fallback reader for every trajectory format MDAnalysis reads.

DCD, XTC, TRR, AMBER NetCDF, GRO, PDB, ... through :class:`MDAnalysis.Universe`.
MDAnalysis converts on read to Å, ps, Å/ps and kJ/(mol·Å); this reader
converts those to Å, fs, Å/fs and eV/Å. Frames are read one chunk at a time
by slicing ``universe.trajectory``.

Most of these formats need a topology (``topology=`` option: PDB, GRO, PSF,
LAMMPS data, PRMTOP, ...) for atom names and elements.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import ase.geometry
import numpy as np

from mdvib.errors import TrajectoryFormatError
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
from mdvib.units import MDANALYSIS_TO_INTERNAL

#: MDAnalysis base units → internal units.
_PS_TO_FS = MDANALYSIS_TO_INTERNAL["time"]
_VELOCITY_TO_A_PER_FS = MDANALYSIS_TO_INTERNAL["velocity"]
_FORCE_TO_EV_PER_A = MDANALYSIS_TO_INTERNAL["force"]


def _sniff(head: bytes) -> bool:
    """Magic numbers of DCD, XTC, TRR and classic NetCDF files."""
    return (
        head[4:8] == b"CORD"  # DCD (little- or big-endian record marker first)
        or head[:4] in (b"\x00\x00\x07\xcb", b"\x00\x00\x07\xc9")  # XTC (1995), TRR (1993)
        or head[:4] in (b"CDF\x01", b"CDF\x02")  # NetCDF classic / 64-bit offset (AMBER)
    )


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
        without it the trajectory file itself must be a topology (GRO, PDB).
    topology_format, trajectory_format : str, optional
        MDAnalysis format names when the file extensions do not tell.
    dt_fs : float, optional
        Time between frames in fs. Overrides the file: MDAnalysis reports a
        time per frame, but DCD headers from LAMMPS are not in the AKMA units
        MDAnalysis assumes.
    type_map : dict, optional
        ``{name or type: symbol}`` when the topology has no elements.
    species : sequence of str, optional
        Symbol of every atom, overriding the topology.
    masses : dict, optional
        ``{symbol: amu}`` overriding topology masses and standard weights.

    Notes
    -----
    Species: topology elements when present, else ``type_map`` applied to
    atom types then names, else MDAnalysis' element guess from names (with a
    warning); an atom nothing resolves is an error asking for ``type_map``.
    Masses: topology masses unless MDAnalysis guessed them, else standard
    atomic weights. Atoms are sorted by topology id when ids are unique.
    """

    _OPTIONS = {"topology", "topology_format", "trajectory_format", "dt_fs", "type_map", "species", "masses"}

    def _universe(self):
        import MDAnalysis as mda  # imported on use: it takes about a second

        topology = self.options.get("topology")
        kwargs = {}
        if self.options.get("topology_format"):
            kwargs["topology_format"] = self.options["topology_format"]
        if self.options.get("trajectory_format"):
            kwargs["format"] = self.options["trajectory_format"]
        files = (str(topology), str(self.path)) if topology is not None else (str(self.path),)
        try:
            with warnings.catch_warnings():
                # MDAnalysis warns about every topology attribute a format lacks, and that
                # DCD timesteps are copies (irrelevant here: chunks copy the data)
                warnings.filterwarnings("ignore", category=UserWarning, module=r"MDAnalysis\.")
                warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"MDAnalysis\.")
                warnings.filterwarnings("ignore", category=PendingDeprecationWarning, module=r"MDAnalysis\.")
                return mda.Universe(*files, **kwargs)
        except Exception as exc:  # MDAnalysis raises many types for unreadable input
            hint = (
                ""
                if topology is not None
                else "; most trajectory formats need topology=FILE (PDB, GRO, PSF, data)"
            )
            raise TrajectoryFormatError(self.path, f"MDAnalysis cannot open it: {exc}{hint}") from exc

    def _scan(self) -> TrajectoryInfo:
        check_options("mdanalysis", self.options, self._OPTIONS)
        self._u = universe = self._universe()
        atoms = universe.atoms
        n_atoms, n_frames = len(atoms), universe.trajectory.n_frames
        ids = np.asarray(atoms.ids, dtype=np.int64) if hasattr(atoms, "ids") else np.arange(n_atoms)
        if np.unique(ids).size != n_atoms:
            ids = np.arange(n_atoms, dtype=np.int64)
        self._perm = np.argsort(ids, kind="stable")
        labels = self._labels(universe)
        species = resolve_species(
            self.path,
            [labels[i] for i in self._perm],
            self.options.get("type_map"),
            self.options.get("species"),
        )
        file_masses = None
        # MDAnalysis has no public flag for guessed masses; unknown means guessed
        if hasattr(atoms, "masses") and not getattr(universe._topology.masses, "is_guessed", True):
            file_masses = np.asarray(atoms.masses, dtype=np.float64)[self._perm]
        masses = resolve_masses(self.path, species, self.options.get("masses"), file_masses)

        ts = universe.trajectory[0]
        has_velocities, has_forces = bool(ts.has_velocities), bool(ts.has_forces)
        dt_fs = self.options.get("dt_fs")
        file_times = "time" in ts.data or "dt" in ts.data
        from MDAnalysis.coordinates.DCD import DCDReader

        if dt_fs is None and isinstance(universe.trajectory, DCDReader):
            warnings.warn(
                f"{self.path}: DCD frame times assume CHARMM/NAMD AKMA units; pass dt_fs for LAMMPS DCD files",
                stacklevel=3,
            )
        if dt_fs is not None or not file_times or n_frames < 2:
            spacing = time_axis(self.path, n_frames, dt_fs=dt_fs).spacing_fs
        else:
            t0 = universe.trajectory[0].time
            spacing = float(universe.trajectory[1].time - t0) * _PS_TO_FS
            if not spacing > 0:
                raise TrajectoryFormatError(
                    self.path, "time does not increase between frames 0 and 1", frame=1
                )
        self._file_times = dt_fs is None and file_times
        units = {"length": "A", "time": "ps" if self._file_times else "frame"}
        if has_velocities:
            units["velocity"] = "A/ps"
        if has_forces:
            units["force"] = "kJ/(mol*A)"
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
        )

    def _labels(self, universe) -> list[str]:
        """Per-atom label in topology order: element, mapped type/name, or guessed element."""
        atoms = universe.atoms
        type_map = {str(k) for k in (self.options.get("type_map") or {})}
        if self.options.get("species") is not None:
            return [""] * len(atoms)
        for attr in ("types", "names"):
            if type_map and hasattr(atoms, attr) and all(str(v) in type_map for v in getattr(atoms, attr)):
                return [str(v) for v in getattr(atoms, attr)]
        if hasattr(atoms, "elements") and all(element_symbol(str(e)) for e in atoms.elements):
            return [str(e) for e in atoms.elements]
        from MDAnalysis.guesser.default_guesser import DefaultGuesser

        if hasattr(atoms, "names"):
            source = atoms.names
        elif hasattr(atoms, "types"):
            source = atoms.types
        else:
            raise TrajectoryFormatError(
                self.path, "no atom names, types or elements; pass topology=FILE or species=[...]"
            )
        guesser = DefaultGuesser(universe)
        guessed = {str(n): str(guesser.guess_atom_element(str(n))) for n in set(source)}
        labels = [guessed[str(n)] for n in source]
        if all(element_symbol(label) for label in labels):
            warnings.warn(
                f"{self.path}: no elements in the topology; guessed {dict(sorted(guessed.items()))} from atom "
                "names; pass type_map={...} if that is wrong",
                stacklevel=4,
            )
        return labels

    def _iter_frames(self, frames: range, chunk_frames: int) -> Iterator[FrameChunk]:
        """Yield ``frames`` in chunks of ``chunk_frames`` (see base class)."""
        info = self.info
        trajectory = self._u.trajectory
        previous_time = None
        for first in range(frames.start, frames.stop, chunk_frames):
            last = min(first + chunk_frames, frames.stop)
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
                    velocities[k] = ts.velocities[perm] * _VELOCITY_TO_A_PER_FS
                if forces is not None:
                    forces[k] = ts.forces[perm] * _FORCE_TO_EV_PER_A
                if self._file_times:
                    times[k] = ts.time * _PS_TO_FS
                    if previous_time is not None and not times[k] > previous_time:
                        raise TrajectoryFormatError(
                            self.path,
                            f"time does not increase ({previous_time} fs then {times[k]} fs)",
                            frame=first + k,
                        )
                    previous_time = times[k]
                elif info.frame_spacing_fs is not None:
                    times[k] = (first + k) * info.frame_spacing_fs
            chunk = FrameChunk(
                first_frame=first,
                cells=cells,
                positions=positions,
                times=times if self._file_times or info.frame_spacing_fs is not None else None,
                velocities=velocities,
                forces=forces,
            )
            check_chunk_finite(self.path, chunk, info.atom_ids)
            yield chunk
