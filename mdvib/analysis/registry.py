"""The registry of analyses: what each one offers the CLI, campaigns and plots.

An analyser module declares itself once, at import time::

    ANALYSIS = register_analysis(AnalysisSpec(
        name="dos",                         # `mdvib dos`, `[analysis.dos]` in a campaign
        help="phonon DOS from the VACF",
        command="mdvib.cli.dos",            # CLI front end: add_arguments(parser), run(args)
        campaign_settings=DOSCampaignSettings,   # keyword arguments = the table's keys
        run_in_campaign=run_dos_in_campaign,     # (CampaignStep, settings) -> AnalysisOutput
        result_file="dos.h5",               # reloaded when a campaign resumes
        plot_series=plot_dos_series,        # one figure over the temperatures
        series_file="dos_series.png",
    ))

:func:`analyses` finds every analysis by importing the modules of the
:mod:`mdvib.analysis` package (for a subpackage, also its ``campaign`` module,
:data:`REGISTERING_MODULE`) and :mod:`mdvib.spectroscopy.ins` (and anything registered through the
``mdvib.analyses`` entry-point group, for analysers in other packages), so the
``mdvib`` command, :mod:`mdvib.campaign` and :func:`mdvib.results.load_result`
need no edit when an analyser is added.

Campaign tables are validated before any MD runs (:func:`campaign_settings`):
unknown keys get a "did you mean", values are checked against the type hints
of ``campaign_settings``, and the analyser's own validation runs on them.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import difflib
import importlib
import importlib.util
import inspect
import pkgutil
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from mdvib.errors import MdvibError, SettingsError

#: Package whose modules (and subpackages) declare analyses when imported.
ANALYSIS_PACKAGE = "mdvib.analysis"
#: Analyses outside that package (importing all of :mod:`mdvib.spectroscopy` would load plotting for nothing).
OTHER_ANALYSIS_MODULES = ("mdvib.spectroscopy.ins",)

#: Module of an analysis subpackage that registers it (its package ``__init__`` may import it lazily).
REGISTERING_MODULE = "campaign"
#: Entry-point group through which other packages add analyses.
ENTRY_POINT_GROUP = "mdvib.analyses"


@dataclass(frozen=True)
class CampaignStep:
    """One finished temperature of a campaign, as an analysis sees it.

    Attributes
    ----------
    directory : Path
        The temperature's folder ``T_<value>K/``; outputs go there.
    trajectory_path : Path
        The production trajectory: the LAMMPS text dump (metal units), or
        the ring-polymer centroid of a PIMD campaign (i-PI's
        ``simulation.xc.xyz``, with ``vc``/``fc`` companions in
        ``trajectory_options``).
    temperature_k : float
        Target temperature, K.
    timestep_fs : float
        MD time step, fs (frames carry step numbers).
    elements : tuple of str
        Element of each LAMMPS atom type (type 1 first).
    structure_file : Path
        LAMMPS data file of the ideal starting structure (a TDEP reference).
    progress : bool
        Whether to show progress bars.
    trajectory_format : str
        Reader of ``trajectory_path`` (:mod:`mdvib.io.registry` name).
    trajectory_options : dict
        Further reader options (i-PI companion files).
    first_frame : int
        First production frame: analyses read ``trajectory_path`` from this
        frame on (a PIMD campaign's trajectory starts with its equilibration).
    """

    directory: Path
    trajectory_path: Path
    temperature_k: float
    timestep_fs: float
    elements: tuple[str, ...]
    structure_file: Path
    progress: bool = False
    trajectory_format: str = "lammps-dump"
    trajectory_options: dict = dataclasses.field(default_factory=dict)
    first_frame: int = 0

    def open_trajectory(self):
        """The production trajectory (:class:`~mdvib.trajectory.Trajectory`); analyse it from ``first_frame``."""
        from mdvib.trajectory import Trajectory

        if self.trajectory_format == "lammps-dump":
            type_map = {k + 1: symbol for k, symbol in enumerate(self.elements)}
            return Trajectory.open(self.trajectory_path, format="lammps-dump", units="metal",
                                   dt_fs=self.timestep_fs, type_map=type_map)
        return Trajectory.open(self.trajectory_path, format=self.trajectory_format, dt_fs=self.timestep_fs,
                               **self.trajectory_options)


@dataclass(frozen=True)
class AnalysisOutput:
    """What an analysis wrote for one campaign temperature.

    Attributes
    ----------
    result : object
        The typed result (it has ``provenance``).
    files : tuple of Path
        Files written, inside the temperature's folder.
    """

    result: Any
    files: tuple[Path, ...]


@dataclass(frozen=True)
class AnalysisSpec:
    """Declaration of one analysis (see the module docstring).

    Attributes
    ----------
    name : str
        CLI subcommand and campaign table name (``[analysis.<name>]``).
    help : str
        One-line description (``mdvib --help``).
    command : str
        Module of the CLI front end, with ``add_arguments(parser)`` (its
        ``DESCRIPTION`` string is the subcommand's help text) and ``run(args)``.
    campaign_settings : callable, optional
        Called with a campaign table's keys as keyword arguments; returns the
        validated settings (raising :class:`SettingsError`). Its signature
        and type hints define the table. ``None``: not available in campaigns.
    run_in_campaign : callable, optional
        ``(CampaignStep, settings) -> AnalysisOutput``.
    result_file : str, optional
        Result file, relative to the temperature's folder, that
        :func:`mdvib.results.load_result` reloads when a campaign resumes.
    plot_series : callable, optional
        ``(results, labels, path, title)``: one figure of the whole series.
    series_file : str, optional
        File name of that figure in the campaign folder.
    headline : callable, optional
        ``result -> str``: one line for the campaign summary.
    requires : callable, optional
        ``settings -> tuple of analysis names`` whose results this analysis
        reads in a campaign (they must be listed before it).
    streams_trajectory : bool
        Whether it streams a trajectory through the analyser framework (then
        its subcommand gets ``--workers``/``--scheduler``); ``False`` for
        analyses of other results (INS from a DOS or force constants).
    needs_dynamics : bool
        Whether it reads time correlations (DOS, SED), which a PIMD campaign
        gives only with ring-polymer dynamics (``mode = "trpmd"``), not with
        path-integral sampling (``mode = "pimd"``).
    """

    name: str
    help: str
    command: str
    campaign_settings: Callable[..., Any] | None = None
    run_in_campaign: Callable[[CampaignStep, Any], AnalysisOutput] | None = None
    result_file: str | None = None
    plot_series: Callable[..., None] | None = None
    series_file: str | None = None
    headline: Callable[[Any], str] | None = None
    requires: Callable[[Any], tuple[str, ...]] | None = None
    streams_trajectory: bool = True
    needs_dynamics: bool = False

    def command_module(self) -> types.ModuleType:
        """The imported CLI front-end module."""
        return importlib.import_module(self.command)


_REGISTRY: dict[str, AnalysisSpec] = {}
_DISCOVERED = False


def register_analysis(spec: AnalysisSpec) -> AnalysisSpec:
    """Add ``spec`` to the registry (re-registering the same name replaces it) and return it."""
    _REGISTRY[spec.name] = spec
    return spec


def unregister_analysis(name: str) -> None:
    """Remove an analysis (tests register temporary ones)."""
    _REGISTRY.pop(name, None)


def _discover() -> None:
    global _DISCOVERED
    if _DISCOVERED:
        return
    package = importlib.import_module(ANALYSIS_PACKAGE)
    for module in pkgutil.iter_modules(package.__path__):
        if module.name.startswith("_"):
            continue
        imported = importlib.import_module(f"{package.__name__}.{module.name}")
        if module.ispkg and importlib.util.find_spec(f"{imported.__name__}.{REGISTERING_MODULE}") is not None:
            importlib.import_module(f"{imported.__name__}.{REGISTERING_MODULE}")
    for name in OTHER_ANALYSIS_MODULES:
        importlib.import_module(name)
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        entry.load()
    _DISCOVERED = True


def analyses() -> dict[str, AnalysisSpec]:
    """Every registered analysis by name, in registration order."""
    _discover()
    return dict(_REGISTRY)


def get_analysis(name: str) -> AnalysisSpec:
    """The analysis called ``name``.

    Raises
    ------
    SettingsError
        If there is none, with the closest names.
    """
    known = analyses()
    if name not in known:
        raise SettingsError(f"unknown analysis {name!r}{did_you_mean(name, known)}; available: {sorted(known)}")
    return known[name]


def did_you_mean(name: str, choices) -> str:
    """`` (did you mean 'X'?)`` for the closest of ``choices``, or an empty string."""
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


# ----------------------------------------------------------------------------- campaign tables


def campaign_settings(spec: AnalysisSpec, table: dict, where: str) -> Any:
    """Validate a campaign table against ``spec.campaign_settings`` and return the settings.

    Parameters
    ----------
    spec : AnalysisSpec
    table : dict
        The parsed TOML table.
    where : str
        How to name the table in messages (``"campaign.toml [analysis.dos]"``).

    Raises
    ------
    SettingsError
        For an unknown key (with the closest valid one), a missing required
        key, a value of the wrong type, or a value the analyser rejects.
    """
    if spec.campaign_settings is None or spec.run_in_campaign is None:
        raise SettingsError(f"{where}: the {spec.name} analysis cannot run in a campaign")
    signature = inspect.signature(spec.campaign_settings)
    parameters = {name: p for name, p in signature.parameters.items()
                  if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    hints = type_hints(spec.campaign_settings)
    required = {name for name, p in parameters.items() if p.default is p.empty}
    check_table(table, {name: hints.get(name, Any) for name in parameters}, required, where)
    try:
        return spec.campaign_settings(**table)
    except SettingsError as exc:
        raise SettingsError(f"{where}: {exc}") from exc


def check_table(table: Any, hints: dict[str, Any], required: set[str], where: str) -> None:
    """Check a TOML table: only known keys (with a "did you mean"), the required ones present, types right.

    Parameters
    ----------
    table : object
        The parsed value (must be a dict).
    hints : dict
        Allowed key → type hint (``float``, ``int | None``, ``list[str]``, ``Literal[...]``, ...).
    required : set of str
        Keys that must be present.
    where : str
        How to name the table in messages.

    Raises
    ------
    SettingsError
        Naming the table, the key, the value and the type expected.
    """
    if not isinstance(table, dict):
        raise SettingsError(f"{where} must be a table of settings, got {table!r}")
    for key in table:
        if key not in hints:
            raise SettingsError(f"{where}: unknown setting {key!r}{did_you_mean(key, hints)}; "
                                f"allowed: {sorted(hints)}")
    missing = sorted(required - set(table))
    if missing:
        raise SettingsError(f"{where}: missing required setting(s) {missing}")
    for key, value in table.items():
        if not _matches(value, hints[key]):
            raise SettingsError(f"{where}: {key} = {value!r} is not {_describe(hints[key])}")


def settings_record(settings: Any) -> dict:
    """Plain dictionary of validated settings (compared when a campaign resumes)."""
    if dataclasses.is_dataclass(settings):
        return dataclasses.asdict(settings)
    return dict(settings)


def type_hints(target: Callable) -> dict:
    """Type hints of a function, or of a class's ``__init__`` (dataclasses: their fields)."""
    function = target.__init__ if isinstance(target, type) else target
    try:
        return typing.get_type_hints(function)
    except (NameError, TypeError) as exc:  # pragma: no cover - a bug in an analyser's annotations
        raise MdvibError(f"cannot read the type hints of {target!r}: {exc}") from exc


def _matches(value: Any, hint: Any) -> bool:
    """Whether a TOML value fits a type hint (int where float is asked is fine; bool is not a number)."""
    if hint is Any:
        return True
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, h) for h in typing.get_args(hint))
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if origin in (list, tuple, collections.abc.Sequence):
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        return isinstance(value, (list, tuple)) and all(_matches(v, args[0]) for v in value if args)
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(h) for h in typing.get_args(hint) if h is not type(None))
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    if origin is not None or hint in (list, tuple):
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        plurals = {float: "numbers", int: "integers", str: "strings", bool: "booleans"}
        return f"a list of {plurals.get(args[0], _describe(args[0]))}" if args else "a list"
    names = {float: "a number", int: "an integer", str: "a string", bool: "true or false"}
    return names.get(hint, getattr(hint, "__name__", str(hint)))
