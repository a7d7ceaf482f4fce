"""Streaming access to a trajectory in internal units.

:class:`Trajectory` wraps one reader and yields chunks of frames with a fixed
atom order (sorted by id). It adds what every analyser needs on top of a
reader: frame selection (``start``, ``stop``, ``step``), the time between the
selected frames, grouping of atoms by species, position unwrapping, and
velocities from finite differences of positions when a file has none.
Memory is bounded by the chunk size: nothing here holds more than one chunk
plus two carried frames.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from mdvib.errors import MissingDataError, SettingsError, TrajectoryFormatError, UnitsError
from mdvib.io.base import FrameChunk, TrajectoryInfo, TrajectoryReader
from mdvib.io.registry import open_reader


@dataclass(frozen=True)
class FrameSelection:
    """Frames ``start, start+step, ... < stop`` of a trajectory.

    Attributes
    ----------
    start, stop, step : int
        Python slice semantics over the file's frames (``stop`` resolved).
    """

    start: int
    stop: int
    step: int

    @property
    def n_frames(self) -> int:
        """Number of selected frames."""
        return max(0, (self.stop - self.start + self.step - 1) // self.step)


class Trajectory:
    """A trajectory file opened for streaming analysis.

    Parameters
    ----------
    reader : TrajectoryReader
        An opened reader (see :func:`Trajectory.open`).
    """

    def __init__(self, reader: TrajectoryReader):
        self.reader = reader

    @classmethod
    def open(cls, path: str | Path, format: str | None = None, **reader_options) -> Trajectory:
        """Open ``path`` with the reader registered for its format.

        Parameters
        ----------
        path : str or Path
            Trajectory file (LAMMPS dump, extxyz, H5MD, anything MDAnalysis or ASE reads).
        format : str, optional
            Reader name (see ``mdvib.io.READERS``); detected from the file when omitted.
        **reader_options
            ``units`` ("metal"/"real", LAMMPS), ``dt_fs`` (MD time step in fs for
            files that record step numbers, else the frame spacing),
            ``type_map`` ({type: symbol}), ``masses`` ({symbol: amu}), ...
        """
        return cls(open_reader(path, format=format, **reader_options))

    @classmethod
    def from_arrays(cls, positions, species, dt_fs: float, **arrays) -> Trajectory:
        """Wrap NumPy arrays in internal units; see :class:`mdvib.io.memory.ArrayReader`."""
        from mdvib.io.memory import ArrayReader

        return cls(ArrayReader(positions, species, dt_fs, **arrays))

    # ------------------------------------------------------------------ metadata
    @property
    def info(self) -> TrajectoryInfo:
        """Static description from the reader."""
        return self.reader.info

    @property
    def path(self) -> str:
        """Source file."""
        return self.info.path

    @property
    def n_atoms(self) -> int:
        """Atoms per frame."""
        return self.info.n_atoms

    @property
    def n_frames(self) -> int:
        """Frames in the file."""
        return self.info.n_frames

    @property
    def masses(self) -> np.ndarray:
        """Atomic masses, amu, shape (n_atoms,)."""
        return self.info.masses

    @property
    def species(self) -> tuple[str, ...]:
        """Chemical symbol of each atom, length n_atoms."""
        return self.info.species

    def unique_species(self) -> tuple[str, ...]:
        """Species present, in order of first appearance (by atom id)."""
        return tuple(dict.fromkeys(self.species))

    def species_index(self) -> np.ndarray:
        """Index into :meth:`unique_species` of each atom, shape (n_atoms,), int64."""
        lookup = {s: k for k, s in enumerate(self.unique_species())}
        return np.array([lookup[s] for s in self.species], dtype=np.int64)

    def select(self, start: int = 0, stop: int | None = None, step: int = 1) -> FrameSelection:
        """Resolve a frame slice against the file, validating it.

        Raises
        ------
        SettingsError
            If the slice is empty or ``step < 1``.
        """
        if step < 1:
            raise SettingsError(f"step must be >= 1, got {step}")
        resolved = range(self.n_frames)[slice(start, stop)]
        selection = FrameSelection(resolved.start, resolved.stop, step)
        if selection.n_frames == 0:
            raise SettingsError(
                f"{self.path}: frame selection start={start} stop={stop} step={step} is empty "
                f"(the file has {self.n_frames} frames)"
            )
        return selection

    def frame_spacing_fs(self, step: int = 1) -> float:
        """Time between selected frames in fs (file spacing × ``step``).

        Raises
        ------
        MissingDataError
            If the file has a single frame (even with a time step given: there
            is no time between frames to speak of), its frames are not evenly
            spaced, or neither the file nor the user gave a time step.
        """
        info = self.info
        spacing = info.frame_spacing_fs
        if spacing is None or info.n_frames < 2:
            if info.n_frames < 2:
                raise MissingDataError(
                    f"{self.path}: the file holds a single frame, so there is no time between frames; "
                    "a correlation analysis needs a trajectory of many frames"
                )
            if not info.uniform_spacing:
                k = info.uneven_frame
                where = "" if k is None else (
                    f": the spacing changes at frame {k} (frame {k} is not as far from frame {k - 1} as "
                    "frame 1 is from frame 0)"
                )
                at = "" if k is None else f" at frame {k}"
                raise MissingDataError(
                    f"{self.path}: frames are not evenly spaced in time{where}. Correlation functions need "
                    "one frame spacing, so it is left unknown for the whole file and --start/--stop cannot "
                    f"pick an even part: split the file{at} (where the dump interval or time step changed) "
                    "and analyse each evenly spaced part on its own"
                )
            raise MissingDataError(
                f"{self.path}: the file does not record the time between frames; pass --dt FS "
                "(the MD time step in fs for files with step numbers such as LAMMPS dumps, "
                "otherwise the time between frames)"
            )
        return spacing * step

    def check_time_axis(self, selection: FrameSelection, n_frames: int = 16, tolerance: float = 2.0) -> None:
        """Check the frame spacing against the data: finite differences of positions vs recorded velocities.

        Over the first ``n_frames`` selected frames, central-difference
        velocities (r(t+lΔ) − r(t−lΔ)) / 2lΔ are regressed on the recorded
        velocities for lags l = 1 and 2; the ratio k_l is Δ_true / Δ when the
        motion is well sampled (then k_1 ≈ k_2, both a little below 1 from the
        damping of fast modes). A wrong ``--dt`` or velocity unit gives
        k_1 ≈ k_2 far from 1. When k_1 and k_2 differ by more than 20 %, the
        frames are too far apart for finite differences and nothing is
        concluded; nothing is checked without velocities, a known spacing or
        five frames.

        Parameters
        ----------
        selection : FrameSelection
        n_frames : int
            Frames compared.
        tolerance : float
            Refuse when k > tolerance or k < 1 / tolerance.

        Raises
        ------
        UnitsError
            Naming the spacing the data imply and the ``--dt`` that gives it.
        """
        spacing = self.info.frame_spacing_fs
        if not self.info.has_velocities or spacing is None or selection.n_frames < 5:
            return
        sub = FrameSelection(selection.start, min(selection.stop, selection.start + n_frames * selection.step),
                             selection.step)
        chunk = _concat(list(_unwrapped(self._strided(sub, n_frames), self.path)))
        dt = spacing * selection.step
        ratios = [_difference_ratio(chunk.positions, chunk.velocities, dt, lag) for lag in (1, 2)]
        if None in ratios or ratios[0] == 0 or abs(ratios[1] / ratios[0] - 1.0) > 0.2:
            return
        ratio = ratios[0]
        if 1.0 / tolerance <= ratio <= tolerance:
            return
        frames = f"frames {sub.start}-{sub.start + (chunk.n_frames - 1) * sub.step}"
        if not 1e-2 < ratio < 1e2:
            raise UnitsError(
                f"{self.path}: the recorded velocities are {1 / ratio:.3g} × what the positions of {frames} imply "
                f"with {dt:.4g} fs between frames: {velocity_unit_hint(self.info, too_small=ratio > 1)}. "
                "Pass --no-time-check if they are right")
        dt_option = getattr(self.reader, "options", {}).get("dt_fs")
        suggestion = "" if dt_option is None else f"; --dt {dt_option * ratio:.4g} would give that"
        step_note = "" if selection.step == 1 else f" (file spacing × step {selection.step})"
        raise UnitsError(
            f"{self.path}: the time between frames does not match the data: finite differences of the positions "
            f"of {frames} are {ratio:.3g} × the recorded velocities, so consecutive frames are about "
            f"{dt * ratio:.4g} fs apart, not {dt:.4g} fs{step_note}{suggestion} (--dt is the MD time step for files "
            "that record step numbers, such as LAMMPS dumps, whose frames are dt × the step difference apart). "
            "Pass --no-time-check if the spacing is right")

    # ------------------------------------------------------------------ frames
    def iter_chunks(
        self,
        selection: FrameSelection | None = None,
        chunk_frames: int = 64,
        need_velocities: bool = False,
        from_positions: bool = False,
    ) -> Iterator[FrameChunk]:
        """Yield the selected frames in chunks, in internal units.

        Parameters
        ----------
        selection : FrameSelection, optional
            Frames to read; all frames when omitted.
        chunk_frames : int
            Frames per yielded chunk (the last may be shorter).
        need_velocities : bool
            Raise :class:`MissingDataError` if the file has no velocities and
            ``from_positions`` is false.
        from_positions : bool
            Compute velocities by central differences of unwrapped positions
            (Å/fs). The first and last selected frames are then dropped, so the
            stream has ``n_frames - 2`` frames.

        Yields
        ------
        FrameChunk
            ``first_frame`` counts selected frames from 0.
        """
        selection = selection or self.select()
        if need_velocities and not self.info.has_velocities and not from_positions:
            raise MissingDataError(
                f"{self.path}: the trajectory has no velocities; re-run with --from-positions "
                "to use finite differences of unwrapped positions (central differences, "
                "accurate only when frames are written every few MD steps)"
            )
        stream = self._strided(selection, chunk_frames)
        if from_positions:
            stream = _velocities_from_positions(
                _unwrapped(stream, self.path), self.frame_spacing_fs(selection.step)
            )
        yield from _rechunk(stream, chunk_frames)

    def _strided(self, selection: FrameSelection, chunk_frames: int) -> Iterator[FrameChunk]:
        """Read the file's frames ``start..stop`` and keep every ``step``-th."""
        read_chunk = chunk_frames * selection.step
        out_index = 0
        for chunk in self.reader.iter_chunks(read_chunk, start=selection.start, stop=selection.stop):
            offset = (-(chunk.first_frame - selection.start)) % selection.step
            keep = slice(offset, None, selection.step)
            if offset >= chunk.n_frames:
                continue
            sub = _slice_chunk(chunk, keep)
            sub.first_frame = out_index
            out_index += sub.n_frames
            yield sub


def velocity_unit_hint(info: TrajectoryInfo, too_small: bool) -> str:
    """What to tell a user whose velocities look 1000× too small (or large): ``--units`` where it applies.

    Parameters
    ----------
    info : TrajectoryInfo
        Of the trajectory (its reader's ``unit_styles`` and ``source_units``).
    too_small : bool
        Whether the velocities look too small (else too large).
    """
    from mdvib.units import LAMMPS_STYLE_UNIT_STRINGS, LAMMPS_UNIT_STYLES

    want = "real" if too_small else "metal"
    size = "small" if too_small else "large"
    current = info.source_units.get("velocity")
    if want in info.unit_styles and current not in (LAMMPS_UNIT_STYLES[want]["velocity"],
                                                    LAMMPS_STYLE_UNIT_STRINGS[want]["velocity"]):
        return (f"velocities look 1000× too {size}: a file in {LAMMPS_UNIT_STYLES[want]['velocity']} (LAMMPS "
                f"'{want}') read as {current}? try --units {want}")
    return (f"velocities look 1000× too {size} for the unit the {info.format} reader assumed ({current}); this "
            "reader takes no --units for this file: check the unit the file was written in")


def _difference_ratio(positions: np.ndarray, velocities: np.ndarray, dt_fs: float, lag: int) -> float | None:
    """Least-squares ratio of central-difference velocities at ``lag`` frames to the recorded ones (None: too few)."""
    if positions.shape[0] < 2 * lag + 1:
        return None
    finite = (positions[2 * lag:] - positions[: -2 * lag]) / (2.0 * lag * dt_fs)
    recorded = velocities[lag:-lag]
    norm = float(np.sum(recorded * recorded))
    return float(np.sum(finite * recorded)) / norm if norm > 0 else None


def _slice_chunk(chunk: FrameChunk, index: slice) -> FrameChunk:
    """Return a chunk restricted to frames ``index`` (views, no copies)."""

    def cut(arr):
        return None if arr is None else arr[index]

    return replace(
        chunk,
        cells=chunk.cells[index],
        positions=chunk.positions[index],
        steps=cut(chunk.steps),
        times=cut(chunk.times),
        velocities=cut(chunk.velocities),
        forces=cut(chunk.forces),
        dipoles=cut(chunk.dipoles),
    )


def _concat(chunks: list[FrameChunk]) -> FrameChunk:
    """Concatenate consecutive chunks into one."""

    def cat(name):
        parts = [getattr(c, name) for c in chunks]
        return None if any(p is None for p in parts) else np.concatenate(parts)

    return FrameChunk(
        first_frame=chunks[0].first_frame,
        cells=cat("cells"),
        positions=cat("positions"),
        unwrapped=all(c.unwrapped for c in chunks),
        steps=cat("steps"),
        times=cat("times"),
        velocities=cat("velocities"),
        forces=cat("forces"),
        dipoles=cat("dipoles"),
    )


def _rechunk(stream: Iterator[FrameChunk], chunk_frames: int) -> Iterator[FrameChunk]:
    """Regroup a stream of chunks into chunks of exactly ``chunk_frames`` (last shorter)."""
    pending: list[FrameChunk] = []
    n_pending = 0
    for chunk in stream:
        if chunk.n_frames == 0:
            continue
        pending.append(chunk)
        n_pending += chunk.n_frames
        while n_pending >= chunk_frames:
            merged = _concat(pending) if len(pending) > 1 else pending[0]
            yield _slice_chunk(merged, slice(0, chunk_frames))
            rest = _slice_chunk(merged, slice(chunk_frames, None))
            rest.first_frame = merged.first_frame + chunk_frames
            pending, n_pending = ([rest], rest.n_frames) if rest.n_frames else ([], 0)
    if n_pending:
        yield _concat(pending) if len(pending) > 1 else pending[0]


def _unwrapped(stream: Iterator[FrameChunk], path: str) -> Iterator[FrameChunk]:
    """Make positions continuous in time by minimum-image steps between frames.

    Valid when no atom moves more than half a cell length between frames.
    ``first_frame`` of the chunks names frames in errors (of file ``path``).
    """
    previous: np.ndarray | None = None  # last unwrapped frame
    previous_wrapped: np.ndarray | None = None  # the same frame as read
    for chunk in stream:
        if chunk.unwrapped:
            yield chunk
            continue
        positions = np.empty_like(chunk.positions)
        for k in range(chunk.n_frames):
            if previous is None:
                positions[k] = chunk.positions[k]
            else:
                cell = chunk.cells[k]
                if not abs(np.linalg.det(cell)) > 1e-12:
                    raise TrajectoryFormatError(
                        path, "positions are wrapped into the cell but this frame's cell has no volume, so they "
                        "cannot be unwrapped; write unwrapped positions (LAMMPS: xu yu zu) or a periodic cell",
                        frame=chunk.first_frame + k)
                delta = chunk.positions[k] - previous_wrapped
                frac = delta @ np.linalg.inv(cell)
                frac -= np.round(frac)
                positions[k] = previous + frac @ cell
            previous = positions[k]
            previous_wrapped = chunk.positions[k]
        yield replace(chunk, positions=positions, unwrapped=True)


def _velocities_from_positions(stream: Iterator[FrameChunk], dt_fs: float) -> Iterator[FrameChunk]:
    """Central-difference velocities v(t) = (r(t+Δ) − r(t−Δ)) / 2Δ, Å/fs.

    The output stream starts at the second frame and ends at the second-last.
    """
    carry: FrameChunk | None = None  # the last two frames seen
    out_index = 0
    for chunk in stream:
        merged = chunk if carry is None else _concat([carry, chunk])
        if merged.n_frames >= 3:
            inner = _slice_chunk(merged, slice(1, -1))
            inner.velocities = (merged.positions[2:] - merged.positions[:-2]) / (2.0 * dt_fs)
            inner.first_frame = out_index
            out_index += inner.n_frames
            yield inner
        carry = _slice_chunk(merged, slice(-2, None))
        carry.velocities = None
