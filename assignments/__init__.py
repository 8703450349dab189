"""Your work: implement the TODOs in these modules, then run `pytest`."""
