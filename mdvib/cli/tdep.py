"""``mdvib tdep``: temperature-dependent effective force constants from MD snapshots."""

from __future__ import annotations

import argparse
import sys
import warnings

from mdvib.analysis.tdep import FIT_MODES, INVARIANCES, TDEPAnalysis, TDEPWarning
from mdvib.analysis.tdep.centroid import centroid_trajectory
from mdvib.analysis.tdep.decorrelation import DECORRELATION_SERIES, SOKAL_C
from mdvib.analysis.tdep.fit import FAILED_R2, LOW_R2, MIN_DATA_PER_PARAMETER
from mdvib.analysis.tdep.reference import (
    CELL_STRAIN_TOLERANCE,
)
from mdvib.cli.common import (
    add_trajectory_options,
    check_output,
    open_trajectory,
    positive_int,
    write_provenance,
)
from mdvib.cli.structures import read_structures
from mdvib.errors import SettingsError
from mdvib.trajectory import Trajectory

DESCRIPTION = f"""\
Effective second- (and third-) order force constants fitted to MD snapshots
(TDEP-style): F = -Φ2·u - ½Φ3·u·u with symmetry-irreducible parameters within
the cutoffs and exact acoustic sum rules. Needs positions and pure potential
forces (not LAMMPS fix langevin forces) and the ideal supercell the MD ran in.

Units: distances in Å, forces eV/Å, FC2 eV/Å², FC3 eV/Å³, frequencies THz.

Writes to OUTDIR:
  FORCE_CONSTANTS   phonopy text format (compact)
  phonopy.yaml      unit cell, supercell matrix and FC2: phonopy.load("OUTDIR/phonopy.yaml")
  fc2.hdf5          FC2 in phonopy's HDF5 layout, for phono3py (with --rc3)
  fc3.hdf5          FC3 in phono3py's compact layout (with --rc3); phono3py reads the pair:
                    phono3py.load("OUTDIR/phonopy.yaml", fc2_filename="OUTDIR/fc2.hdf5",
                                  fc3_filename="OUTDIR/fc3.hdf5", symmetrize_fc=False)
  tdep.h5           the fit (force constants, diagnostics, provenance)
  phonons.h5        dispersion (seekpath path), DOS, thermal properties
  dispersion.png    dispersion and DOS

Temperature series: several trajectories, one per temperature, with as many
--temperature values, are fitted with the same reference, cutoffs and settings:
  OUTDIR/T_<T>K/            every file above, for each temperature
  OUTDIR/dispersion.png     all temperatures on one dispersion (and DOS) figure
  OUTDIR/frequencies_vs_T.csv  frequencies (THz) at the special points (Γ, X, L, ...) vs T
  OUTDIR/series.h5          the same table with units (mdvib result TemperatureSeries)
The frame selection (--start/--stop/--step/--stride) applies to each trajectory
(--stride auto: each its own stride).

PIMD centroids: with --bead-forces NAME each TRAJ is one bead's i-PI positions
file (PREFIX.pos_K.xyz); the fit uses the ring-polymer centroid: positions
averaged over all beads PREFIX.pos_*.xyz (minimum image), forces over the
beads' PREFIX.NAME_*.xyz. Units come from the i-PI headers (atomic units
unless the trajectory names one); give the i-PI time step with --dt.

Snapshot stride: --stride auto first correlates the selected frames: τ_int of
the squared mass-weighted displacements (or forces: --decorrelation-series),
per atom and direction, summed, with Sokal's self-consistent window
(M ≥ {SOKAL_C:g} τ_int); the stride is ⌈2 τ_int⌉ frames. τ_int and the stride are
printed and stored in tdep.h5.

Checks (before anything is written): the reference cell must be the
trajectory's up to a rotation (a POSCAR against LAMMPS's lower-triangular
cell is fine: forces are turned into the reference's frame) and a strain of
at most {100 * CELL_STRAIN_TOLERANCE:g} % (a wrong lattice constant is refused); the cutoffs must
include a pair (above the nearest-neighbour distance), rc3 at most half the
shortest supercell width (rc2 beyond it warns); there must be at least
{MIN_DATA_PER_PARAMETER} independent force components (3N - 3 per snapshot) per free parameter.
After the fit, R² below {LOW_R2:g} warns and below {FAILED_R2:g} is an error unless --force.
Species: without --types, a LAMMPS data file REF names the types, by its
Atom Type Labels or by its Masses (the element of nearest standard mass).

Rotational invariances: --invariances born-huang huang imposes on FC2, exactly
(least squares within the parameters that obey them), the Born–Huang
rotational sum rules (Σ_j Φ_ij^αβ r_ij^γ symmetric in β, γ for every atom i)
and the Huang conditions of a stress-free equilibrium (Σ_ij Φ_ij^αβ r_ij^γ r_ij^λ
symmetric under αβ ↔ γλ). Diamond, zincblende, rocksalt and fcc/bcc crystals
obey them by symmetry; in hexagonal, layered and low-dimensional systems they
make the elastic constants implied by FC2 consistent with the sound velocities
(and flexural branches quadratic). Needs rc2 below half the supercell width. The summary and tdep.h5
give the relative violation with and without them.

examples:
  mdvib tdep md.dump --types 1=Si --reference si.data --rc2 5 --rc3 4 --temperature 300 -o tdep300
  mdvib tdep md.dump --types 1=Si --dt 1 --reference si.data --rc2 5 --stride auto -o tdep_auto
  mdvib tdep run.xyz --reference POSCAR_super --unitcell POSCAR --rc2 6 --stride 10 --cv 5 -o out
  mdvib tdep wurtzite.xyz --reference POSCAR_super --rc2 6 --invariances born-huang huang -o out_rot
  mdvib tdep md100.dump md600.dump --temperature 100 600 --types 1=Si --dt 1 --reference si.data --rc2 5 -o series
  mdvib tdep sim.pos_0.xyz --bead-forces for --dt 0.5 --reference POSCAR_super --rc2 5 --temperature 100 -o pimd
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``mdvib tdep`` (the parallel options are added for every analysis)."""
    add_trajectory_options(parser)
    parser.add_argument("more_trajectories", nargs="*", metavar="TRAJ",
                        help="further trajectories, one per --temperature, for a temperature series")
    parser.add_argument("--stride", type=_stride, metavar="N|auto",
                        help="use every N-th frame (same as --step); auto: 2 τ_int from the frames' integrated "
                        "autocorrelation time (see above)")
    parser.add_argument("--bead-forces", metavar="NAME",
                        help="PIMD: TRAJ is one bead's i-PI positions file PREFIX.pos_K.xyz; fit the centroid of all "
                        "beads, forces from the i-PI trajectory file name NAME (PREFIX.NAME_*.xyz, e.g. for)")
    parser.add_argument("--decorrelation-series", choices=list(DECORRELATION_SERIES), default="displacements",
                        help="series correlated by --stride auto (squared, mass-weighted; default: displacements)")
    group = parser.add_argument_group("fit")
    group.add_argument("--reference", required=True, metavar="REF",
                       help="ideal supercell the MD was run in: LAMMPS data file (atom_style atomic, *.data/*.lmp) "
                       "or any file ASE reads (POSCAR, extxyz, cif, ...)")
    group.add_argument("--reference-format", metavar="FMT", help="ASE format of REF (default: from the file name)")
    group.add_argument("--unitcell", metavar="CELL",
                       help="unit cell for phonopy (same orientation as REF; default: spglib's standardised cell)")
    group.add_argument("--rc2", type=float, required=True, metavar="Å", help="FC2 cutoff in Å")
    group.add_argument("--rc3", type=float, metavar="Å",
                       help="FC3 cutoff in Å (all three pair distances below it); FC2 only when omitted")
    group.add_argument("--fit", choices=FIT_MODES, default="sequential",
                       help="sequential: FC2, then FC3 on the residual (TDEP's convention); joint: both at once "
                       "(default: sequential)")
    group.add_argument("--temperature", type=float, nargs="+", metavar="K",
                       help="temperature of the snapshots in K (recorded; harmonic free energy at it); one per TRAJ "
                       "(required for a series)")
    group.add_argument("--invariances", nargs="+", choices=INVARIANCES, default=[], metavar="NAME",
                       help="rotational invariances imposed exactly on FC2: born-huang (rotational sum rules), huang "
                       "(stress-free equilibrium); default: none")
    group.add_argument("--cv", type=int, default=0, metavar="K",
                       help="K-fold cross-validation over contiguous blocks of snapshots (default: none)")
    group.add_argument("--tolerance", type=float, metavar="Å",
                       help="largest allowed distance of an atom from its site (default: 0.4 × nearest-neighbour "
                       "distance)")
    group.add_argument("--keep-drift", action="store_true",
                       help="do not remove the centre-of-mass shift and mean force of each snapshot")
    group.add_argument("--force", action="store_true",
                       help=f"keep a fit whose R² is below {FAILED_R2:g} (an error otherwise), with a warning")
    out = parser.add_argument_group("output")
    out.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="output directory")
    out.add_argument("--no-plot", action="store_true", help="do not draw the dispersion figures")
    out.add_argument("--quiet", action="store_true", help="no progress bar or summary")


def _stride(text: str) -> int | str:
    """``--stride`` value: a positive integer or ``auto``."""
    return text if text == "auto" else positive_int(text, "or 'auto'")


def _open(args: argparse.Namespace, path: str) -> Trajectory:
    """Trajectory ``path`` with the reading options, or the PIMD centroid of its beads (``--bead-forces``)."""
    if args.bead_forces is None:
        return open_trajectory(argparse.Namespace(**{**vars(args), "trajectory": path}))
    if args.format is not None:
        raise SettingsError("--bead-forces reads i-PI xyz bead files; do not give --format")
    return centroid_trajectory(path, args.bead_forces, **({} if args.dt is None else {"dt_fs": args.dt}))


def run(args: argparse.Namespace) -> None:
    """Run the fit (or temperature series) described by parsed arguments and write OUTDIR."""
    from pathlib import Path

    from mdvib.analysis.tdep.export import imaginary_warning, write_outputs
    from mdvib.analysis.tdep.series import check_temperatures, fit_series, write_series_outputs

    if args.stride is not None and args.step != 1 and args.stride != args.step:
        raise SettingsError(f"--stride {args.stride} and --step {args.step} disagree; give one of them")
    step = args.stride or args.step
    check_output(args.output, (), "-o", directory=True)
    paths = [args.trajectory, *args.more_trajectories]
    temperatures = args.temperature or []
    if len(paths) > 1 or len(temperatures) > 1:
        check_temperatures(temperatures, len(paths))
    args, reference, unitcell = read_structures(args)
    trajectories = [_open(args, path) for path in paths]
    analysis = TDEPAnalysis(reference, rc2=args.rc2, rc3=args.rc3, fit=args.fit, cv_folds=args.cv,
                            temperature_k=temperatures[0] if temperatures else None, tolerance=args.tolerance,
                            decorrelation_series=args.decorrelation_series, remove_drift=not args.keep_drift,
                            invariances=args.invariances, progress=not args.quiet, force=args.force)
    analysis.check_time_axis = not args.no_time_check
    outdir = Path(args.output)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TDEPWarning)  # they are in result.warnings and printed below
        if len(paths) == 1:
            result = analysis.run(trajectories[0], start=args.start, stop=args.stop, step=step,
                                  workers=args.workers, scheduler=args.scheduler)
            _, spectrum, written = write_outputs(result, outdir, unitcell=unitcell, plot=not args.no_plot)
            fits, series = [(outdir, result, spectrum)], None
        else:
            results = fit_series(analysis, trajectories, temperatures, start=args.start, stop=args.stop, step=step,
                                 workers=args.workers, scheduler=args.scheduler)
            series, spectra, written = write_series_outputs(results, outdir, unitcell=unitcell,
                                                            plot=not args.no_plot)
            fits = [(outdir / f"T_{r.temperature_k:g}K", r, s) for r, s in zip(results, spectra)]
    for folder, result, _ in fits:
        write_provenance(folder / "tdep.h5", result.provenance)
    for folder, result, spectrum in fits:
        imaginary = imaginary_warning(spectrum)
        if args.quiet:
            for text in [*(result.warnings or ()), *([imaginary] if imaginary else [])]:
                print(f"mdvib tdep: warning: {text}", file=sys.stderr)
            continue
        if series is not None:
            print(f"== {result.temperature_k:g} K: {folder}")
        print(result.summary())
        print(spectrum.summary())
        if imaginary:
            print(f"warning: {imaginary}")
    if args.quiet:
        return
    if series is not None:
        print(series.summary())
    print("wrote " + ", ".join(str(p) for p in written))
