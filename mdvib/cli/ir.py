"""``mdvib ir``: infrared absorption from the dipole autocorrelation."""

from __future__ import annotations

import argparse

from mdvib.analysis.dipoles import DIPOLE_UNITS, ChargeDipoles, SeriesDipoles, TrajectoryDipoles
from mdvib.analysis.ir import IR_QUANTUM_CORRECTIONS, METHODS, IRAnalysis
from mdvib.analysis.spectral import MIN_WINDOW
from mdvib.cli.common import (
    PLOT_SUFFIXES,
    add_lag_window_options,
    add_output_options,
    add_trajectory_options,
    check_output,
    open_trajectory,
    run_spectrum,
)
from mdvib.errors import SettingsError

DESCRIPTION = """\
Infrared absorption from the multi-origin autocorrelation of the total dipole
moment M (stored per frame in the trajectory, a separate series with --dipoles,
or fixed charges with --charges), with block-averaged standard errors.

Units: wavenumber in cm-1 (frequency in THz also stored). With a volume (the
cell, or --volume): conductivity σ in S/m, ε″ (dimensionless), absorption n·α
in cm-1. With --molecules N: molar absorption in (km/mol)/cm-1, whose integral
over a band is its intensity in km/mol. The βω² absorption is already the
harmonic quantum-corrected one: no correction is applied on top by default.

examples:
  mdvib ir run.xyz --dt 0.5 --temperature 300 --molecules 64 -o ir.h5 --plot ir.png
  mdvib ir movie.xyz --dipoles dipole.out --dt 1 --temperature 300 -o ir.csv
  mdvib ir dump.lammpstrj --dt 0.5 --types 1=O,2=H --charges O=-0.8476,H=0.4238 --temperature 300 -o ir.h5
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``mdvib ir`` (the parallel options are added for every analysis)."""
    add_trajectory_options(parser)
    dipoles = parser.add_argument_group("dipoles (default: stored in the trajectory)")
    source = dipoles.add_mutually_exclusive_group()
    source.add_argument("--dipoles", metavar="FILE",
                        help="dipole series: GPUMD dipole.out (step mu_x mu_y mu_z), text with 3 columns, or .npy "
                        "(n, 3); one row per frame of TRAJ or per selected frame")
    source.add_argument("--charges", metavar="MAP",
                        help="fixed charges in e per species, e.g. O=-0.8476,H=0.4238: M = Σ q r from positions "
                        "made continuous in time")
    dipoles.add_argument("--dipole-unit", choices=sorted(DIPOLE_UNITS), default="e*A",
                         help="unit of the --dipoles file (default: e*A)")
    dipoles.add_argument("--allow-net-charge", action="store_true",
                         help="accept --charges that do not sum to zero over the cell (recorded as a warning)")
    group = parser.add_argument_group("analysis")
    group.add_argument("--temperature", type=float, metavar="K", required=True,
                       help="temperature of the run, K (β in the absorption)")
    group.add_argument("--molecules", type=int, metavar="N",
                       help="molecules in the volume: adds the molar absorption in km/mol (no volume needed)")
    group.add_argument("--volume", type=float, metavar="A3",
                       help="volume in Å³ (default: the cell volume averaged over the frames)")
    group.add_argument("--method", choices=METHODS, default="derivative",
                       help="derivative: current from forward differences of M with the sinc² damping undone; "
                       "dipole: ω² × spectrum of M with its mean removed (default: derivative)")
    add_lag_window_options(group, f"correlation length (maximum lag) in frames, at least {MIN_WINDOW} (default: "
                           "half a block, at most 1000)")
    group.add_argument("--quantum-correction", choices=IR_QUANTUM_CORRECTIONS, default="harmonic",
                       help="harmonic (= none): the βω² form as it is; standard/schofield: their factor relative "
                       "to the harmonic one (default: harmonic)")
    group.add_argument("--kramers-kronig", action="store_true",
                       help="also give ε′(ω) − ε∞ from ε″ by the Kramers–Kronig relation (needs the volume)")
    add_output_options(parser, "ir.h5", "the spectrum")


def run(args: argparse.Namespace) -> None:
    """Run the analysis described by parsed arguments."""
    check_output(args.output, (".h5", ".hdf5", ".csv"), "-o")
    check_output(args.plot, PLOT_SUFFIXES, "--plot")
    if args.allow_net_charge and not args.charges:
        raise SettingsError("--allow-net-charge applies to --charges only")
    if args.dipoles:
        source = SeriesDipoles.from_file(args.dipoles, args.dipole_unit)
    elif args.charges:
        source = ChargeDipoles(args.charges, args.allow_net_charge)
    else:
        source = TrajectoryDipoles()
    trajectory = open_trajectory(args)
    analysis = IRAnalysis(args.temperature, source, n_molecules=args.molecules, volume_a3=args.volume,
                          method=args.method, window=args.window, window_function=args.window_function,
                          blocks=args.blocks, quantum_correction=args.quantum_correction,
                          kramers_kronig=args.kramers_kronig, progress=not args.quiet)
    run_spectrum(args, analysis, trajectory, "ir", plot="mdvib.analysis.ir:plot_ir")
