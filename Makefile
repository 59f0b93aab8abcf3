# Extagram: the two commands are `make up` and `make test` (see README.md).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
VENV := .venv
PY := $(VENV)/bin/python
LAB := $(PY) tests/lab/lab.py
HOST_PACKAGES := vagrant vagrant-libvirt libvirt-daemon-system libvirt-clients qemu-system-x86 \
	qemu-utils debootstrap mariadb-server mariadb-client nginx-light wrk socat dnsmasq-base \
	iproute2 iptables e2fsprogs openssh-client rsync python3-venv chromium libnss3-tools mtail \
	prometheus

.PHONY: up down status test controller-tests lab-prepare lint test-app test-browser test-tooling test-lab test-failover test-roles test-promote test-restore test-tour check failover bench dev host-deps venv

up: host-deps venv ## Seven VMs, provisioned by site.yml; prints the URL
	$(LAB) up

down: ## Remove every VM, the namespace and the lab daemons
	$(LAB) down

status:
	$(LAB) status

test: host-deps venv ## The whole suite, as CI runs it
	$(MAKE) -j2 --output-sync=target controller-tests lab-prepare
	$(MAKE) test-lab
# When the suite began: the lab's step table adds the controller steps' time to its own (45-min budget).
test: export EXTAGRAM_SUITE_STARTED := $(shell date +%s)

# The checks that need no VM, one after another, while lab-prepare builds the box beside them
# (debootstrap: about 100 s on a fresh machine, mostly one core).
controller-tests: venv
	$(MAKE) -j1 lint test-tooling test-app test-browser

lab-prepare: host-deps venv
	$(LAB) prepare

lint: venv
	$(VENV)/bin/yamllint -s .
	$(VENV)/bin/ansible-lint --profile production
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m compileall -q app/src tests tools

test-app: host-deps venv
	$(VENV)/bin/pytest -q tests/app

# Debian's chromium driven by Playwright against Gunicorn, MariaDB and S1's cache on loopback.
test-browser: host-deps venv
	$(VENV)/bin/pytest -q tests/browser

# The repository's own tools (the lab's apt proxy, lab.py hosts): seconds, no VM, no database.
test-tooling: venv
	$(VENV)/bin/pytest -q tests/tooling

test-lab: host-deps venv
	$(LAB) run $(VENV)/bin/python tests/lab/lab_suite.py

# The whole failure matrix (every node stopped AND halted); `make test` runs its fast part.
test-failover: host-deps venv
	EXTAGRAM_FAILOVER_SELECTION=all $(LAB) run $(VENV)/bin/python tests/lab/lab_suite.py

# Every role's own Molecule scenario, each on fresh lab VMs (times: docs/lab.md). ROLES=mariadb picks one.
test-roles: host-deps venv
	$(LAB) run $(VENV)/bin/python tests/lab/role_suite.py $(ROLES)

# S7 destroyed, a replica promoted (playbooks/db_promote.yml), S7 rebuilt and rejoined, then
# primary again: on a converged lab (`make up`), which it leaves as it found it. docs/database.md.
test-promote: host-deps venv
	$(LAB) run $(PY) tests/lab/promote_drill.py

# S7 and S4 destroyed, rebuilt by site.yml, the site restored from a backup, then to a point in
# time from the backup nodes' copy of the binary log: on a converged lab (`make up`). docs/backups.md.
test-restore: host-deps venv
	$(LAB) run $(PY) tests/lab/restore_drill.py

# Every command of the student tour (docs/tour/), once, in its order, on a converged lab (`make up`):
# the reading blocks and six experiments that stop a service and start it again. Not in `make test`.
test-tour: host-deps venv
	$(LAB) run $(VENV)/bin/pytest -q tests/tour

# The working loop on a running lab (`make up` first), docs/lab.md: re-provision the nodes of a role
# and run its tests (ROLE=nginx_balancer; several: ROLE="mariadb extagram_app"; the end-to-end
# tests: ROLE=topology), or one failover case by name (CASE=s2-halt; several: CASE="s2-halt or s5-stop").
check: host-deps venv
	$(LAB) run $(PY) tests/lab/loop.py $(ROLE)

failover: host-deps venv
	$(LAB) run $(VENV)/bin/pytest -q tests/failover -k "$(CASE)"

bench: host-deps venv
	$(PY) tests/bench/feed_bench.py
	$(PY) tests/bench/poll_bench.py

dev: host-deps venv ## The app on http://127.0.0.1:5000 against a private MariaDB
	$(PY) -m extagram_testing.dev_server

# Debian packages the lab, the app tests and the benchmark need; apt runs only when one is missing.
# prometheus is here for promtool (the alert rules' tests): its server, which the package enables on
# a host that runs systemd, is turned off again.
host-deps:
	@missing=""; for p in $(HOST_PACKAGES); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi; \
	if [ -d /run/systemd/system ] && systemctl is-enabled -q prometheus.service 2>/dev/null; then \
	  systemctl disable --now prometheus.service; \
	fi

# Collections come with the pinned `ansible` bundle from PyPI (Galaxy is not reachable from CI).
venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt app/pyproject.toml pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements.txt -e 'app[test]' -e .
	touch $@
