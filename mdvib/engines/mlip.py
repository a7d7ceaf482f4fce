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
metadata says which target it was compiled for; a mismatch with the style
named in the campaign is an error, not a silent switch.

Test models trained here (``scripts/make_test_models.py``) ship in
``mdvib/data/models/`` (:data:`BUILTIN_MODELS`); a bare model name is looked up
there after the campaign folder
(:func:`~mdvib.engines.potentials.resolve_potential_file`).
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

from mdvib.errors import SettingsError
from mdvib.resources import builtin_models_dir

#: Directory of the tiny Si test models shipped with mdvib (``mdvib/data/models``, via importlib.resources).
BUILTIN_MODELS_DIR = builtin_models_dir()
#: Built-in compiled models by potential style (SW-Si-trained, for tests and the demo).
BUILTIN_MODELS = {"nequip": BUILTIN_MODELS_DIR / "si_nequip.nequip.pt2",
                  "allegro": BUILTIN_MODELS_DIR / "si_allegro.nequip.pt2"}
#: Model inputs (``nequip_aoti_inputs`` metadata) of each compile target.
TARGET_INPUTS = {"nequip": "pos edge_index atom_types cell edge_cell_shift",
                 "allegro": "pos edge_index atom_types"}
#: The pair style the plugin registers.
PAIR_STYLE = "mdvib/nequip"


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
    """Check that a compiled model fits the potential style and the elements.

    Returns the model's metadata.

    Raises
    ------
    SettingsError
        Wrong compile target for ``style``, or an element the model was not
        trained for.
    """
    metadata = model_metadata(path)
    inputs = " ".join(metadata.get("nequip_aoti_inputs", "").split())
    if inputs != TARGET_INPUTS[style]:
        other = next((s for s, v in TARGET_INPUTS.items() if v == inputs), None)
        hint = (f"it was compiled for style {other!r}" if other else
                f"its inputs are {inputs!r}")
        raise SettingsError(f"{path}: potential style {style!r} needs a model compiled with "
                            f"nequip-compile --target pair_{style}; {hint}")
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
