import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "_shared"))

from nospof_testinfra import ephemeral_dir, hosts, instances  # noqa: E402,F401
