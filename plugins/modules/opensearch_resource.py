#!/usr/bin/python
# Copyright: nospof developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: opensearch_resource
short_description: Make one OpenSearch REST resource match a desired body
version_added: 0.6.0
description:
  - Reads one resource of an OpenSearch cluster through its REST API (an index
    template, a snapshot repository, the persistent cluster settings, an index,
    or any resource at a given path), compares it with O(body) and writes it
    only when it differs, so a second run changes nothing.
  - The comparison is by key, on flattened values (a C(number_of_replicas) nested in
    C(index) and a C(index.number_of_replicas) key are the same key, the number C(1) and the
    string C(1) the same value, the boolean and the string C(true) too) and only
    over the keys of O(body); keys the cluster adds on its own (defaults, its own
    metadata) are ignored. An index setting may be given with or without its C(index.) prefix under a C(settings) key.
  - Tries each URL of O(hosts) in turn; a node that cannot be reached or answers
    with a 5xx status is skipped. The module fails only when no node answered,
    listing each node and why it was skipped.
  - TLS is always verified, against O(ca_path) or the system trust store.
    Proxies set in the environment are not used.
author: nospof developers
options:
  hosts:
    description:
      - Base URLs of the cluster's nodes, such as C(https://os1:9200), tried in this order.
    type: list
    elements: str
    required: true
  ca_path:
    description: CA bundle to verify the nodes' certificates with; the system trust store when unset.
    type: path
  client_cert:
    description: Client certificate (PEM) to authenticate with, for example an admin certificate.
    type: path
  client_key:
    description: Private key (PEM, not encrypted) of O(client_cert), when it is not in the same file.
    type: path
  url_username:
    description: User name for HTTP basic authentication; none is sent when unset.
    type: str
  url_password:
    description: Password for HTTP basic authentication (with O(url_username)).
    type: str
  timeout:
    description: Seconds to wait for each node before trying the next.
    type: int
    default: 30
  kind:
    description:
      - What kind of resource O(name) is, which sets its path and how its current state is read.
      - V(index_template) is C(_index_template/<name>); the template is replaced as a whole when it differs.
      - V(snapshot_repository) is C(_snapshot/<name>).
      - V(cluster_settings) is C(_cluster/settings); O(body) holds C(persistent) settings
        (transient settings are not managed). A setting given the value C(null) is reset (sent as C(null))
        when the cluster has it set.
      - V(index) is the index O(name). It is created with O(body) (its settings, mappings
        and aliases) when it does not exist, and never modified afterwards.
      - V(generic) is the path O(name) (for example C(_scripts/<id>)), written with C(PUT)
        when its C(GET) answer does not hold O(body). The whole C(GET) answer is compared, so
        this suits resources whose C(GET) answer holds the C(PUT) body at its top level
        (C(_scripts/<id>) answers C(_id), C(found) and C(script)), not those that wrap it
        under their name.
    type: str
    choices: [index_template, snapshot_repository, cluster_settings, index, generic]
    required: true
  name:
    description:
      - Name of the template, repository or index; for V(generic) the path of the resource.
      - Required except for O(kind=cluster_settings), where it is ignored.
      - Names are plain names (lowercase letters, digits, C(-), C(_) and C(.), not
        starting with C(_) or C(-)); paths have no spaces and no C(..) segments.
    type: str
  body:
    description:
      - The desired resource, as the REST API takes it with C(PUT).
      - For O(state=absent) it is not used.
    type: dict
    default: {}
  state:
    description:
      - Whether the resource should exist.
      - V(absent) deletes it when it exists; not possible for O(kind=cluster_settings).
    type: str
    choices: [present, absent]
    default: present
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
notes:
  - The diff shows the flattened current resource and the flattened O(body) laid over it.
  - A write sent to a node that then stops answering is sent again to the next node; the
    writes this module makes (C(PUT) of the whole resource, C(DELETE)) can be repeated safely.
"""

EXAMPLES = r"""
- name: Logs indices get one replica and 30 s refresh
  nospof.platform.opensearch_resource:
    hosts: [https://os1:9200, https://os2:9200, https://os3:9200]
    ca_path: /etc/ssl/nospof/ca.crt
    client_cert: /etc/opensearch/admin.crt
    client_key: /etc/opensearch/admin.key
    kind: index_template
    name: logs
    body:
      index_patterns: ["logs-*"]
      priority: 100
      template:
        settings:
          number_of_replicas: 1
          refresh_interval: 30s
        mappings:
          properties:
            "@timestamp":
              type: date

- name: Snapshots go to the shared file system
  nospof.platform.opensearch_resource:
    hosts: "{{ groups['opensearch'] | map('regex_replace', '^', 'https://') | map('regex_replace', '$', ':9200') }}"
    ca_path: /etc/ssl/nospof/ca.crt
    url_username: admin
    url_password: "{{ opensearch_admin_password }}"
    kind: snapshot_repository
    name: backups
    body:
      type: fs
      settings:
        location: /srv/opensearch-snapshots
        compress: true

- name: Only primaries are allocated while a node restarts
  nospof.platform.opensearch_resource:
    hosts: [https://os1:9200, https://os2:9200]
    ca_path: /etc/ssl/nospof/ca.crt
    kind: cluster_settings
    body:
      persistent:
        cluster.routing.allocation.enable: primaries

- name: Back to the default allocation once it is up again
  nospof.platform.opensearch_resource:
    hosts: [https://os1:9200, https://os2:9200]
    ca_path: /etc/ssl/nospof/ca.crt
    kind: cluster_settings
    body:
      persistent:
        cluster.routing.allocation.enable: null

- name: The audit index exists (created once, then left alone)
  nospof.platform.opensearch_resource:
    hosts: [https://os1:9200]
    ca_path: /etc/ssl/nospof/ca.crt
    kind: index
    name: audit-000001
    body:
      settings:
        number_of_shards: 1
      aliases:
        audit: {is_write_index: true}

- name: A stored script
  nospof.platform.opensearch_resource:
    hosts: [https://os1:9200]
    ca_path: /etc/ssl/nospof/ca.crt
    kind: generic
    name: _scripts/kilobytes
    body:
      script:
        lang: painless
        source: "doc['bytes'].value / 1024"

- name: An ISM policy that is no longer wanted
  nospof.platform.opensearch_resource:
    hosts: [https://os1:9200]
    ca_path: /etc/ssl/nospof/ca.crt
    kind: generic
    name: _plugins/_ism/policies/old-logs
    state: absent
"""

RETURN = r"""
path:
  description: The resource's path on the nodes.
  returned: always
  type: str
  sample: _index_template/logs
current:
  description:
    - The resource as read before any change; C(null) when it did not exist.
    - For V(index_template) the template itself, for V(snapshot_repository) the repository,
      for V(cluster_settings) a dict with the C(persistent) settings, for V(index) the index, for V(generic)
      the whole answer.
  returned: always
  type: raw
response:
  description: The cluster's answer to the write (C(PUT) or C(DELETE)).
  returned: when a write was sent
  type: raw
  sample: {"acknowledged": true}
"""

import re

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.nospof.platform.plugins.module_utils.opensearch import (
    OpenSearchClient, OpenSearchError, extract_current, is_subset, merge, normalize)

NAME_RE = re.compile(r"^[a-z0-9.][a-z0-9._-]*$")
NAMED_KINDS = ("index_template", "snapshot_repository", "index", "generic")


def check_name(kind, name):
    """The error in name for kind, or None."""
    if kind == "generic":
        path = (name or "").strip().lstrip("/")
        if not path:
            return "name: give the resource's path for kind=generic, such as _plugins/_ism/policies/logs"
        if any(c.isspace() for c in path):
            return "name %r: a path may not contain spaces" % name
        if ".." in path.split("?", 1)[0].split("/"):
            return "name %r: a path may not contain '..' segments" % name
        return None
    if not NAME_RE.match(name) or name in (".", "..") or len(name) > 255:
        return ("name %r: use a plain %s name (lowercase letters, digits, '-', '_' and '.', "
                "not starting with '_' or '-')" % (name, kind.replace("_", " ")))
    return None


def resource_path(kind, name):
    if kind == "index_template":
        return "_index_template/%s" % name
    if kind == "snapshot_repository":
        return "_snapshot/%s" % name
    if kind == "cluster_settings":
        return "_cluster/settings"
    if kind == "index":
        return name
    return name.strip().lstrip("/")


def check_body(module, kind, state, body):
    if not isinstance(body, dict):
        module.fail_json(msg="body must be a dict (a mapping), not %s" % type(body).__name__)
    if state != "present":
        return
    if kind == "cluster_settings":
        other = sorted(str(k) for k in body if k != "persistent")
        if other:
            module.fail_json(msg="body of cluster_settings may only hold 'persistent' settings, not %s "
                                 "(transient settings are not managed)" % ", ".join(other))
        if not isinstance(body.get("persistent", {}), dict):
            module.fail_json(msg="body.persistent must be a dict of settings")
    elif kind == "index_template" and not body.get("index_patterns"):
        module.fail_json(msg="body of an index_template needs index_patterns")
    elif kind == "snapshot_repository" and not body.get("type"):
        module.fail_json(msg="body of a snapshot_repository needs its type (such as fs or s3)")


def main():
    module = AnsibleModule(
        argument_spec=dict(
            hosts=dict(type="list", elements="str", required=True),
            ca_path=dict(type="path"),
            client_cert=dict(type="path"),
            client_key=dict(type="path", no_log=False),
            url_username=dict(type="str"),
            url_password=dict(type="str", no_log=True),
            timeout=dict(type="int", default=30),
            kind=dict(type="str", required=True, choices=["index_template", "snapshot_repository",
                                                          "cluster_settings", "index", "generic"]),
            name=dict(type="str"),
            body=dict(type="dict", default={}),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        ),
        required_if=[("kind", kind, ["name"]) for kind in NAMED_KINDS],
        supports_check_mode=True,
    )
    params = module.params
    kind, name, state = params["kind"], params["name"], params["state"]
    body = params["body"] if params["body"] is not None else {}
    if kind == "cluster_settings" and state == "absent":
        module.fail_json(msg="state=absent is not possible for cluster_settings; "
                             "reset a setting by giving it the value null")
    if kind != "cluster_settings":
        error = check_name(kind, name)
        if error:
            module.fail_json(msg=error)
    check_body(module, kind, state, body)
    if params["timeout"] <= 0:
        module.fail_json(msg="timeout must be positive")
    if params["client_key"] and not params["client_cert"]:
        module.fail_json(msg="client_key needs client_cert")

    path = resource_path(kind, name)
    result = dict(changed=False, path=path, current=None)
    try:
        client = OpenSearchClient(params["hosts"], ca_path=params["ca_path"], client_cert=params["client_cert"],
                                  client_key=params["client_key"], username=params["url_username"],
                                  password=params["url_password"], timeout=params["timeout"])
        status, data = client.request("GET", path, ok=(200, 404))
    except OpenSearchError as exc:
        module.fail_json(msg=str(exc), **result)

    exists = status == 200
    current = None
    if exists:
        current = extract_current(kind, name, data)
        if current is None and kind != "index":
            exists = False
        elif current is None:
            current = data
    result["current"] = current
    before = normalize(current) if exists else {}

    if state == "absent":
        method, send = ("DELETE", None) if exists else (None, None)
        after = {}
    elif kind == "index":
        method, send = (None, None) if exists else ("PUT", body)
        after = before if exists else normalize(body)
    elif exists and is_subset(body, current):
        method, send, after = None, None, before
    else:
        method, send = "PUT", body
        after = merge(body, current if exists else {})

    if module._diff:
        result["diff"] = dict(before=before, after=after)
    if method is None:
        module.exit_json(**result)
    result["changed"] = True
    if module.check_mode:
        module.exit_json(**result)
    try:
        _status, response = client.request(method, path, body=send,
                                           ok=(200, 201, 404) if method == "DELETE" else (200, 201))
    except OpenSearchError as exc:
        result["changed"] = False
        module.fail_json(msg=str(exc), **result)
    result["response"] = response
    module.exit_json(**result)


if __name__ == "__main__":
    main()
