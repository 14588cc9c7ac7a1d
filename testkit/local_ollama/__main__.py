"""`python -m testkit.local_ollama build|install-model|start|stop|status` (see server.py)."""

import sys

from .server import main

sys.exit(main())
