"""C++ sources of mdvib's LAMMPS plugin, installed as the resource package ``mdvib._plugins``.

Not code: this file only makes the directory an importable package so that
``importlib.resources`` finds the sources both in an editable install and in a
wheel (``pyproject.toml`` maps ``plugins/`` to ``mdvib/_plugins``). Use
:func:`mdvib.resources.plugin_sources`; build with ``mdvib build-plugins``.
"""
