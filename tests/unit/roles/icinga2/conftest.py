"""Shared by the tests of roles/icinga2/files/plugins: load a plugin by name, start
stand-in servers on 127.0.0.1, write the password file, run a check.

The plugins have no .py suffix, so they are loaded from their path; each
imports nospof_plugin from its own directory.
"""

import importlib.machinery
import importlib.util
import os

import pytest

from graphite_standin import RenderAPI  # tests/unit/roles/icinga2/graphite_standin.py
from localserver import start_server, stop_server  # tests/unit/roles/icinga2/localserver.py

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


@pytest.fixture
def local_server():
    """local_server(Handler, **attrs) -> a started stand-in (localserver.start_server); all stopped after the test."""
    servers = []

    def start(handler, **attrs):
        servers.append(start_server(handler, **attrs))
        return servers[-1]

    yield start
    for server in servers:
        stop_server(server)


@pytest.fixture
def graphite(local_server):
    """graphite({name: f(ts) -> value or None}, step=60, auth=None) -> a graphite-web stand-in
    (graphite_standin.py); .url is its base URL, .queries what it was asked."""
    def start(series, step=60, auth=None):
        return local_server(RenderAPI, series=dict(series), step=step, auth=auth, queries=[])
    return start


@pytest.fixture
def write_secret(tmp_path):
    """write_secret(text, name) -> the path of a file holding text and a newline, as the plugins read secrets."""
    def write(text, name="secret"):
        path = tmp_path / name
        path.write_text(text + "\n")
        return str(path)
    return write


@pytest.fixture
def password_file(request, write_secret):
    """The test module's PASSWORD in a file: what the plugins' --password-file reads."""
    return write_secret(request.module.PASSWORD, "password")


@pytest.fixture
def run(plugin):
    """run(argv) -> the module's `plugin` checked with argv, like nospof_plugin.finish but without printing
    or exiting: a PluginError (bad arguments, unreadable secret) is an UNKNOWN result."""
    def run_(argv):
        try:
            return plugin.check(argv)
        except plugin.np_.PluginError as exc:
            return plugin.np_.Result(plugin.np_.UNKNOWN, str(exc))
    return run_
