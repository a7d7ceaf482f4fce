"""Phonon density of states from the velocity autocorrelation function.

docs/physics.md, "Phonon DOS from the VACF":

* raw power spectrum of species s, eV/THz:
  R_s(ν) = ½ Σ_{i∈s} m_i · 2∫⟨v_i(0)·v_i(t)⟩ cos(2πνt) dt, so ∫₀^∞ Σ_s R_s dν is
  the kinetic energy (3Nk_BT/2 classically);
* DOS g_s(ν) = 3 R_s(ν) / ∫ Σ_s R_s dν, states/THz per atom: ∫ g_total dν = 3
  and Σ_s g_s = g_total exactly (partials carry the concentration weight);
* neutron-weighted (incoherent approximation): G_n = Σ_s (σ_s/m_s) g_s / Σ_s c_s σ_s/m_s;
* ``weights="none"``: the same normalisation applied to the non-mass-weighted
  velocity spectrum.

Error bars: the frames are split into ``blocks`` independent blocks; each block
gives a spectrum and the result is their mean with its standard error.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import numpy as np

from mdvib.analysis.base import AnalysisBase, Part
from mdvib.analysis.correlator import BlockedAutocorrelator, block_bounds, block_mean_error, check_window
from mdvib.analysis.registry import AnalysisOutput, AnalysisSpec, CampaignStep, register_analysis
from mdvib.analysis.spectral import (
    MIN_WINDOW,
    QUANTUM_CORRECTIONS,
    central_difference_damping,
    check_spectrum_settings,
    frequency_grid_thz,
    one_sided_spectrum,
    quantum_correction,
    resolution_fwhm_thz,
)
from mdvib.constants.neutron import CROSS_SECTION_KINDS, bound_cross_section
from mdvib.errors import SettingsError, UnitsError
from mdvib.io.base import FrameChunk
from mdvib.results import Provenance, quantity, result_type, save_h5_or_csv
from mdvib.trajectory import FrameSelection, Trajectory, velocity_unit_hint
from mdvib.units import AMU_A2_PER_FS2_IN_EV, KB_EV_PER_K, THZ_TO_INV_CM, THZ_TO_MEV

#: Weighting schemes of the headline spectrum.
WEIGHTS = ("mass", "neutron", "none")

#: Frequency-grid refinement (zero padding of the windowed VACF): a smooth
#: spectrum and peak positions better than the 1/(2WΔt) spacing.
OVERSAMPLE = 4

#: Fewer lags than this give a spectrum too coarse to show phonons (a warning).
MIN_USEFUL_WINDOW = 16
#: Fewer time origins than this at the longest lag make a noisy spectrum (a warning).
MIN_ORIGINS = 10

#: Kinetic temperatures outside this range (K) are taken as a units mistake.
PLAUSIBLE_TEMPERATURE_K = (0.1, 1.0e5)

#: With velocities from positions, the central-difference damping is undone up to this fraction of the
#: Nyquist frequency (sinc² ≥ 0.41 there; above it the division would amplify noise).
UNDAMPED_UP_TO_NYQUIST = 0.5
#: Share of the kinetic energy above that frequency beyond which the undamped temperature is only a lower bound.
UNDAMPED_MAX_ABOVE = 0.01


@result_type
@dataclasses.dataclass(frozen=True)
class DOSResult:
    """Vibrational density of states from the VACF.

    ``total`` and ``partial`` are in the weighting named by ``weights``;
    ``raw_power`` is always the mass-weighted (kinetic-energy) spectrum.
    ``*_err`` fields are standard errors over blocks (``None`` with one block).
    """

    frequencies_thz: np.ndarray = quantity("THz", "(n_freq,)", "linear frequency ν")
    total: np.ndarray = quantity("1/THz", "(n_freq,)", "DOS per atom; ∫ dν = 3")
    partial: np.ndarray = quantity("1/THz", "(n_species, n_freq)", "partial DOS per atom of the system; Σ = total")
    raw_power: np.ndarray = quantity("eV/THz", "(n_species, n_freq)",
                                     "mass-weighted velocity power spectrum; ∫ = kinetic energy")
    species: tuple[str, ...] = quantity("", "(n_species,)", "chemical symbols")
    concentrations: np.ndarray = quantity("", "(n_species,)", "atom fraction of each species")
    temperature_k: float = quantity("K", "()", "kinetic temperature, 2 E_kin / ((3N - 3) k_B)")
    weights: str = quantity("", "()", "weighting of total/partial: mass, neutron or none")
    cross_sections_barn: np.ndarray = quantity("barn", "(n_species,)",
                                               "bound neutron cross sections used (neutron weights)", optional=True)
    total_err: np.ndarray = quantity("1/THz", "(n_freq,)", "standard error of total over blocks", optional=True)
    partial_err: np.ndarray = quantity("1/THz", "(n_species, n_freq)", "standard error of partial", optional=True)
    raw_power_err: np.ndarray = quantity("eV/THz", "(n_species, n_freq)", "standard error of raw_power", optional=True)
    temperature_err_k: float = quantity("K", "()", "standard error of temperature_k over blocks", optional=True)
    temperature_undamped_k: float = quantity(
        "K", "()", "velocities from positions only: kinetic temperature once the central-difference damping "
        "sinc²(2πνΔt) of the spectrum is undone below half the Nyquist frequency", optional=True)
    resolution_fwhm_thz: float = quantity("THz", "()", "FWHM the lag window imposes on a sharp line", optional=True)
    nyquist_thz: float = quantity("THz", "()", "highest frequency, 1/(2Δt)", optional=True)
    warnings: tuple[str, ...] = quantity("", "(n_warnings,)", "warnings about the statistics of the spectrum",
                                         optional=True)
    provenance: Provenance = dataclasses.field(default=None)

    def save(self, path) -> None:
        """Write to ``.h5`` (typed, with units and provenance) or ``.csv``, chosen by extension."""
        save_h5_or_csv(self, path)

    def to_csv(self) -> str:
        """CSV text: ``frequency_THz,total,<species>...`` then ``<name>_err`` columns.

        Frequencies in THz, DOS in 1/THz per atom; units and settings are in the
        provenance YAML the CLI writes beside it.
        """
        columns = [self.frequencies_thz, self.total, *self.partial]
        names = ["frequency_THz", "total", *self.species]
        if self.total_err is not None:
            columns += [self.total_err, *self.partial_err]
            names += ["total_err", *[f"{s}_err" for s in self.species]]
        body = np.column_stack(columns)
        lines = [",".join(names)] + [",".join(f"{v:.8g}" for v in row) for row in body]
        return "\n".join(lines) + "\n"

    def peaks(self, prominence: float = 0.05, max_peaks: int = 8) -> np.ndarray:
        """Frequencies (THz) of the most prominent maxima of ``total``, ascending.

        Parameters
        ----------
        prominence : float
            Minimum prominence as a fraction of the spectrum's maximum.
        max_peaks : int
            Keep at most this many (the most prominent).
        """
        from scipy.signal import find_peaks

        index, props = find_peaks(self.total, prominence=prominence * float(self.total.max()))
        keep = index[np.argsort(props["prominences"])[::-1][:max_peaks]]
        return np.sort(self.frequencies_thz[keep])

    def summary(self) -> str:
        """Human-readable summary: temperature check, resolution, peak frequencies."""
        temp = f"{self.temperature_k:.1f} K"
        if self.temperature_err_k is not None:
            temp += f" ± {self.temperature_err_k:.1f} K"
        if self.temperature_undamped_k is not None:
            temp += (f" from finite differences of positions, which lower it (about "
                     f"{self.temperature_undamped_k:.1f} K with the damping undone; see the warning)")
        lines = [
            f"species: {', '.join(f'{s} ({c:.3f})' for s, c in zip(self.species, self.concentrations))}",
            f"kinetic temperature (equipartition check): {temp}",
            f"resolution (FWHM): {self.resolution_fwhm_thz:.3f} THz, Nyquist {self.nyquist_thz:.2f} THz",
            f"∫ g dν = {np.trapezoid(self.total, self.frequencies_thz):.4f} (expected 3 per atom)",
            "peaks:",
        ]
        for nu in self.peaks():
            lines.append(f"  {nu:8.3f} THz  {nu * THZ_TO_MEV:8.2f} meV  {nu * THZ_TO_INV_CM:8.1f} cm-1")
        lines += [f"warning: {text}" for text in self.warnings or ()]
        return "\n".join(lines)


@dataclasses.dataclass
class _BlockCorrelation:
    """Partial result of some blocks: correlator (while streaming) or C_b, shape (sets, species, window)."""

    blocks: dict


class SpectrumWarning(UserWarning):
    """A spectrum that was computed but rests on too few lags or time origins to be trusted."""


class DOSAnalysis(AnalysisBase):
    """Streaming VACF → phonon DOS analyser.

    Parameters
    ----------
    window : int, optional
        Correlation length (maximum lag) in frames, at least
        :data:`MIN_WINDOW`. Default: half a block, at most 1000 frames; a
        selection whose default is below :data:`MIN_WINDOW` is refused.
    window_function : {"hann", "cos2", "gaussian", "none"}
        Lag window applied before the Fourier transform (default ``"hann"``).
    weights : {"mass", "neutron", "none"}
        Weighting of ``total``/``partial``: phonon DOS (mass-weighted VACF),
        neutron-weighted DOS (incoherent approximation), or plain velocity spectrum.
    cross_section : {"total", "coherent", "incoherent"}
        Which bound cross section weights the neutron DOS.
    blocks : int
        Independent blocks for error bars (1: none). Default 4.
    quantum_correction : {"none", "harmonic", "standard", "schofield"}
        Factor applied to the classical spectra (not renormalised).
    temperature_k : float, optional
        Temperature for the quantum correction; default the kinetic temperature.
    from_positions : bool
        Velocities by central differences of positions when the file has none.
    check_temperature : bool
        Raise :class:`~mdvib.errors.UnitsError` when the kinetic temperature is
        implausible (a sign of wrong velocity units).
    check_time_axis : bool
        Compare finite-difference velocities with the recorded ones over the
        first frames and refuse a frame spacing they contradict
        (:meth:`~mdvib.trajectory.Trajectory.check_time_axis`).
    chunk_frames : int
        Frames read per chunk.
    progress : bool
        Show a progress bar.
    """

    progress_label = "VACF"
    needs_velocities = True

    def __init__(
        self,
        window: int | None = None,
        window_function: str = "hann",
        weights: str = "mass",
        cross_section: str = "total",
        blocks: int = 4,
        quantum_correction: str = "none",
        temperature_k: float | None = None,
        from_positions: bool = False,
        check_temperature: bool = True,
        check_time_axis: bool = True,
        chunk_frames: int = 64,
        progress: bool = False,
    ):
        check_spectrum_settings(window, window_function, blocks)
        if weights not in WEIGHTS:
            raise SettingsError(f"unknown weights {weights!r}; choose one of {list(WEIGHTS)}")
        if cross_section not in CROSS_SECTION_KINDS:
            raise SettingsError(f"unknown cross section {cross_section!r}; choose one of {sorted(CROSS_SECTION_KINDS)}")
        if quantum_correction not in QUANTUM_CORRECTIONS:
            raise SettingsError(
                f"unknown quantum correction {quantum_correction!r}; choose one of {sorted(QUANTUM_CORRECTIONS)}"
            )
        if chunk_frames < 1:
            raise SettingsError(f"chunk_frames must be >= 1, got {chunk_frames}")
        self.window = window
        self.window_function = window_function
        self.weights = weights
        self.cross_section = cross_section
        self.blocks = blocks
        self.quantum_correction = quantum_correction
        self.temperature_k = temperature_k
        self.from_positions = from_positions
        self.check_temperature = check_temperature
        self.check_time_axis = check_time_axis
        self.chunk_frames = chunk_frames
        self.progress = progress

    def settings(self) -> dict:
        """Settings recorded in the result's provenance (the window as resolved by :meth:`run`)."""
        return {
            "window": getattr(self, "_window", self.window),
            "window_function": self.window_function,
            "weights": self.weights,
            "cross_section": self.cross_section,
            "blocks": self.blocks,
            "quantum_correction": self.quantum_correction,
            "temperature_k": self.temperature_k,
            "from_positions": self.from_positions,
            "frequency_oversampling": OVERSAMPLE,
        }

    def run(self, trajectory: Trajectory, start: int = 0, stop: int | None = None, step: int = 1,
            workers: int = 1, scheduler: str | None = None) -> DOSResult:
        """Stream the selected frames and return the DOS.

        Parameters
        ----------
        trajectory : Trajectory
            Opened trajectory with velocities (or positions and ``from_positions``).
        start, stop, step : int
            Frame slice over the file.
        workers : int
            Blocks analysed in parallel processes (see :class:`~mdvib.analysis.base.AnalysisBase`).
        scheduler : str, optional
            ``"local"`` or a Dask scheduler address.
        """
        return super().run(trajectory, start, stop, step, workers, scheduler)

    def _prepare(self, trajectory: Trajectory, selection: FrameSelection) -> None:
        n_frames = self._stream_length(selection)
        self._window = self.window or default_window(n_frames, self.blocks)
        self._check_length(trajectory, selection)
        self._dt_fs = trajectory.frame_spacing_fs(selection.step)
        check_window(n_frames, self._window, self.blocks)
        self._warnings = _statistics_warnings(n_frames, self._window, self.blocks, self._dt_fs)
        self._species = trajectory.unique_species()
        self._species_of_atom = trajectory.species_index()
        self._masses = trajectory.masses
        self._path = trajectory.path
        self._info = trajectory.info
        weight_sets = [np.repeat(self._masses, 3)]
        if self.weights == "none":
            weight_sets.append(np.ones(3 * trajectory.n_atoms))
        self._weight_sets = np.vstack(weight_sets)

    def _parts(self, n_frames: int, workers: int) -> list[Part]:
        """One part per error-bar block (independent by construction)."""
        bounds = block_bounds(n_frames, self.blocks)
        return [Part(b, int(bounds[b]), int(bounds[b + 1])) for b in range(self.blocks)]

    def _new_accumulator(self, part: Part) -> _BlockCorrelation:
        correlator = BlockedAutocorrelator(part.n_frames, self._window, self._weight_sets,
                                           np.repeat(self._species_of_atom, 3), 1)
        return _BlockCorrelation({part.index: correlator})

    def _accumulate(self, accumulator: _BlockCorrelation, chunk: FrameChunk) -> None:
        (correlator,) = accumulator.blocks.values()
        correlator.push(chunk.velocities.reshape(chunk.n_frames, -1))

    def _finish_part(self, accumulator: _BlockCorrelation) -> _BlockCorrelation:
        return _BlockCorrelation({b: c.result()[0] for b, c in accumulator.blocks.items()})

    def merge(self, first: _BlockCorrelation, second: _BlockCorrelation) -> _BlockCorrelation:
        """Union of the blocks of two partials."""
        return _BlockCorrelation(first.blocks | second.blocks)

    def _conclude(self, total: _BlockCorrelation, provenance: Provenance) -> DOSResult:
        correlations = np.stack([total.blocks[b] for b in sorted(total.blocks)])  # (blocks, sets, species, window)
        dt_fs, window, species = self._dt_fs, self._window, self._species
        species_of_atom, masses, path = self._species_of_atom, self._masses, self._path
        n_atoms = masses.shape[0]
        freqs = frequency_grid_thz(window, dt_fs, OVERSAMPLE)
        # mass-weighted: C in amu Å²/fs² → eV; raw = ½ S
        raw = (0.5 * one_sided_spectrum(correlations[:, 0], dt_fs, self.window_function, OVERSAMPLE)
               * AMU_A2_PER_FS2_IN_EV)
        kinetic = 0.5 * correlations[:, 0, :, 0].sum(axis=1) * AMU_A2_PER_FS2_IN_EV  # eV per block
        dof = max(3 * n_atoms - 3, 1)
        temperatures = 2.0 * kinetic / (dof * KB_EV_PER_K)
        self._check_temperature(float(temperatures.mean()), path)
        undamped = None
        if self.from_positions:
            undamped, note = _finite_difference_note(raw.mean(axis=0).sum(axis=0), freqs, dt_fs,
                                                     float(temperatures.mean()))
            if self.quantum_correction != "none" and self.temperature_k is None:
                note += ("; the quantum correction used the lowered temperature: give the true one with "
                         "--temperature K")
            self._warnings.append(note)

        counts = np.bincount(species_of_atom, minlength=len(species))
        concentrations = counts / n_atoms
        if self.weights == "none":
            plain = one_sided_spectrum(correlations[:, 1], dt_fs, self.window_function, OVERSAMPLE)
            partial = 3.0 * plain / np.trapezoid(plain.sum(axis=1), freqs)[:, None, None]
        else:
            partial = 3.0 * raw / np.trapezoid(raw.sum(axis=1), freqs)[:, None, None]
        cross_sections = None
        if self.weights == "neutron":
            cross_sections = np.array([bound_cross_section(s, self.cross_section) for s in species])
            species_mass = np.bincount(species_of_atom, weights=masses) / counts
            factor = cross_sections / species_mass
            partial = partial * (factor / np.dot(concentrations, factor))[None, :, None]

        temperature = float(temperatures.mean()) if self.temperature_k is None else self.temperature_k
        correction = quantum_correction(self.quantum_correction, freqs, temperature)
        partial = partial * correction
        raw = raw * correction
        total = partial.sum(axis=1)

        for text in self._warnings:
            warnings.warn(f"{path}: {text}", SpectrumWarning, stacklevel=4)
        total_mean, total_err = block_mean_error(total)
        partial_mean, partial_err = block_mean_error(partial)
        raw_mean, raw_err = block_mean_error(raw)
        temp_mean, temp_err = block_mean_error(temperatures)
        return DOSResult(
            frequencies_thz=freqs,
            total=total_mean,
            partial=partial_mean,
            raw_power=raw_mean,
            species=tuple(species),
            concentrations=concentrations,
            temperature_k=float(temp_mean),
            weights=self.weights,
            cross_sections_barn=cross_sections,
            total_err=total_err,
            partial_err=partial_err,
            raw_power_err=raw_err,
            temperature_err_k=None if temp_err is None else float(temp_err),
            temperature_undamped_k=undamped,
            resolution_fwhm_thz=resolution_fwhm_thz(window, dt_fs, self.window_function),
            nyquist_thz=float(freqs[-1]),
            warnings=tuple(self._warnings),
            provenance=provenance,
        )

    def _check_length(self, trajectory: Trajectory, selection: FrameSelection) -> None:
        """Refuse a selection whose lag window would be shorter than :data:`MIN_WINDOW` (message names the fix)."""
        if self._window >= MIN_WINDOW:
            return
        refusal = _too_few_lags(selection.n_frames, trajectory.n_frames, self._window, self.blocks,
                                2 if self.from_positions else 0)
        raise SettingsError(f"{trajectory.path}: {refusal}")

    def _check_temperature(self, temperature: float, path: str) -> None:
        low, high = PLAUSIBLE_TEMPERATURE_K
        if not self.check_temperature or low <= temperature <= high:
            return
        if self.from_positions:
            spacing = "long" if temperature < low else "short"
            raise UnitsError(
                f"{path}: the kinetic temperature from finite differences of positions is {temperature:.3g} K, "
                f"which is implausible; it scales as 1/Δt², so the time between frames ({self._dt_fs:.4g} fs) "
                f"looks too {spacing}: check --dt (the MD time step for files with step numbers) and that the "
                "positions are in Å (or pass --no-temperature-check if it is right)"
            )
        hint = velocity_unit_hint(self._info, too_small=temperature < low)
        raise UnitsError(
            f"{path}: the kinetic temperature from the velocities is {temperature:.3g} K, which is implausible; "
            f"{hint} (or pass --no-temperature-check if it is right)"
        )


def default_window(n_frames: int, blocks: int) -> int:
    """Lag window when none is given: half a block, at most 1000 frames (at least 2)."""
    return min(1000, max(2, n_frames // blocks // 2))


def _too_few_lags(n_selected: int, n_file: int, lags: int, blocks: int, used: int) -> str:
    """Why a selection's default window has fewer than :data:`MIN_WINDOW` lags, and the options that would do.

    Parameters
    ----------
    n_selected, n_file : int
        Frames selected (``--start/--stop/--step``) and in the file.
    lags : int
        The default window of the selection.
    blocks : int
        ``--blocks``.
    used : int
        Frames used up before correlating (2 with ``--from-positions``).
    """
    default = f"{2 * MIN_WINDOW * blocks + used} frames for the default window (half a block) with --blocks {blocks}"
    fewest = f"{MIN_WINDOW + used} frames (--window {MIN_WINDOW} --blocks 1)"
    if n_selected < 2:
        where = "the file holds a single frame" if n_file < 2 else f"the selection holds a single frame of {n_file}"
        return f"{where}: a velocity autocorrelation needs a trajectory of at least {fewest}, and {default}"
    have = f"{n_selected} frames" + ("" if n_selected == n_file else f" (selected of {n_file})")
    blocks_fit = min(blocks, (n_selected - used) // MIN_WINDOW)  # blocks that hold the shortest window
    if blocks_fit < 1:
        fix = f"use a trajectory of at least {fewest}, or {default}"
    elif blocks_fit == blocks:
        fix = f"pass --window {MIN_WINDOW}, or use at least {default}"
    else:
        fix = (f"pass --window {MIN_WINDOW} --blocks {blocks_fit} (each block needs at least {MIN_WINDOW} frames), "
               f"or use at least {default}")
    spend = f", of which --from-positions' central differences use {used}," if used else ""
    unit = "block" if blocks == 1 else "blocks"
    return (f"{have}{spend} in {blocks} {unit} (--blocks) leave a default window (half a block) of only {lags} "
            f"lags; a spectrum needs at least {MIN_WINDOW}: {fix}")


def _finite_difference_note(raw: np.ndarray, freqs: np.ndarray, dt_fs: float,
                            temperature: float) -> tuple[float, str]:
    """Temperature once the central-difference damping is undone, and the warning that says so.

    Parameters
    ----------
    raw : ndarray, shape (n_freq,)
        Mass-weighted power spectrum of the finite-difference velocities, eV/THz.
    freqs : ndarray, shape (n_freq,)
        Its frequencies, THz (up to the Nyquist frequency).
    dt_fs : float
        Time between the differenced frames, fs.
    temperature : float
        Kinetic temperature of the finite-difference velocities, K.
    """
    cutoff = UNDAMPED_UP_TO_NYQUIST * freqs[-1]
    below = freqs <= cutoff
    total = np.trapezoid(raw, freqs)
    above = total - np.trapezoid(raw[below], freqs[below])
    undone = np.trapezoid(raw[below] / central_difference_damping(freqs[below], dt_fs), freqs[below])
    undamped = float(temperature * (undone + above) / total)
    text = (f"velocities from finite differences of positions {dt_fs:.4g} fs apart damp a mode at ν by "
            f"sinc²(2πνΔt), which lowers the kinetic temperature (equipartition check): {temperature:.1f} K here, "
            f"about {undamped:.1f} K once the damping is undone below {cutoff:.4g} THz; the DOS is damped the "
            "same way")
    share = above / total
    if share > UNDAMPED_MAX_ABOVE:
        text += (f". {100 * share:.0f} % of the kinetic energy lies above {cutoff:.4g} THz, where the damping "
                 "cannot be undone, so the true temperature is higher still: the frames are too far apart")
    text += "; record velocities, or write frames more often, for the true temperature and DOS"
    return undamped, text


def _statistics_warnings(n_frames: int, window: int, blocks: int, dt_fs: float) -> list[str]:
    """Warnings for spectra on too few lags (coarse) or time origins (noisy), with the options that help."""
    out = []
    if window < MIN_USEFUL_WINDOW:
        fix = "use a longer trajectory" + (" or fewer --blocks" if blocks > 1 else "")
        out.append(f"the spectrum rests on a window of only {window} lags ({window + 1} frequencies, resolution about "
                   f"{1e3 / (window * dt_fs):.3g} THz): it cannot resolve phonons; {fix}")
    origins = n_frames // blocks - window + 1
    if origins < MIN_ORIGINS:
        plural = "" if origins == 1 else "s"
        fixes = [option for option, useful in (("a shorter --window", window > MIN_WINDOW),
                                               ("fewer --blocks", blocks > 1)) if useful]
        fix = " or ".join(fixes) if fixes else "a longer trajectory"
        each = "the single block has" if blocks == 1 else f"each of the {blocks} blocks has"
        out.append(f"{each} {n_frames // blocks} frames for a window of {window} lags, so the longest lags are "
                   f"averaged over only {max(origins, 0)} time origin{plural} and the spectrum is noisy; use {fix}")
    return out


# ----------------------------------------------------------------------------- registry: CLI, campaigns, plots


@dataclasses.dataclass(frozen=True)
class DOSCampaignSettings:
    """``[analysis.dos]`` of a campaign: the :class:`DOSAnalysis` options, plus ``workers``.

    Attributes
    ----------
    window : int, optional
        Correlation length in frames (default: half a block, at most 1000).
    window_function, weights, cross_section : str
        As :class:`DOSAnalysis`.
    blocks : int
        Blocks for standard errors.
    quantum_correction : str
        As :class:`DOSAnalysis`.
    workers : int
        Blocks analysed in parallel processes.
    """

    window: int | None = None
    window_function: str = "hann"
    weights: str = "mass"
    cross_section: str = "total"
    blocks: int = 4
    quantum_correction: str = "none"
    workers: int = 1

    def __post_init__(self):
        if self.workers < 1:
            raise SettingsError(f"workers must be >= 1, got {self.workers}")
        self.analysis()  # the analyser's own checks, before any MD runs

    def analysis(self, progress: bool = False) -> DOSAnalysis:
        """The configured analyser."""
        options = dataclasses.asdict(self)
        options.pop("workers")
        return DOSAnalysis(**options, progress=progress)


def run_in_campaign(step: CampaignStep, settings: DOSCampaignSettings) -> AnalysisOutput:
    """DOS of one campaign temperature: ``dos.h5`` and ``dos.csv`` in its folder."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SpectrumWarning)  # in result.warnings, shown in the campaign summary
        result = settings.analysis(step.progress).run(step.open_trajectory(), start=step.first_frame,
                                                        workers=settings.workers)
    files = tuple(step.directory / name for name in ("dos.h5", "dos.csv"))
    for path in files:
        result.save(path)
    return AnalysisOutput(result, files)


def plot_series(directories, labels, path, title: str | None = None) -> None:
    """All temperatures' DOS (``dos.h5`` of each folder) on one figure."""
    from mdvib.plot import plot_dos_series
    from mdvib.results import load_result

    plot_dos_series([load_result(Path(d) / "dos.h5") for d in directories], labels, path, title=title)


def headline(result: DOSResult) -> str:
    """One line for a campaign summary: kinetic temperature and the main peaks."""
    peaks = ", ".join(f"{nu:.2f}" for nu in result.peaks(max_peaks=4))
    return f"T_kin = {result.temperature_k:.1f} K, DOS peaks {peaks} THz"


ANALYSIS = register_analysis(AnalysisSpec(
    name="dos",
    help="phonon DOS from the VACF",
    command="mdvib.cli.dos",
    campaign_settings=DOSCampaignSettings,
    run_in_campaign=run_in_campaign,
    result_file="dos.h5",
    plot_series=plot_series,
    series_file="dos_series.png",
    headline=headline,
    needs_dynamics=True,
))
