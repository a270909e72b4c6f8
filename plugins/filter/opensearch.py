# Copyright: nospof developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Password hashes for the OpenSearch security plugin's internal users.

A bcrypt hash carries a random salt, so hashing the same password twice gives
two different strings: a role that rehashed on every run would rewrite
internal_users.yml (and re-upload the security configuration) every time.
``opensearch_password_hashes`` keeps an existing hash whenever it still
verifies the user's password, and makes a new one only for a new user or a
changed password.
"""

from __future__ import annotations

import re

try:
    from ansible.errors import AnsibleFilterError
except ImportError:  # pragma: no cover
    class AnsibleFilterError(Exception):
        pass

try:
    import bcrypt
    HAS_BCRYPT = True
except ImportError:  # pragma: no cover
    HAS_BCRYPT = False

_BCRYPT = re.compile(r"^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$")
ROUNDS = 12


def _check(password, hashed):
    if not isinstance(hashed, str) or not _BCRYPT.match(hashed):
        return False
    try:
        return bcrypt.checkpw(password.encode("utf-8"), hashed.encode("ascii"))
    except ValueError:
        return False


def opensearch_password_hashes(users, existing=None, rounds=ROUNDS):
    """Return {name: bcrypt hash} for ``users`` ([{name, password, ...}]).

    ``existing`` is the current internal_users.yml content (a mapping of
    name -> {hash: ...}), or None/empty on a first run.
    """
    if not HAS_BCRYPT:
        raise AnsibleFilterError(
            "opensearch_password_hashes needs the Python bcrypt library on the controller "
            "(pip install bcrypt; it is in the collection's requirements.txt)")
    if not isinstance(users, list):
        raise AnsibleFilterError("opensearch_password_hashes expects a list of users")
    current = existing if isinstance(existing, dict) else {}
    out = {}
    for user in users:
        if not isinstance(user, dict) or not user.get("name") or not user.get("password"):
            raise AnsibleFilterError("every user needs a name and a password")
        name, password = str(user["name"]), str(user["password"])
        old = (current.get(name) or {}).get("hash") if isinstance(current.get(name), dict) else None
        if old and _check(password, old):
            out[name] = old
        else:
            out[name] = bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds)).decode("ascii")
    return out


class FilterModule:
    def filters(self):
        return {"opensearch_password_hashes": opensearch_password_hashes}
