"""Options shared by subcommands that read trajectories, and output helpers."""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import yaml

from mdvib.errors import SettingsError
from mdvib.results import write_text_atomic
from mdvib.trajectory import Trajectory

#: ``--units`` styles every reader understands (see :func:`add_trajectory_options`).
UNIT_STYLE_CHOICES = ("metal", "real", "gpumd", "ase")

UNITS_HELP = """unit convention of a file that does not state its own: metal (LAMMPS metal: Å/ps, ps, eV/Å),
real (LAMMPS real: Å/fs, fs, kcal/(mol·Å)), gpumd (Å/fs, fs, eV/Å), ase (ASE units). LAMMPS dumps: metal
or real (default: ITEM: UNITS, else metal); extxyz: any (default: the style a LAMMPS dump extxyz header
implies, else gpumd); LAMMPS dumps and DCD read by MDAnalysis, H5MD datasets without a unit: metal or real.
Refused where the file states its units (i-PI xyz, ASE .traj, TRR, XTC, NetCDF)"""


def add_trajectory_options(parser: argparse.ArgumentParser) -> None:
    """Add TRAJ and the reader/frame-selection options."""
    parser.add_argument("trajectory", metavar="TRAJ", help="trajectory file (LAMMPS dump[.gz|.bz2|.xz], extxyz, "
                        "i-PI xyz, H5MD, or anything MDAnalysis/ASE reads)")
    group = parser.add_argument_group("reading")
    group.add_argument("--format", help="reader name (default: detected from the file)")
    group.add_argument("--topology", metavar="FILE",
                       help="topology of an MDAnalysis trajectory (DCD, TRR, XTC, NetCDF...): PDB, GRO, PSF, "
                       "LAMMPS data, PRMTOP, ...; atom ids, types or names, elements and, where the format "
                       "stores them, masses")
    group.add_argument("--dt", type=float, metavar="FS",
                       help="MD time step in fs for files that record step numbers (LAMMPS dumps: frames are "
                       "dt × step difference apart); the time between frames for files without steps. "
                       "Not needed when the file records time")
    group.add_argument("--units", choices=UNIT_STYLE_CHOICES, default=None, help=UNITS_HELP)
    group.add_argument("--types", metavar="MAP",
                       help="element of each atom type or label, e.g. 1=Si,2=O (LAMMPS types) or SI1=Si "
                       "(topology types or names, xyz labels); wins over the file's elements and masses "
                       "(standard weights)")
    group.add_argument("--species", metavar="LIST",
                       help="element of every atom in atom-id order (file order without ids): Si,Si,O or "
                       "Si*64,O*128; wins over the file's elements and masses (standard weights)")
    group.add_argument("--masses", metavar="MAP",
                       help="mass in amu of an element, e.g. H=2.014,O=15.999 (wins over the file's and the "
                       "standard masses)")
    group.add_argument("--velocities", metavar="FILE",
                       help="i-PI: velocities file read in lockstep with the positions file TRAJ (default: "
                       "PREFIX.vel_K.xyz beside PREFIX.pos_K.xyz, PREFIX.vc.xyz beside PREFIX.xc.xyz, if present)")
    group.add_argument("--forces", metavar="FILE",
                       help="i-PI: forces file read in lockstep with TRAJ (default: PREFIX.for_K.xyz beside "
                       "PREFIX.pos_K.xyz, PREFIX.fc.xyz beside PREFIX.xc.xyz, if present)")
    group.add_argument("--start", type=int, default=0, help="first frame (default 0)")
    group.add_argument("--stop", type=int, default=None, help="stop before this frame (default: end)")
    group.add_argument("--step", type=int, default=1, help="use every STEP-th frame (default 1)")
    group.add_argument("--no-time-check", action="store_true",
                       help="do not compare finite-difference velocities with the recorded ones to check --dt "
                       "(the check refuses a frame spacing the data contradict by more than a factor 2)")


#: Image formats ``--plot`` accepts (matplotlib's Agg and vector backends).
PLOT_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg", ".eps")


def add_parallel_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--workers`` and ``--scheduler`` (every analysis built on the analyser framework has them)."""
    group = parser.add_argument_group("parallel")
    group.add_argument("--workers", type=positive_int, default=1, metavar="N",
                       help="analyse the independent blocks in N processes (default 1); with --scheduler local, "
                       "the workers of a local Dask cluster")
    group.add_argument("--scheduler", metavar="ADDRESS",
                       help="run the blocks on Dask distributed: 'local' (a LocalCluster of --workers processes) "
                       "or a scheduler address such as tcp://host:8786 (needs mdvib[parallel])")


def positive_int(text: str, alternative: str = "") -> int:
    """argparse type: a positive integer (``alternative`` names other accepted values in the message)."""
    expected = f"expected a positive integer{' ' + alternative if alternative else ''}"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{expected}, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{expected}, got {value}")
    return value


def check_output(path: str | os.PathLike | None, suffixes: tuple[str, ...], option: str,
                 directory: bool = False) -> None:
    """Check an output path before any work is done.

    Parameters
    ----------
    path : str or PathLike or None
        The path (``None``: nothing to check).
    suffixes : tuple of str
        Accepted extensions, lower case with the dot (ignored for a directory).
    option : str
        The option that gave it, for the message.
    directory : bool
        Whether ``path`` is an output directory (created later).

    Raises
    ------
    SettingsError
        If the extension is not accepted, or the folder that will hold the
        output does not exist or is not writable.
    """
    if path is None:
        return
    path = Path(path)
    if not directory and path.suffix.lower() not in suffixes:
        raise SettingsError(f"{option} {path}: unknown format {path.suffix or '(no extension)'!r}; "
                            f"use one of {', '.join(suffixes)}")
    parent = path if directory and path.exists() else path.parent
    while directory and not parent.exists() and parent != parent.parent:
        parent = parent.parent  # an output directory is created with its parents
    if not parent.exists():
        raise SettingsError(f"{option} {path}: the folder {parent} does not exist")
    if not parent.is_dir():
        raise SettingsError(f"{option} {path}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise SettingsError(f"{option} {path}: the folder {parent} is not writable")


def _element(symbol: str, option: str, where: str) -> str:
    """``symbol`` if it is a chemical element (not the dummy ``X``), else a :class:`SettingsError`."""
    from ase.data import atomic_numbers

    if symbol not in atomic_numbers or symbol == "X":
        raise SettingsError(f"{option}: {symbol!r} ({where}) is not a chemical element symbol (e.g. Si, O)")
    return symbol


def parse_type_map(text: str | None) -> dict[int | str, str] | None:
    """Parse ``"1=Si,2=O"`` into ``{1: "Si", 2: "O"}`` (numeric types as int, other labels as str)."""
    if not text:
        return None
    mapping: dict[int | str, str] = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        key, symbol = key.strip(), value.strip()
        if not sep or not key or not symbol:
            raise SettingsError(f"--types: cannot parse {item!r}; expected TYPE=Element, e.g. 1=Si,2=O")
        label: int | str = int(key) if key.isdigit() else key
        _element(symbol, "--types", f"type {label}")
        if label in mapping:
            raise SettingsError(f"--types: type {label} is given twice ({mapping[label]} and {symbol})")
        mapping[label] = symbol
    return mapping


def parse_species(text: str | None) -> list[str] | None:
    """Parse ``"Si*2,O"`` into ``["Si", "Si", "O"]``."""
    if not text:
        return None
    species: list[str] = []
    for item in text.split(","):
        symbol, star, count = item.strip().partition("*")
        if star and not count.strip().isdigit():
            raise SettingsError(f"--species: cannot parse {item!r}; expected Element or Element*COUNT, e.g. Si*64")
        species += [_element(symbol.strip(), "--species", f"item {item.strip()!r}")] * (int(count) if star else 1)
    return species


def parse_masses(text: str | None) -> dict[str, float] | None:
    """Parse ``"H=2.014,O=15.999"`` into ``{"H": 2.014, "O": 15.999}`` (amu)."""
    if not text:
        return None
    masses: dict[str, float] = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        symbol = key.strip()
        try:
            mass = float(value)
        except ValueError:
            mass = float("nan")
        if not sep or not mass > 0:
            raise SettingsError(f"--masses: cannot parse {item!r}; expected Element=AMU with a positive mass, "
                                "e.g. H=2.014")
        masses[_element(symbol, "--masses", f"mass {value.strip()}")] = mass
    return masses


#: Reading options of the command line: argparse dest → (flag, reader option, parser of the text).
READER_OPTIONS: dict[str, tuple[str, str, Callable | None]] = {
    "topology": ("--topology", "topology", None),
    "dt": ("--dt", "dt_fs", None),
    "units": ("--units", "units", None),
    "types": ("--types", "type_map", parse_type_map),
    "species": ("--species", "species", parse_species),
    "masses": ("--masses", "masses", parse_masses),
    "velocities": ("--velocities", "velocities_file", None),
    "forces": ("--forces", "forces_file", None),
}


def _accepted_options(reader: type) -> set[str]:
    """Option names a reader class takes: its ``_OPTIONS``, else its keyword parameters."""
    known = getattr(reader, "_OPTIONS", None)
    if known is not None:
        return set(known)
    return {name for name in inspect.signature(reader.__init__).parameters if name not in ("self", "path")}


def reader_options(args: argparse.Namespace, format_name: str) -> dict:
    """Reader options for ``format_name`` from the command line's reading options.

    Raises
    ------
    SettingsError
        For an option the reader does not take, naming the readers that do.
    """
    from mdvib.io.registry import READERS

    accepted = _accepted_options(READERS[format_name].reader)
    options = {}
    for dest, (flag, option, parse) in READER_OPTIONS.items():
        value = getattr(args, dest, None)
        if value is None:
            continue
        if option not in accepted:
            users = sorted(name for name, entry in READERS.items() if option in _accepted_options(entry.reader))
            hint = "; LAMMPS dumps name atoms by type: use --types 1=Si,..." if dest == "species" else ""
            raise SettingsError(f"{flag} does not apply to {args.trajectory} (read by the {format_name} reader; "
                                f"{flag} is for {', '.join(users) or 'no reader'}){hint}")
        options[option] = parse(value) if parse is not None else value
    return options


def _ipi_companions(args: argparse.Namespace, options: dict) -> dict:
    """``velocities_file``/``forces_file`` found beside an i-PI positions file (those not given)."""
    from mdvib.io.ipi_beads import companion_files

    found = {}
    for quantity, path in companion_files(args.trajectory).items():
        option = f"{quantity}_file"
        if option not in options:
            found[option] = str(path)
            if not getattr(args, "quiet", False):
                print(f"mdvib: reading {quantity} from {path} (found beside {args.trajectory}; "
                      f"--{quantity} FILE to choose another)", file=sys.stderr)
    return found


def open_trajectory(args: argparse.Namespace) -> Trajectory:
    """Open ``args.trajectory`` with the reader options from the command line.

    The reader is ``--format`` or the detected one; each reading option goes
    to it under its reader name (:data:`READER_OPTIONS`), and an option it
    does not take is an error. For extxyz files, i-PI velocity and force
    files beside the positions file are read with it unless given.
    """
    import mdvib.io  # noqa: F401  (registers the readers)
    from mdvib.io.registry import READERS, detect_format

    name = args.format or detect_format(args.trajectory)
    if name not in READERS:
        raise SettingsError(f"--format {name}: unknown trajectory format; choose one of {sorted(READERS)}")
    if (args.velocities or args.forces) and getattr(args, "more_trajectories", None):
        raise SettingsError("--velocities/--forces name the files of one trajectory; with several TRAJ, mdvib "
                            "finds each PREFIX.vel_K.xyz/PREFIX.for_K.xyz beside its PREFIX.pos_K.xyz")
    options = reader_options(args, name)
    if name == "extxyz":
        options.update(_ipi_companions(args, options))
    return Trajectory.open(args.trajectory, format=name, **options)


def write_provenance(output: str | Path, provenance, argv: list[str] | None = None) -> Path:
    """Write ``<output>.provenance.yaml`` with the result's provenance and the command line."""
    path = Path(f"{output}.provenance.yaml")
    record = {"command": " ".join(["mdvib", *(sys.argv[1:] if argv is None else argv)]), **provenance.to_dict()}
    write_text_atomic(path, yaml.safe_dump(record, sort_keys=False, allow_unicode=True))
    return path


def run_spectrum(args: argparse.Namespace, analysis, trajectory: Trajectory, command: str, plot: str) -> object:
    """Run a spectrum analyser on the CLI's frame slice, save the result and report it.

    Shared tail of ``mdvib dos``, ``ir`` and ``raman``: the analysis runs on
    ``args.start:args.stop:args.step`` with ``args.workers``/``args.scheduler``
    (its statistics warnings are kept in ``result.warnings``), the result and
    its provenance are written to ``args.output``, the figure to ``args.plot``
    when asked for, then the summary (or, with ``--quiet``, only the warnings on
    stderr) is printed.

    Parameters
    ----------
    args : argparse.Namespace
    analysis : AnalysisBase
    trajectory : Trajectory
    command : str
        Subcommand name for messages (``"dos"``).
    plot : str
        ``"module:function"`` drawing ``(result, path)``; imported only when a plot is asked for
        (matplotlib stays unloaded otherwise).

    Returns
    -------
    The analysis result.
    """
    from mdvib.analysis.dos import SpectrumWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SpectrumWarning)  # in result.warnings, printed below
        result = analysis.run(trajectory, start=args.start, stop=args.stop, step=args.step, workers=args.workers,
                              scheduler=args.scheduler)
    result.save(args.output)
    write_provenance(args.output, result.provenance)
    if args.plot:
        module, function = plot.split(":")
        getattr(importlib.import_module(module), function)(result, args.plot)
    if args.quiet:
        for text in getattr(result, "warnings", None) or ():
            print(f"mdvib {command}: warning: {text}", file=sys.stderr)
    else:
        print(result.summary())
        print(f"wrote {args.output}" + (f" and {args.plot}" if args.plot else ""))
    return result


def add_lag_window_options(group, window_help: str) -> None:
    """``--window`` (help ``window_help``), ``--window-function`` and ``--blocks`` of a correlation spectrum."""
    from mdvib.analysis.spectral import LAG_WINDOWS

    group.add_argument("--window", type=int, metavar="N", help=window_help)
    group.add_argument("--window-function", choices=sorted(LAG_WINDOWS), default="hann",
                       help="lag window applied before the FFT (default: hann)")
    group.add_argument("--blocks", type=int, default=4,
                       help="independent blocks for standard errors; 1 for none (default: 4)")


def add_output_options(parser: argparse.ArgumentParser, default: str, drawn: str) -> None:
    """The output group of a spectrum subcommand: ``-o`` (default ``default``), ``--plot`` (drawing ``drawn``),
    ``--quiet``."""
    out = parser.add_argument_group("output")
    out.add_argument("-o", "--output", default=default,
                     help=f"result file: .h5 (typed, units, provenance) or .csv (default: {default})")
    out.add_argument("--plot", metavar="IMAGE", help=f"also draw {drawn} to IMAGE (.png, .pdf, .svg)")
    out.add_argument("--quiet", action="store_true", help="no progress bar or summary")
