"""Reading the reference structures (``--reference``, ``--unitcell``) of subcommands that need them."""

from __future__ import annotations

import argparse

from mdvib.analysis.tdep.reference import Reference, is_lammps_data, lammps_data_type_map, read_reference
from mdvib.cli.common import parse_type_map


def read_structures(args: argparse.Namespace) -> tuple[argparse.Namespace, Reference, Reference | None]:
    """The ideal supercell (``args.reference``) and optional unit cell (``args.unitcell``).

    A LAMMPS data file names its numeric types through its Atom Type Labels or
    Masses when ``--types`` is not given; the types found are then also used
    for the trajectory, so ``args`` is returned with ``types`` filled in.
    """
    type_map = parse_type_map(args.types)
    if type_map is None and is_lammps_data(args.reference, args.reference_format):
        type_map = lammps_data_type_map(args.reference)  # atoms are matched by id: the data file's types name them
        if type_map:
            args = argparse.Namespace(**{**vars(args), "types": ",".join(f"{t}={s}" for t, s in type_map.items())})
            if not args.quiet:
                print(f"species from {args.reference}: " + ", ".join(f"type {t} = {s}" for t, s in type_map.items()))
    reference = read_reference(args.reference, format=args.reference_format, type_map=type_map)
    unitcell = read_reference(args.unitcell, type_map=type_map) if args.unitcell else None
    return args, reference, unitcell
