"""Shared by the tests of roles/icinga2/files/plugins: load a plugin by name.

The plugins have no .py suffix, so they are loaded from their path; each
imports nospof_plugin from its own directory.
"""

import importlib.machinery
import importlib.util
import os

import pytest

PLUGINS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))), "roles", "icinga2", "files", "plugins")


@pytest.fixture(scope="session")
def load_plugin():
    """load_plugin("check_nospof_disk") -> the plugin as a module (loaded once per session)."""
    cache = {}

    def load(name):
        if name not in cache:
            path = os.path.join(PLUGINS, name)
            loader = importlib.machinery.SourceFileLoader(name.replace("-", "_"), path)
            spec = importlib.util.spec_from_loader(loader.name, loader)
            module = importlib.util.module_from_spec(spec)
            loader.exec_module(module)
            module.PATH = path
            cache[name] = module
        return cache[name]

    return load
