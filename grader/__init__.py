"""The course kit's autograder: a pytest plugin, the graded checks and a CLI."""

__version__ = "0.1.0"
