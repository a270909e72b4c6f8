# Copyright: nospof developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    """Connection options of the cmdb_* write-back modules (see module_utils/cmdb/writeback.py)."""

    DOCUMENTATION = r"""
options:
  backend:
    description:
      - Which CMDB O(url) points to.
      - Required, here or in E(NOSPOF_CMDB_BACKEND).
    type: str
    choices: [netbox, nautobot]
  url:
    description:
      - Base URL of NetBox 4.x or Nautobot 3.x, for example V(https://netbox.example.org).
      - Required, here or in E(NOSPOF_CMDB_URL).
    type: str
  token:
    description:
      - A write-enabled API token. NetBox v1 tokens are sent as C(Token), v2 tokens
        (C(nbt_...)) as C(Bearer); Nautobot tokens as C(Token).
      - Required, here or in E(NOSPOF_CMDB_TOKEN). Never logged.
    type: str
  validate_certs:
    description: Verify the CMDB's TLS certificate.
    type: bool
    default: true
  timeout:
    description: Seconds to wait for one HTTP response.
    type: int
    default: 30
notes:
  - "Runs on the controller (C(delegate_to: localhost)); the action group
    C(nospof.platform.cmdb) sets the connection once with C(module_defaults)."
  - Related objects (roles, sites, racks, statuses, tags, ...) are named, not
    numbered; they must exist. C(playbooks/cmdb_import.yml) creates them, or use
    M(nospof.platform.cmdb_object).
  - Only the options that are set are compared and written; the rest of the
    object is left as it is.
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  action_group:
    support: full
    membership: [nospof.platform.cmdb]
"""
