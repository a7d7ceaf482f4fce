"""Fallback reader for trajectory formats ASE reads (ASE ``.traj``, VASP ...).

Frames are streamed with :func:`ase.io.iread`. ASE units: positions and cells
Å, velocities Å per ASE time unit (converted to Å/fs with
:data:`mdvib.units.ASE_VELOCITY_TO_A_PER_FS`), forces eV/Å, dipoles e·Å.

Fallback order: the registry tries the ASE reader before MDAnalysis (ASE's
module registers first); the two claim disjoint file names and magic numbers,
so the order only matters for files neither claims (then neither is tried).
"""

from __future__ import annotations

from collections.abc import Iterator

import ase
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
from mdvib.units import ASE_VELOCITY_TO_A_PER_FS

_ULM_MAGIC = b"- of UlmASE-Trajectory"


def _sniff(head: bytes) -> bool:
    """ASE's binary trajectory (ULM) header."""
    return head.startswith(_ULM_MAGIC)


@register_reader(
    "ase",
    patterns=("*.traj", "xdatcar*", "*.xdatcar", "outcar*", "*.outcar", "vasprun*.xml"),
    sniff=_sniff,
    description="anything ase.io reads (ASE .traj, VASP XDATCAR/OUTCAR/vasprun.xml, ...)",
    fallback=True,
)
class ASEReader(TrajectoryReader):
    """Reader delegating to :func:`ase.io.iread`.

    Parameters
    ----------
    path : str or Path
        Trajectory file.
    dt_fs : float, optional
        Time between frames in fs (ASE files do not record it).
    ase_format : str, optional
        ASE format name when the file name does not tell (``ase.io`` ``format``).
    units : {"ase"}, optional
        Accepted for a uniform ``--units`` on the command line: ASE files are
        in ASE units; any other style is refused.
    type_map : dict, optional
        ``{symbol in the file: symbol}`` renaming elements.
    species : sequence of str, optional
        Symbol of every atom, overriding the file.
    masses : dict, optional
        ``{symbol: amu}`` overriding the file's masses and standard weights
        (with ``type_map`` or ``species``, the file's masses are replaced by
        standard weights).

    Notes
    -----
    The scan reads the file once to count frames (one frame in memory at a
    time). Velocities come from stored momenta, forces and dipoles from the
    stored calculator results; a quantity present in frame 0 must be present
    in every frame.
    """

    _OPTIONS = {"dt_fs", "ase_format", "units", "type_map", "species", "masses"}

    def _iread(self, index: slice) -> Iterator[ase.Atoms]:
        import ase.io  # imported here: ase.io takes ~0.7 s and most runs never need it

        try:
            yield from ase.io.iread(self.path, index=index, format=self.options.get("ase_format"))
        except (ValueError, KeyError, OSError, IndexError, ase.io.formats.UnknownFileTypeError) as exc:
            raise TrajectoryFormatError(self.path, f"ASE cannot read it: {exc}") from exc

    def _scan(self) -> TrajectoryInfo:
        check_options("ase", self.options, self._OPTIONS)
        if self.options.get("units") not in (None, "ase"):
            raise SettingsError(
                f"{self.path}: ASE files are in ASE units (Å, eV, Å per ASE time unit); --units "
                f"{self.options['units']} (units=) does not apply"
            )
        first, n_frames = None, 0
        if self.path.suffix.lower() == ".traj" and self.options.get("ase_format") is None:
            import ase.io

            with ase.io.Trajectory(self.path) as trajectory:  # random access: no need to read every frame
                n_frames = len(trajectory)
                first = trajectory[0] if n_frames else None
        else:
            for atoms in self._iread(slice(None)):
                first = first if first is not None else atoms
                n_frames += 1
        if first is None:
            raise TrajectoryFormatError(self.path, "no frame found")
        self._symbols = first.get_chemical_symbols()
        type_map, given = self.options.get("type_map"), self.options.get("species")
        species = resolve_species(self.path, self._symbols, type_map, given)
        masses = resolve_masses(self.path, species, self.options.get("masses"), first.arrays.get("masses"),
                                named_by_user=given is not None or bool(type_map))
        results = first.calc.results if first.calc is not None else {}
        spacing = time_axis(self.path, n_frames, dt_fs=self.options.get("dt_fs")).spacing_fs
        has = {
            "velocities": "momenta" in first.arrays,
            "forces": "forces" in results,
            "dipoles": "dipole" in results,
        }
        units = {"length": "A", "time": "frame"}
        units.update({"velocity": "A/ase_time"} if has["velocities"] else {})
        units.update({"force": "eV/A"} if has["forces"] else {})
        units.update({"dipole": "e*A"} if has["dipoles"] else {})
        return TrajectoryInfo(
            path=str(self.path),
            format=self.format_name,
            n_atoms=len(first),
            n_frames=n_frames,
            atom_ids=np.arange(len(first), dtype=np.int64),
            species=species,
            masses=masses,
            has_velocities=has["velocities"],
            has_forces=has["forces"],
            has_dipoles=has["dipoles"],
            frame_spacing_fs=spacing,
            source_units=units,
        )

    def _iter_frames(self, frames: range, chunk_frames: int) -> Iterator[FrameChunk]:
        """Yield ``frames`` in chunks of ``chunk_frames`` (see base class)."""
        batch: list[ase.Atoms] = []
        first = frames.start
        for index, atoms in enumerate(self._iread(slice(frames.start, frames.stop)), start=frames.start):
            self._check(atoms, index)
            batch.append(atoms)
            if len(batch) == chunk_frames:
                yield self._chunk(batch, first)
                first, batch = index + 1, []
        if batch:
            yield self._chunk(batch, first)

    def _check(self, atoms: ase.Atoms, index: int) -> None:
        if len(atoms) != self.info.n_atoms:
            raise TrajectoryFormatError(
                self.path, f"atom count changes from {self.info.n_atoms} to {len(atoms)}", frame=index
            )
        symbols = atoms.get_chemical_symbols()
        if symbols != self._symbols:
            atom = next(i for i, (a, b) in enumerate(zip(symbols, self._symbols)) if a != b)
            raise TrajectoryFormatError(
                self.path,
                f"species {symbols[atom]} differs from {self._symbols[atom]} in frame 0",
                frame=index,
                atom_id=atom,
            )

    def _result(self, atoms: ase.Atoms, name: str, index: int) -> np.ndarray:
        results = atoms.calc.results if atoms.calc is not None else {}
        if name not in results:
            raise TrajectoryFormatError(self.path, f"frame has no {name} although frame 0 has", frame=index)
        return np.asarray(results[name], dtype=np.float64)

    def _chunk(self, batch: list[ase.Atoms], first: int) -> FrameChunk:
        info = self.info
        positions = np.stack([a.get_positions() for a in batch])
        cells = np.stack([a.cell.array for a in batch])
        velocities = forces = dipoles = None
        if info.has_velocities:
            for k, atoms in enumerate(batch):
                if "momenta" not in atoms.arrays:
                    raise TrajectoryFormatError(
                        self.path, "frame has no velocities although frame 0 has", frame=first + k
                    )
            velocities = np.stack([a.get_velocities() for a in batch]) * ASE_VELOCITY_TO_A_PER_FS
        if info.has_forces:
            forces = np.stack([self._result(a, "forces", first + k) for k, a in enumerate(batch)])
        if info.has_dipoles:
            dipoles = np.stack([self._result(a, "dipole", first + k) for k, a in enumerate(batch)])
        spacing = info.frame_spacing_fs
        chunk = FrameChunk(
            first_frame=first,
            cells=cells,
            positions=positions,
            times=None if spacing is None else (first + np.arange(len(batch))) * spacing,
            velocities=velocities,
            forces=forces,
            dipoles=dipoles,
        )
        check_chunk_finite(self.path, chunk, info.atom_ids)
        return chunk
