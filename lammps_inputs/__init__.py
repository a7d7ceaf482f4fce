"""LAMMPS input templates of mdvib (``*.in``), installed as the resource package ``mdvib._lammps_inputs``.

Not code: this file only makes the directory an importable package so that
``importlib.resources`` finds the templates both in an editable install and in a
wheel (``pyproject.toml`` maps ``lammps_inputs/`` to ``mdvib/_lammps_inputs``).
Use :func:`mdvib.resources.lammps_template`.
"""
