"""``python -m devstack.dolphin``: see :mod:`devstack.dolphin.cli`."""

from devstack.dolphin.cli import main

raise SystemExit(main())
