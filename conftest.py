"""Root pytest configuration: loads the grading plugin.

`pytest` at the top of the repository grades the code in assignments/;
`pytest --impl reference` grades the reference solutions instead.
"""

pytest_plugins = ["grader.plugin"]
