"""i-PI per-bead trajectories: finding a run's bead files and reading their ring-polymer centroid.

The centroid of P beads has positions r̄ = (1/P) Σ_k r_k and forces
F̄ = (1/P) Σ_k F_k (docs/physics.md, "PIMD centroids"); TDEP fits to PIMD use
it through :func:`mdvib.analysis.tdep.centroid_trajectory`.

i-PI writes one file per bead for per-bead trajectories
(``<trajectory filename="pos"> positions </trajectory>`` in a simulation with
output prefix ``sim`` gives ``sim.pos_0.xyz`` … ``sim.pos_7.xyz`` for 8 beads;
i-PI pads the bead index to the number of digits of P, so 10 beads give
``sim.pos_00.xyz`` … ``sim.pos_09.xyz``), in atomic units unless the trajectory names a unit
(``positions{angstrom}``). Each bead is read with mdvib's xyz reader (units
from the file header, forces from the matching ``*.for_k.xyz`` companion), and
:class:`CentroidReader` averages them frame by frame. Bead positions are
averaged as minimum-image offsets from bead 0, so a ring polymer straddling a
periodic boundary (beads folded to opposite faces) gets the right centroid.

(i-PI can also write the centroid directly: ``x_centroid`` and ``f_centroid``
trajectories, which the xyz reader opens as positions and forces.)
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from mdvib.errors import SettingsError, TrajectoryFormatError
from mdvib.io.base import FrameChunk, TrajectoryInfo, TrajectoryReader
from mdvib.io.registry import open_reader

__all__ = ["CentroidReader", "bead_files", "companion_files"]

#: i-PI per-bead file name: PREFIX.NAME_<bead>.EXT (the bead index is the last ``_digits`` before the extension).
_BEAD_FILE = re.compile(r"^(?P<stem>.+)_(?P<bead>\d+)(?P<ext>\.[A-Za-z0-9]+(?:\.gz)?)$")
#: An i-PI output file PREFIX.NAME[_<bead>].EXT, NAME being the ``<trajectory filename=...>`` of its input.
_OUTPUT_FILE = re.compile(r"^(?P<prefix>.+)\.(?P<name>[A-Za-z]+)(?P<bead>_\d+)?(?P<ext>\.[A-Za-z0-9]+(?:\.gz)?)$")
#: Trajectory names of positions files and of their velocity and force companions, as i-PI's examples name
#: them: per bead ``pos``/``vel``/``for`` (``sim.pos_0.xyz``), centroid ``xc``/``vc``/``fc`` (``sim.xc.xyz``).
COMPANION_NAMES: dict[str, dict[str, str]] = {
    "pos": {"velocities": "vel", "forces": "for"},
    "xc": {"velocities": "vc", "forces": "fc"},
}


def companion_files(path: str | Path) -> dict[str, Path]:
    """Velocity and force files written beside the i-PI positions file ``path``, where they exist.

    Parameters
    ----------
    path : str or Path
        An i-PI positions file named as in :data:`COMPANION_NAMES`
        (``DIR/PREFIX.pos_K.xyz`` or ``DIR/PREFIX.xc.xyz``).

    Returns
    -------
    dict
        ``{"velocities": Path, "forces": Path}``, each only if that file
        exists (``DIR/PREFIX.vel_K.xyz``, ``DIR/PREFIX.for_K.xyz``, or
        ``vc``/``fc`` for a centroid); empty for other file names.
    """
    path = Path(path)
    match = _OUTPUT_FILE.match(path.name)
    if match is None or match["name"] not in COMPANION_NAMES:
        return {}
    if (match["name"] == "pos") != (match["bead"] is not None):
        return {}  # per-bead files carry a bead index, centroid files none
    found = {}
    for quantity, name in COMPANION_NAMES[match["name"]].items():
        candidate = path.with_name(f"{match['prefix']}.{name}{match['bead'] or ''}{match['ext']}")
        if candidate.is_file():
            found[quantity] = candidate
    return found


def bead_files(path: str | Path, name: str | None = None) -> list[Path]:
    """All bead files of the i-PI trajectory that ``path`` (one bead's file) belongs to.

    Parameters
    ----------
    path : str or Path
        One bead's file, ``DIR/PREFIX.NAME_K.EXT`` (e.g. ``sim.pos_0.xyz``).
    name : str, optional
        Another trajectory of the same run to list instead, by its i-PI file
        name (e.g. ``"for"`` for ``sim.for_*.xyz``): replaces ``NAME``.

    Returns
    -------
    list of Path
        ``DIR/PREFIX.NAME_0.EXT`` … in bead order.

    Raises
    ------
    SettingsError
        If the name does not follow i-PI's per-bead pattern, or beads are
        missing (the indices must be 0 … P − 1 with i-PI's zero padding).
    """
    path = Path(path)
    match = _BEAD_FILE.match(path.name)
    if match is None:
        raise SettingsError(f"{path}: not an i-PI per-bead file name (PREFIX.NAME_<bead>.xyz, e.g. sim.pos_0.xyz)")
    stem, ext = match["stem"], match["ext"]
    if name is not None:
        head, dot, _ = stem.rpartition(".")
        stem = f"{head}{dot}{name}"
    pattern = re.compile(re.escape(stem) + r"_(\d+)" + re.escape(ext) + "$")
    found = {}
    for candidate in path.parent.glob(f"{stem}_*{ext}"):
        bead = pattern.match(candidate.name)
        if bead is not None:
            found[int(bead.group(1))] = candidate
    n_beads = len(found)
    if n_beads == 0:
        raise SettingsError(f"{path.parent / (stem + '_0' + ext)}: no i-PI bead files {stem}_<bead>{ext} found")
    digits = len(str(n_beads))  # i-PI: 1 + floor(log10(P)) digits
    expected = [path.parent / f"{stem}_{k:0{digits}d}{ext}" for k in range(n_beads)]
    missing = [str(p) for p in expected if p not in found.values()]
    if missing:
        raise SettingsError(f"i-PI bead files of {stem}_*{ext} are not beads 0 … {n_beads - 1} "
                            f"(zero-padded to {digits} digits): missing {', '.join(missing[:3])}")
    return expected


class CentroidReader(TrajectoryReader):
    """Centroid positions and forces of i-PI bead trajectories, read in lockstep.

    Parameters
    ----------
    positions : sequence of str or Path
        Positions file of every bead (i-PI xyz), in bead order.
    forces : sequence of str or Path
        Forces file of every bead, same order and frames.
    **options
        Passed to each bead's xyz reader (``dt_fs``, ``type_map``, ``species``, ``masses``).

    Notes
    -----
    Frames must carry the same step in every file (checked per chunk); when
    bead files hold different numbers of frames (an interrupted run) the
    common frames are read, with a warning.
    """

    format_name = "ipi-centroid"

    def __init__(self, positions: Sequence[str | Path], forces: Sequence[str | Path], **options):
        if len(positions) == 0:
            raise SettingsError("a centroid needs the files of at least one bead")
        if len(forces) != len(positions):
            raise SettingsError(f"got {len(positions)} bead position files but {len(forces)} force files; "
                                "give one forces file per bead")
        super().__init__(positions[0], **options)
        self.beads = [open_reader(p, format="extxyz", forces_file=f, **options) for p, f in zip(positions, forces)]

    def _scan(self) -> TrajectoryInfo:
        infos = [bead.info for bead in self.beads]
        first = infos[0]
        for info in infos[1:]:
            if info.n_atoms != first.n_atoms or info.species != first.species:
                raise TrajectoryFormatError(info.path, f"its atoms ({info.n_atoms}) or species differ from bead 0 "
                                            f"({first.path}); give the beads of one i-PI run")
        if not all(info.has_forces for info in infos):
            raise TrajectoryFormatError(first.path, "a bead has no forces; give the i-PI forces file of every bead")
        n_frames = min(info.n_frames for info in infos)
        if any(info.n_frames != n_frames for info in infos):
            counts = {info.path: info.n_frames for info in infos}
            warnings.warn(f"bead files hold different numbers of frames {counts}; reading the first {n_frames}",
                          stacklevel=3)
        bead_inputs = [{"positions": info.path, "forces": str(bead.options["forces_file"])}
                       for info, bead in zip(infos, self.beads)]
        return TrajectoryInfo(
            path=f"{first.path} (centroid of {len(infos)} beads)",
            format=self.format_name,
            n_atoms=first.n_atoms,
            n_frames=n_frames,
            atom_ids=first.atom_ids,
            species=first.species,
            masses=first.masses,
            has_velocities=False,
            has_forces=True,
            frame_spacing_fs=first.frame_spacing_fs,
            source_units={**first.source_units, "beads": bead_inputs},
            uniform_spacing=first.uniform_spacing,
            uneven_frame=first.uneven_frame,
        )

    def _iter_frames(self, frames: range, chunk_frames: int) -> Iterator[FrameChunk]:
        """Yield centroid frames (see base class); positions are folded-consistent, not unwrapped."""
        streams = [bead.iter_chunks(chunk_frames, start=frames.start, stop=frames.stop) for bead in self.beads]
        try:
            for chunks in zip(*streams):
                yield self._centroid(chunks)
        finally:
            for stream in streams:
                stream.close()

    def _centroid(self, chunks: Sequence[FrameChunk]) -> FrameChunk:
        base = chunks[0]
        inv_cells = np.linalg.inv(base.cells)  # (n, 3, 3)
        offsets = np.zeros_like(base.positions)
        forces = np.zeros_like(base.forces)
        for bead, chunk in zip(self.beads, chunks):
            if chunk.n_frames != base.n_frames or chunk.first_frame != base.first_frame:
                raise TrajectoryFormatError(bead.path, "frames are out of step with bead 0", frame=chunk.first_frame)
            if base.steps is not None and chunk.steps is not None and not np.array_equal(chunk.steps, base.steps):
                k = int(np.flatnonzero(chunk.steps != base.steps)[0])
                raise TrajectoryFormatError(
                    bead.path, f"step {chunk.steps[k]} does not match step {base.steps[k]} of bead 0 "
                    f"({self.beads[0].path}); write every bead with the same stride", frame=base.first_frame + k)
            frac = np.einsum("fnj,fjk->fnk", chunk.positions - base.positions, inv_cells)
            offsets += np.einsum("fnj,fjk->fnk", frac - np.round(frac), base.cells)
            forces += chunk.forces
        n_beads = len(chunks)
        return FrameChunk(first_frame=base.first_frame, cells=base.cells, positions=base.positions + offsets / n_beads,
                          steps=base.steps, times=base.times, forces=forces / n_beads)
