"""MD engines driven by mdvib (LAMMPS through its Python module)."""
