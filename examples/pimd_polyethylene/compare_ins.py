"""Nuclear quantum effects in the VISION spectrum of polyethylene: classical MD vs TRPMD vs harmonic lattice dynamics.

Reads the two finished campaigns of this folder (``classical.toml``: LAMMPS MD;
``trpmd.toml``: i-PI TRPMD, the ring-polymer centroid) and the harmonic force
constants of ``make_structure.py`` (same AIREBO potential), and

* simulates the VISION spectrum of each (MD routes: incoherent approximation
  from the campaign's DOS, orders 1-10; harmonic route: phonopy modes on the q
  commensurate with the MD supercell, same temperature, same axis and
  normalisation) and draws them in one figure (``ins_nqe.png``);
* locates the high-frequency bands (:data:`BANDS`) in each by the peak and the
  centroid of the H-partial vibrational DOS over the band's window: for the MD
  routes in each of ``--blocks`` independent blocks of the production (mean ±
  standard error), for the harmonic route from the mode frequencies weighted by
  their H eigenvector weight Σ_H |e|² (the harmonic limit of the same quantity;
  its peak after broadening to the MD DOS's resolution);
* prints and writes (``bands.csv``) each band's position in meV and cm⁻¹ and
  the NQE shift TRPMD − classical (meV, cm⁻¹, %) with its error, for both measures.

Usage::

    python compare_ins.py [--classical out/classical] [--trpmd out/trpmd] [--fc out/harmonic/phonopy.yaml]
    python compare_ins.py --trpmd out/trpmd_100K --trpmd-toml trpmd_100K.toml --temperature 100 -o out/compare_100K
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mdvib.analysis.dos import DOSAnalysis, DOSResult
from mdvib.campaign import CampaignConfig
from mdvib.campaign_pimd import PIMD_FOLDER, centroid_files
from mdvib.results import load_result, temperature_dirname, write_text_atomic
from mdvib.trajectory import Trajectory
from mdvib.units import THZ_TO_INV_CM, THZ_TO_MEV

HERE = Path(__file__).resolve().parent
#: High-frequency bands of AIREBO polyethylene: window (cm⁻¹); the key names the harmonic Γ frequencies of
#: make_structure.py inside it. Character from the Γ eigenvectors (README): H in-plane rock + C–C stretch; H along
#: the chain (twist/wag) and an in-plane H+C mode; H along the chain (wag) and the in-plane H–C–H scissor; C–H stretch.
BANDS = {
    "rock/C-C stretch (1061-1194)": (1000.0, 1300.0),
    "bend I (1547-1585)": (1450.0, 1700.0),
    "bend II: wag, scissor (1830-1915)": (1700.0, 2100.0),
    "C-H stretch (2885-2968)": (2700.0, 3200.0),
}
MEV_PER_CM = THZ_TO_MEV / THZ_TO_INV_CM


@dataclass(frozen=True)
class Run:
    """One finished campaign temperature: its DOS result and its production trajectory."""

    label: str
    temperature_k: float
    dos: DOSResult
    trajectory: Trajectory
    first_frame: int
    window: int


def open_run(campaign_toml: Path, output: Path, label: str, temperature: float | None = None) -> Run:
    """One temperature (default: the first) of a finished campaign, LAMMPS or PIMD, written into ``output``."""
    config = CampaignConfig.from_toml(campaign_toml, output_dir=output)
    temperature = config.md.temperatures_k[0] if temperature is None else temperature
    folder = config.output_dir / temperature_dirname(temperature)
    window = int(config.analyses["dos"].window)
    if config.pimd is None:
        trajectory = Trajectory.open(folder / "production.dump", format="lammps-dump", units="metal",
                                     dt_fs=config.md.timestep_fs,
                                     type_map={k + 1: s for k, s in enumerate(config.potential.elements)})
        first = 0
    else:
        positions, options = centroid_files(folder / PIMD_FOLDER)
        trajectory = Trajectory.open(positions, format="extxyz", dt_fs=config.pimd.template.timestep_fs, **options)
        first = config.pimd.first_frame
    return Run(label, temperature, load_result(folder / "dos.h5"), trajectory, first, window)


def band_positions(frequencies_thz: np.ndarray, weight: np.ndarray) -> dict[str, dict[str, float]]:
    """``{band: {"peak": THz, "centroid": THz}}`` of a spectrum over each window of :data:`BANDS`.

    The peak is the highest point inside the window, refined by a parabola
    through it and its neighbours; the centroid is the first moment of
    ``weight`` over the window.
    """
    out = {}
    for band, window in BANDS.items():
        low, high = (v / THZ_TO_INV_CM for v in window)
        inside = np.flatnonzero((frequencies_thz >= low) & (frequencies_thz <= high))
        k = inside[np.argmax(weight[inside])]
        peak = float(frequencies_thz[k])
        if 0 < k < len(weight) - 1:
            a, b, c = weight[k - 1:k + 2]
            if a - 2 * b + c < 0:
                peak += 0.5 * (a - c) / (a - 2 * b + c) * float(frequencies_thz[k + 1] - frequencies_thz[k])
        centroid = float(np.sum(frequencies_thz[inside] * weight[inside]) / np.sum(weight[inside]))
        out[band] = {"peak": peak, "centroid": centroid}
    return out


def md_band_positions(run: Run, blocks: int) -> dict[str, dict[str, tuple[float, float]]]:
    """``{band: {"peak"|"centroid": (mean, standard error)}}`` (THz) of the H-partial DOS over independent blocks."""
    n = run.trajectory.n_frames - run.first_frame
    edges = run.first_frame + np.linspace(0, n, blocks + 1).astype(int)
    per_block = []
    for start, stop in zip(edges[:-1], edges[1:]):
        dos = DOSAnalysis(window=min(run.window, (stop - start) // 2), blocks=1).run(run.trajectory, start, stop)
        per_block.append(band_positions(dos.frequencies_thz, dos.partial[list(dos.species).index("H")]))
    out = {}
    for band in BANDS:
        out[band] = {}
        for kind in ("peak", "centroid"):
            values = np.array([b[band][kind] for b in per_block])
            out[band][kind] = (float(values.mean()), float(values.std(ddof=1) / np.sqrt(blocks)))
    return out


def harmonic_modes(fc: Path, supercell: tuple[int, int, int]):
    """Mode frequencies (THz, (n_q, n_modes)), eigenvectors ((n_q, n_modes, n_atoms, 3)) and the phonopy object,
    on the q commensurate with ``supercell`` (repetitions of the phonopy unit cell)."""
    from phonopy.harmonic.dynmat_to_fc import get_commensurate_points

    from mdvib.io.phonopy_files import read_phonopy

    phonon = read_phonopy(fc)
    qpoints = get_commensurate_points(np.diag(supercell))
    phonon.run_qpoints(qpoints, with_eigenvectors=True)
    frequencies = np.asarray(phonon.qpoints.frequencies)
    n_q, n_modes = frequencies.shape
    vectors = np.asarray(phonon.qpoints.eigenvectors).transpose(0, 2, 1).reshape(n_q, n_modes, -1, 3)
    return frequencies, vectors, qpoints, phonon


def harmonic_band_positions(frequencies: np.ndarray, vectors: np.ndarray, symbols: list[str],
                            fwhm_thz: float) -> dict[str, dict[str, float]]:
    """``{band: {"peak", "centroid"}}`` (THz) of the modes weighted by Σ_H |e|² (every commensurate q equally).

    The centroid is that of the modes themselves; the peak is taken on their
    spectrum broadened by a Gaussian of ``fwhm_thz`` (the MD DOS's lag-window
    resolution), like for like with the MD peaks.
    """
    is_h = np.array([s == "H" for s in symbols])
    weight = np.sum(np.abs(vectors[:, :, is_h, :]) ** 2, axis=(2, 3)).ravel()
    modes = frequencies.ravel()
    sigma = fwhm_thz / (2.0 * np.sqrt(2.0 * np.log(2.0)))
    grid = np.arange(0.0, modes.max() + 10 * sigma, sigma / 20)
    broadened = np.exp(-0.5 * ((grid[:, None] - modes[None, :]) / sigma) ** 2) @ weight
    out = band_positions(grid, broadened)
    for band, window in BANDS.items():
        low, high = (v / THZ_TO_INV_CM for v in window)
        inside = (modes >= low) & (modes <= high)
        out[band]["centroid"] = float(np.sum(modes[inside] * weight[inside]) / np.sum(weight[inside]))
    return out


def main(argv: list[str] | None = None) -> None:
    from mdvib.plot import plt, save_figure
    from mdvib.spectroscopy.ins import EnergyBins, IncoherentDOSModel, get_instrument, simulate
    from mdvib.spectroscopy.ins.phonon_route import PhononPowderModel

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--classical", type=Path, default=HERE / "out" / "classical", help="classical campaign folder")
    parser.add_argument("--trpmd", type=Path, default=HERE / "out" / "trpmd", help="TRPMD campaign folder")
    parser.add_argument("--classical-toml", type=Path, default=HERE / "classical.toml")
    parser.add_argument("--trpmd-toml", type=Path, default=HERE / "trpmd.toml")
    parser.add_argument("--fc", type=Path, default=HERE / "out" / "harmonic" / "phonopy.yaml",
                        help="harmonic force constants (phonopy YAML of make_structure.py)")
    parser.add_argument("--supercell", type=int, nargs=3, default=(1, 1, 4),
                        help="MD supercell in unit cells: the harmonic route uses its commensurate q (default 1 1 4)")
    parser.add_argument("--temperature", type=float, default=200.0,
                        help="K: the temperature of both campaigns to compare (default 200)")
    parser.add_argument("--blocks", type=int, default=3, help="independent blocks for the band-position errors")
    parser.add_argument("-o", "--output", type=Path, default=HERE / "out" / "compare")
    args = parser.parse_args(argv)

    classical = open_run(args.classical_toml, args.classical, "classical MD", args.temperature)
    trpmd = open_run(args.trpmd_toml, args.trpmd, "TRPMD centroid", args.temperature)
    temperature = args.temperature
    frequencies, vectors, qpoints, phonon = harmonic_modes(args.fc, tuple(args.supercell))
    symbols = list(phonon.primitive.symbols)

    vision, bins = get_instrument("vision"), EnergyBins.up_to(450.0, 0.5)
    md = simulate([IncoherentDOSModel.from_dos(r.dos, temperature_k=r.temperature_k) for r in (classical, trpmd)],
                  vision, bins, labels=[f"{r.label}, {r.temperature_k:g} K" for r in (classical, trpmd)])
    n_q = len(qpoints)
    harmonic_model = PhononPowderModel.from_modes(
        frequencies * THZ_TO_MEV, vectors, np.ones(n_q), np.asarray(phonon.primitive.masses), symbols, temperature,
        qpoints=qpoints, source=f"{args.fc} at the {n_q} q of the {'x'.join(map(str, args.supercell))} supercell")
    harmonic = simulate([harmonic_model], vision, bins, labels=[f"harmonic, {temperature:g} K"])

    positions = {"harmonic": {band: {k: (v, 0.0) for k, v in values.items()} for band, values in
                              harmonic_band_positions(frequencies, vectors, symbols,
                                                      classical.dos.resolution_fwhm_thz).items()},
                 "classical": md_band_positions(classical, args.blocks),
                 "trpmd": md_band_positions(trpmd, args.blocks)}
    rows = ["band,measure,harmonic_meV,classical_meV,classical_err_meV,trpmd_meV,trpmd_err_meV,nqe_shift_meV,"
            "nqe_shift_err_meV,nqe_shift_cm-1,nqe_shift_err_cm-1,nqe_shift_percent,nqe_shift_err_percent,"
            "classical_vs_harmonic_percent,trpmd_vs_harmonic_percent"]
    print(f"H-partial DOS bands at {temperature:g} K, meV (MD: mean ± s.e. over {args.blocks} blocks; harmonic peak "
          f"with the MD resolution, {classical.dos.resolution_fwhm_thz * THZ_TO_MEV:.1f} meV FWHM)")
    print(f"{'band':34s} {'':8s} {'harmonic':>8s} {'classical':>15s} {'TRPMD':>15s}   NQE shift TRPMD − classical")
    for band in BANDS:
        for kind in ("peak", "centroid"):
            h = positions["harmonic"][band][kind][0] * THZ_TO_MEV
            c, ce = (v * THZ_TO_MEV for v in positions["classical"][band][kind])
            t, te = (v * THZ_TO_MEV for v in positions["trpmd"][band][kind])
            shift, shift_err = t - c, float(np.hypot(ce, te))
            percent, percent_err = 100 * shift / c, 100 * shift_err / c
            rows.append(f"{band},{kind},{h:.3f},{c:.3f},{ce:.3f},{t:.3f},{te:.3f},{shift:.3f},{shift_err:.3f},"
                        f"{shift / MEV_PER_CM:.1f},{shift_err / MEV_PER_CM:.1f},{percent:.2f},{percent_err:.2f},"
                        f"{100 * (c - h) / h:.2f},{100 * (t - h) / h:.2f}")
            print(f"{band if kind == 'peak' else '':34s} {kind:8s} {h:8.2f} {c:8.2f} ± {ce:4.2f} {t:8.2f} ± {te:4.2f}"
                  f"   {shift:+6.2f} ± {shift_err:4.2f} meV ({shift / MEV_PER_CM:+5.0f} ± "
                  f"{shift_err / MEV_PER_CM:3.0f} cm-1, {percent:+.2f} ± {percent_err:.2f} %)")

    args.output.mkdir(parents=True, exist_ok=True)
    md.save(args.output / "ins_md.h5")
    harmonic.save(args.output / "ins_harmonic.h5")
    write_text_atomic(args.output / "bands.csv", "\n".join(rows) + "\n")
    e = md.energies_mev
    shown = e > 20.0
    fig, axes = plt.subplots(2, 1, figsize=(8.0, 6.4))
    entries = (("harmonic lattice dynamics", harmonic, 0, "0.35"), (md.labels[0], md, 0, "C0"),
               (md.labels[1], md, 1, "C3"))
    for label, result, k, color in entries:
        total, err = result.bank_average()[k], result.spectrum_err()
        fundamental = result.orders[k, :, 0].mean(axis=0)
        axes[0].plot(e[shown], total[shown], color=color, lw=1.0, label=label)
        axes[1].plot(e[shown], fundamental[shown], color=color, lw=1.1, label=label)
        if err is not None:
            axes[1].fill_between(e[shown], (fundamental - err[k])[shown], (fundamental + err[k])[shown],
                                 color=color, alpha=0.25, lw=0)
    for band in BANDS:
        for run, color in (("classical", "C0"), ("trpmd", "C3")):
            axes[1].axvline(positions[run][band]["peak"][0] * THZ_TO_MEV, color=color, lw=0.6, ls=":")
    axes[0].set_title(f"VISION, polyethylene (AIREBO), {temperature:g} K: orders 1-10 (multiphonon included)",
                      fontsize=9)
    axes[1].set_title("fundamentals (order 1) above 100 meV; dotted: H-DOS band peaks (classical blue, TRPMD red)",
                      fontsize=9)
    axes[0].set_xlim(20.0, 450.0)
    axes[1].set_xlim(100.0, 450.0)
    high = e > 100.0
    axes[1].set_ylim(0, 1.15 * max(r.orders[k, :, 0].mean(axis=0)[high].max() for _, r, k, _ in entries))
    axes[0].set_ylim(bottom=0)
    for ax in axes:
        ax.set_ylabel("S·σ (barn/meV per atom)")
        ax.legend(frameon=False, fontsize=8)
        secondary = ax.secondary_xaxis("top", functions=(lambda x: x / MEV_PER_CM, lambda x: x * MEV_PER_CM))
        secondary.set_xlabel("cm$^{-1}$", fontsize=8)
    axes[1].set_xlabel("energy transfer (meV), banks averaged")
    fig.tight_layout()
    save_figure(fig, args.output / "ins_nqe.png")
    print(f"wrote {args.output}/ins_nqe.png, bands.csv, ins_md.h5, ins_harmonic.h5")


if __name__ == "__main__":
    main()
