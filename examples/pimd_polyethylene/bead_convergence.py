"""Bead convergence of the quantum kinetic energy of polyethylene (AIREBO) at one temperature.

Short path-integral runs (i-PI ``pimd`` mode: PILE-L, critically damped internal
modes, the fastest sampling of the statics) of ``pe_supercell.extxyz`` at
``--beads`` bead numbers; each gives the centroid-virial kinetic energy per
atom (``kinetic_cv`` of ``simulation.out``, mean ± block error over the
production, :func:`mdvib.campaign_pimd.kinetic_summary`). Beside it, the
same estimator for the harmonic crystal of the same potential with P beads
(exact: per mode ½ k_BT Σ_k ω²/(ω² + ω_k²), ω_k = 2P k_BT/ħ sin(πk/P), on the
modes of the MD supercell from ``out/harmonic/phonopy.yaml``) and its P → ∞
limit Σ (ħω/4) coth(βħω/2): the difference between the measured and the
harmonic column is the anharmonicity, the approach to the last column the bead
convergence.

Writes ``out/beads/beads.csv`` and prints the table. Usage::

    python bead_convergence.py [--temperature 200] [--beads 8 16 32 64] [--steps 500]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import scipy.constants as sc
from compare_ins import harmonic_modes

from mdvib.campaign_pimd import kinetic_summary
from mdvib.engines.ipi import run_pimd
from mdvib.engines.ipi_input import PIMDSettings
from mdvib.engines.structures import read_structure
from mdvib.results import write_text_atomic
from mdvib.units import KB_EV_PER_K

HERE = Path(__file__).resolve().parent
#: ħ in eV·ps (angular frequencies in rad/ps: 2π × THz).
HBAR_EV_PS = sc.hbar / sc.e * 1e12


def harmonic_kinetic_mev(frequencies_thz: np.ndarray, temperature_k: float, beads: int | None) -> float:
    """Kinetic energy (meV) of harmonic modes, P-bead centroid-virial value (``beads``) or exact (``None``).

    Zero-frequency (acoustic Γ) modes count classically, ½ k_BT each.
    """
    kt = KB_EV_PER_K * temperature_k
    omega = 2 * np.pi * np.abs(frequencies_thz[frequencies_thz > 1e-3])
    zero = int(np.sum(frequencies_thz <= 1e-3))
    if beads is None:
        x = HBAR_EV_PS * omega / kt
        per_mode = 0.25 * HBAR_EV_PS * omega / np.tanh(x / 2)
    else:
        k = np.arange(beads)
        omega_k = 2 * beads * kt / HBAR_EV_PS * np.sin(np.pi * k / beads)
        per_mode = 0.5 * kt * np.sum(omega[:, None] ** 2 / (omega[:, None] ** 2 + omega_k[None, :] ** 2), axis=1)
    return 1000.0 * (float(np.sum(per_mode)) + 0.5 * kt * zero)


def main(argv: list[str] | None = None) -> None:
    from mdvib.engines.potentials import make_potential

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--temperature", type=float, default=200.0, help="K (default 200, the example's)")
    parser.add_argument("--beads", type=int, nargs="+", default=[8, 16, 32, 64])
    parser.add_argument("--steps", type=int, default=500, help="production steps of 0.5 fs per run (default 500)")
    parser.add_argument("--equilibration", type=int, default=200, help="steps before the production (default 200)")
    parser.add_argument("--structure", type=Path, default=HERE / "pe_supercell.extxyz")
    parser.add_argument("--fc", type=Path, default=HERE / "out" / "harmonic" / "phonopy.yaml")
    parser.add_argument("--supercell", type=int, nargs=3, default=(1, 1, 4),
                        help="the structure in unit cells of the phonopy cell (default 1 1 4)")
    parser.add_argument("-o", "--output", type=Path, default=HERE / "out" / "beads")
    args = parser.parse_args(argv)

    atoms = read_structure(args.structure)
    frequencies = harmonic_modes(args.fc, tuple(args.supercell))[0].ravel()
    n = len(atoms)
    potential = make_potential("airebo", ("C", "H"), "CH.airebo")
    rows = ["beads,kinetic_cv_meV_per_atom,err_meV,harmonic_P_beads_meV,harmonic_exact_meV,classical_meV,"
            "steps_per_s"]
    exact = harmonic_kinetic_mev(frequencies, args.temperature, None) / n
    classical = 1.5 * KB_EV_PER_K * args.temperature * 1000.0
    print(f"{args.temperature:g} K, {n} atoms: kinetic energy per atom (meV); harmonic exact {exact:.2f}, "
          f"classical {classical:.2f}")
    for beads in args.beads:
        settings = PIMDSettings(beads=beads, mode="pimd", thermostat="pile_l", timestep_fs=0.5,
                                steps=args.equilibration + args.steps, stride=10, clients=2,
                                temperature_k=args.temperature, timeout_s=120.0, bead_trajectories=False)
        run = run_pimd(settings, atoms, potential, args.output / f"P{beads}")
        summary = kinetic_summary(run.properties, args.equilibration, n, args.temperature)
        harmonic = harmonic_kinetic_mev(frequencies, args.temperature, beads) / n
        rows.append(f"{beads},{summary['kinetic_cv_mev']:.3f},{summary['kinetic_cv_err_mev']:.3f},{harmonic:.3f},"
                    f"{exact:.3f},{classical:.3f},{run.steps_per_s:.2f}")
        print(f"P = {beads:3d}: K_cv = {summary['kinetic_cv_mev']:.2f} ± {summary['kinetic_cv_err_mev']:.2f}, "
              f"harmonic P-bead {harmonic:.2f}; {run.steps_per_s:.1f} steps/s")
    write_text_atomic(args.output / "beads.csv", "\n".join(rows) + "\n")
    print(f"wrote {args.output / 'beads.csv'}")


if __name__ == "__main__":
    main()
