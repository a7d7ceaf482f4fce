"""Raman spectra from the autocorrelation of the polarizability tensor.

docs/physics.md, "Raman from the polarizability autocorrelation". With α(t) the
total polarizability (mean removed) and α^s its symmetric part:

* isotropic: ā = Tr α/3, I_iso(ν) = FT⟨ā(0)ā(t)⟩;
* anisotropic (γ² invariant): I_aniso(ν) = FT of
  ½ Σ_{i<j} ⟨(α_ii − α_jj)(0)(α_ii − α_jj)(t)⟩ + 3 Σ_{i<j} ⟨α^s_ij(0) α^s_ij(t)⟩;
* geometries (90° scattering, incident light polarised perpendicular to the
  scattering plane): VV = iso + (4/45) aniso, VH = aniso/15,
  unpolarised (scattered light not analysed, VV + VH) = iso + (7/45) aniso;
  depolarisation ratio ρ = VH/VV;
* absolute Stokes cross section of each geometry X,
  dσ/(dΩ dν̃) = h(ν̃_L − ν̃)⁴ / [4ε₀² k_BT ν̃ (1 − e^{−hcν̃/k_BT})] · P_α̇,X(ν̃),
  P_α̇ the two-sided transform ∫⟨α̇(0)α̇(t)⟩e^{−iωt}dt (SI) = ω² P_α. Written as
  π²c(ν̃_L − ν̃)⁴/ε₀² · Q(x) · P_α with Q the quantum correction factor (the
  harmonic x/(1 − e^{−x}) by default, as the formula has it; ``"none"`` gives
  the classical limit).

Spectra FT are one-sided, S(ν) = 2∫C(t)cos(2πνt)dt in Å⁶/THz for α in Å³
(polarizability volumes α/(4πε₀)); their integral over ν is the fluctuation
variance. Error bars: one spectrum per independent block of frames.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import scipy.constants as sc

from mdvib.analysis.base import AnalysisBase, Part
from mdvib.analysis.correlator import BlockedAutocorrelator, block_bounds, block_mean_error, check_window
from mdvib.analysis.dipoles import FrameRows, read_series_file
from mdvib.analysis.dos import OVERSAMPLE, default_window
from mdvib.analysis.ir import SeriesMean
from mdvib.analysis.registry import AnalysisSpec, register_analysis
from mdvib.analysis.spectral import (
    MIN_WINDOW,
    QUANTUM_CORRECTIONS,
    check_spectrum_settings,
    frequency_grid_thz,
    one_sided_spectrum,
    quantum_correction,
    resolution_fwhm_thz,
)
from mdvib.errors import SettingsError
from mdvib.io.base import FrameChunk
from mdvib.results import Provenance, quantity, result_type, save_h5_or_csv
from mdvib.trajectory import FrameSelection, Trajectory
from mdvib.units import BOHR_TO_A, THZ_TO_INV_CM

#: Units of a polarizability file → Å³ (polarizability volume α/(4πε₀); atomic units are bohr³).
POLARIZABILITY_UNITS: dict[str, float] = {"A^3": 1.0, "bohr^3": BOHR_TO_A**3}

#: The depolarisation ratio is set to 0 where VV is below this fraction of its maximum (no band there).
DEPOLARISATION_FLOOR = 1.0e-9

#: Series correlated, in this order: ā, α_xx−α_yy, α_yy−α_zz, α_zz−α_xx, α^s_xy, α^s_yz, α^s_xz.
_INVARIANT_WEIGHTS = (np.array([1.0, 0, 0, 0, 0, 0, 0]), np.array([0, 0.5, 0.5, 0.5, 3.0, 3.0, 3.0]))


def invariant_series(tensors: np.ndarray) -> np.ndarray:
    """The seven series whose autocorrelations give the isotropic and anisotropic spectra.

    Parameters
    ----------
    tensors : ndarray, shape (n, 3, 3)
        Polarizability tensors.

    Returns
    -------
    ndarray, shape (n, 7)
        ā, α_xx − α_yy, α_yy − α_zz, α_zz − α_xx, and the symmetrised α_xy, α_yz, α_xz.
    """
    d = np.einsum("nii->ni", tensors)
    sym = 0.5 * (tensors + np.swapaxes(tensors, 1, 2))
    return np.column_stack([d.mean(axis=1), d[:, 0] - d[:, 1], d[:, 1] - d[:, 2], d[:, 2] - d[:, 0],
                            sym[:, 0, 1], sym[:, 1, 2], sym[:, 0, 2]])


class PolarizabilitySeries:
    """Polarizability tensors of the frames, given beside the trajectory, one row per frame.

    Parameters
    ----------
    tensors : ndarray, shape (n_rows, 3, 3)
        Polarizability volumes α/(4πε₀), Å³.
    name : str
        File it came from (messages, provenance).

    Notes
    -----
    As for dipole series: one row per frame of the trajectory file, or per selected frame.
    """

    def __init__(self, tensors: np.ndarray, name: str = "<array>"):
        tensors = np.asarray(tensors, dtype=np.float64)
        if tensors.ndim != 3 or tensors.shape[1:] != (3, 3) or tensors.shape[0] < 2:
            raise SettingsError(f"{name}: polarizabilities need shape (n_frames >= 2, 3, 3), got {tensors.shape}")
        self.rows = FrameRows(tensors, name, "the polarizability series")
        self.name = name

    @classmethod
    def from_file(cls, path: str | Path, unit: str = "A^3") -> PolarizabilitySeries:
        """Read ``.npy`` (n, 3, 3) or (n, 6), or text: 6 columns xx yy zz xy yz xz, 7 (GPUMD
        ``polarizability.out``: step xx yy zz xy yz zx) or 9 (the full tensor, row by row).

        Parameters
        ----------
        path : str or Path
            The file; lines starting with ``#`` are comments.
        unit : {"A^3", "bohr^3"}
            Unit of the polarizability volumes in the file.
        """
        if unit not in POLARIZABILITY_UNITS:
            raise SettingsError(f"unknown polarizability unit {unit!r}; choose one of {sorted(POLARIZABILITY_UNITS)}")
        path = Path(path)
        values = read_series_file(path, "--polarizabilities", "polarizabilities")
        if values.ndim == 2 and values.shape[1] == 7 and path.suffix != ".npy":
            values = values[:, 1:]
        if values.ndim == 2 and values.shape[1] == 6:
            xx, yy, zz, xy, yz, xz = values.T
            values = np.stack([np.stack([xx, xy, xz], -1), np.stack([xy, yy, yz], -1),
                               np.stack([xz, yz, zz], -1)], axis=1)
        elif values.ndim == 2 and values.shape[1] == 9:
            values = values.reshape(-1, 3, 3)
        if values.ndim != 3 or values.shape[1:] != (3, 3):
            raise SettingsError(f"{path}: polarizabilities need 6 columns (xx yy zz xy yz xz), 7 (step first) or "
                                f"9 (full tensor), or a .npy of shape (n, 3, 3); got shape {values.shape}")
        return cls(values * POLARIZABILITY_UNITS[unit], str(path))

    def check(self, trajectory: Trajectory, selection: FrameSelection) -> None:
        """Match the rows to the frames (see the class notes)."""
        self.rows.match(trajectory, selection)

    def tensors_of(self, chunk: FrameChunk) -> np.ndarray:
        """Tensors of the chunk's frames, Å³, shape (n_frames, 3, 3)."""
        return self.rows.of(chunk)


@result_type
@dataclasses.dataclass(frozen=True)
class RamanResult:
    """Raman spectra from the polarizability autocorrelation.

    ``*_err`` are standard errors over blocks (``None`` with one block).
    """

    wavenumbers_cm: np.ndarray = quantity("1/cm", "(n_freq,)", "Raman shift ν̃ (Stokes side)")
    frequencies_thz: np.ndarray = quantity("THz", "(n_freq,)", "linear frequency ν")
    isotropic: np.ndarray = quantity("A^6/THz", "(n_freq,)", "FT of ⟨ā(0)ā(t)⟩ (one-sided, classical)")
    anisotropic: np.ndarray = quantity("A^6/THz", "(n_freq,)", "FT of the γ² invariant's correlation")
    vv: np.ndarray = quantity("A^6/THz", "(n_freq,)", "iso + 4/45 aniso")
    vh: np.ndarray = quantity("A^6/THz", "(n_freq,)", "aniso / 15")
    unpolarised: np.ndarray = quantity("A^6/THz", "(n_freq,)", "iso + 7/45 aniso (= VV + VH)")
    depolarisation: np.ndarray = quantity("", "(n_freq,)", "VH / VV (0 where VV is below 1e-9 of its maximum)")
    laser_cm: float = quantity("1/cm", "()", "laser wavenumber ν̃_L")
    temperature_k: float = quantity("K", "()", "temperature of the cross section")
    quantum_correction: str = quantity("", "()", "factor Q(x) in the cross section (harmonic: the Stokes formula)")
    cross_section_vv: np.ndarray = quantity("cm^2/sr/(1/cm)", "(n_freq,)", "dσ/(dΩ dν̃), VV")
    cross_section_vh: np.ndarray = quantity("cm^2/sr/(1/cm)", "(n_freq,)", "dσ/(dΩ dν̃), VH")
    cross_section: np.ndarray = quantity("cm^2/sr/(1/cm)", "(n_freq,)", "dσ/(dΩ dν̃), unpolarised (VV + VH)")
    isotropic_err: np.ndarray = quantity("A^6/THz", "(n_freq,)", "standard error", optional=True)
    anisotropic_err: np.ndarray = quantity("A^6/THz", "(n_freq,)", "standard error", optional=True)
    cross_section_err: np.ndarray = quantity("cm^2/sr/(1/cm)", "(n_freq,)", "standard error", optional=True)
    resolution_cm: float = quantity("1/cm", "()", "FWHM the lag window imposes on a sharp line", optional=True)
    nyquist_cm: float = quantity("1/cm", "()", "highest wavenumber", optional=True)
    provenance: Provenance = dataclasses.field(default=None)

    def save(self, path) -> None:
        """Write to ``.h5`` or ``.csv``, chosen by extension."""
        save_h5_or_csv(self, path)

    def to_csv(self) -> str:
        """CSV text: shift (cm⁻¹), frequency (THz), the spectra (Å⁶/THz), ρ, cross sections (cm²/sr/cm⁻¹)."""
        names = ["shift_cm-1", "frequency_THz", "isotropic_A6/THz", "anisotropic_A6/THz", "VV_A6/THz", "VH_A6/THz",
                 "unpolarised_A6/THz", "depolarisation", "cross_section_VV_cm2/sr/cm-1",
                 "cross_section_VH_cm2/sr/cm-1", "cross_section_cm2/sr/cm-1"]
        columns = [self.wavenumbers_cm, self.frequencies_thz, self.isotropic, self.anisotropic, self.vv, self.vh,
                   self.unpolarised, self.depolarisation, self.cross_section_vv, self.cross_section_vh,
                   self.cross_section]
        if self.cross_section_err is not None:
            names += ["isotropic_err", "anisotropic_err", "cross_section_err"]
            columns += [self.isotropic_err, self.anisotropic_err, self.cross_section_err]
        body = np.column_stack(columns)
        return "\n".join([",".join(names)] + [",".join(f"{v:.8g}" for v in row) for row in body]) + "\n"

    def peaks(self, prominence: float = 0.05, max_peaks: int = 8) -> np.ndarray:
        """Shifts (cm⁻¹) of the most prominent maxima of the unpolarised cross section, ascending."""
        from scipy.signal import find_peaks

        index, props = find_peaks(self.cross_section, prominence=prominence * float(self.cross_section.max()))
        keep = index[np.argsort(props["prominences"])[::-1][:max_peaks]]
        return np.sort(self.wavenumbers_cm[keep])

    def band(self, low_cm: float, high_cm: float) -> dict[str, float]:
        """Integrals over ``low_cm ≤ ν̃ ≤ high_cm`` of the spectra (Å⁶, over ν in THz) and cross sections (cm²/sr),
        and the band's depolarisation ratio (ratio of the integrals)."""
        inside = (self.wavenumbers_cm >= low_cm) & (self.wavenumbers_cm <= high_cm)
        out = {name: float(np.trapezoid(getattr(self, name)[inside], self.frequencies_thz[inside]))
               for name in ("isotropic", "anisotropic", "vv", "vh", "unpolarised")}
        for name in ("cross_section_vv", "cross_section_vh", "cross_section"):
            out[name] = float(np.trapezoid(getattr(self, name)[inside], self.wavenumbers_cm[inside]))
        out["depolarisation"] = out["vh"] / out["vv"] if out["vv"] > 0 else float("nan")
        return out

    def summary(self) -> str:
        """Human-readable summary: laser, temperature, resolution, bands with their depolarisation."""
        lines = [f"laser {self.laser_cm:.1f} cm-1 ({1e7 / self.laser_cm:.1f} nm), T = {self.temperature_k:g} K, "
                 f"quantum correction {self.quantum_correction}",
                 f"resolution (FWHM): {self.resolution_cm:.2f} cm-1, Nyquist {self.nyquist_cm:.1f} cm-1",
                 "bands of the unpolarised cross section (shift, depolarisation ratio at the peak):"]
        for nu in self.peaks():
            k = int(np.argmin(np.abs(self.wavenumbers_cm - nu)))
            lines.append(f"  {nu:9.1f} cm-1  ρ = {self.depolarisation[k]:.3f}")
        return "\n".join(lines)


class RamanAnalysis(AnalysisBase):
    """Streaming polarizability autocorrelation → Raman spectra and cross sections.

    Parameters
    ----------
    polarizabilities : PolarizabilitySeries
        The tensors of the frames.
    temperature_k : float
        Temperature of the run, K (cross section).
    laser_nm : float
        Laser wavelength, nm (default 532).
    window : int, optional
        Correlation length in frames (default: half a block, at most 1000).
    window_function : {"hann", "cos2", "gaussian", "none"}
        Lag window (default ``"hann"``).
    blocks : int
        Independent blocks for error bars (default 4).
    quantum_correction : {"harmonic", "none", "standard", "schofield"}
        Factor Q(x) in the cross section; harmonic (default) is the Stokes
        formula, none the classical limit. The spectra iso/aniso/VV/VH are
        classical (uncorrected).
    chunk_frames : int
        Frames read per chunk.
    progress : bool
        Show a progress bar.
    """

    progress_label = "Raman"
    check_time_axis = False

    def __init__(self, polarizabilities: PolarizabilitySeries, temperature_k: float, laser_nm: float = 532.0,
                 window: int | None = None, window_function: str = "hann", blocks: int = 4,
                 quantum_correction: str = "harmonic", chunk_frames: int = 256, progress: bool = False):
        if not (isinstance(temperature_k, (int, float)) and temperature_k > 0):
            raise SettingsError(f"the Raman cross section needs the temperature of the run (--temperature K > 0), "
                                f"got {temperature_k!r}")
        if not laser_nm > 0:
            raise SettingsError(f"the laser wavelength must be positive (nm), got {laser_nm}")
        check_spectrum_settings(window, window_function, blocks)
        if quantum_correction not in QUANTUM_CORRECTIONS:
            raise SettingsError(f"unknown quantum correction {quantum_correction!r}; choose one of "
                                f"{sorted(QUANTUM_CORRECTIONS)}")
        self.polarizabilities = polarizabilities
        self.temperature_k = float(temperature_k)
        self.laser_nm = float(laser_nm)
        self.window = window
        self.window_function = window_function
        self.blocks = blocks
        self.quantum_correction = quantum_correction
        self.chunk_frames = chunk_frames
        self.progress = progress

    def settings(self) -> dict:
        """Settings recorded in the provenance."""
        return {"temperature_k": self.temperature_k, "laser_nm": self.laser_nm,
                "polarizabilities": self.polarizabilities.name, "window": getattr(self, "_window", self.window),
                "window_function": self.window_function, "blocks": self.blocks,
                "quantum_correction": self.quantum_correction, "frequency_oversampling": OVERSAMPLE}

    def _extra_inputs(self) -> tuple[str, ...]:
        return (self.polarizabilities.name,)

    def run(self, trajectory: Trajectory, start: int = 0, stop: int | None = None, step: int = 1,
            workers: int = 1, scheduler: str | None = None) -> RamanResult:
        """Stream the selected frames and return the Raman spectra (see :meth:`AnalysisBase.run`)."""
        return super().run(trajectory, start, stop, step, workers, scheduler)

    def _prepare(self, trajectory: Trajectory, selection: FrameSelection) -> None:
        self.polarizabilities.check(trajectory, selection)
        n_frames = selection.n_frames
        self._window = self.window or default_window(n_frames, self.blocks)
        if self._window < MIN_WINDOW:
            raise SettingsError(
                f"{trajectory.path}: {n_frames} selected frames in {self.blocks} blocks leave a window of "
                f"{self._window} lags; a spectrum needs at least {MIN_WINDOW}: use a longer run or fewer --blocks")
        check_window(n_frames, self._window, self.blocks)
        self._dt_fs = trajectory.frame_spacing_fs(selection.step)

    def _parts(self, n_frames: int, workers: int) -> list[Part]:
        bounds = block_bounds(n_frames, self.blocks)
        return [Part(b, int(bounds[b]), int(bounds[b + 1])) for b in range(self.blocks)]

    def _new_accumulator(self, part: Part) -> dict:
        correlator = BlockedAutocorrelator(part.n_frames, self._window, np.ones((1, 7)), np.arange(7), 1)
        return {part.index: [correlator, SeriesMean(self._window, 7)]}

    def _accumulate(self, accumulator: dict, chunk: FrameChunk) -> None:
        (pair,) = accumulator.values()
        series = invariant_series(self.polarizabilities.tensors_of(chunk))
        pair[0].push(series)
        pair[1].push(series)

    def _finish_part(self, accumulator: dict) -> dict:
        return {b: mean.remove(correlator.result()[0, 0]) for b, (correlator, mean) in accumulator.items()}

    def merge(self, first: dict, second: dict) -> dict:
        """Union of the blocks of two partials."""
        return first | second

    def _conclude(self, total: dict, provenance: Provenance) -> RamanResult:
        correlations = np.stack([total[b] for b in sorted(total)])  # (blocks, 7, W), Å⁶
        dt_fs, window = self._dt_fs, self._window
        freqs = frequency_grid_thz(window, dt_fs, OVERSAMPLE)
        series = one_sided_spectrum(correlations, dt_fs, self.window_function, OVERSAMPLE)  # (blocks, 7, n_freq)
        iso = np.einsum("s,bsf->bf", _INVARIANT_WEIGHTS[0], series)
        aniso = np.einsum("s,bsf->bf", _INVARIANT_WEIGHTS[1], series)
        vv, vh, unpolarised = iso + 4.0 / 45.0 * aniso, aniso / 15.0, iso + 7.0 / 45.0 * aniso
        shift_cm = freqs * THZ_TO_INV_CM
        laser_cm = 1.0e7 / self.laser_nm
        factor = self._cross_section_factor(freqs, shift_cm, laser_cm)
        cross = {name: factor * spectrum for name, spectrum in (("vv", vv), ("vh", vh), ("total", unpolarised))}
        mean = {name: block_mean_error(values) for name, values in
                (("iso", iso), ("aniso", aniso), ("vv", vv), ("vh", vh), ("unpol", unpolarised))}
        cross_mean = {name: block_mean_error(values) for name, values in cross.items()}
        vv_mean, vh_mean = mean["vv"][0], mean["vh"][0]
        defined = vv_mean > DEPOLARISATION_FLOOR * max(float(vv_mean.max()), 0.0)
        depolarisation = np.where(defined, vh_mean / np.where(defined, vv_mean, 1.0), 0.0)
        return RamanResult(
            wavenumbers_cm=shift_cm, frequencies_thz=freqs,
            isotropic=mean["iso"][0], anisotropic=mean["aniso"][0], vv=mean["vv"][0], vh=mean["vh"][0],
            unpolarised=mean["unpol"][0], depolarisation=depolarisation, laser_cm=laser_cm,
            temperature_k=self.temperature_k, quantum_correction=self.quantum_correction,
            cross_section_vv=cross_mean["vv"][0], cross_section_vh=cross_mean["vh"][0],
            cross_section=cross_mean["total"][0], isotropic_err=mean["iso"][1], anisotropic_err=mean["aniso"][1],
            cross_section_err=cross_mean["total"][1],
            resolution_cm=resolution_fwhm_thz(window, dt_fs, self.window_function) * THZ_TO_INV_CM,
            nyquist_cm=float(shift_cm[-1]), provenance=provenance,
        )

    def _cross_section_factor(self, freqs: np.ndarray, shift_cm: np.ndarray, laser_cm: float) -> np.ndarray:
        """cm²/sr/cm⁻¹ per Å⁶/THz of one-sided spectrum: π²c(ν̃_L − ν̃)⁴ Q(x) P_α / ε₀², P_α = S/2 in SI.

        Zero beyond the laser wavenumber (no Stokes scattering there).
        """
        alpha_si = 4.0 * np.pi * sc.epsilon_0 * 1e-30  # C·m²/V per Å³
        two_sided_si = 0.5 * alpha_si**2 * 1e-12  # (C m²/V)² s per Å⁶/THz of one-sided spectrum
        scattered_m = np.clip(laser_cm - shift_cm, 0.0, None) * 100.0  # m⁻¹
        q = quantum_correction(self.quantum_correction, freqs, self.temperature_k)
        per_m = np.pi**2 * sc.c * scattered_m**4 * q * two_sided_si / sc.epsilon_0**2  # m²/sr per m⁻¹
        return per_m * 1e6  # → cm²/sr per cm⁻¹: ×1e4 cm²/m² and ×100 m⁻¹ per cm⁻¹


def plot_raman(result: RamanResult, path, title: str | None = None) -> None:
    """Draw the Stokes cross sections against the Raman shift (cm⁻¹, increasing to the right).

    Parameters
    ----------
    result : RamanResult
    path : path
        Output image (``.png``, ``.pdf``, ``.svg``).
    title : str, optional
        Figure title (default: input file, laser and temperature).
    """
    from mdvib.plot import plt, save_figure

    fig, ax = plt.subplots(figsize=(7, 4.2), layout="constrained")
    shift = result.wavenumbers_cm
    ax.plot(shift, result.cross_section, color="k", lw=1.2, label="unpolarised (VV + VH)")
    if result.cross_section_err is not None:
        ax.fill_between(shift, result.cross_section - result.cross_section_err,
                        result.cross_section + result.cross_section_err, color="k", alpha=0.25, lw=0)
    ax.plot(shift, result.cross_section_vv, lw=1.0, label="VV")
    ax.plot(shift, result.cross_section_vh, lw=1.0, label="VH")
    ax.set_xlim(0, shift[-1])
    ax.set_xlabel("Raman shift (cm⁻¹)")
    ax.set_ylabel("dσ/dΩdν̃ (cm² sr⁻¹ per cm⁻¹)")
    ax.legend(frameon=False)
    if title is None and result.provenance is not None:
        title = (f"{Path(result.provenance.inputs[0]).name}  {1e7 / result.laser_cm:.0f} nm, "
                 f"T = {result.temperature_k:g} K")
    if title:
        ax.set_title(title)
    save_figure(fig, path)


ANALYSIS = register_analysis(AnalysisSpec(
    name="raman",
    help="Raman spectra from the polarizability autocorrelation",
    command="mdvib.cli.raman",
    needs_dynamics=True,
))
