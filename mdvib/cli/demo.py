"""``mdvib demo``: the main job on the built-in example trajectory.

The example is a 216-atom Stillinger–Weber Si LAMMPS dump at 300 K
(``mdvib/data/si_sw_300K.dump.gz``, made by ``scripts/make_demo_trajectory.py``:
1 fs time step, frames every 5 steps, atoms shuffled per frame as in an MPI run).
"""

from __future__ import annotations

import argparse
from importlib import resources
from pathlib import Path

from mdvib.analysis.dos import DOSAnalysis
from mdvib.cli.common import write_provenance
from mdvib.trajectory import Trajectory


def demo_trajectory() -> Path:
    """Path of the packaged example LAMMPS dump."""
    return Path(str(resources.files("mdvib") / "data" / "si_sw_300K.dump.gz"))


def register(subparsers) -> None:
    """Add the ``demo`` subcommand."""
    parser = subparsers.add_parser(
        "demo", help="run the DOS analysis on the built-in SW-Si example",
        description="Phonon DOS with error bars from the built-in 216-atom SW-Si LAMMPS dump at 300 K: "
        "writes dos.h5, dos.csv, dos.png and a provenance YAML, and prints the peak frequencies.",
    )
    parser.add_argument("-o", "--output-dir", default="mdvib-demo", help="directory for the results (default: mdvib-demo)")


def run(args: argparse.Namespace) -> None:
    """Analyse the example trajectory and write the results."""
    from mdvib.plot import plot_dos  # matplotlib is imported only by commands that plot

    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    trajectory = Trajectory.open(demo_trajectory(), units="metal", dt_fs=1.0, type_map={1: "Si"})
    print(f"example: {trajectory.path}\n  {trajectory.n_atoms} atoms × {trajectory.n_frames} frames, "
          f"Δt = {trajectory.frame_spacing_fs():g} fs (SW Si, LAMMPS metal units)")
    result = DOSAnalysis(window=200, blocks=4, progress=True).run(trajectory)
    for name in ("dos.h5", "dos.csv"):
        result.save(out / name)
    write_provenance(out / "dos.h5", result.provenance, argv=["demo", "-o", str(out)])
    plot_dos(result, out / "dos.png")
    print(result.summary())
    print(f"wrote {out / 'dos.h5'}, {out / 'dos.csv'}, {out / 'dos.png'}")
