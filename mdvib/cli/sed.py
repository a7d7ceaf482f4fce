"""``mdvib sed``: spectral energy density, finite-temperature dispersion and phonon lifetimes."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

from mdvib.analysis.sed import SEDAnalysis, SEDWarning
from mdvib.analysis.sed.lifetimes import MODELS, fit_lifetimes
from mdvib.cli.common import add_trajectory_options, check_output, open_trajectory, positive_int, write_provenance
from mdvib.cli.structures import read_structures
from mdvib.errors import SettingsError

DESCRIPTION = """\
Spectral energy density Φ(q, ν) of an MD run (Thomas et al. 2010, eigenvector
free; mode-projected with --fc), its linewidths and lifetimes.

Needs velocities and the ideal supercell the MD ran in (--reference); atoms are
paired with its sites by id or by position and assigned to unit cells of
--unitcell (default: spglib's primitive cell of the reference). Only q
commensurate with the supercell exist; others are refused, naming the nearest.

Units: frequency THz; Φ in eV/THz with ∫Φ dν = n_basis·3·k_BT/2 per q
(dynasor's normalisation); q reduced in the unit cell's reciprocal lattice;
linewidth Γ = FWHM in THz, lifetime τ = 1/(2πΓ) in ps.

Writes (OUT is a folder):
  OUT/sed.h5            the SED (typed, units, provenance; mdvib.results.load_result)
  OUT/lifetimes.csv     one row per (q, branch): ν, Γ, τ and their standard errors
  OUT/lifetimes.h5      the same table with units
  OUT/sed_map.png       log-intensity heat map along the q-points (dispersion overlaid with --fc)
  OUT/sed_lines.png     Φ′(ν) at the labelled q with the fitted peaks
  OUT/linewidths.png    Γ against ν

examples:
  mdvib sed dump.lammpstrj --reference structure.data --dt 1 --path "G X K G L" -o sed
  mdvib sed run.xyz --reference super.vasp --unitcell POSCAR --fc tdep_out --blocks 8 -o sed
  mdvib sed dump.gz --reference structure.data --dt 2 --qpoints "0,0,0; 0.25,0,0.25" -o sed
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``mdvib sed`` (the parallel options are added for every analysis)."""
    add_trajectory_options(parser)
    cells = parser.add_argument_group("structure")
    cells.add_argument("--reference", metavar="REF", required=True,
                       help="ideal supercell the MD ran in (LAMMPS data file or any ASE-readable structure)")
    cells.add_argument("--reference-format", metavar="FMT", help="ASE format of REF (default: from the file name)")
    cells.add_argument("--unitcell", metavar="CELL",
                       help="unit cell whose cells and basis atoms the SED resolves (default: primitive cell of REF)")
    cells.add_argument("--fc", metavar="FC",
                       help="force constants for the mode-projected SED and the dispersion overlay: a phonopy "
                       "YAML file or an `mdvib tdep` output folder")
    q = parser.add_argument_group("wave vectors (one of)")
    q.add_argument("--path", default=None,
                   help="high-symmetry path: 'auto' (the lattice's standard path; 2D for a slab) or labels such as "
                   "'G X K G L' (comma: a break); default auto")
    q.add_argument("--qpoints", metavar="LIST",
                   help="explicit q in reduced coordinates of the unit cell's reciprocal lattice, '0,0,0; 0.5,0,0.5'")
    q.add_argument("--grid", action="store_true", help="every commensurate q of the supercell")
    group = parser.add_argument_group("analysis")
    group.add_argument("--segment", type=positive_int, metavar="W",
                       help="frames per Fourier segment; resolution 1/(W·Δt) (default: the whole block)")
    group.add_argument("--blocks", type=positive_int, default=4,
                       help="independent blocks for standard errors; 1 for none (default: 4)")
    group.add_argument("--max-frequency", type=float, metavar="THZ", help="keep frequencies up to THZ")
    group.add_argument("--model", choices=MODELS, default="lorentzian",
                       help="peak shape of the lifetime fits (dho: damped harmonic oscillator; default: lorentzian)")
    group.add_argument("--peaks", type=positive_int, metavar="N",
                       help="peaks fitted per q without --fc (default: 3 × atoms per unit cell)")
    group.add_argument("--no-fit", action="store_true", help="no lifetime fits")
    out = parser.add_argument_group("output")
    out.add_argument("-o", "--output", default="sed", metavar="OUT", help="output folder (default: sed)")
    out.add_argument("--no-plots", action="store_true", help="no figures")
    out.add_argument("--quiet", action="store_true", help="no progress bar or summary")


def parse_qpoints(text: str) -> np.ndarray:
    """``"0,0,0; 0.5,0,0.5"`` → array (n_q, 3)."""
    rows = []
    for item in text.split(";"):
        if not item.strip():
            continue
        try:
            values = [float(v) for v in item.replace(",", " ").split()]
        except ValueError:
            raise SettingsError(f"--qpoints: cannot read {item.strip()!r}; expected 'a,b,c; a,b,c'") from None
        if len(values) != 3:
            raise SettingsError(f"--qpoints: {item.strip()!r} has {len(values)} numbers, expected 3")
        rows.append(values)
    if not rows:
        raise SettingsError("--qpoints: no q-point given")
    return np.array(rows)


def _qpoints(args: argparse.Namespace):
    chosen = [name for name, value in (("--path", args.path), ("--qpoints", args.qpoints), ("--grid", args.grid))
              if value]
    if len(chosen) > 1:
        raise SettingsError(f"give one of --path, --qpoints, --grid (got {' and '.join(chosen)})")
    if args.qpoints:
        return parse_qpoints(args.qpoints)
    return "grid" if args.grid else (args.path or "auto")


def run(args: argparse.Namespace) -> None:
    """Run the analysis described by parsed arguments."""
    check_output(args.output, (), "-o", directory=True)
    qpoints = _qpoints(args)
    args, reference, unitcell = read_structures(args)
    trajectory = open_trajectory(args)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SEDWarning)  # in result.warnings, printed below
        analysis = SEDAnalysis(reference, unitcell, qpoints=qpoints, modes=args.fc, segment=args.segment,
                               blocks=args.blocks, max_frequency_thz=args.max_frequency,
                               check_time_axis=not args.no_time_check, progress=not args.quiet)
        result = analysis.run(trajectory, start=args.start, stop=args.stop, step=args.step, workers=args.workers,
                              scheduler=args.scheduler)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    result.save(out / "sed.h5")
    write_provenance(out / "sed.h5", result.provenance)
    table = None if args.no_fit else fit_lifetimes(result, model=args.model, peaks=args.peaks)
    if table is not None:
        table.save(out / "lifetimes.csv")
        table.save(out / "lifetimes.h5")
    if not args.no_plots:
        from mdvib.analysis.sed.plots import dense_dispersion, plot_line_spectra, plot_linewidths, plot_sed_map

        dispersion = None
        if analysis.modes is not None and result.q_kind == "path":
            dispersion = dense_dispersion(result, lambda k: analysis.modes.frequencies(analysis.cells, k))
        plot_sed_map(result, out / "sed_map.png", dispersion)
        plot_line_spectra(result, table, out / "sed_lines.png")
        if table is not None:
            plot_linewidths([("", table)], out / "linewidths.png")
    if args.quiet:
        for text in result.warnings or ():
            print(f"mdvib sed: warning: {text}", file=sys.stderr)
    else:
        print(result.summary())
        if table is not None:
            print(table.summary())
        print(f"wrote {out}/")
