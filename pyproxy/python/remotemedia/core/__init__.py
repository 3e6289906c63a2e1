"""Compatibility package: the original RemoteMedia SDK's import paths."""
