# Our own suite uses the opt-in fixtures exactly as an application would.
pytest_plugins = ["supportflow.testing.pytest_plugin"]
