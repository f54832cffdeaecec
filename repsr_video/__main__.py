"""`python -m repsr_video ...` is the `repsr-video` command (torchrun needs a module to run)."""

import sys

from repsr_video.cli import main

sys.exit(main())
