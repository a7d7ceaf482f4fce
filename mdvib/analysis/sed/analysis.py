"""Spectral energy density Φ(q, ν) from MD velocities, streamed over time segments.

docs/physics.md, "Spectral energy density":

* lattice sums X_{bα}(q, t) = Σ_l v_α(l, b, t) e^{iq·R_l} over the unit cells of
  the ideal supercell (:mod:`.lattice`, kernel :mod:`mdvib.kernels.sed`);
* per segment of W frames, X̃(q, ν_k) = Σ_t X(q, t) e^{−2πikt/W} for
  ν_k = k/(WΔt) ≥ 0, and
  Φ′(q, ν) = Σ_{b,α} m_b |X̃_{bα}(q, ν)|² Δt / (W n_cells), in eV/THz, so that
  ∫₀^{ν_Nyquist} Φ′ dν = n_basis · 3 k_BT/2 per q (dynasor's normalisation;
  dynasor's own axis is ω in rad/fs, Φ_dynasor = Φ′ / (2π · 10³));
* partial SED per basis atom and direction: the terms of the sum over (b, α);
* mode-projected, with force constants (:mod:`.modes`):
  Φ_ν(q, ν) = |Σ_{bα} ẽ_{bα}(q, ν) √m_b X̃_{bα}|² · Δt/(W n_cells); the ẽ(q, ·)
  are orthonormal, so Σ_ν Φ_ν = Φ′ exactly.

Segments average within a block (Bartlett's method); the trajectory's
``blocks`` give the error bars and are the parallel parts of the framework.
Memory is O(n_q · n_basis · W), whatever the trajectory length. With
``blocks=1`` and W the whole trajectory the result is dynasor's
``compute_spectral_energy_density`` on the same frames. The frequency
resolution is 1/(WΔt); a line's shape is its Lorentzian convolved with the
segment's Fejér kernel (width ≈ 0.89/(WΔt)), so W must be long compared with
the lifetimes to be measured.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import numpy as np

from mdvib.analysis.base import AnalysisBase, Part
from mdvib.analysis.correlator import block_bounds, block_mean_error
from mdvib.analysis.sed.lattice import (
    CellBasisMap,
    QPoints,
    commensurate_grid,
    explicit_qpoints,
    map_cells,
    path_qpoints,
)
from mdvib.analysis.sed.modes import HarmonicModes, load_modes
from mdvib.analysis.tdep.reference import DEFAULT_TOLERANCE_FRACTION, Reference, map_first_frame
from mdvib.errors import SettingsError
from mdvib.io.base import FrameChunk
from mdvib.kernels.sed import gather_basis, lattice_sum_tables, lattice_sums
from mdvib.results import Provenance, quantity, result_type, save_result
from mdvib.trajectory import FrameSelection, Trajectory
from mdvib.units import AMU_A2_PER_FS2_IN_EV, KB_EV_PER_K

#: Largest default segment buffer (complex lattice sums of one segment), bytes: with the FFT's copy of it,
#: the default segment keeps the analysis within about 0.3 GB however long the trajectory.
SEGMENT_BUFFER_BYTES = 32 * 2**20
#: Fewer segments per block than this: a warning (each block's spectrum is one noisy periodogram).
MIN_SEGMENTS_WARNING = 1


@result_type
@dataclasses.dataclass(frozen=True)
class SEDResult:
    """Spectral energy density along a set of wave vectors.

    ``*_err`` fields are standard errors over blocks (``None`` with one block).
    """

    frequencies_thz: np.ndarray = quantity("THz", "(n_freq,)", "linear frequency ν ≥ 0")
    sed: np.ndarray = quantity("eV/THz", "(n_q, n_freq)", "Φ′(q, ν); ∫ dν = n_basis·3·k_BT/2 per q")
    partial: np.ndarray = quantity("eV/THz", "(n_q, n_basis, 3, n_freq)",
                                   "terms of Φ′ per basis atom and Cartesian direction; Σ = sed")
    qpoints_reduced: np.ndarray = quantity("1", "(n_q, 3)", "q in reduced coordinates of the unit cell's reciprocal")
    qpoints_cartesian: np.ndarray = quantity("1/Å", "(n_q, 3)", "q Cartesian, 2π included")
    distances: np.ndarray = quantity("1/Å", "(n_q,)", "path coordinate (2π included)")
    label_indices: np.ndarray = quantity("", "(n_labels,)", "q index of each labelled point")
    labels: tuple[str, ...] = quantity("", "(n_labels,)", "labels of the special points (G is Γ)")
    q_kind: str = quantity("", "()", "path, list or grid")
    unit_cell: np.ndarray = quantity("Å", "(3, 3)", "unit-cell vectors (rows)")
    basis_positions: np.ndarray = quantity("Å", "(n_basis, 3)", "basis atom positions")
    basis_species: tuple[str, ...] = quantity("", "(n_basis,)", "basis atom species")
    supercell_matrix: np.ndarray = quantity("", "(3, 3)", "P: supercell = P · unit cell")
    temperature_k: float = quantity("K", "()", "kinetic temperature, 2 E_kin / ((3N − 3) k_B)")
    segment_frames: int = quantity("", "()", "frames W per Fourier segment")
    segments: int = quantity("", "()", "segments averaged (all blocks)")
    blocks: int = quantity("", "()", "independent blocks of the error bars")
    resolution_thz: float = quantity("THz", "()", "frequency spacing 1/(WΔt)")
    sed_err: np.ndarray = quantity("eV/THz", "(n_q, n_freq)", "standard error of sed over blocks", optional=True)
    mode_sed: np.ndarray = quantity("eV/THz", "(n_q, n_modes, n_freq)", "Φ_ν(q, ν) projected on harmonic modes",
                                    optional=True)
    mode_sed_err: np.ndarray = quantity("eV/THz", "(n_q, n_modes, n_freq)", "standard error of mode_sed",
                                        optional=True)
    harmonic_thz: np.ndarray = quantity("THz", "(n_q, n_modes)", "harmonic frequencies of the force constants",
                                        optional=True)
    temperature_err_k: float = quantity("K", "()", "standard error of temperature_k over blocks", optional=True)
    warnings: tuple[str, ...] = quantity("", "(n_warnings,)", "warnings about the statistics", optional=True)
    provenance: Provenance = dataclasses.field(default=None)

    def save(self, path) -> None:
        """Write to HDF5 (typed, with units and provenance)."""
        save_result(self, path)

    @property
    def n_basis(self) -> int:
        """Atoms per unit cell."""
        return len(self.basis_species)

    def integrals(self) -> np.ndarray:
        """∫ Φ′ dν per q, eV, shape (n_q,) (equipartition: n_basis·3·k_BT/2)."""
        return np.trapezoid(self.sed, self.frequencies_thz, axis=1)

    def summary(self) -> str:
        """Human-readable summary: q-points, temperature check, resolution."""
        expected = self.n_basis * 3 * KB_EV_PER_K * self.temperature_k / 2
        temp = f"{self.temperature_k:.1f} K" + (f" ± {self.temperature_err_k:.1f} K"
                                                 if self.temperature_err_k is not None else "")
        ratio = self.integrals() / expected
        lines = [
            f"{len(self.qpoints_reduced)} q-points ({self.q_kind}"
            + (": " + " ".join(self.labels) if self.q_kind == "path" else "") + "), basis "
            + " ".join(self.basis_species),
            f"kinetic temperature: {temp}",
            f"segments: {self.segments} of {self.segment_frames} frames; resolution {self.resolution_thz:.4f} THz, "
            f"Nyquist {self.frequencies_thz[-1]:.2f} THz",
            f"∫Φ′dν / (n_basis·3k_BT/2): {ratio.min():.3f} … {ratio.max():.3f} over q (expected 1)",
        ]
        lines += [f"warning: {text}" for text in self.warnings or ()]
        return "\n".join(lines)


@dataclasses.dataclass
class _BlockSums:
    """What one block adds up.

    Attributes
    ----------
    power : ndarray, shape (n_freq, n_q, n_basis, 3)
        Σ over segments of m_b |X̃|².
    mode_power : ndarray, shape (n_freq, n_q, n_modes), or None
        Σ over segments of the mode-projected |·|² (with force constants).
    segments : int
        Complete segments.
    kinetic_ev : float
        Σ over frames of the kinetic energy, eV.
    frames : int
        Frames streamed.
    """

    power: np.ndarray
    mode_power: np.ndarray | None
    segments: int = 0
    kinetic_ev: float = 0.0
    frames: int = 0


@dataclasses.dataclass
class _SEDParts:
    """Per-block sums ``{block: _BlockSums}``, and while streaming the open segment's buffer."""

    blocks: dict
    buffer: np.ndarray | None = None
    filled: int = 0


class SEDWarning(UserWarning):
    """An SED that was computed but rests on weak statistics."""


class SEDAnalysis(AnalysisBase):
    """Streaming spectral energy density.

    Parameters
    ----------
    reference : Reference
        Ideal supercell the MD ran in; trajectory atoms are paired with its
        sites by id or by position (:func:`~mdvib.analysis.tdep.reference.map_atoms`).
    unitcell : Reference, optional
        Unit cell (default: spglib's primitive cell of the reference).
    qpoints : str or array_like
        ``"auto"`` (the lattice's standard high-symmetry path), a path of
        special-point labels (``"G X K G L"``), ``"grid"`` (every
        commensurate q), or an array (n_q, 3) of reduced coordinates.
    modes : HarmonicModes or path, optional
        Force constants for the mode-projected SED: a matched model, or a
        phonopy YAML file / ``mdvib tdep`` folder read with
        :func:`~mdvib.analysis.sed.modes.load_modes` against these cells.
    segment : int, optional
        Frames W per Fourier segment (resolution 1/(WΔt)). Default: the
        whole block, capped so that one segment's buffer stays below 32 MB
        (e.g. 14 000 frames for 24 q of a 2-atom basis); memory then does not
        grow with the trajectory's length.
    blocks : int
        Independent blocks for error bars (default 4).
    max_frequency_thz : float, optional
        Keep frequencies up to this (default: up to the Nyquist frequency).
    check_time_axis : bool
        Check the frame spacing against finite differences of positions.
    chunk_frames : int
        Frames read per chunk.
    progress : bool
        Show a progress bar.
    """

    progress_label = "SED"
    needs_velocities = True

    def __init__(self, reference: Reference, unitcell: Reference | None = None, qpoints="auto",
                 modes: HarmonicModes | str | Path | None = None, segment: int | None = None, blocks: int = 4,
                 max_frequency_thz: float | None = None, check_time_axis: bool = True, chunk_frames: int = 64,
                 progress: bool = False):
        if blocks < 1:
            raise SettingsError(f"blocks must be >= 1, got {blocks}")
        if segment is not None and segment < 4:
            raise SettingsError(f"segment must be at least 4 frames, got {segment}")
        if max_frequency_thz is not None and not max_frequency_thz > 0:
            raise SettingsError(f"max_frequency_thz must be positive, got {max_frequency_thz}")
        self.reference = reference
        self.cells: CellBasisMap = map_cells(reference, unitcell)
        self.qpoints: QPoints = select_qpoints(self.cells, qpoints)
        self.modes = modes if modes is None or isinstance(modes, HarmonicModes) else load_modes(modes, self.cells)
        self.segment = segment
        self.blocks = blocks
        self.max_frequency_thz = max_frequency_thz
        self.check_time_axis = check_time_axis
        self.chunk_frames = chunk_frames
        self.progress = progress
        if self.modes is not None:
            self._harmonic, self._eigenvectors = self.modes.modes(self.cells, self.qpoints.reduced)
        else:
            self._harmonic = self._eigenvectors = None

    def settings(self) -> dict:
        """Settings recorded in the provenance (the segment as resolved by :meth:`run`)."""
        return {
            "reference": self.reference.path,
            "n_basis": self.cells.n_basis,
            "q_kind": self.qpoints.kind,
            "n_q": self.qpoints.n_q,
            "path": " ".join(self.qpoints.labels) if self.qpoints.kind == "path" else None,
            "force_constants": None if self.modes is None else self.modes.source,
            "segment": getattr(self, "_segment", self.segment),
            "blocks": self.blocks,
            "max_frequency_thz": self.max_frequency_thz,
        }

    def run(self, trajectory: Trajectory, start: int = 0, stop: int | None = None, step: int = 1,
            workers: int = 1, scheduler: str | None = None) -> SEDResult:
        """Stream the selected frames and return the SED (see :class:`~mdvib.analysis.base.AnalysisBase`)."""
        return super().run(trajectory, start, stop, step, workers, scheduler)

    def _prepare(self, trajectory: Trajectory, selection: FrameSelection) -> None:
        self._dt_fs = trajectory.frame_spacing_fs(selection.step)
        self._path = trajectory.path
        # the crystal's nearest-neighbour distance is known from the cell map: no k-d tree over the supercell
        atom_map = map_first_frame(self.reference, trajectory, selection,
                                   tolerance=DEFAULT_TOLERANCE_FRACTION * self.cells.nearest_neighbour_a)
        self._order = atom_map.order
        self._rotation = atom_map.rotation
        n_frames = self._stream_length(selection)
        block = n_frames // self.blocks
        per_frame = self.qpoints.n_q * self.cells.n_basis * 3 * 16
        cap = max(4, SEGMENT_BUFFER_BYTES // per_frame)
        self._segment = self.segment or min(block, cap)
        if self._segment < 4 or self._segment > block:
            raise SettingsError(f"{self._path}: {n_frames} frames make blocks of {block} frames, too short for a "
                                f"segment of {self._segment} frames; use fewer --blocks or a shorter --segment")
        n_freq = self._segment // 2 + 1
        freqs = np.arange(n_freq) / (self._segment * self._dt_fs * 1e-3)
        if self.max_frequency_thz is not None:
            n_freq = int(np.searchsorted(freqs, self.max_frequency_thz, side="right"))
        self._n_freq = max(n_freq, 2)
        # the trajectory's atom of each reference site is folded into the tables: chunks are not reordered
        self._tables = lattice_sum_tables(self.cells.phases(self.qpoints.reduced), self.cells.basis_index,
                                          self.cells.n_basis, order=self._order)
        self._sqrt_mass = np.sqrt(self.cells.basis_masses)
        self._site_masses = tuple(trajectory.masses[sites] for sites in self._tables.sites)
        self._warnings = []
        used = (block // self._segment) * self._segment
        if used < 0.8 * block:
            self._warnings.append(f"segments of {self._segment} frames use {used} of the {block} frames of each "
                                  "block; choose --segment to divide the block length")

    def _parts(self, n_frames: int, workers: int) -> list[Part]:
        """One part per error-bar block."""
        bounds = block_bounds(n_frames, self.blocks)
        return [Part(b, int(bounds[b]), int(bounds[b + 1])) for b in range(self.blocks)]

    def _new_accumulator(self, part: Part) -> _SEDParts:
        n_q, n_basis = self.qpoints.n_q, self.cells.n_basis
        power = np.zeros((self._n_freq, n_q, n_basis, 3))
        modes = None if self._eigenvectors is None else np.zeros((self._n_freq, n_q, self._eigenvectors.shape[2]))
        buffer = np.empty((self._segment, n_q, n_basis, 3), dtype=np.complex128)
        return _SEDParts({part.index: _BlockSums(power, modes)}, buffer=buffer)

    def _accumulate(self, accumulator: _SEDParts, chunk: FrameChunk) -> None:
        (sums,) = accumulator.blocks.values()
        gathered = gather_basis(chunk.velocities, self._tables)  # (n_cells, n_frames, 3) per basis atom
        kinetic = 0.5 * sum(float(np.einsum("i,ifa,ifa->", m, v, v)) for m, v in zip(self._site_masses, gathered))
        sums.kinetic_ev += kinetic * AMU_A2_PER_FS2_IN_EV  # (a rotation keeps |v|)
        sums.frames += chunk.n_frames
        projected = lattice_sums(gathered, self._tables)
        if self._rotation is not None:  # into the reference's frame (the lattice sum is linear in v)
            projected = projected @ self._rotation.T
        k = 0
        while k < chunk.n_frames:
            take = min(self._segment - accumulator.filled, chunk.n_frames - k)
            accumulator.buffer[accumulator.filled:accumulator.filled + take] = projected[k:k + take]
            accumulator.filled += take
            k += take
            if accumulator.filled == self._segment:
                self._add_segment(sums, accumulator.buffer)
                accumulator.filled = 0

    def _add_segment(self, sums: _BlockSums, buffer: np.ndarray) -> None:
        spectrum = np.fft.fft(buffer, axis=0)[:self._n_freq]  # (n_freq, n_q, n_basis, 3)
        spectrum *= self._sqrt_mass[None, None, :, None]
        sums.power += spectrum.real ** 2 + spectrum.imag ** 2
        if sums.mode_power is not None:
            flat = spectrum.reshape(self._n_freq, self.qpoints.n_q, -1)
            projected = np.einsum("fqs,qsm->fqm", flat, self._eigenvectors)
            sums.mode_power += projected.real ** 2 + projected.imag ** 2
        sums.segments += 1

    def _finish_part(self, accumulator: _SEDParts) -> _SEDParts:
        return _SEDParts(accumulator.blocks)

    def merge(self, first: _SEDParts, second: _SEDParts) -> _SEDParts:
        """Union of the blocks of two partials."""
        return _SEDParts(first.blocks | second.blocks)

    def _conclude(self, total: _SEDParts, provenance: Provenance) -> SEDResult:
        blocks = [total.blocks[b] for b in sorted(total.blocks)]
        segments = np.array([s.segments for s in blocks])
        scale = self._dt_fs / (self._segment * self.cells.n_cells) * AMU_A2_PER_FS2_IN_EV * 1e-3  # → eV/THz
        partial = np.stack([s.power / s.segments for s in blocks]) * scale  # (blocks, n_freq, n_q, n_basis, 3)
        partial = partial.transpose(0, 2, 3, 4, 1)  # (blocks, n_q, n_basis, 3, n_freq)
        sed = partial.sum(axis=(2, 3))
        n_atoms = len(self._order)
        temperatures = np.array([2.0 * s.kinetic_ev / s.frames / (max(3 * n_atoms - 3, 1) * KB_EV_PER_K)
                                 for s in blocks])
        mode_sed = None
        if blocks[0].mode_power is not None:
            mode_sed = (np.stack([s.mode_power / s.segments for s in blocks]) * scale).transpose(0, 2, 3, 1)

        if segments.min() < MIN_SEGMENTS_WARNING:
            self._warnings.append("a block holds no complete segment")
        for text in self._warnings:
            warnings.warn(f"{self._path}: {text}", SEDWarning, stacklevel=4)
        sed_mean, sed_err = block_mean_error(sed)
        mode_mean, mode_err = (None, None) if mode_sed is None else block_mean_error(mode_sed)
        temp_mean, temp_err = block_mean_error(temperatures)
        freqs = np.arange(self._n_freq) / (self._segment * self._dt_fs * 1e-3)
        q = self.qpoints
        return SEDResult(
            frequencies_thz=freqs, sed=sed_mean, partial=partial.mean(axis=0), sed_err=sed_err,
            qpoints_reduced=q.reduced, qpoints_cartesian=self.cells.cartesian(q.reduced), distances=q.distances,
            label_indices=np.asarray(q.label_indices, dtype=np.int64), labels=tuple(q.labels), q_kind=q.kind,
            unit_cell=self.cells.unit_cell, basis_positions=self.cells.basis_positions,
            basis_species=self.cells.basis_species, supercell_matrix=self.cells.supercell_matrix,
            temperature_k=float(temp_mean), temperature_err_k=None if temp_err is None else float(temp_err),
            segment_frames=int(self._segment), segments=int(segments.sum()), blocks=len(blocks),
            resolution_thz=float(freqs[1]),
            mode_sed=mode_mean, mode_sed_err=mode_err, harmonic_thz=self._harmonic,
            warnings=tuple(self._warnings), provenance=provenance)


def select_qpoints(cells: CellBasisMap, qpoints) -> QPoints:
    """:class:`QPoints` from ``"auto"``, a label path, ``"grid"`` or an (n_q, 3) array of reduced coordinates."""
    if isinstance(qpoints, QPoints):
        return qpoints
    if isinstance(qpoints, str):
        if qpoints.strip().lower() == "grid":
            return commensurate_grid(cells)
        return path_qpoints(cells, qpoints)
    return explicit_qpoints(cells, qpoints)
