"""``mdvib gpumd``: write ready GPUMD run directories (NEP model, NVT → NVE with dumps and DOS)."""

from __future__ import annotations

import argparse

HELP = """\
Write one GPUMD run directory per temperature for a NEP model you supply:
model.xyz (the structure), run.in (velocity, NVT equilibration with a thermostat
that leaves the forces alone, NVE production with dump_thermo, a dump.xyz of
positions, masses, velocities and forces, and compute_dos), the NEP file, and
mdvib-gpumd.yaml (settings, units, the NEP file's SHA-256).

The dump keyword follows --gpumd-version: latest (default, GPUMD after v5.6):
`dump_xyz N dump.xyz mass velocity force`; 4.0 to 5.6: `dump_xyz -1 0 N
dump.xyz mass velocity force`; 3.6 to 3.9.x: `dump_exyz N 1 1`. Each GPUMD
refuses the others' form, so give the version you run.

GPUMD is a CUDA program: run `gpumd` in each T_<value>K/ on a GPU machine.
Afterwards `mdvib dos T_300K/dump.xyz` computes mdvib's DOS with error bars
from the dump, and mdvib.io.gpumd_outputs reads thermo.out, mvac.out and
dos.out (GPUMD's own DOS, converted to ν in THz and ∫g dν = 3 per atom) for
comparison.

Units: temperatures K, time step fs, run lengths and strides in steps,
frequencies THz (ordinary frequency ν; GPUMD's ω = 2πν is written for you).

example:
  mdvib gpumd POSCAR nep.txt -T 100 300 600 --production-steps 200000 -o gpumd-runs
"""


def register(subparsers) -> None:
    """Add the ``gpumd`` subcommand."""
    parser = subparsers.add_parser("gpumd", help="write GPUMD run directories for a NEP model", description=HELP,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("structure", help="structure file ASE reads (POSCAR, extxyz, LAMMPS data, CIF, ...)")
    parser.add_argument("nep", help="NEP potential file (nep.txt)")
    parser.add_argument("-T", "--temperatures", type=float, nargs="+", required=True, metavar="K",
                        help="temperatures, K (one directory each)")
    parser.add_argument("-o", "--output", default="gpumd-runs", metavar="DIR",
                        help="output folder (default: %(default)s)")
    md = parser.add_argument_group("MD protocol")
    md.add_argument("--timestep", type=float, default=1.0, metavar="FS", help="time step, fs (default: %(default)s)")
    md.add_argument("--equilibration-steps", type=int, default=20_000, metavar="N",
                    help="NVT steps (default: %(default)s)")
    md.add_argument("--production-steps", type=int, default=100_000, metavar="N",
                    help="NVE steps (default: %(default)s)")
    md.add_argument("--dump-stride", type=int, default=10, metavar="N",
                    help="steps between dump.xyz frames (default: %(default)s)")
    md.add_argument("--thermostat", default="nvt_bdp", help="nvt_bdp, nvt_nhc or nvt_ber (default: %(default)s)")
    md.add_argument("--seed", type=int, metavar="N", help="seed of the initial velocities (GPUMD v3.9.1 or later)")
    md.add_argument("--gpumd-version", default="latest", metavar="VERSION",
                    help="GPUMD release the directories are for, e.g. 5.6 or 3.9.5; latest: after v5.6 "
                    "(default: %(default)s)")
    dos = parser.add_argument_group("GPUMD's own DOS (compute_dos)")
    dos.add_argument("--dos-correlation-steps", type=int, default=500, metavar="N",
                     help="correlation length in samples (default: %(default)s)")
    dos.add_argument("--no-dos", action="store_true", help="leave compute_dos out")


def run(args: argparse.Namespace) -> None:
    """Write the run directories and list them."""
    from mdvib.engines.gpumd import GpumdDOSSettings, GpumdRunSettings, write_gpumd_runs

    settings = GpumdRunSettings(
        timestep_fs=args.timestep, equilibration_steps=args.equilibration_steps,
        production_steps=args.production_steps, dump_stride=args.dump_stride, thermostat=args.thermostat,
        velocity_seed=args.seed, gpumd_version=args.gpumd_version,
        dos=None if args.no_dos else GpumdDOSSettings(correlation_steps=args.dos_correlation_steps),
    )
    runs = write_gpumd_runs(args.output, args.structure, args.nep, args.temperatures, settings)
    for run_dir in runs:
        print(run_dir.directory)
    print("run `gpumd` in each folder on a GPU machine; then `mdvib dos <folder>/dump.xyz`")
