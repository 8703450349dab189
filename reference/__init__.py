# BEGIN SOLUTION
# stub: """Your work: implement the TODOs in these modules, then run `pytest`."""
"""Reference solutions for the three approaches (instructor copy)."""
# END SOLUTION
