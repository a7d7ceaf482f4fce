"""Typed results: provenance, HDF5 storage with units, atomic file writes.

Every analyser returns a frozen dataclass whose array fields are declared with
:func:`quantity` (unit and shape recorded in the field metadata). They are saved
to HDF5 with one dataset per field carrying ``unit`` and ``shape`` attributes,
the provenance as attributes of a ``provenance`` group, and a schema version.
Nothing is pickled.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import glob
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from mdvib.errors import MdvibError

#: Version of the HDF5 layout written by :func:`save_result`.
SCHEMA_VERSION = 1

#: Class names written by mdvib 0.1 (``result_type`` was the bare class name) and where they live now.
LEGACY_RESULT_TYPES = {
    "DOSResult": "mdvib.analysis.dos:DOSResult",
    "TDEPResult": "mdvib.analysis.tdep.fit:TDEPResult",
    "PhononSpectrum": "mdvib.analysis.tdep.export:PhononSpectrum",
    "TemperatureSeries": "mdvib.analysis.tdep.series:TemperatureSeries",
}

#: Attribute :func:`result_type` sets on a result class.
_RESULT_MARKER = "__mdvib_result__"


def quantity(unit: str, shape: str, doc: str, optional: bool = False):
    """Declare a result field holding an array (or scalar) with a unit.

    Parameters
    ----------
    unit : str
        Unit string written to files and plot axes (``"THz"``, ``"1/THz"``, ...).
    shape : str
        Shape in words (``"(n_freq,)"``), for the file and the docs; the symbols
        are checked for consistency between the fields of a loaded file.
    doc : str
        One-line description.
    optional : bool
        Whether the field may be ``None`` (then it defaults to ``None``).
    """
    metadata = {"unit": unit, "shape": shape, "doc": doc}
    if optional:
        return dataclasses.field(default=None, metadata=metadata)
    return dataclasses.field(metadata=metadata)


def result_type(cls: type) -> type:
    """Class decorator marking a result dataclass as loadable by :func:`load_result`.

    Files record the class as ``module:qualname`` and :func:`load_result`
    imports it from there, so this module needs to know no analyser.
    """
    setattr(cls, _RESULT_MARKER, True)
    return cls


def result_type_name(cls: type) -> str:
    """``module:qualname`` of a result class, as written to files."""
    return f"{cls.__module__}:{cls.__qualname__}"


def resolve_result_type(name: str, path: str | os.PathLike = "") -> type:
    """The result class a file names (``module:qualname``, or a 0.1 bare name).

    Raises
    ------
    MdvibError
        If the module cannot be imported or the name is not an mdvib result class.
    """
    import importlib

    target = LEGACY_RESULT_TYPES.get(name, name)
    module_name, _, qualname = target.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for attribute in qualname.split("."):
            obj = getattr(obj, attribute)
    except (ImportError, AttributeError, ValueError) as exc:
        raise MdvibError(f"{path}: result type {name!r} cannot be found ({exc}); was the file written by an "
                         "analyser that is not installed here?") from exc
    if not (isinstance(obj, type) and getattr(obj, _RESULT_MARKER, False)):
        raise MdvibError(f"{path}: {name!r} is not an mdvib result type")
    return obj


@dataclasses.dataclass(frozen=True)
class Provenance:
    """Where a result came from.

    Attributes
    ----------
    mdvib_version : str
    created : str
        ISO 8601 time stamp (UTC).
    inputs : tuple of str
        Input files.
    reader : str
        Registry name of the reader used.
    source_units : dict
        Units as stored in the input (from the reader).
    frame_spacing_fs : float
        Time between analysed frames, fs.
    selection : dict
        ``start``, ``stop``, ``step`` over the file's frames.
    n_frames : int
        Frames analysed.
    n_atoms : int
    settings : dict
        Analyser settings (window, window function, blocks, ...).
    execution : dict
        How it ran (``workers``, ``scheduler``); empty in files of mdvib 0.1.
    """

    mdvib_version: str
    created: str
    inputs: tuple[str, ...]
    reader: str
    source_units: dict
    frame_spacing_fs: float
    selection: dict
    n_frames: int
    n_atoms: int
    settings: dict
    execution: dict = dataclasses.field(default_factory=dict)

    @classmethod
    def now(cls, **kwargs) -> Provenance:
        """Build a provenance record stamped with the current time and version."""
        from mdvib import __version__

        created = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        return cls(mdvib_version=__version__, created=created, **kwargs)

    def to_dict(self) -> dict:
        """Plain-JSON dictionary."""
        return json.loads(json.dumps(dataclasses.asdict(self), default=_json_default))


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes (hex), read in 1 MiB blocks; for provenance records."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def temperature_dirname(temperature_k: float) -> str:
    """Folder name of one temperature of a series: ``T_300K``, ``T_312.5K``."""
    return f"T_{temperature_k:g}K"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success.

    A crash or exception leaves any earlier file at ``path`` untouched and the
    temporary file removed; temporary files of this name left by a killed
    process (``.NAME.PID.*.tmp`` whose process is gone) are removed first.

    Raises
    ------
    MdvibError
        If the folder is missing or the file cannot be written (read-only
        folder, full disk), naming the path.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_temporaries(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise MdvibError(f"{path}: cannot write here: {exc.strerror or exc}") from exc
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file the usual permissions
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        raise MdvibError(f"{path}: writing failed ({exc.strerror or exc}); any earlier file there is "
                         "unchanged") from exc
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _remove_stale_temporaries(path: Path) -> None:
    for leftover in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        pid = leftover.name[len(path.name) + 2:].split(".", 1)[0]
        if pid.isdigit() and not process_exists(int(pid)):
            leftover.unlink(missing_ok=True)


def process_exists(pid: int) -> bool:
    """Whether a process with this PID exists (signal 0)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def save_result(result: Any, path: str | os.PathLike) -> None:
    """Save a result dataclass to HDF5 (atomically).

    Layout: root attributes ``mdvib_schema``, ``result_type``; one dataset per
    field with attributes ``unit``, ``shape``, ``doc``; tuple-of-str fields as
    string datasets; ``provenance`` as JSON-valued attributes of a group.
    """
    _refuse_non_finite(result, path)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as h5:
            h5.attrs["mdvib_schema"] = SCHEMA_VERSION
            h5.attrs["result_type"] = result_type_name(type(result))
            for field in dataclasses.fields(result):
                value = getattr(result, field.name)
                if field.name == "provenance":
                    group = h5.create_group("provenance")
                    for key, item in value.to_dict().items():
                        group.attrs[key] = json.dumps(item)
                    continue
                if value is None:
                    continue
                if isinstance(value, tuple) and all(isinstance(v, str) for v in value):
                    dataset = h5.create_dataset(field.name, data=np.array(value, dtype=h5py.string_dtype()))
                elif isinstance(value, str):
                    dataset = h5.create_dataset(field.name, data=value, dtype=h5py.string_dtype())
                else:
                    dataset = h5.create_dataset(field.name, data=np.asarray(value))
                for key in ("unit", "shape", "doc"):
                    if key in field.metadata:
                        dataset.attrs[key] = field.metadata[key]


def _refuse_non_finite(result: Any, path) -> None:
    """Raise instead of writing a result whose arrays hold NaN or infinity (a failed computation)."""
    for field in dataclasses.fields(result):
        value = getattr(result, field.name)
        if isinstance(value, np.ndarray) and value.ndim and np.issubdtype(value.dtype, np.number):
            bad = ~np.isfinite(value)
            if bad.any():
                raise MdvibError(f"{path}: not written: {type(result).__name__}.{field.name} has {int(bad.sum())} "
                                 f"non-finite value(s) (NaN or inf) of {value.size}; the input or the settings "
                                 "produced no valid result")


def load_result(path: str | os.PathLike) -> Any:
    """Load a result saved by :func:`save_result`, checking it against its class's schema.

    The class is imported from the ``module:qualname`` the file records. Every
    required field must be present, every dataset must carry the unit the class
    declares, and the dimensions named in the declared shapes (``n_freq``,
    ``n_species``, ...) must agree between fields and with fixed sizes.

    Raises
    ------
    MdvibError
        If the file is missing, damaged, not an mdvib result, of a newer
        schema, or does not match its class (naming the field).
    """
    try:
        h5 = h5py.File(path, "r")
    except FileNotFoundError as exc:
        raise MdvibError(f"{path}: no such result file") from exc
    except OSError as exc:
        raise MdvibError(f"{path}: not a readable HDF5 file (damaged or truncated?): {exc}") from exc
    with h5:
        try:
            return _load_open(h5, path)
        except (KeyError, OSError, ValueError, TypeError) as exc:
            raise MdvibError(f"{path}: damaged or incomplete mdvib result file: {exc}") from exc


def _load_open(h5: h5py.File, path) -> Any:
    schema = int(h5.attrs.get("mdvib_schema", -1))
    if schema < 1 or schema > SCHEMA_VERSION:
        raise MdvibError(f"{path}: not an mdvib result file or schema {schema} is newer than {SCHEMA_VERSION}")
    name = h5.attrs.get("result_type")
    if name is None:
        raise MdvibError(f"{path}: the file does not record its result type")
    cls = resolve_result_type(str(name), path)
    kwargs: dict[str, Any] = {}
    dims: dict[str, tuple[int, str]] = {}
    for field in dataclasses.fields(cls):
        if field.name == "provenance":
            if "provenance" not in h5:
                raise MdvibError(f"{path}: the provenance group is missing")
            attrs = h5["provenance"].attrs
            data = {key: json.loads(attrs[key]) for key in attrs}
            data["inputs"] = tuple(data["inputs"])
            kwargs["provenance"] = Provenance(**data)
            continue
        optional = field.default is None
        if field.name not in h5:
            if not optional:
                raise MdvibError(f"{path}: required field {field.name!r} of {cls.__name__} is missing")
            kwargs[field.name] = None
            continue
        dataset = h5[field.name]
        expected_unit = field.metadata.get("unit")
        unit = dataset.attrs.get("unit")
        if expected_unit is not None and unit is not None and str(unit) != expected_unit:
            raise MdvibError(f"{path}: field {field.name!r} is in {unit!r}, {cls.__name__} expects {expected_unit!r}")
        if h5py.check_string_dtype(dataset.dtype) is not None:
            raw = dataset.asstr()[()]
            value = raw if isinstance(raw, str) else tuple(raw.tolist())
        else:
            value = dataset[()]
            value = value.item() if np.ndim(value) == 0 else value
        _check_shape(path, field, value, dims)
        kwargs[field.name] = value
    return cls(**kwargs)


def _check_shape(path, field: dataclasses.Field, value: Any, dims: dict[str, tuple[int, str]]) -> None:
    """Check ``value`` against the field's declared shape, binding symbolic dimensions in ``dims``."""
    declared = field.metadata.get("shape")
    if not declared or isinstance(value, str):
        return
    symbols = [s.strip() for s in declared.strip("()").split(",") if s.strip()]
    shape = np.shape(value)
    if len(shape) != len(symbols):
        raise MdvibError(f"{path}: field {field.name!r} has shape {shape}, expected {declared}")
    for symbol, size in zip(symbols, shape):
        if symbol.isdigit():
            if int(symbol) != size:
                raise MdvibError(f"{path}: field {field.name!r} has shape {shape}, expected {declared}")
        elif symbol in dims and dims[symbol][0] != size:
            size0, owner = dims[symbol]
            raise MdvibError(f"{path}: field {field.name!r} has {symbol} = {size} (shape {shape}) but field "
                             f"{owner!r} has {symbol} = {size0}")
        else:
            dims.setdefault(symbol, (size, field.name))


def save_h5_or_csv(result, path) -> None:
    """Write a result to ``.h5``/``.hdf5`` (:func:`save_result`) or ``.csv`` (its ``to_csv()``), by extension.

    Raises
    ------
    SettingsError
        For any other extension.
    """
    from mdvib.errors import SettingsError

    suffix = str(path).lower().rsplit(".", 1)[-1]
    if suffix in ("h5", "hdf5"):
        save_result(result, path)
    elif suffix == "csv":
        write_text_atomic(path, result.to_csv())
    else:
        raise SettingsError(f"{path}: unknown output format; use a .h5 or .csv file name")
