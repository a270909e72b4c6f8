# Copyright: nospof developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: podman
short_description: Run tasks in local podman containers, with pipelining
version_added: 0.2.0
description:
  - The C(containers.podman.podman) connection with two changes that make a
    task cost one C(podman exec) instead of five or six process starts.
  - Pipelining - modules are sent on the stdin of C(podman exec -i) (set
    C(ANSIBLE_PIPELINING=true)), so no temporary file is written, made
    executable and removed per task.
  - The container's filesystem is mounted only when a file is copied or
    fetched, not on every connection.
  - Used by the test harness and the lab (containers this machine created);
    production hosts use SSH.
author: nospof developers
extends_documentation_fragment: []
options:
  remote_addr:
    description: The name or ID of the container.
    default: inventory_hostname
    vars:
      - name: ansible_host
      - name: inventory_hostname
      - name: ansible_podman_host
  remote_user:
    description: User to run commands as inside the container.
    ini:
      - section: defaults
        key: remote_user
    env:
      - name: ANSIBLE_REMOTE_USER
    vars:
      - name: ansible_user
  podman_extra_args:
    description: Extra arguments for the podman command line.
    default: ''
    ini:
      - section: defaults
        key: podman_extra_args
    vars:
      - name: ansible_podman_extra_args
    env:
      - name: ANSIBLE_PODMAN_EXTRA_ARGS
  podman_executable:
    description: Executable for podman.
    default: podman
    vars:
      - name: ansible_podman_executable
    env:
      - name: ANSIBLE_PODMAN_EXECUTABLE
"""

import shlex

from ansible.module_utils.common.text.converters import to_native
from ansible_collections.containers.podman.plugins.connection.podman import Connection as PodmanConnection


class Connection(PodmanConnection):
    transport = "nospof.platform.podman"
    has_pipelining = True

    def _connect(self):
        # No mount here: only put_file and fetch_file need the filesystem.
        self._connected = True
        return self

    def _ensure_mount(self):
        if getattr(self, "_nospof_mounted", False):
            return
        PodmanConnection._connect(self)
        self._nospof_mounted = True

    def exec_command(self, cmd, in_data=None, sudoable=False):
        # The grandparent records the command for -vvv; skip the parent, which drops stdin.
        super(PodmanConnection, self).exec_command(cmd, in_data=in_data, sudoable=sudoable)
        args = ["exec"]
        if in_data is not None:
            args.append("-i")
        if self.user:
            args.extend(("--user", self.user))
        return self._podman(args, shlex.split(to_native(cmd, errors="surrogate_or_strict")), in_data)

    def put_file(self, in_path, out_path):
        self._ensure_mount()
        return super().put_file(in_path, out_path)

    def fetch_file(self, in_path, out_path):
        self._ensure_mount()
        return super().fetch_file(in_path, out_path)
