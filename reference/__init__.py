"""Reference solutions for the three approaches (instructor copy)."""
