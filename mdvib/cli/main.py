"""The ``mdvib`` command: one subcommand per module, each thin over the API."""

from __future__ import annotations

import argparse
import sys

from mdvib import __version__
from mdvib.cli import build_plugins, campaign, demo, dos, gpumd, tdep
from mdvib.errors import MdvibError

#: Subcommand modules; each has ``register(subparsers)`` and ``run(args)``.
SUBCOMMANDS = {"dos": dos, "tdep": tdep, "campaign": campaign, "gpumd": gpumd, "build-plugins": build_plugins, "demo": demo}

DESCRIPTION = """\
mdvib: atomic-vibration science from molecular dynamics.

Internal units: Å, fs, amu, eV, K; frequencies in THz (1 THz = 4.1357 meV = 33.356 cm-1).
Every result is written atomically with its units and a provenance record.
"""


def build_parser() -> argparse.ArgumentParser:
    """Parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="mdvib", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"mdvib {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in SUBCOMMANDS.values():
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (errors become one line on stderr)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        SUBCOMMANDS[args.command].run(args)
    except MdvibError as exc:
        print(f"mdvib {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"mdvib {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
