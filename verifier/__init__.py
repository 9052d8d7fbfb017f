"""verify-release: is a Python package release what its maintainers built and published.

The package is split the way the evidence is: one module per kind of evidence under
``checks/``, one HTTP client (``http.py``), one policy model, one report model with renderers
under ``report/``. ``pipeline.py`` composes them for every subject, ``judge.py`` alone decides
outcomes, ``run.py`` wires one run; only ``cli.py`` prints or exits.
"""

__version__ = "0.1.0"
