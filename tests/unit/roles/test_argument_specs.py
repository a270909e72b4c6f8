"""Every role documents exactly its public variables, with matching defaults.

Public variables live in defaults/main.yml and meta/argument_specs.yml; the
two must name the same variables, every variable must start with the role
name, and a literal default in the spec must equal the one in defaults.
"""

import os

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
ROLES = sorted(d for d in os.listdir(os.path.join(ROOT, "roles"))
               if os.path.isdir(os.path.join(ROOT, "roles", d)))


def load(role, *path):
    with open(os.path.join(ROOT, "roles", role, *path), encoding="utf-8") as handle:
        return yaml.safe_load(handle) or {}


@pytest.mark.parametrize("role", ROLES)
def test_defaults_and_spec_name_the_same_variables(role):
    defaults = load(role, "defaults", "main.yml")
    options = load(role, "meta", "argument_specs.yml")["argument_specs"]["main"]["options"]
    assert sorted(defaults) == sorted(options)


@pytest.mark.parametrize("role", ROLES)
def test_public_variables_carry_the_role_prefix(role):
    for name in load(role, "defaults", "main.yml"):
        assert name.startswith(f"{role}_"), name


@pytest.mark.parametrize("role", ROLES)
def test_spec_defaults_match(role):
    defaults = load(role, "defaults", "main.yml")
    options = load(role, "meta", "argument_specs.yml")["argument_specs"]["main"]["options"]
    for name, spec in options.items():
        assert spec.get("description"), f"{name} has no description"
        if "default" in spec and "{{" not in str(defaults.get(name)):
            assert spec["default"] == defaults[name], name


@pytest.mark.parametrize("role", ROLES)
def test_role_has_readme_and_meta(role):
    for path in ("README.md", "meta/main.yml", "tasks/main.yml"):
        assert os.path.exists(os.path.join(ROOT, "roles", role, path)), path
    assert load(role, "meta", "main.yml").get("dependencies") == []
