"""Force constants read with phonopy, from its own files or an ``mdvib tdep`` output folder.

phonopy looks for ``FORCE_CONSTANTS`` in the working directory; these are read
from beside the YAML file instead, so a result folder works from anywhere.
"""

from __future__ import annotations

from pathlib import Path

from mdvib.errors import SettingsError

#: Force-constant files looked for beside a phonopy YAML file, in this order.
FORCE_CONSTANT_FILES = ("FORCE_CONSTANTS", "force_constants.hdf5")


def read_phonopy(path: str | Path, option: str = ""):
    """A ``phonopy.Phonopy`` with force constants from a YAML file or an ``mdvib tdep`` output folder.

    Force constants in the YAML file (``mdvib tdep`` writes them there) come
    first, as in phonopy; otherwise ``FORCE_CONSTANTS`` or ``force_constants.hdf5``
    beside the YAML file are read from there (phonopy itself would look in the
    working directory), then ``FORCE_SETS`` beside it, then forces in the YAML file.

    Parameters
    ----------
    path : str or Path
        phonopy YAML file, or a folder holding ``phonopy.yaml``.
    option : str
        Command-line option that named the path, for the messages (``"--fc"``).

    Raises
    ------
    SettingsError
        Naming the path when it is missing, unreadable or holds no force constants.
    """
    import phonopy

    path = Path(path)
    if path.is_dir():
        path = path / "phonopy.yaml"
    where = f"{option} {path}" if option else str(path)
    if not path.is_file():
        raise SettingsError(f"{where}: not found (give a phonopy YAML file or an `mdvib tdep` output folder)")
    beside = {name: path.parent / name for name in (*FORCE_CONSTANT_FILES, "FORCE_SETS")}
    fc_file = next((beside[name] for name in FORCE_CONSTANT_FILES if beside[name].is_file()), None)
    options = {}
    in_yaml = _yaml_has_force_constants(path)
    if in_yaml or fc_file is not None:
        options["is_symmetry"] = False      # constants read as they are: phonopy's symmetry search (seconds) not needed
        if not in_yaml:
            options["force_constants_filename"] = str(fc_file)
    elif beside["FORCE_SETS"].is_file():
        options["force_sets_filename"] = str(beside["FORCE_SETS"])
    try:
        phonon = phonopy.load(str(path), log_level=0, **options)
    except Exception as exc:  # phonopy raises many types for unreadable input
        raise SettingsError(f"{where}: phonopy cannot read it ({exc})") from exc
    if phonon.force_constants is None:
        raise SettingsError(f"{where}: no force constants, neither in the file nor in "
                            f"{', '.join(FORCE_CONSTANT_FILES)} or FORCE_SETS beside it in {path.parent}")
    return phonon


def _yaml_has_force_constants(path: Path) -> bool:
    """Whether a phonopy YAML file has a top-level ``force_constants`` section."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        return any(line.startswith("force_constants:") for line in handle)
