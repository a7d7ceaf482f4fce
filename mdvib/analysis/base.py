"""The streaming analyser lifecycle every mdvib analyser follows.

After MDAnalysis' ``AnalysisBase``: an analyser's ``__init__`` validates its
settings and does no I/O; :meth:`AnalysisBase.run` owns everything common to
all analysers:

1. an optional pre-pass over the frames (:meth:`~AnalysisBase._pre_pass`,
   e.g. TDEP's automatic stride from the autocorrelation time);
2. frame selection (``start``, ``stop``, ``step``) and the frame spacing;
3. :meth:`~AnalysisBase._prepare`: per-trajectory set-up (atom maps, weights, the
   correlation window), stored on the analyser;
4. the frames are cut into independent **parts**
   (:meth:`~AnalysisBase._parts`: the blocks that give the error bars, or
   contiguous ranges of snapshots); each part is streamed chunk by chunk
   through :meth:`~AnalysisBase._accumulate` into its own accumulator, with a
   tqdm progress bar;
5. the part accumulators are combined with :meth:`~AnalysisBase.merge` and
   :meth:`~AnalysisBase._conclude` turns the total into a typed result with its
   :class:`~mdvib.results.Provenance`.

Parts are the unit of parallel work: ``run(..., workers=N)`` analyses them in
N processes, ``scheduler="local"`` or ``scheduler="tcp://host:8786"`` on a
Dask distributed cluster (:mod:`mdvib.analysis.parallel`). Each worker
receives the analyser (after ``_prepare``) and the trajectory, and reads only
its own frame range. Serial runs go through the same parts in order, so serial
and parallel results are the same numbers.

Subclasses implement ``_prepare``, ``_new_accumulator``, ``_accumulate``,
``merge`` and ``_conclude`` (and optionally ``_pre_pass``, ``_parts``,
``_finish_part``, ``_stream_length``, ``_extra_inputs``).
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from dataclasses import dataclass
from functools import reduce
from typing import Any, ClassVar

from mdvib.errors import SettingsError
from mdvib.io.base import FrameChunk
from mdvib.results import Provenance
from mdvib.trajectory import FrameSelection, Trajectory


@dataclass(frozen=True)
class Part:
    """An independent, contiguous range of the analysed frame stream.

    Attributes
    ----------
    index : int
        Position of the part (0-based); results merge in this order.
    start, stop : int
        Range ``start <= k < stop`` of the stream's frames (the selected
        frames, less any the analyser drops, e.g. the two end frames of
        finite-difference velocities).
    """

    index: int
    start: int
    stop: int

    @property
    def n_frames(self) -> int:
        """Frames in the part."""
        return self.stop - self.start


def even_parts(n_frames: int, n_parts: int) -> list[Part]:
    """``n_parts`` contiguous parts of ``n_frames`` frames, lengths differing by at most one."""
    n_parts = max(1, min(n_parts, n_frames))
    bounds = [(k * n_frames) // n_parts for k in range(n_parts + 1)]
    return [Part(k, bounds[k], bounds[k + 1]) for k in range(n_parts)]


class AnalysisBase(abc.ABC):
    """Base class of streaming analysers; see the module docstring for the lifecycle.

    Subclasses set, in ``__init__``, ``self.progress`` (bool) and may override
    the class attributes below.
    """

    #: Progress-bar label and unit.
    progress_label: ClassVar[str] = "analysis"
    progress_unit: ClassVar[str] = "frame"
    #: Whether the result needs the time between frames (correlation functions do).
    needs_frame_spacing: ClassVar[bool] = True
    #: Frames read per chunk (subclasses may set it in ``_prepare``).
    chunk_frames: int = 64
    #: Show a progress bar.
    progress: bool = False
    #: Velocities by central differences of positions (drops the two end frames).
    from_positions: bool = False
    #: Whether chunks must carry velocities.
    needs_velocities: ClassVar[bool] = False
    #: Check the frame spacing against the data before the analysis
    #: (:meth:`~mdvib.trajectory.Trajectory.check_time_axis`; set False to skip).
    check_time_axis: bool = True

    # ------------------------------------------------------------------ the lifecycle
    def run(self, trajectory: Trajectory, start: int = 0, stop: int | None = None, step: int | str = 1,
            workers: int = 1, scheduler: str | None = None) -> Any:
        """Analyse the frames ``start:stop:step`` of ``trajectory``.

        Parameters
        ----------
        trajectory : Trajectory
            An opened trajectory.
        start, stop, step : int
            Frame slice over the file (Python semantics); analysers with a
            pre-pass may accept other ``step`` values (TDEP: ``"auto"``).
        workers : int
            Processes analysing parts in parallel (1: in this process). With a
            ``scheduler``, the number of workers of a local Dask cluster.
        scheduler : str, optional
            ``"local"`` (a Dask LocalCluster of ``workers`` processes) or the
            address of a running Dask scheduler (``"tcp://host:8786"``).

        Returns
        -------
        The analyser's typed result (with provenance).
        """
        if not isinstance(workers, int) or workers < 1:
            raise SettingsError(f"workers must be a positive integer, got {workers!r}")
        step = self._pre_pass(trajectory, start, stop, step)
        selection = trajectory.select(start, stop, step)
        self._selection = selection
        if self.check_time_axis:
            trajectory.check_time_axis(selection)
        self._prepare(trajectory, selection)
        parts = self._parts(self._stream_length(selection), workers)
        if workers == 1 and scheduler is None:
            partials = self._run_serial(trajectory, selection, parts)
        else:
            from mdvib.analysis.parallel import run_parts

            partials = run_parts(self, trajectory, selection, parts, workers, scheduler)
        total = reduce(self.merge, partials)
        return self._conclude(total, self._provenance(trajectory, selection, workers, scheduler))

    def _run_serial(self, trajectory: Trajectory, selection: FrameSelection, parts: list[Part]) -> list:
        if not self.progress:  # tqdm.auto takes ~0.1 s to import (asyncio)
            return [self.analyse_part(trajectory, selection, part) for part in parts]
        from tqdm.auto import tqdm

        total = sum(part.n_frames for part in parts)
        with tqdm(total=total, unit=self.progress_unit, desc=self.progress_label, leave=False) as bar:
            return [self.analyse_part(trajectory, selection, part, bar.update) for part in parts]

    def analyse_part(self, trajectory: Trajectory, selection: FrameSelection, part: Part, on_frames=None):
        """Stream one part into a fresh accumulator and return its finished partial result.

        Parameters
        ----------
        trajectory, selection
            As resolved by :meth:`run`.
        part : Part
        on_frames : callable, optional
            Called with the number of frames of each chunk (progress).
        """
        accumulator = self._new_accumulator(part)
        for chunk in self._part_chunks(trajectory, selection, part):
            self._accumulate(accumulator, chunk)
            if on_frames is not None:
                on_frames(chunk.n_frames)
        return self._finish_part(accumulator)

    def _part_chunks(self, trajectory: Trajectory, selection: FrameSelection, part: Part) -> Iterator[FrameChunk]:
        """Chunks of ``part``; ``first_frame`` counts stream frames from the start of the whole selection."""
        margin = selection.n_frames - self._stream_length(selection)
        first = part.start
        last = part.stop + margin  # selected frames [first, last) give the part's stream frames
        sub = FrameSelection(selection.start + first * selection.step,
                             min(selection.stop, selection.start + (last - 1) * selection.step + 1), selection.step)
        for chunk in trajectory.iter_chunks(sub, self.chunk_frames, need_velocities=self.needs_velocities,
                                            from_positions=self.from_positions):
            chunk.first_frame += part.start
            yield chunk

    def file_frame(self, stream_frame: int) -> int:
        """Index in the file of a stream frame (for error messages)."""
        selection = self._selection
        shift = 1 if self.from_positions else 0
        return selection.start + selection.step * (stream_frame + shift)

    # ------------------------------------------------------------------ hooks
    def _pre_pass(self, trajectory: Trajectory, start: int, stop: int | None, step: int | str) -> int:
        """Run before frame selection; returns the integer ``step`` to use (default: ``step`` itself)."""
        if not isinstance(step, int) or isinstance(step, bool):
            raise SettingsError(f"step must be a positive integer, got {step!r}")
        return step

    def _stream_length(self, selection: FrameSelection) -> int:
        """Frames in the analysed stream: the selection, less two with ``from_positions``."""
        return selection.n_frames - (2 if self.from_positions else 0)

    def _parts(self, n_frames: int, workers: int) -> list[Part]:
        """Independent parts of the stream (default: ``workers`` contiguous ranges)."""
        return even_parts(n_frames, workers)

    @abc.abstractmethod
    def _prepare(self, trajectory: Trajectory, selection: FrameSelection) -> None:
        """Set up everything the parts share (stored on ``self``; it travels to the workers)."""

    @abc.abstractmethod
    def _new_accumulator(self, part: Part) -> Any:
        """An empty accumulator for ``part``."""

    @abc.abstractmethod
    def _accumulate(self, accumulator: Any, chunk: FrameChunk) -> None:
        """Fold one chunk of the part's frames into ``accumulator`` (in place)."""

    def _finish_part(self, accumulator: Any) -> Any:
        """Turn a part's accumulator into the (small, picklable) partial that is merged."""
        return accumulator

    @abc.abstractmethod
    def merge(self, first: Any, second: Any) -> Any:
        """Combine the partials of two sets of parts (``first`` precedes ``second``)."""

    @abc.abstractmethod
    def _conclude(self, total: Any, provenance: Provenance) -> Any:
        """Build the result from the merged partial."""

    def settings(self) -> dict:
        """Settings recorded in the result's provenance (after ``_prepare``: resolved values)."""
        return {}

    def _extra_inputs(self) -> tuple[str, ...]:
        """Input files besides the trajectory (recorded in provenance)."""
        return ()

    # ------------------------------------------------------------------ provenance
    def _provenance(self, trajectory: Trajectory, selection: FrameSelection, workers: int,
                    scheduler: str | None) -> Provenance:
        if self.needs_frame_spacing:
            spacing = trajectory.frame_spacing_fs(selection.step)
        else:
            file_spacing = trajectory.info.frame_spacing_fs
            spacing = float("nan") if file_spacing is None else file_spacing * selection.step
        return Provenance.now(
            inputs=(trajectory.path,) + self._extra_inputs(),
            reader=trajectory.info.format,
            source_units=trajectory.info.source_units,
            frame_spacing_fs=spacing,
            selection={"start": selection.start, "stop": selection.stop, "step": selection.step},
            n_frames=self._stream_length(selection),
            n_atoms=trajectory.n_atoms,
            settings=self.settings(),
            execution={"workers": workers, "scheduler": scheduler},
        )
