"""Options shared by subcommands that read trajectories, and output helpers."""

from __future__ import annotations

import argparse
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


def parse_type_map(text: str | None) -> dict[int, str] | None:
    """Parse ``"1=Si,2=O"`` into ``{1: "Si", 2: "O"}``."""
    if not text:
        return None
    mapping = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if not sep or not key.strip().isdigit() or not value.strip():
            raise SettingsError(f"--types: cannot parse {item!r}; expected TYPE=Element, e.g. 1=Si,2=O")
        mapping[int(key)] = value.strip()
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
