"""Nuclear quantum effects in the VISION spectrum of polyethylene: classical MD vs TRPMD vs harmonic lattice dynamics.

Reads the two finished campaigns of this folder (``classical.toml``: LAMMPS MD;
``trpmd.toml``: i-PI TRPMD, the ring-polymer centroid) and the harmonic force
constants of ``make_structure.py`` (same AIREBO potential), and

* simulates the VISION spectrum of each (MD routes: incoherent approximation
  from the campaign's DOS, orders 1-10; harmonic route: phonopy modes on the q
  commensurate with the MD supercell, same temperature, same axis and
  normalisation) and draws them in one figure (``ins_nqe.png``);
* locates the high-frequency bands (:data:`BANDS`) in each as the centroid of
  the H-partial vibrational DOS over the band's window: for the MD routes in
  each of ``--blocks`` independent blocks of the production (mean ± standard
  error), for the harmonic route from the mode frequencies weighted by their
  H eigenvector weight Σ_H |e|² (the harmonic limit of the same quantity);
* prints and writes (``bands.csv``) each band's position in meV and cm⁻¹ and
  the NQE shift TRPMD − classical (meV, cm⁻¹, %) with its error.

Usage::

    python compare_ins.py [--classical out/classical] [--trpmd out/trpmd] [--fc out/harmonic/phonopy.yaml]
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mdvib.analysis.dos import DOSAnalysis, DOSResult
from mdvib.campaign import CampaignConfig
from mdvib.campaign_pimd import PIMD_FOLDER, centroid_files
from mdvib.results import load_result, write_text_atomic
from mdvib.trajectory import Trajectory
from mdvib.units import THZ_TO_INV_CM, THZ_TO_MEV

HERE = Path(__file__).resolve().parent
#: High-frequency bands of AIREBO polyethylene (harmonic Γ frequencies of make_structure.py in brackets), cm⁻¹.
BANDS = {
    "C-C stretch / CH2 rock-twist (1061-1194)": (1000.0, 1300.0),
    "CH2 scissor (1547-1587)": (1450.0, 1700.0),
    "CH2 wag (1830-1915)": (1700.0, 2100.0),
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
    folder = config.output_dir / f"T_{temperature:g}K"
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


def h_centroid_thz(frequencies_thz: np.ndarray, weight: np.ndarray, band_cm: tuple[float, float]) -> float:
    """Centroid (THz) of ``weight`` over the band window (cm⁻¹)."""
    low, high = (v / THZ_TO_INV_CM for v in band_cm)
    inside = (frequencies_thz >= low) & (frequencies_thz <= high)
    return float(np.sum(frequencies_thz[inside] * weight[inside]) / np.sum(weight[inside]))


def md_band_positions(run: Run, blocks: int) -> dict[str, tuple[float, float]]:
    """``{band: (mean, standard error)}`` in THz of the H-partial DOS centroid over independent blocks."""
    n = run.trajectory.n_frames - run.first_frame
    edges = run.first_frame + np.linspace(0, n, blocks + 1).astype(int)
    per_block = {band: [] for band in BANDS}
    for start, stop in zip(edges[:-1], edges[1:]):
        dos = DOSAnalysis(window=min(run.window, (stop - start) // 2), blocks=1).run(run.trajectory, start, stop)
        h = dos.partial[list(dos.species).index("H")]
        for band, window in BANDS.items():
            per_block[band].append(h_centroid_thz(dos.frequencies_thz, h, window))
    return {band: (float(np.mean(v)), float(np.std(v, ddof=1) / np.sqrt(len(v)))) for band, v in per_block.items()}


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


def harmonic_band_positions(frequencies: np.ndarray, vectors: np.ndarray, symbols: list[str]) -> dict[str, float]:
    """``{band: centroid THz}`` of the modes weighted by Σ_H |e|² (every commensurate q equally)."""
    is_h = np.array([s == "H" for s in symbols])
    weight = np.sum(np.abs(vectors[:, :, is_h, :]) ** 2, axis=(2, 3))
    return {band: h_centroid_thz(frequencies.ravel(), weight.ravel(), window) for band, window in BANDS.items()}


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
    parser.add_argument("--blocks", type=int, default=3, help="independent blocks for the band-position errors")
    parser.add_argument("-o", "--output", type=Path, default=HERE / "out" / "compare")
    args = parser.parse_args(argv)

    classical = open_run(args.classical_toml, args.classical, "classical MD")
    trpmd = open_run(args.trpmd_toml, args.trpmd, "TRPMD centroid")
    temperature = classical.temperature_k
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

    positions = {"harmonic": {b: (v, 0.0) for b, v in harmonic_band_positions(frequencies, vectors, symbols).items()},
                 "classical": md_band_positions(classical, args.blocks),
                 "trpmd": md_band_positions(trpmd, args.blocks)}
    rows = ["band,harmonic_meV,classical_meV,classical_err_meV,trpmd_meV,trpmd_err_meV,nqe_shift_meV,"
            "nqe_shift_err_meV,nqe_shift_cm-1,nqe_shift_err_cm-1,nqe_shift_percent,nqe_shift_err_percent,"
            "classical_vs_harmonic_percent"]
    print(f"H-partial DOS band centroids at {temperature:g} K (MD: mean ± s.e. over {args.blocks} blocks)")
    print(f"{'band':42s} {'harmonic':>9s} {'classical':>15s} {'TRPMD':>15s}   TRPMD − classical")
    for band in BANDS:
        h = positions["harmonic"][band][0] * THZ_TO_MEV
        c, ce = (v * THZ_TO_MEV for v in positions["classical"][band])
        t, te = (v * THZ_TO_MEV for v in positions["trpmd"][band])
        shift, shift_err = t - c, float(np.hypot(ce, te))
        percent, percent_err = 100 * shift / c, 100 * shift_err / c
        rows.append(f"{band},{h:.3f},{c:.3f},{ce:.3f},{t:.3f},{te:.3f},{shift:.3f},{shift_err:.3f},"
                    f"{shift / MEV_PER_CM:.1f},{shift_err / MEV_PER_CM:.1f},{percent:.2f},{percent_err:.2f},"
                    f"{100 * (c - h) / h:.2f}")
        print(f"{band:42s} {h:7.2f}   {c:7.2f} ± {ce:4.2f} {t:7.2f} ± {te:4.2f}   {shift:+6.2f} ± {shift_err:4.2f} meV "
              f"({shift / MEV_PER_CM:+5.0f} ± {shift_err / MEV_PER_CM:3.0f} cm-1, "
              f"{percent:+.2f} ± {percent_err:.2f} %)")

    args.output.mkdir(parents=True, exist_ok=True)
    md.save(args.output / "ins_md.h5")
    harmonic.save(args.output / "ins_harmonic.h5")
    write_text_atomic(args.output / "bands.csv", "\n".join(rows) + "\n")
    e = md.energies_mev
    positive = e > 20.0
    fig, ax = plt.subplots(figsize=(8.0, 4.0))
    styles = (("harmonic lattice dynamics", harmonic.bank_average()[0], None, "0.35"),
              (md.labels[0], md.bank_average()[0], md.spectrum_err()[0], "C0"),
              (md.labels[1], md.bank_average()[1], md.spectrum_err()[1], "C3"))
    for label, spectrum, err, color in styles:
        ax.plot(e[positive], spectrum[positive], color=color, lw=1.1, label=label)
        if err is not None:
            ax.fill_between(e[positive], (spectrum - err)[positive], (spectrum + err)[positive], color=color,
                            alpha=0.25, lw=0)
    for band in BANDS:
        c = positions["classical"][band][0] * THZ_TO_MEV
        t = positions["trpmd"][band][0] * THZ_TO_MEV
        ax.axvline(c, color="C0", lw=0.6, ls=":")
        ax.axvline(t, color="C3", lw=0.6, ls=":")
    secondary = ax.secondary_xaxis("top", functions=(lambda x: x / MEV_PER_CM, lambda x: x * MEV_PER_CM))
    secondary.set_xlabel("energy transfer (cm$^{-1}$)")
    ax.set_xlabel("energy transfer (meV)")
    ax.set_ylabel("S·σ (barn/meV per atom), banks averaged")
    ax.set_xlim(20.0, 450.0)
    ax.set_ylim(bottom=0)
    ax.legend(frameon=False, fontsize=8)
    ax.set_title(f"VISION, polyethylene (AIREBO), {temperature:g} K: dotted lines = H-DOS band centroids",
                 fontsize=9)
    fig.tight_layout()
    save_figure(fig, args.output / "ins_nqe.png")
    print(f"wrote {args.output}/ins_nqe.png, bands.csv, ins_md.h5, ins_harmonic.h5")


if __name__ == "__main__":
    main()
