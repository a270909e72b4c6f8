# Copyright: nospof developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The interface every CMDB backend implements, and its one exception family.

A backend turns its source into the plain records documented in
plugins/module_utils/topology.py (hosts, services, dependencies). It never
makes a request per host: it fetches each object kind with pagination (and
bounded concurrency where the API allows) and joins in memory.
"""

from __future__ import annotations


class CMDBError(Exception):
    """Base of every backend error; the message is meant for a human."""


class CMDBUnavailable(CMDBError):
    """The CMDB could not be reached (connection refused, timeout, 5xx after retries)."""


class CMDBAuthError(CMDBError):
    """The CMDB refused the credentials (401/403)."""


class CMDBDataError(CMDBError):
    """The CMDB answered with data of an unexpected shape."""


class Backend:
    """A source of topology records.

    options: the inventory plugin's options (url, token, validate_certs,
    timeout, retries, max_concurrency, filters: {site, status, tags}, path).
    """

    name = "abstract"

    def __init__(self, options):
        self.options = dict(options or {})

    def fetch(self):
        """Return {"hosts": [...], "services": [...], "dependencies": [...]}.

        Raise CMDBUnavailable, CMDBAuthError or CMDBDataError with a message
        naming the URL or record at fault.
        """
        raise NotImplementedError

    def cache_key_parts(self):
        """What identifies this source in the inventory cache."""
        return [self.name, str(self.options.get("url") or self.options.get("path")),
                repr(sorted((self.options.get("filters") or {}).items()))]
