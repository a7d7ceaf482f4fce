"""Deployed NequIP and Allegro models in LAMMPS through mdvib's plugin pair style.

A potential of style ``nequip`` or ``allegro`` names a compiled model
(``nequip-compile --mode aotinductor --target pair_nequip`` or
``--target pair_allegro``, a ``*.nequip.pt2`` file) and the element of each
LAMMPS atom type. Its LAMMPS commands load mdvib's plugin library (built and
cached on first use, :mod:`mdvib.engines.plugins`) and set up the
``mdvib/nequip`` pair style::

    plugin load     <cache>/mdvibplugin.so
    pair_style      mdvib/nequip
    pair_coeff      * * model.nequip.pt2 Si

Allegro (strictly local) models run with any number of ranks (LAMMPS domain
decomposition with ghost atoms); NequIP (message passing) models run with any
number of ranks too, but every rank evaluates the whole gathered graph
(replicated data: correct, no parallel speed-up of the model). The model's
metadata says which target it was compiled for (its input and output fields,
:data:`COMPILE_TARGETS`); a mismatch with the style named in the campaign is
an error naming the target found (``--target ase`` included), not a silent
switch.

Before :func:`check_model` reads the model's metadata,
:func:`verify_model_archive` checks every member of the archive against the CRC-32 the zip records for it: a damaged
copy (a flipped block in the compiled library) is an error naming the member,
where libtorch would load it and run whatever the damaged machine code does.
The plugin repeats the check when LAMMPS loads the model, for hand-written
inputs. Campaigns record the model's SHA-256 in ``settings.json`` and
``provenance.yaml`` (``potential.file_sha256``: the potential file *is* the
``.nequip.pt2``).

Test models trained here (``scripts/make_test_models.py``) ship in
``mdvib/data/models/`` (:data:`BUILTIN_MODELS`); a bare model name is looked up
there after the campaign folder
(:func:`~mdvib.engines.potentials.resolve_potential_file`).
"""

from __future__ import annotations

import sys
import zipfile
import zlib
from pathlib import Path

from mdvib.errors import SettingsError
from mdvib.resources import builtin_models_dir

#: Directory of the tiny Si test models shipped with mdvib (``mdvib/data/models``, via importlib.resources).
BUILTIN_MODELS_DIR = builtin_models_dir()
#: Built-in compiled models by potential style (SW-Si-trained, for tests and the demo).
BUILTIN_MODELS = {"nequip": BUILTIN_MODELS_DIR / "si_nequip.nequip.pt2",
                  "allegro": BUILTIN_MODELS_DIR / "si_allegro.nequip.pt2"}
#: ``nequip-compile --target`` names by their (inputs, outputs) fields, as recorded in the
#: ``nequip_aoti_inputs`` / ``nequip_aoti_outputs`` metadata (nequip's and allegro's
#: ``COMPILE_TARGET_DICT``; the metadata holds the fields, not the target's name).
COMPILE_TARGETS = {
    ("pos edge_index atom_types cell edge_cell_shift", "atomic_energy forces virial"): "pair_nequip",
    ("pos edge_index atom_types", "atomic_energy forces virial"): "pair_allegro",
    ("pos edge_index atom_types cell edge_cell_shift", "atomic_energy total_energy forces stress"): "ase",
    ("pos edge_index atom_types cell edge_cell_shift batch num_atoms",
     "atomic_energy total_energy forces stress"): "batch",
}
#: The compile target each potential style needs.
STYLE_TARGETS = {"nequip": "pair_nequip", "allegro": "pair_allegro"}
#: What the targets that are not for LAMMPS are for (error messages).
OTHER_TARGET_USES = {"ase": "nequip's ASE calculator", "batch": "batched evaluation in Python"}
#: Model inputs (``nequip_aoti_inputs`` metadata) of each style's compile target.
TARGET_INPUTS = {style: next(i for (i, _), t in COMPILE_TARGETS.items() if t == target)
                 for style, target in STYLE_TARGETS.items()}
#: The pair style the plugin registers.
PAIR_STYLE = "mdvib/nequip"


def verify_model_archive(path: Path) -> None:
    """Check every member of a model archive against the CRC-32 recorded in the zip.

    ``nequip-compile`` stores the compiled library uncompressed; libtorch
    extracts and loads it without looking at the checksums, so a damaged copy
    would run. Reading every member through :mod:`zipfile` verifies each one
    (a few ms for the 2 MB test models).

    Raises
    ------
    SettingsError
        Naming the file and the first damaged member; or if the file is not a
        zip archive.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                try:
                    with archive.open(info) as member:
                        while member.read(1 << 20):
                            pass
                except zipfile.BadZipFile as exc:
                    reason = ("its bytes do not match the CRC-32 recorded in the archive"
                              if "CRC" in str(exc) else f"it cannot be read ({exc})")
                    raise SettingsError(f"{path}: damaged model archive: member {info.filename!r}: {reason}; "
                                        "copy the model again or recompile it with nequip-compile") from exc
                except (zlib.error, EOFError, NotImplementedError) as exc:
                    raise SettingsError(f"{path}: damaged model archive: member {info.filename!r} cannot be "
                                        f"read ({exc}); copy the model again or recompile it with "
                                        "nequip-compile") from exc
    except zipfile.BadZipFile as exc:
        raise SettingsError(f"{path}: not a compiled model package (.nequip.pt2): {exc}") from exc


def compile_target(metadata: dict[str, str]) -> str | None:
    """The ``nequip-compile --target`` a model's fields match (:data:`COMPILE_TARGETS`), or None."""
    inputs = " ".join(metadata.get("nequip_aoti_inputs", "").split())
    outputs = " ".join(metadata.get("nequip_aoti_outputs", "").split())
    return COMPILE_TARGETS.get((inputs, outputs))


def model_metadata(path: Path) -> dict[str, str]:
    """Metadata recorded by ``nequip-compile`` in an AOTInductor package.

    Parameters
    ----------
    path : Path
        A ``*.nequip.pt2`` file.

    Returns
    -------
    dict
        Keys include ``r_max`` (Å), ``type_names`` (space separated),
        ``model_dtype`` and ``nequip_aoti_inputs``.

    Raises
    ------
    SettingsError
        If the file is not a zip archive holding AOTInductor metadata.
    """
    import json

    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.endswith("_metadata.json")]
            if not names:
                raise SettingsError(f"{path}: no AOTInductor metadata in this archive; "
                                    "compile the model with nequip-compile --mode aotinductor")
            metadata: dict[str, str] = {}
            for name in names:  # wrapper and kernel metadata files
                metadata.update({str(k): str(v) for k, v in json.loads(archive.read(name)).items()})
            return metadata
    except zipfile.BadZipFile as exc:
        raise SettingsError(f"{path}: not a compiled model package (.nequip.pt2): {exc}") from exc


def check_model(style: str, path: Path, elements: tuple[str, ...]) -> dict[str, str]:
    """Check that a compiled model is intact and fits the potential style and the elements.

    Returns the model's metadata.

    Raises
    ------
    SettingsError
        A damaged archive (:func:`verify_model_archive`), wrong compile target
        for ``style`` (the message names the target found in the metadata), or
        an element the model was not trained for.
    """
    verify_model_archive(path)
    metadata = model_metadata(path)
    target = compile_target(metadata)
    if target != STYLE_TARGETS[style]:
        other = next((s for s, t in STYLE_TARGETS.items() if t == target), None)
        if other is not None:
            hint = f"it was compiled for style {other!r} (--target {target})"
        elif target is not None:
            hint = f"it was compiled with --target {target} (for {OTHER_TARGET_USES[target]}, not LAMMPS)"
        else:
            inputs = " ".join(metadata.get("nequip_aoti_inputs", "").split())
            outputs = " ".join(metadata.get("nequip_aoti_outputs", "").split())
            hint = (f"its inputs are {inputs!r} and its outputs {outputs!r}, "
                    f"which match no nequip-compile target ({', '.join(sorted(set(COMPILE_TARGETS.values())))})")
        raise SettingsError(f"{path}: potential style {style!r} needs a model compiled with "
                            f"nequip-compile --target {STYLE_TARGETS[style]}; {hint}")
    known = metadata.get("type_names", "").split()
    unknown = [e for e in elements if e not in known]
    if unknown:
        raise SettingsError(f"{path}: the model knows the types {known}, not {unknown}")
    return metadata


def plugin_commands(model: Path, elements: tuple[str, ...]) -> list[str]:
    """``plugin load`` / ``pair_style`` / ``pair_coeff`` lines (builds the plugin on first use)."""
    from mdvib.engines.plugins import build_plugins

    library = build_plugins(progress=lambda message: print(message, file=sys.stderr, flush=True)).library
    words = " ".join(elements)
    return [f"plugin load {library}", f"pair_style {PAIR_STYLE}", f"pair_coeff * * {model} {words}"]
