"""Victim Survey Workbench: methods for police victim satisfaction surveys.

The importable package behind the ``vsw`` command and the notebooks in ``notebooks/``.
"""

__version__ = "0.1.0"
