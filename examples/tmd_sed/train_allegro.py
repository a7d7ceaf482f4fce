"""Train the tiny Allegro model of MoSe2 on the SW forces, compile it for the plugin, and check it.

The "MLIP MD" route of the example: a machine-learned potential trained on
the Stillinger–Weber potential it replaces, run in LAMMPS through mdvib's
plugin pair style (``[potential] style = "allegro"`` in ``mose2_allegro.toml``),
so that its SED can be set against the SW one.

1. **Training data**: SW (``tmd.sw.mod``, ``pair_style sw/mod``) MD of the
   6 × 6 MoSe2 monolayer (108 atoms) at in-plane strains −1, 0, +1 % and at
   100, 300, 500, 700 and 900 K (CSVR NVT), 16 snapshots 100 fs apart per
   state after 2 ps: 240 frames of energies and forces (extended XYZ).
2. **Training**: ``nequip-train``, a one-layer Allegro (l_max 2, 16 scalar /
   4 tensor features, r_max 3.8 Å: the first Mo–Se, Mo–Mo and Se–Se shells),
   float64, energy + forces loss (force weight 10), 200 training / 40
   validation frames, Adam with the learning rate falling from 0.01 to 5·10⁻⁴.
3. **Compilation**: ``nequip-package build`` and ``nequip-compile --mode
   aotinductor --target pair_allegro`` → ``MoSe2_allegro.nequip.pt2``
   (machine code for this torch wheel: recompile after changing torch).
4. **Checks** through the plugin in LAMMPS: energy and force errors against
   SW on 500 K frames of a separate SW run, and the harmonic force constants
   of the model (phonopy, as ``make_inputs.py`` does for SW) →
   ``MoSe2_allegro_phonopy.yaml``, which the Allegro campaign projects on.

Run in this folder: ``python train_allegro.py [--epochs 60] [--work allegro-work]``
(about 10–20 minutes on 2 cores; ``--epochs 2`` for a quick check).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import make_inputs  # noqa: E402  (the example's own helpers, next to this file)

FORMULA = "MoSe2"
STRAINS = (-0.01, 0.0, 0.01)
TEMPERATURES_K = (100.0, 300.0, 500.0, 700.0, 900.0)
SNAPSHOTS_PER_STATE = 16
STEPS_BETWEEN_SNAPSHOTS = 100
TRAIN_REPEATS = 6
R_MAX_A = 3.8
MODEL = HERE / f"{FORMULA}_allegro.nequip.pt2"
MODEL_FC = HERE / f"{FORMULA}_allegro_phonopy.yaml"

CONFIG = """\
run: [train]
seed: 11
cutoff_radius: {r_max}
model_type_names: [Mo, Se]
chemical_species: [Mo, Se]

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
          chemical_species_to_atom_type_map: {{Mo: Mo, Se: Se}}
        - _target_: nequip.data.transforms.NeighborListTransform
          r_max: ${{cutoff_radius}}
    train: {n_train}
    val: {n_val}
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
    _target_: nequip.train.EnergyForceLoss
    per_atom_energy: true
    coeffs: {{total_energy: 1.0, forces: 10.0}}
  val_metrics:
    _target_: nequip.train.EnergyForceMetrics
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
    _target_: allegro.model.AllegroModel
    seed: ${{seed}}
    model_dtype: float64
    type_names: ${{model_type_names}}
    r_max: ${{cutoff_radius}}
    l_max: 2
    parity: true
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
    avg_num_neighbors: ${{training_data_stats:num_neighbors_mean}}
    per_type_energy_shifts: ${{training_data_stats:per_atom_energy_mean}}
    per_type_energy_scales: ${{training_data_stats:forces_rms}}
"""


def _snapshot(lmp, n_atoms: int, cell: np.ndarray, symbols: list[str]):
    """The current LAMMPS state as :class:`ase.Atoms` with energy and forces (atoms in id order)."""
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator

    order = np.argsort(lmp.numpy.extract_atom("id")[:n_atoms])
    x = np.array(lmp.numpy.extract_atom("x")[:n_atoms][order])
    f = np.array(lmp.numpy.extract_atom("f")[:n_atoms][order])
    atoms = Atoms(symbols, positions=x, cell=cell, pbc=True)
    atoms.calc = SinglePointCalculator(atoms, energy=lmp.get_thermo("pe"), forces=f)
    return atoms


def sw_frames(strain: float, temperature: float, seed: int, count: int, repeats: int = TRAIN_REPEATS) -> list:
    """``count`` SW snapshots (energy, forces) of the strained monolayer after 2 ps of CSVR NVT at ``temperature``."""
    a, h = make_inputs.RELAXED[FORMULA]
    atoms = make_inputs.monolayer(FORMULA, a * (1 + strain), h, repeats=repeats)
    calc = make_inputs.SWLammps(atoms, FORMULA)
    try:
        calc.lmp.commands_string(f"""
            velocity all create {2 * temperature} {seed} dist gaussian mom yes rot yes
            fix integrate all nve
            fix thermostat all temp/csvr {temperature} {temperature} 0.05 {seed}
            timestep 0.001
            thermo_style custom step pe
            run 2000
        """)
        frames = []
        for _ in range(count):
            calc.lmp.command(f"run {STEPS_BETWEEN_SNAPSHOTS}")
            frames.append(_snapshot(calc.lmp, len(atoms), atoms.cell[:], atoms.get_chemical_symbols()))
    finally:
        calc.close()
    return frames


def generate_training_data(path: Path, seed: int = 2026) -> int:
    """Write the SW training frames (shuffled) to ``path``; the number of frames."""
    from ase.io import write

    frames = []
    for strain in STRAINS:
        for temperature in TEMPERATURES_K:
            seed += 1
            frames += sw_frames(strain, temperature, seed, SNAPSHOTS_PER_STATE)
    order = np.random.default_rng(seed).permutation(len(frames))
    write(path, [frames[i] for i in order], format="extxyz")
    return len(frames)


def _run(command: list[str], cwd: Path, log: Path) -> None:
    start = time.perf_counter()
    print("  $", " ".join(command), flush=True)
    with open(log, "w") as handle:
        result = subprocess.run(command, cwd=cwd, stdout=handle, stderr=subprocess.STDOUT,
                                env=dict(os.environ, OMP_NUM_THREADS="1"))
    if result.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-30:])
        raise SystemExit(f"command failed ({result.returncode}): {' '.join(command)}\n{tail}")
    print(f"    done in {time.perf_counter() - start:.0f} s (log: {log})", flush=True)


def train_and_compile(data: Path, n_frames: int, work: Path, epochs: int, model: Path = MODEL) -> None:
    """nequip-train, nequip-package and nequip-compile (target pair_allegro) into ``model``."""
    work.mkdir(parents=True, exist_ok=True)
    n_val = n_frames // 6
    config = CONFIG.format(r_max=R_MAX_A, data=data.resolve(), epochs=epochs, n_train=n_frames - n_val,
                           n_val=n_val, lr_decay=0.05 ** (1.0 / epochs))
    (work / "config.yaml").write_text(config)
    bin_dir = Path(sys.executable).parent
    _run([str(bin_dir / "nequip-train"), "-cp", str(work.resolve()), "-cn", "config",
          f"hydra.run.dir={(work / 'outputs').resolve()}"], work, work / "train.log")
    package = work / f"{FORMULA}_allegro.nequip.zip"
    _run([str(bin_dir / "nequip-package"), "build", str(work / "outputs" / "last.ckpt"), str(package)], work,
         work / "package.log")
    _run([str(bin_dir / "nequip-compile"), str(package), str(model), "--mode", "aotinductor", "--device", "cpu",
          "--target", "pair_allegro"], work, work / "compile.log")


class PluginLammps(make_inputs.SWLammps):
    """:class:`make_inputs.SWLammps` with the compiled model through mdvib's plugin pair style instead of SW."""

    def __init__(self, atoms, model: Path = MODEL):
        import tempfile

        import ase.io

        from mdvib.engines.lammps_library import create_lammps
        from mdvib.engines.potentials import make_potential, potential_commands

        self.n_atoms = len(atoms)
        elements = make_inputs.MATERIALS[FORMULA]
        self.lmp = create_lammps(["-screen", "none", "-log", "none"])
        with tempfile.TemporaryDirectory() as folder:
            data = Path(folder) / "structure.data"
            ase.io.write(data, atoms, format="lammps-data", masses=True, specorder=list(elements),
                         atom_style="atomic", units="metal")
            commands = potential_commands(make_potential("allegro", elements, model))
            self.lmp.commands_string(f"units metal\natom_style atomic\nboundary p p p\nread_data {data}\n"
                                     + "\n".join(commands) + "\n")


def validation_errors(model: Path = MODEL, seed: int = 777) -> dict:
    """Energy MAE (meV/atom) and force RMSE / SW force rms (eV/Å) of the model on fresh 500 K SW frames (12 × 12)."""
    frames = sw_frames(0.0, 500.0, seed, 8, repeats=make_inputs.REPEATS)
    calc = PluginLammps(frames[0], model)
    energy_errors, force_errors, forces = [], [], []
    try:
        for atoms in frames:
            predicted = calc.forces(atoms.positions)
            energy_errors.append((calc.lmp.get_thermo("pe") - atoms.get_potential_energy()) / len(atoms))
            force_errors.append(predicted - atoms.get_forces())
            forces.append(atoms.get_forces())
    finally:
        calc.close()
    energy_errors = np.array(energy_errors)
    return {"energy_mae_meV_per_atom": 1e3 * float(np.abs(energy_errors - energy_errors.mean()).mean()),
            "energy_offset_meV_per_atom": 1e3 * float(energy_errors.mean()),
            "force_rmse_eV_per_A": float(np.sqrt(np.mean(np.square(force_errors)))),
            "force_rms_eV_per_A": float(np.sqrt(np.mean(np.square(forces))))}


def model_phonons(model: Path = MODEL, distance: float = 0.01):
    """phonopy force constants of the compiled model (3-atom cell, 6 × 6 × 1 supercell), as for SW."""
    return make_inputs.harmonic_phonons(FORMULA, distance=distance,
                                        calculator=lambda supercell: PluginLammps(supercell, model))


def main() -> None:
    """Data, training, compilation, checks."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=60, help="training epochs (default 60)")
    parser.add_argument("--work", type=Path, default=HERE / "allegro-work", help="working folder")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    data = args.work / f"{FORMULA}_sw_train.xyz"
    start = time.perf_counter()
    n_frames = generate_training_data(data)
    print(f"training data: {n_frames} frames in {time.perf_counter() - start:.0f} s -> {data}", flush=True)
    train_and_compile(data, n_frames, args.work, args.epochs)
    errors = validation_errors()
    print("against SW on 8 fresh 500 K frames of the 12 × 12 cell: "
          + ", ".join(f"{k} {v:.4g}" for k, v in errors.items()))
    phonon = model_phonons()
    phonon.save(str(MODEL_FC), settings={"force_constants": True, "force_sets": False, "displacements": False})
    reference = make_inputs.harmonic_phonons(FORMULA)
    for name, q in (("Γ", [0, 0, 0]), ("M", [0.5, 0, 0]), ("K", [1 / 3, 1 / 3, 0])):
        phonon.run_qpoints([q])
        reference.run_qpoints([q])
        print(f"harmonic {name}: Allegro {np.round(phonon.qpoints.frequencies[0], 3).tolist()} THz; "
              f"SW {np.round(reference.qpoints.frequencies[0], 3).tolist()} THz")
    print(f"wrote {MODEL} and {MODEL_FC}")


if __name__ == "__main__":
    main()
