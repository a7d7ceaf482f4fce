"""Anharmonicity in simulated TOSCA spectra: MD (DOS route) against harmonic lattice dynamics (force-constant route).

For every temperature of a finished campaign (``mdvib demo`` writes one: SW Si
at 100, 300 and 600 K), the TOSCA spectrum from that temperature's MD DOS is set
against the spectrum of the harmonic force constants of the same potential at
the same temperature (same instrument, axis, orders and cross sections), and
scored with :func:`mdvib.spectroscopy.compare.compare` as if the MD spectrum
were the measurement: the fitted shift δ (MD ≈ harmonic moved by δ) and the
matched peaks measure the anharmonic shifts, and the ratio of integrated
intensities checks the absolute normalisation of both routes.

Like for like: an MD run in an N×N×N supercell only has the phonons of the q
commensurate with it, so by default the harmonic spectrum is computed on
exactly those q (``--mesh`` for a converged mesh instead). The MD spectrum is
also broadened by the DOS's lag window (its resolution is in ``dos.h5``); the
fitted scale therefore reflects peak heights, the intensity ratio does not.

Usage::

    mdvib demo -o mdvib-demo                 # the campaign (about a minute)
    python examples/ins_si/compare_md_harmonic.py mdvib-demo/sw -o ins_si

The harmonic force constants default to the SW-Si phonopy set the tests use
(``tests/data/ins/phonons/si``: finite displacements with LAMMPS' ``Si.sw``);
give ``--fc`` for your own (a phonopy YAML or an ``mdvib tdep`` folder).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from mdvib.plot import plt, save_figure
from mdvib.results import load_result, write_text_atomic
from mdvib.spectroscopy.compare import compare
from mdvib.spectroscopy.ins import EnergyBins, IncoherentDOSModel, get_instrument, simulate
from mdvib.spectroscopy.ins.inputs import expand
from mdvib.spectroscopy.ins.phonon_route import PhononPowderModel
from mdvib.spectroscopy.measured import MeasuredSpectrum

REPO = Path(__file__).resolve().parents[2]
DEFAULT_FC = REPO / "tests" / "data" / "ins" / "phonons" / "si" / "phonopy.yaml"


def commensurate_model(fc: Path, cells: int, temperature_k: float) -> PhononPowderModel:
    """The FC route on the q commensurate with a cells×cells×cells supercell of the phonopy unit cell."""
    from phonopy.harmonic.dynmat_to_fc import get_commensurate_points

    from mdvib.io.phonopy_files import read_phonopy
    from mdvib.units import THZ_TO_MEV

    phonon = read_phonopy(fc)
    to_primitive = np.rint(np.linalg.inv(phonon.primitive_matrix) * cells).astype(int)
    qpoints = get_commensurate_points(to_primitive)
    phonon.run_qpoints(qpoints, with_eigenvectors=True)
    frequencies = np.asarray(phonon.qpoints.frequencies) * THZ_TO_MEV
    n_q, n_modes = frequencies.shape
    vectors = np.asarray(phonon.qpoints.eigenvectors).transpose(0, 2, 1).reshape(n_q, n_modes, -1, 3)
    return PhononPowderModel.from_modes(frequencies, vectors, np.ones(n_q), np.asarray(phonon.primitive.masses),
                                        list(phonon.primitive.symbols), temperature_k, qpoints=qpoints,
                                        source=f"{fc} at the {n_q} q of a {cells}³ supercell")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("campaign", type=Path, help="finished campaign folder (T_<T>K/dos.h5 in it)")
    parser.add_argument("--fc", type=Path, default=DEFAULT_FC, help="harmonic force constants (phonopy YAML)")
    parser.add_argument("--supercell", type=int, default=3,
                        help="conventional cells per edge of the MD supercell: the harmonic route uses its "
                        "commensurate q (default 3, the demo's)")
    parser.add_argument("--mesh", type=int, help="use an N³ Monkhorst-Pack mesh instead of the commensurate q")
    parser.add_argument("-o", "--output", type=Path, default=Path("ins_si"))
    args = parser.parse_args(argv)

    folders = [f for f in expand([args.campaign]) if (f / "dos.h5").is_file()]
    temperatures = [float(f.name[2:-1]) for f in folders]
    tosca, bins = get_instrument("tosca"), EnergyBins.up_to(200.0, 0.25)
    md = simulate([IncoherentDOSModel.from_dos(load_result(f / "dos.h5"), temperature_k=t)
                   for f, t in zip(folders, temperatures)], tosca, bins, labels=[f"MD {t:g} K" for t in temperatures])
    if args.mesh:
        harmonic_model = PhononPowderModel.from_phonopy(args.fc, temperatures[0], mesh=(args.mesh,) * 3)
    else:
        harmonic_model = commensurate_model(args.fc, args.supercell, temperatures[0])
    harmonic = simulate([harmonic_model.with_temperature(t) for t in temperatures], tosca, bins,
                        labels=[f"harmonic {t:g} K" for t in temperatures])

    args.output.mkdir(parents=True, exist_ok=True)
    md.save(args.output / "ins_md.h5")
    harmonic.save(args.output / "ins_harmonic.h5")
    e = md.energies_mev
    fig, axes = plt.subplots(len(temperatures), 1, figsize=(7.0, 2.4 * len(temperatures)), sharex=True)
    rows = ["temperature_K,shift_meV,scale,scale_err,intensity_ratio_8_80meV,cosine,matched_peaks_harmonic_meV,"
            "matched_peaks_md_meV"]
    for k, (ax, temperature) in enumerate(zip(np.atleast_1d(axes), temperatures)):
        spectrum, err = md.bank_average()[k], md.spectrum_err()[k]
        floor = 1e-3 * spectrum.max()        # the band vanishes where the DOS has no error (below its Debye cutoff)
        as_measured = MeasuredSpectrum(energies_mev=e, intensity=spectrum, errors=np.maximum(err, floor),
                                       path=str(folders[k] / "dos.h5"), source_units="meV",
                                       label=f"MD {temperature:g} K")
        score = compare(e, harmonic.bank_average()[k], as_measured, energy_range=(8.0, 80.0),
                        resolution_mev=md.resolution_sigma_mev.mean(axis=0), label=f"harmonic {temperature:g} K")
        pairs = score.matched_peaks_mev
        band = (e > 8.0) & (e < 80.0)
        ratio = spectrum[band].sum() / harmonic.bank_average()[k][band].sum()
        rows.append(f"{temperature:g},{score.shift_mev:.4f},{score.scale:.4f},{score.scale_err:.4f},{ratio:.4f},"
                    f"{score.cosine:.4f},"
                    + " ".join(f"{p:.2f}" for p in pairs[:, 0]) + "," + " ".join(f"{p:.2f}" for p in pairs[:, 1]))
        positive = e > 0
        ax.plot(e[positive], harmonic.bank_average()[k][positive], color="0.4", lw=1.0,
                label=f"harmonic lattice dynamics, {temperature:g} K")
        ax.plot(e[positive], spectrum[positive], color="C3", lw=1.2, label=f"MD (SW), {temperature:g} K")
        ax.fill_between(e[positive], (spectrum - err)[positive], (spectrum + err)[positive], color="C3", alpha=0.3,
                        lw=0)
        ax.text(0.98, 0.85, f"shift δ = {score.shift_mev:+.2f} meV, MD/harmonic intensity {ratio:.3f}", ha="right",
                transform=ax.transAxes, fontsize=8)
        ax.set_ylabel("S·σ (barn/meV)")
        ax.set_ylim(bottom=0)
        ax.legend(frameon=False, fontsize=7, loc="upper left")
    np.atleast_1d(axes)[-1].set_xlabel("energy transfer (meV)")
    np.atleast_1d(axes)[-1].set_xlim(0, 90)
    fig.suptitle("TOSCA, SW Si: MD (incoherent approximation from the DOS) vs harmonic force constants", fontsize=9)
    fig.tight_layout()
    save_figure(fig, args.output / "md_vs_harmonic.png")
    write_text_atomic(args.output / "shifts.csv", "\n".join(rows) + "\n")
    print("\n".join(rows))
    print(f"wrote {args.output}/md_vs_harmonic.png, shifts.csv, ins_md.h5, ins_harmonic.h5")


if __name__ == "__main__":
    main()
