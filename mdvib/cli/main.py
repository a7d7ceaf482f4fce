"""The ``mdvib`` command: one subcommand per module, each thin over the API."""

from __future__ import annotations

import argparse
import sys

from mdvib import __version__
from mdvib.analysis.registry import analyses
from mdvib.cli import build_plugins, campaign, common, demo, gpumd
from mdvib.errors import MdvibError

#: Subcommands that are not analyses; each module has ``register(subparsers)`` and ``run(args)``.
#: Analyses (``mdvib dos``, ``mdvib tdep``, ...) come from :mod:`mdvib.analysis.registry`.
COMMANDS = {"campaign": campaign, "gpumd": gpumd, "build-plugins": build_plugins, "demo": demo}

DESCRIPTION = """\
mdvib: atomic-vibration science from molecular dynamics.

Internal units: Å, fs, amu, eV, K; frequencies in THz (1 THz = 4.1357 meV = 33.356 cm-1).
Every result is written atomically with its units and a provenance record.
"""


def build_parser() -> tuple[argparse.ArgumentParser, dict]:
    """Parser with every registered analysis and command, and the run function of each subcommand."""
    parser = argparse.ArgumentParser(
        prog="mdvib", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"mdvib {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    runners = {}
    for name, spec in analyses().items():
        module = spec.command_module()
        sub = subparsers.add_parser(name, help=spec.help, description=getattr(module, "DESCRIPTION", spec.help),
                                    formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(sub)
        if spec.streams_trajectory:
            common.add_parallel_options(sub)
        runners[name] = module.run
    for name, module in COMMANDS.items():
        module.register(subparsers)
        runners[name] = module.run
    return parser, runners


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (errors become one line on stderr)."""
    parser, runners = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        runners[args.command](args)
    except MdvibError as exc:
        print(f"mdvib {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"mdvib {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
