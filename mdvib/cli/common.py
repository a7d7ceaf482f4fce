"""Options shared by subcommands that read trajectories, and output helpers."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import yaml

from mdvib.errors import SettingsError
from mdvib.results import write_text_atomic
from mdvib.trajectory import Trajectory


def add_trajectory_options(parser: argparse.ArgumentParser) -> None:
    """Add TRAJ and the reader/frame-selection options."""
    parser.add_argument("trajectory", metavar="TRAJ", help="trajectory file (LAMMPS dump[.gz], extxyz, H5MD, "
                        "or anything MDAnalysis/ASE reads)")
    group = parser.add_argument_group("reading")
    group.add_argument("--format", help="reader name (default: detected from the file)")
    group.add_argument("--dt", type=float, metavar="FS",
                       help="MD time step in fs for files that record step numbers (LAMMPS dumps: frames are "
                       "dt × step difference apart); the time between frames for files without steps. "
                       "Not needed when the file records time")
    group.add_argument("--units", choices=["metal", "real"], default=None,
                       help="LAMMPS dumps only: unit style, metal = Å/ps velocities, real = Å/fs (default: the "
                       "dump's ITEM: UNITS if present, else metal)")
    group.add_argument("--types", metavar="MAP", help="element of each numeric LAMMPS type, e.g. 1=Si,2=O")
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


def parse_type_map(text: str | None) -> dict[int, str] | None:
    """Parse ``"1=Si,2=O"`` into ``{1: "Si", 2: "O"}``."""
    if not text:
        return None
    from ase.data import atomic_numbers

    mapping = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if not sep or not key.strip().isdigit() or not value.strip():
            raise SettingsError(f"--types: cannot parse {item!r}; expected TYPE=Element, e.g. 1=Si,2=O")
        number, symbol = int(key), value.strip()
        if symbol not in atomic_numbers or symbol == "X":
            raise SettingsError(f"--types: {symbol!r} (type {number}) is not a chemical element symbol "
                                "(e.g. Si, O)")
        if number in mapping:
            raise SettingsError(f"--types: type {number} is given twice ({mapping[number]} and {symbol})")
        mapping[number] = symbol
    return mapping


def open_trajectory(args: argparse.Namespace) -> Trajectory:
    """Open ``args.trajectory`` with the reader options from the command line."""
    options = {"units": args.units, "dt_fs": args.dt, "type_map": parse_type_map(args.types)}
    return Trajectory.open(args.trajectory, format=args.format, **{k: v for k, v in options.items() if v is not None})


def write_provenance(output: str | Path, provenance, argv: list[str] | None = None) -> Path:
    """Write ``<output>.provenance.yaml`` with the result's provenance and the command line."""
    path = Path(f"{output}.provenance.yaml")
    record = {"command": " ".join(["mdvib", *(sys.argv[1:] if argv is None else argv)]), **provenance.to_dict()}
    write_text_atomic(path, yaml.safe_dump(record, sort_keys=False, allow_unicode=True))
    return path
