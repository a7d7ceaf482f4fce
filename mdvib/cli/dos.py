"""``mdvib dos``: phonon DOS from the velocity autocorrelation function."""

from __future__ import annotations

import argparse

from mdvib.analysis.dos import WEIGHTS, DOSAnalysis
from mdvib.analysis.spectral import MIN_WINDOW, QUANTUM_CORRECTIONS
from mdvib.cli.common import (
    PLOT_SUFFIXES,
    add_lag_window_options,
    add_output_options,
    add_trajectory_options,
    check_output,
    open_trajectory,
    run_spectrum,
)
from mdvib.constants.neutron import CROSS_SECTION_KINDS

DESCRIPTION = """\
Phonon density of states from the multi-origin velocity autocorrelation function
(zero-padded FFT, unbiased), with per-species partials, neutron weighting and
block-averaged standard errors.

Units: frequency in THz; DOS in states/THz per atom (1/THz), normalised so that
∫ total dν = 3 and Σ partials = total. The raw mass-weighted power spectrum
(eV/THz, integral = kinetic energy) and the kinetic temperature (equipartition
check) are stored in the .h5 output.

examples:
  mdvib dos dump.lammpstrj --dt 1 --types 1=Si -o dos.csv --plot dos.png
  mdvib dos run.xyz --weights neutron --blocks 8 --window 500 -o dos.h5
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``mdvib dos`` (the parallel options are added for every analysis)."""
    add_trajectory_options(parser)
    group = parser.add_argument_group("analysis")
    add_lag_window_options(group, f"correlation length (maximum lag) in frames, at least {MIN_WINDOW}; resolution "
                           "≈ 1/(N·Δt) (default: half a block, at most 1000)")
    group.add_argument("--weights", choices=WEIGHTS, default="mass",
                       help="mass: phonon DOS; neutron: σ/m-weighted DOS (incoherent approximation); "
                       "none: plain velocity spectrum (default: mass)")
    group.add_argument("--cross-section", choices=sorted(CROSS_SECTION_KINDS), default="total",
                       help="bound neutron cross section (Sears 1992) for --weights neutron (default: total)")
    group.add_argument("--quantum-correction", choices=sorted(QUANTUM_CORRECTIONS), default="none",
                       help="factor on the classical spectrum: harmonic x/(1-e^-x), standard 2/(1+e^-x), "
                       "schofield e^(x/2), x = hν/kT (default: none)")
    group.add_argument("--temperature", type=float, metavar="K",
                       help="temperature for the quantum correction (default: kinetic temperature)")
    group.add_argument("--from-positions", action="store_true",
                       help="velocities by central differences of positions (files without velocities); they damp "
                       "a mode at ν by sinc²(2πνΔt), lowering the kinetic temperature and the high-frequency DOS")
    group.add_argument("--no-temperature-check", action="store_true",
                       help="accept an implausible kinetic temperature (normally a sign of wrong --units)")
    add_output_options(parser, "dos.h5", "the DOS")


def run(args: argparse.Namespace) -> None:
    """Run the analysis described by parsed arguments."""
    check_output(args.output, (".h5", ".hdf5", ".csv"), "-o")
    check_output(args.plot, PLOT_SUFFIXES, "--plot")
    trajectory = open_trajectory(args)
    analysis = DOSAnalysis(
        window=args.window,
        window_function=args.window_function,
        weights=args.weights,
        cross_section=args.cross_section,
        blocks=args.blocks,
        quantum_correction=args.quantum_correction,
        temperature_k=args.temperature,
        from_positions=args.from_positions,
        check_temperature=not args.no_temperature_check,
        check_time_axis=not args.no_time_check,
        progress=not args.quiet,
    )
    run_spectrum(args, analysis, trajectory, "dos", plot="mdvib.plot:plot_dos")
