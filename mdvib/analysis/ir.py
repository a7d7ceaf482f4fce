"""Infrared absorption from the autocorrelation of the total dipole moment.

docs/physics.md, "Infrared absorption from the dipole autocorrelation" (SI units,
M the total dipole with its mean removed, J = Ṁ):

* conductivity σ(ω) = (β/6V) ∫ ⟨J(0)·J(t)⟩ e^{−iωt} dt = (βω²/6V) ∫ ⟨M(0)·M(t)⟩ e^{−iωt} dt, S/m;
* ε″(ω) = σ/(ε₀ω); absorption n(ω)α(ω) = σ/(ε₀c), reported in cm⁻¹;
* molar absorption coefficient ε_m(ν̃) = nα/c_mol, c_mol = N_mol/(N_A V), in (km/mol)/cm⁻¹,
  whose integral over a band in cm⁻¹ is the band intensity in km/mol (the volume cancels).

The βω² form already is the harmonic quantum-corrected absorption; the default
``quantum_correction="harmonic"`` multiplies by nothing, and the other options
multiply by their factor relative to the harmonic one (never both).

Two ways to the current spectrum (``method``):

* ``"derivative"`` (default): J from forward differences of M between
  consecutive frames; its spectrum is divided by the damping sinc²(νΔt) that
  the difference imposes (the finite-difference correction, ≥ 0.405 up to the
  Nyquist frequency). No mean to remove; a diffusing dipole (ionic bulk) is fine.
* ``"dipole"``: ω² times the spectrum of M, its block mean removed exactly
  (every lag of the unbiased estimator corrected).

Error bars: one spectrum per independent block of frames, mean and standard error.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import numpy as np
import scipy.constants as sc

from mdvib.analysis.base import AnalysisBase, Part
from mdvib.analysis.correlator import BlockedAutocorrelator, block_bounds, block_mean_error, check_window
from mdvib.analysis.dipoles import ChargeDipoles, DipoleSource, TrajectoryDipoles
from mdvib.analysis.dos import OVERSAMPLE, SpectrumWarning, default_window
from mdvib.analysis.registry import AnalysisOutput, AnalysisSpec, CampaignStep, register_analysis
from mdvib.analysis.spectral import (
    MIN_WINDOW,
    check_spectrum_settings,
    frequency_grid_thz,
    one_sided_spectrum,
    quantum_correction,
    resolution_fwhm_thz,
)
from mdvib.errors import MissingDataError, SettingsError
from mdvib.io.base import FrameChunk
from mdvib.results import Provenance, quantity, result_type, save_h5_or_csv
from mdvib.trajectory import FrameSelection, Trajectory
from mdvib.units import THZ_TO_INV_CM

#: Ways from the dipole series to the current spectrum.
METHODS = ("derivative", "dipole")
#: Quantum corrections: the βω² form is the harmonic one ("none" is the same: classical = harmonic here).
IR_QUANTUM_CORRECTIONS = ("harmonic", "none", "standard", "schofield")

_E_A = sc.e * 1e-10  # e·Å in C·m
_PS = 1e-12


@result_type
@dataclasses.dataclass(frozen=True)
class IRResult:
    """Infrared absorption spectrum from the dipole autocorrelation.

    Bulk quantities (``conductivity``, ``eps_imag``, ``absorption``) need the
    volume and are ``None`` without one; ``molar_absorption`` needs the number
    of molecules and is ``None`` without it. ``*_err`` are standard errors
    over blocks (``None`` with one block).
    """

    wavenumbers_cm: np.ndarray = quantity("1/cm", "(n_freq,)", "wavenumber ν̃")
    frequencies_thz: np.ndarray = quantity("THz", "(n_freq,)", "linear frequency ν")
    temperature_k: float = quantity("K", "()", "temperature in β = 1/k_BT")
    method: str = quantity("", "()", "derivative (finite differences, corrected) or dipole (ω² weighting)")
    quantum_correction: str = quantity("", "()", "quantum correction (harmonic: none applied, the βω² form is "
                                       "harmonic-corrected)")
    dipole_source: str = quantity("", "()", "where the dipoles came from: trajectory, series or charges")
    conductivity: np.ndarray = quantity("S/m", "(n_freq,)", "σ(ν), ∫₀^∞ σ dω = (πβ/6V)⟨J²⟩", optional=True)
    eps_imag: np.ndarray = quantity("", "(n_freq,)", "ε″ = σ/(ε₀ω)", optional=True)
    absorption: np.ndarray = quantity("1/cm", "(n_freq,)", "n(ν)α(ν) = σ/(ε₀c), napierian", optional=True)
    eps_real_ionic: np.ndarray = quantity("", "(n_freq,)", "ε′ − ε∞ from ε″ by Kramers–Kronig (kramers_kronig=True)",
                                          optional=True)
    molar_absorption: np.ndarray = quantity("km/mol/(1/cm)", "(n_freq,)",
                                            "napierian molar absorption coefficient; ∫ dν̃ over a band = km/mol",
                                            optional=True)
    conductivity_err: np.ndarray = quantity("S/m", "(n_freq,)", "standard error of conductivity", optional=True)
    eps_imag_err: np.ndarray = quantity("", "(n_freq,)", "standard error of eps_imag", optional=True)
    eps_real_ionic_err: np.ndarray = quantity("", "(n_freq,)", "standard error of eps_real_ionic", optional=True)
    absorption_err: np.ndarray = quantity("1/cm", "(n_freq,)", "standard error of absorption", optional=True)
    molar_absorption_err: np.ndarray = quantity("km/mol/(1/cm)", "(n_freq,)", "standard error of molar_absorption",
                                                optional=True)
    volume_a3: float = quantity("A^3", "()", "volume V (mean over frames, or as given)", optional=True)
    n_molecules: int = quantity("", "()", "molecules in the volume (molar absorption)", optional=True)
    resolution_cm: float = quantity("1/cm", "()", "FWHM the lag window imposes on a sharp line", optional=True)
    nyquist_cm: float = quantity("1/cm", "()", "highest wavenumber, 1/(2Δt c)", optional=True)
    warnings: tuple[str, ...] = quantity("", "(n_warnings,)", "warnings about the input or statistics",
                                         optional=True)
    provenance: Provenance = dataclasses.field(default=None)

    def save(self, path) -> None:
        """Write to ``.h5`` (typed, with units and provenance) or ``.csv``, chosen by extension."""
        save_h5_or_csv(self, path)

    def _columns(self) -> list[tuple[str, np.ndarray]]:
        columns = [("wavenumber_cm-1", self.wavenumbers_cm), ("frequency_THz", self.frequencies_thz)]
        for name, label in (("conductivity", "conductivity_S/m"), ("eps_imag", "eps_imag"),
                            ("eps_real_ionic", "eps_real_ionic"),
                            ("absorption", "n_alpha_cm-1"), ("molar_absorption", "molar_absorption_km/mol/cm-1")):
            value, error = getattr(self, name), getattr(self, f"{name}_err")
            if value is not None:
                columns.append((label, value))
                if error is not None:
                    columns.append((f"{label}_err", error))
        return columns

    def to_csv(self) -> str:
        """CSV text: wavenumber (cm⁻¹), frequency (THz), each spectrum present and its ``_err`` (units in names)."""
        names, values = zip(*self._columns())
        body = np.column_stack(values)
        return "\n".join([",".join(names)] + [",".join(f"{v:.8g}" for v in row) for row in body]) + "\n"

    def headline_spectrum(self) -> tuple[str, np.ndarray]:
        """Label and values of the spectrum to show: the molar absorption if present, else n·α."""
        if self.molar_absorption is not None:
            return "molar absorption (km/mol per cm⁻¹)", self.molar_absorption
        return "absorption n·α (cm⁻¹)", self.absorption

    def peaks(self, prominence: float = 0.05, max_peaks: int = 8) -> np.ndarray:
        """Wavenumbers (cm⁻¹) of the most prominent maxima of the headline spectrum, ascending."""
        from scipy.signal import find_peaks

        _, spectrum = self.headline_spectrum()
        index, props = find_peaks(spectrum, prominence=prominence * float(spectrum.max()))
        keep = index[np.argsort(props["prominences"])[::-1][:max_peaks]]
        return np.sort(self.wavenumbers_cm[keep])

    def band_intensity(self, low_cm: float, high_cm: float) -> float:
        """Integrated molar absorption ∫ ε_m dν̃ over ``low_cm ≤ ν̃ ≤ high_cm``, km/mol (trapezoid rule).

        Raises
        ------
        SettingsError
            Without ``molar_absorption`` (no number of molecules given).
        """
        if self.molar_absorption is None:
            raise SettingsError("band intensities in km/mol need the number of molecules (--molecules N)")
        inside = (self.wavenumbers_cm >= low_cm) & (self.wavenumbers_cm <= high_cm)
        return float(np.trapezoid(self.molar_absorption[inside], self.wavenumbers_cm[inside]))

    def summary(self) -> str:
        """Human-readable summary: inputs, resolution, peak wavenumbers."""
        lines = [f"dipoles: {self.dipole_source}, method {self.method}, T = {self.temperature_k:g} K, "
                 f"quantum correction {self.quantum_correction}"]
        if self.volume_a3 is not None:
            lines.append(f"volume {self.volume_a3:.6g} Å³")
        if self.n_molecules is not None:
            lines.append(f"molecules: {self.n_molecules}")
        lines.append(f"resolution (FWHM): {self.resolution_cm:.2f} cm-1, Nyquist {self.nyquist_cm:.1f} cm-1")
        label, _ = self.headline_spectrum()
        lines.append(f"peaks of the {label}:")
        lines += [f"  {nu:9.1f} cm-1  {nu / THZ_TO_INV_CM:8.3f} THz" for nu in self.peaks()]
        lines += [f"warning: {text}" for text in self.warnings or ()]
        return "\n".join(lines)


class SeriesMean:
    """What removing the mean of a block of series from its unbiased autocorrelation needs, streamed.

    Keeps the running sum, the first and the last ``window`` rows of the
    series pushed (memory O(window · n_series)).

    Parameters
    ----------
    window : int
        Number of lags W of the correlation.
    n_series : int
        Series pushed side by side.
    """

    def __init__(self, window: int, n_series: int):
        self.window = window
        self.n = 0
        self.total = np.zeros(n_series)
        self.head = np.zeros((0, n_series))
        self.tail = np.zeros((0, n_series))

    def push(self, rows: np.ndarray) -> None:
        """Add consecutive rows, shape (n, n_series)."""
        if self.head.shape[0] < self.window:
            self.head = np.vstack([self.head, rows[: self.window - self.head.shape[0]]])
        self.tail = np.vstack([self.tail, rows])[-self.window:]
        self.total += rows.sum(axis=0)
        self.n += rows.shape[0]

    def remove(self, correlation: np.ndarray) -> np.ndarray:
        """The unbiased autocorrelations of the series minus their means, at every lag.

        Σ_t (x_t − m)(x_{t+τ} − m) = Σ_t x_t x_{t+τ} − m (H_τ + T_τ) + (L − τ) m², with
        H_τ = Σ_{t<L−τ} x_t (all but the last τ rows) and T_τ = Σ_{t≥τ} x_t (all but the first τ).

        Parameters
        ----------
        correlation : ndarray, shape (n_series, W)
            Unbiased autocorrelation of each raw series (divided by L − τ).

        Returns
        -------
        ndarray, shape (n_series, W)
        """
        lags = np.arange(correlation.shape[-1])
        mean = self.total / self.n
        first = np.vstack([np.zeros_like(mean), np.cumsum(self.head, axis=0)])[lags]  # Σ of the first τ rows
        last = np.vstack([np.zeros_like(mean), np.cumsum(self.tail[::-1], axis=0)])[lags]  # Σ of the last τ
        cross = ((self.total - last) + (self.total - first)) * mean  # (W, n_series)
        return correlation - cross.T / (self.n - lags) + (mean**2)[:, None]


@dataclasses.dataclass
class _Block:
    """Accumulator of one block: the correlator, the mean tracker and the volume."""

    correlator: BlockedAutocorrelator | None
    mean: SeriesMean | None
    state: dict
    volume_sum: float = 0.0
    volume_frames: int = 0
    correlation: np.ndarray | None = None  # (W,) once finished


class IRAnalysis(AnalysisBase):
    """Streaming dipole autocorrelation → IR absorption analyser.

    Parameters
    ----------
    temperature_k : float
        Temperature of the run, K (β = 1/k_BT in the absorption).
    source : DipoleSource, optional
        Where the dipoles come from (default: stored in the trajectory).
    n_molecules : int, optional
        Molecules in the volume: adds the molar absorption in km/mol (no volume needed).
    volume_a3 : float, optional
        Volume in Å³ (default: the cell volume, averaged over the frames).
        Without either, only the molar absorption can be computed.
    method : {"derivative", "dipole"}
        Current from corrected finite differences (default), or ω² × dipole spectrum.
    window : int, optional
        Correlation length in frames (default: half a block, at most 1000).
    window_function : {"hann", "cos2", "gaussian", "none"}
        Lag window (default ``"hann"``).
    blocks : int
        Independent blocks for error bars (default 4; 1 for none).
    quantum_correction : {"harmonic", "none", "standard", "schofield"}
        "harmonic" and "none" apply nothing (the βω² form is both the classical
        and the harmonic-corrected result); "standard" multiplies by
        tanh(x/2)/(x/2) and "schofield" by sinh(x/2)/(x/2), x = hν/k_BT, their
        factors relative to the harmonic one.
    kramers_kronig : bool
        Also give ε′(ω) − ε∞ from ε″ by the Kramers–Kronig relation (needs the volume).
    chunk_frames : int
        Frames read per chunk.
    progress : bool
        Show a progress bar.
    """

    progress_label = "IR"
    check_time_axis = False  # dipole data carry no velocities to check the spacing with

    def __init__(self, temperature_k: float, source: DipoleSource | None = None, n_molecules: int | None = None,
                 volume_a3: float | None = None, method: str = "derivative", window: int | None = None,
                 window_function: str = "hann", blocks: int = 4, quantum_correction: str = "harmonic",
                 kramers_kronig: bool = False, chunk_frames: int = 256, progress: bool = False):
        if not (isinstance(temperature_k, (int, float)) and temperature_k > 0):
            raise SettingsError(f"the IR absorption needs the temperature of the run (--temperature K > 0), "
                                f"got {temperature_k!r}")
        if method not in METHODS:
            raise SettingsError(f"unknown method {method!r}; choose one of {list(METHODS)}")
        check_spectrum_settings(window, window_function, blocks)
        if quantum_correction not in IR_QUANTUM_CORRECTIONS:
            raise SettingsError(f"unknown quantum correction {quantum_correction!r} for IR; choose one of "
                                f"{list(IR_QUANTUM_CORRECTIONS)} (the βω² absorption is already harmonic-corrected)")
        if n_molecules is not None and n_molecules < 1:
            raise SettingsError(f"n_molecules must be >= 1, got {n_molecules}")
        if volume_a3 is not None and not volume_a3 > 0:
            raise SettingsError(f"volume must be positive (Å³), got {volume_a3}")
        if chunk_frames < 1:
            raise SettingsError(f"chunk_frames must be >= 1, got {chunk_frames}")
        self.temperature_k = float(temperature_k)
        self.source = source if source is not None else TrajectoryDipoles()
        self.n_molecules = n_molecules
        self.volume_a3 = volume_a3
        self.method = method
        self.window = window
        self.window_function = window_function
        self.blocks = blocks
        self.quantum_correction = quantum_correction
        self.kramers_kronig = kramers_kronig
        self.chunk_frames = chunk_frames
        self.progress = progress

    def settings(self) -> dict:
        """Settings recorded in the provenance (window as resolved)."""
        return {
            "temperature_k": self.temperature_k,
            "dipoles": self.source.settings(),
            "n_molecules": self.n_molecules,
            "volume_a3": self.volume_a3,
            "method": self.method,
            "window": getattr(self, "_window", self.window),
            "window_function": self.window_function,
            "blocks": self.blocks,
            "quantum_correction": self.quantum_correction,
            "kramers_kronig": self.kramers_kronig,
            "frequency_oversampling": OVERSAMPLE,
        }

    def _extra_inputs(self) -> tuple[str, ...]:
        return self.source.inputs()

    def run(self, trajectory: Trajectory, start: int = 0, stop: int | None = None, step: int = 1,
            workers: int = 1, scheduler: str | None = None) -> IRResult:
        """Stream the selected frames and return the IR spectrum (see :meth:`AnalysisBase.run`)."""
        return super().run(trajectory, start, stop, step, workers, scheduler)

    # ------------------------------------------------------------------ lifecycle
    def _stream_length(self, selection: FrameSelection) -> int:
        """Forward differences leave one frame fewer than selected."""
        return selection.n_frames - (1 if self.method == "derivative" else 0)

    def _prepare(self, trajectory: Trajectory, selection: FrameSelection) -> None:
        self.source.check(trajectory, selection)
        n_frames = self._stream_length(selection)
        self._window = self.window or default_window(n_frames, self.blocks)
        if self._window < MIN_WINDOW:
            raise SettingsError(
                f"{trajectory.path}: {selection.n_frames} selected frames in {self.blocks} blocks leave a window of "
                f"{self._window} lags; a spectrum needs at least {MIN_WINDOW}: use a longer run or fewer --blocks")
        check_window(n_frames, self._window, self.blocks)
        self._dt_fs = trajectory.frame_spacing_fs(selection.step)
        self._path = trajectory.path
        self._warnings = []
        if isinstance(self.source, ChargeDipoles) and self.source.warning():
            self._warnings.append(self.source.warning())
        if self.kramers_kronig and self.method == "derivative":
            self._warnings.append("Kramers-Kronig on the derivative method: window leakage of the current spectrum "
                                  "near ω = 0 biases ε′ at low frequency (the static limit high by several %); "
                                  "use method 'dipole' (--method dipole) for ε′")
        if self.n_molecules is None and self.volume_a3 is None:
            first = next(trajectory.iter_chunks(FrameSelection(selection.start, selection.start + 1, 1), 1))
            if not abs(np.linalg.det(first.cells[0])) > 1e-9:
                raise MissingDataError(
                    f"{trajectory.path}: frame {selection.start} has no cell volume, and the bulk IR spectrum "
                    "(σ, ε″, n·α) needs the volume: give a periodic cell, --volume Å³, or --molecules N for the "
                    "molar absorption of molecules in km/mol")

    def _parts(self, n_frames: int, workers: int) -> list[Part]:
        """One part per error-bar block."""
        bounds = block_bounds(n_frames, self.blocks)
        return [Part(b, int(bounds[b]), int(bounds[b + 1])) for b in range(self.blocks)]

    def _new_accumulator(self, part: Part) -> dict:
        correlator = BlockedAutocorrelator(part.n_frames, self._window, np.ones((1, 3)), np.arange(3), 1)
        mean = SeriesMean(self._window, 3) if self.method == "dipole" else None
        return {part.index: _Block(correlator, mean, {})}

    def _accumulate(self, accumulator: dict, chunk: FrameChunk) -> None:
        (block,) = accumulator.values()
        dipoles = np.asarray(self.source.dipoles(chunk, block.state), dtype=np.float64)
        volumes = np.abs(np.linalg.det(chunk.cells))
        block.volume_sum += float(volumes.sum())
        block.volume_frames += chunk.n_frames
        if self.method == "derivative":
            previous = block.state.get("last_dipole")
            block.state["last_dipole"] = dipoles[-1]
            series = np.diff(dipoles if previous is None else np.vstack([previous, dipoles]), axis=0)
        else:
            series = dipoles
            block.mean.push(series)
        if series.shape[0]:
            block.correlator.push(series)

    def _finish_part(self, accumulator: dict) -> dict:
        for block in accumulator.values():
            correlation = block.correlator.result()[0, 0]  # (3 components, W)
            if block.mean is not None:
                correlation = block.mean.remove(correlation)
            block.correlation, block.correlator, block.mean, block.state = correlation.sum(axis=0), None, None, {}
        return accumulator

    def merge(self, first: dict, second: dict) -> dict:
        """Union of the blocks of two partials."""
        return first | second

    def _conclude(self, total: dict, provenance: Provenance) -> IRResult:
        blocks = [total[b] for b in sorted(total)]
        correlations = np.stack([b.correlation for b in blocks])  # (blocks, W), (e·Å)² or (e·Å per frame)²
        dt_fs, window = self._dt_fs, self._window
        freqs = frequency_grid_thz(window, dt_fs, OVERSAMPLE)
        omega = 2.0 * np.pi * freqs / _PS  # rad/s
        two_sided = 0.5 * one_sided_spectrum(correlations, dt_fs, self.window_function, OVERSAMPLE)  # C·ps
        two_sided_si = two_sided * _E_A**2 * _PS
        if self.method == "derivative":
            dt_s = dt_fs * 1e-15
            current = two_sided_si / dt_s**2 / np.sinc(freqs * dt_fs * 1e-3) ** 2
        else:
            current = two_sided_si * omega**2  # C² m² / s
        beta = 1.0 / (sc.k * self.temperature_k)
        relative = (quantum_correction(self.quantum_correction, freqs, self.temperature_k)
                    / quantum_correction("harmonic", freqs, self.temperature_k)
                    if self.quantum_correction in ("standard", "schofield") else 1.0)
        sigma_volume = beta / 6.0 * current * relative  # σ·V, S·m²

        volume = self.volume_a3
        if volume is None:
            counted = sum(b.volume_frames for b in blocks)
            mean_volume = sum(b.volume_sum for b in blocks) / counted
            volume = mean_volume if mean_volume > 1e-9 else None
        fields: dict = {}
        if volume is not None:
            sigma = sigma_volume / (volume * 1e-30)
            with np.errstate(divide="ignore", invalid="ignore"):
                eps = np.where(omega > 0, sigma / (sc.epsilon_0 * np.where(omega > 0, omega, 1.0)), 0.0)
            spectra = {"conductivity": sigma, "eps_imag": eps, "absorption": sigma / (sc.epsilon_0 * sc.c) * 1e-2}
            if self.kramers_kronig:
                spectra["eps_real_ionic"] = kramers_kronig_real(eps)
            for name, values in spectra.items():
                fields[name], fields[f"{name}_err"] = block_mean_error(values)
        if self.n_molecules is not None:
            molar = sigma_volume * sc.N_A / (sc.epsilon_0 * sc.c * self.n_molecules) * 0.1  # (km/mol)/cm⁻¹
            fields["molar_absorption"], fields["molar_absorption_err"] = block_mean_error(molar)
        for text in self._warnings:
            warnings.warn(f"{self._path}: {text}", SpectrumWarning, stacklevel=4)
        return IRResult(
            wavenumbers_cm=freqs * THZ_TO_INV_CM,
            frequencies_thz=freqs,
            temperature_k=self.temperature_k,
            method=self.method,
            quantum_correction=self.quantum_correction,
            dipole_source=self.source.kind,
            volume_a3=None if volume is None else float(volume),
            n_molecules=self.n_molecules,
            resolution_cm=resolution_fwhm_thz(window, dt_fs, self.window_function) * THZ_TO_INV_CM,
            nyquist_cm=float(freqs[-1] * THZ_TO_INV_CM),
            warnings=tuple(self._warnings),
            provenance=provenance,
            **fields,
        )


def kramers_kronig_real(eps_imag: np.ndarray, padding: int = 8) -> np.ndarray:
    """ε′(ω) − ε∞ = (2/π) P∫₀^∞ ω′ε″(ω′)/(ω′² − ω²) dω′ on a uniform grid from ω = 0.

    Computed as minus the Hilbert transform of the odd extension of ε″ (FFT,
    zero-padded ``padding``×); ε″ is taken as zero beyond the last point.

    Parameters
    ----------
    eps_imag : ndarray, shape (..., n_freq)
        ε″ on ω_k = kΔω, k = 0 … n_freq − 1.

    Returns
    -------
    ndarray, shape (..., n_freq)
    """
    from scipy.signal import hilbert

    n = eps_imag.shape[-1]
    odd = np.concatenate([-eps_imag[..., :0:-1], eps_imag], axis=-1)
    transformed = np.imag(hilbert(odd, N=padding * odd.shape[-1], axis=-1))[..., : odd.shape[-1]]
    return -transformed[..., n - 1:]


# ----------------------------------------------------------------------------- plots


def plot_ir(result: IRResult, path, title: str | None = None) -> None:
    """Draw an IR spectrum with experimental axes: wavenumber (cm⁻¹) decreasing to the right, absorption up.

    Parameters
    ----------
    result : IRResult
    path : path
        Output image (``.png``, ``.pdf``, ``.svg``).
    title : str, optional
        Figure title (default: input file and temperature).
    """
    from mdvib.plot import plt, save_figure

    fig, ax = plt.subplots(figsize=(7, 4.2), layout="constrained")
    label, spectrum = result.headline_spectrum()
    error = result.molar_absorption_err if result.molar_absorption is not None else result.absorption_err
    nu = result.wavenumbers_cm
    ax.plot(nu, spectrum, color="k", lw=1.2)
    if error is not None:
        ax.fill_between(nu, spectrum - error, spectrum + error, color="k", alpha=0.25, lw=0, label="± standard error")
        ax.legend(frameon=False)
    ax.set_xlim(_upper_wavenumber(nu, spectrum), 0)
    ax.set_xlabel("wavenumber ν̃ (cm⁻¹)")
    ax.set_ylabel(label)
    if title is None and result.provenance is not None:
        title = f"{Path(result.provenance.inputs[0]).name}  T = {result.temperature_k:g} K"
    if title:
        ax.set_title(title)
    save_figure(fig, path)


def _upper_wavenumber(nu: np.ndarray, spectrum: np.ndarray, level: float = 0.05) -> float:
    """Right end of the plot: 15 % beyond the last point above ``level`` of the maximum, in steps of 500 cm⁻¹."""
    above = np.flatnonzero(spectrum > level * spectrum.max())
    last = nu[above[-1]] if above.size else nu[-1]
    return float(min(nu[-1], 500.0 * np.ceil(1.15 * last / 500.0)))


def plot_ir_series(directories, labels, path, title: str | None = None) -> None:
    """All temperatures' IR spectra (``ir.h5`` of each folder) on one figure."""
    from mdvib.plot import plt, save_figure
    from mdvib.results import load_result

    fig, ax = plt.subplots(figsize=(7, 4.2), layout="constrained")
    results = [load_result(Path(d) / "ir.h5") for d in directories]
    colours = plt.cm.coolwarm(np.linspace(0, 1, max(len(results), 2)))
    for result, text, colour in zip(results, labels, colours):
        ylabel, spectrum = result.headline_spectrum()
        ax.plot(result.wavenumbers_cm, spectrum, color=colour, lw=1.1, label=text)
    ax.set_xlim(max(_upper_wavenumber(r.wavenumbers_cm, r.headline_spectrum()[1]) for r in results), 0)
    ax.set_xlabel("wavenumber ν̃ (cm⁻¹)")
    ax.set_ylabel(ylabel)
    ax.legend(frameon=False)
    if title:
        ax.set_title(title)
    save_figure(fig, path)


# ----------------------------------------------------------------------------- registry: CLI, campaigns


@dataclasses.dataclass(frozen=True)
class IRCampaignSettings:
    """``[analysis.ir]`` of a campaign: fixed charges and the :class:`IRAnalysis` options.

    Attributes
    ----------
    charges : str
        Charge in e of every species, ``"O=-0.8476,H=0.4238"`` (LAMMPS dumps carry no dipoles).
    n_molecules : int, optional
        Molecules in the cell (adds the molar absorption, km/mol).
    method, window, window_function, blocks, quantum_correction
        As :class:`IRAnalysis`.
    allow_net_charge : bool
        Accept charges that do not sum to zero.
    workers : int
        Blocks analysed in parallel processes.
    """

    charges: str
    n_molecules: int | None = None
    method: str = "derivative"
    window: int | None = None
    window_function: str = "hann"
    blocks: int = 4
    quantum_correction: str = "harmonic"
    allow_net_charge: bool = False
    workers: int = 1

    def __post_init__(self):
        if self.workers < 1:
            raise SettingsError(f"workers must be >= 1, got {self.workers}")
        self.analysis(300.0)  # the analyser's own checks, before any MD runs

    def analysis(self, temperature_k: float, progress: bool = False) -> IRAnalysis:
        """The configured analyser at ``temperature_k``."""
        return IRAnalysis(temperature_k, ChargeDipoles(self.charges, self.allow_net_charge), self.n_molecules,
                          method=self.method, window=self.window, window_function=self.window_function,
                          blocks=self.blocks, quantum_correction=self.quantum_correction, progress=progress)


def run_in_campaign(step: CampaignStep, settings: IRCampaignSettings) -> AnalysisOutput:
    """IR spectrum of one campaign temperature: ``ir.h5`` and ``ir.csv`` in its folder."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SpectrumWarning)
        result = settings.analysis(step.temperature_k, step.progress).run(
            step.open_trajectory(), start=step.first_frame, workers=settings.workers)
    files = tuple(step.directory / name for name in ("ir.h5", "ir.csv"))
    for path in files:
        result.save(path)
    return AnalysisOutput(result, files)


def headline(result: IRResult) -> str:
    """One line for a campaign summary: the main IR bands."""
    return "IR bands " + ", ".join(f"{nu:.0f}" for nu in result.peaks(max_peaks=4)) + " cm-1"


ANALYSIS = register_analysis(AnalysisSpec(
    name="ir",
    help="infrared absorption from the dipole autocorrelation",
    command="mdvib.cli.ir",
    campaign_settings=IRCampaignSettings,
    run_in_campaign=run_in_campaign,
    result_file="ir.h5",
    plot_series=plot_ir_series,
    series_file="ir_series.png",
    headline=headline,
    needs_dynamics=True,
))
