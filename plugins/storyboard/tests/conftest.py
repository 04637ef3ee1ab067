"""The storyboard tests' fixtures (defined in storyboard_helpers.py, importable by the tests too)."""

from storyboard_helpers import demo, text_server  # noqa: F401 - fixtures
