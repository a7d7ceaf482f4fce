"""``mdvib raman``: Raman spectra from the polarizability autocorrelation."""

from __future__ import annotations

import argparse

from mdvib.analysis.raman import POLARIZABILITY_UNITS, PolarizabilitySeries, RamanAnalysis
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

DESCRIPTION = """\
Raman spectra from the multi-origin autocorrelation of the polarizability tensor
(a series given with --polarizabilities, one row per frame), with block-averaged
standard errors: isotropic and anisotropic spectra, VV, VH and unpolarised
(VV + VH) geometries, the depolarisation ratio VH/VV, and the absolute Stokes
cross section for the laser wavelength and temperature.

Units: Raman shift in cm-1 (frequency in THz also stored); spectra in Å⁶/THz
for polarizability volumes in Å³; cross sections dσ/(dΩ dν̃) in cm²/sr per cm-1.

examples:
  mdvib raman run.xyz --polarizabilities polarizability.out --dt 1 --temperature 300 -o raman.h5
  mdvib raman run.xyz --polarizabilities alpha.npy --laser-nm 785 --temperature 300 -o raman.csv
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``mdvib raman``."""
    add_trajectory_options(parser)
    group = parser.add_argument_group("analysis")
    group.add_argument("--polarizabilities", metavar="FILE", required=True,
                       help="polarizability series: GPUMD polarizability.out (step xx yy zz xy yz zx), text with 6 "
                       "(xx yy zz xy yz xz) or 9 columns, or .npy (n, 3, 3); one row per frame of TRAJ or per "
                       "selected frame")
    group.add_argument("--polarizability-unit", choices=sorted(POLARIZABILITY_UNITS), default="A^3",
                       help="unit of the polarizability volumes in the file (default: A^3)")
    group.add_argument("--temperature", type=float, metavar="K", required=True, help="temperature of the run, K")
    group.add_argument("--laser-nm", type=float, default=532.0, help="laser wavelength, nm (default: 532)")
    add_lag_window_options(group, f"correlation length in frames, at least {MIN_WINDOW} (default: half a block, "
                           "at most 1000)")
    group.add_argument("--quantum-correction", choices=sorted(QUANTUM_CORRECTIONS), default="harmonic",
                       help="factor in the cross section: harmonic x/(1-e^-x) (the Stokes formula), none "
                       "(classical limit), standard, schofield (default: harmonic)")
    add_output_options(parser, "raman.h5", "the cross sections")


def run(args: argparse.Namespace) -> None:
    """Run the analysis described by parsed arguments."""
    check_output(args.output, (".h5", ".hdf5", ".csv"), "-o")
    check_output(args.plot, PLOT_SUFFIXES, "--plot")
    series = PolarizabilitySeries.from_file(args.polarizabilities, args.polarizability_unit)
    trajectory = open_trajectory(args)
    analysis = RamanAnalysis(series, args.temperature, laser_nm=args.laser_nm, window=args.window,
                             window_function=args.window_function, blocks=args.blocks,
                             quantum_correction=args.quantum_correction, progress=not args.quiet)
    run_spectrum(args, analysis, trajectory, "raman", plot="mdvib.analysis.raman:plot_raman")
