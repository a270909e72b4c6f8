# nospof.platform: the two commands a new user needs are `make lab` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV     := $(CURDIR)/.venv
REQ_HASH := $(shell sha256sum requirements.txt | cut -c1-12)
STAMP    := $(VENV)/.installed-$(REQ_HASH)
COLL     := $(CURDIR)/.cache/collections/ansible_collections/nospof/platform

export PATH := $(VENV)/bin:$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/.cache/collections
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg

# Scenarios and Debian releases to test (override: make test SCENARIOS=base SUITES=bookworm)
# The lab scenario (the whole environment) runs on LAB_SUITES only.
SCENARIOS ?= $(shell ls -d molecule/*/molecule.yml 2>/dev/null | cut -d/ -f2)
SUITES    ?= bookworm trixie
LAB_SUITES ?= bookworm
# Left out of `make test` to stay inside CI's 90 minutes on 2 cores (printed
# and counted as skipped; docs/testing.md, "Budget"). Each tier's scenario
# runs in CI on one Debian release and was run on the other by hand:
# base, pki, mirror, rabbitmq, opensearch, dns, loadbalancer and monitoring
# on Debian 12, graphite on Debian 13 (pki runs on Debian 13 inside the
# graphite scenario, which verifies TLS against its certificates). The lab runs with
# `make test-lab`. `make test LEAVE_OUT=` runs everything.
LEAVE_OUT ?= lab pki:trixie mirror:trixie rabbitmq:trixie graphite:bookworm opensearch:trixie dns:trixie loadbalancer:trixie monitoring:trixie base:trixie

.PHONY: help setup host images venv collection artifacts lint unit integration scenario test test-lab lab lab-destroy build changelog clean

help:
	@echo "make lab          bring up the lab in local podman containers and run playbooks/site.yml"
	@echo "make test         lint, unit and integration tests, every role's scenario on Debian 12 and 13"
	@echo "make lab-destroy  remove the lab's containers and network"
	@echo "make test-lab     the lab scenario: the whole environment from bare containers, twice"
	@echo "make scenario S=base [SUITE=bookworm]   run one molecule scenario"
	@echo "make unit | lint | build | setup"

setup: host images venv collection artifacts

host:
	@bash tools/setup-host.sh

images: host
	@bash tools/build-images.sh

venv: $(STAMP)
$(STAMP): requirements.txt
	@test -x $(VENV)/bin/python || python3 -m venv $(VENV)
	@$(VENV)/bin/pip install -q --disable-pip-version-check -r requirements.txt
	@rm -f $(VENV)/.installed-* && touch $@

# Artifacts the roles declare (OpenSearch), fetched on this host and checked,
# for the scenarios' mirrors (tools/fetch_artifacts.py).
artifacts: venv
	@$(VENV)/bin/python tools/fetch_artifacts.py

STALE := $(HOME)/.ansible/collections/ansible_collections/nospof/platform

collection:
	@mkdir -p $(dir $(COLL))
	@test -L $(COLL) || ln -sfn $(CURDIR) $(COLL)
	@# A copy of this collection in ~/.ansible (molecule's prerun makes one) would
	@# shadow the checkout for ansible-lint, which searches there first.
	@if [ -d "$(STALE)" ] && [ ! -L "$(STALE)" ]; then \
	  echo "removing $(STALE): an installed copy would shadow this checkout"; rm -rf "$(STALE)"; fi

lint: venv collection
	yamllint -s .
	ansible-lint --offline -q

unit: venv collection
	pytest -q tests/unit

integration: venv collection
	pytest -q tests/integration

scenario: setup
	@test -n "$(S)" || { echo "usage: make scenario S=<scenario> [SUITE=bookworm|trixie]"; exit 2; }
	python3 tools/run_tests.py --no-lint --no-unit --no-integration --scenarios "$(S)" --suites "$(or $(SUITE),$(SUITES))" --lab-suites "$(or $(SUITE),$(LAB_SUITES))"

test: setup
	python3 tools/run_tests.py --scenarios "$(SCENARIOS)" --suites "$(SUITES)" --lab-suites "$(LAB_SUITES)" --leave-out "$(LEAVE_OUT)"

test-lab: setup
	python3 tools/run_tests.py --no-lint --no-unit --no-integration --scenarios lab --lab-suites "$(LAB_SUITES)"

lab: setup
	ansible-playbook -i inventories/lab tools/lab.yml -e lab_state=present
	ansible-playbook -i inventories/lab playbooks/site.yml
	ansible-playbook -i inventories/lab tools/lab_summary.yml

lab-destroy: venv collection
	ansible-playbook -i inventories/lab tools/lab.yml -e lab_state=absent

build: venv collection
	ansible-galaxy collection build --force --output-path .cache/dist .

clean:
	rm -rf .cache/dist .cache/logs
