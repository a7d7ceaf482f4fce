"""``mdvib campaign``: LAMMPS MD at a series of temperatures, then the DOS of each (resumable)."""

from __future__ import annotations

import argparse

HELP = """\
Run a temperature series of LAMMPS simulations described by a TOML file:
for every temperature an NVT equilibration (Nosé–Hoover or CSVR), a production
run (NVE or NVT) dumping ids, types, unwrapped positions, velocities and
potential forces, then every analysis listed as [analysis.<name>] (default:
the phonon DOS: dos.h5, dos.csv; tdep: T_<T>K/tdep/); finally each analysis's
series figure (dos_series.png, tdep_dispersion.png) in OUTPUT.

Each temperature runs in OUTPUT/T_<value>K/ with its LAMMPS logs, restart
files and provenance.yaml (configuration, LAMMPS version, seed, commands).
Re-running the same command skips finished temperatures and continues an
interrupted one from its last restart file (the production is written in
segments of md.segment_ps).

Units: temperatures K, time step fs, run lengths ps, damping fs; LAMMPS metal
units inside (Å, ps, eV); DOS in 1/THz per atom over THz.

With a [pimd] table (beads, mode = "trpmd" or "pimd", timestep_fs,
equilibration_steps, steps, stride, clients, ...) every temperature runs i-PI
path-integral MD with LAMMPS clients instead, under a watchdog that stops a
run whose client died; the analyses read the ring-polymer centroid, and
pimd.json / pimd_kinetic.png give the quantum kinetic energy.

minimal CONFIG.toml:
  [structure]
  lattice = "diamond"
  element = "Si"
  a = 5.431
  supercell = [3, 3, 3]
  [potential]
  style = "sw"
  file = "Si.sw"
  elements = ["Si"]
  [md]
  temperatures_k = [300, 600]
  equilibration_ps = 5
  production_ps = 20
  [analysis.dos]
  window = 400
  [analysis.tdep]
  rc2 = 5.0

see mdvib.campaign for every setting and its default.
"""


def register(subparsers) -> None:
    """Add the ``campaign`` subcommand."""
    parser = subparsers.add_parser("campaign",
                                   help="LAMMPS or i-PI PIMD temperature series → DOS, TDEP, INS, ... (resumable)",
                                   description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", metavar="CONFIG.toml", help="campaign description (TOML)")
    parser.add_argument("-o", "--output-dir", metavar="DIR",
                        help="campaign folder (default: 'output' in the file, else 'campaign' next to it)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars or summary")


def run(args: argparse.Namespace) -> None:
    """Run or resume the campaign of ``args.config``."""
    from mdvib import campaign_pimd
    from mdvib.analysis.registry import get_analysis
    from mdvib.campaign import Campaign, CampaignConfig

    config = CampaignConfig.from_toml(args.config, output_dir=args.output_dir)
    results = Campaign(config, progress=not args.quiet).run()
    if args.quiet:
        return
    print(f"campaign folder: {config.output_dir}")
    for result in results:
        state = "already done" if result.skipped else "ran"
        print(f"  {result.temperature_k:g} K ({state}), {result.directory.name}/:")
        if result.pimd is not None:
            print(f"    pimd: {campaign_pimd.headline(result.pimd)} -> {campaign_pimd.SUMMARY_FILE}")
        for name, value in result.results.items():
            spec = get_analysis(name)
            line = spec.headline(value) if spec.headline else type(value).__name__
            print(f"    {name}: {line} -> {spec.result_file}")
            for text in getattr(value, "warnings", None) or ():
                print(f"      warning: {text}")
    for name in config.analyses:
        spec = get_analysis(name)
        if spec.series_file:
            print(f"wrote {config.output_dir / spec.series_file}")
    if config.pimd is not None:
        print(f"wrote {config.output_dir / campaign_pimd.SERIES_FILE}")
