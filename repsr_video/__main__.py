"""`python -m repsr_video ...` is the `repsr-video` command (torchrun needs a module to run).

Through repsr_video.launch, which handles termination signals from its first statement on.
"""

import sys

from repsr_video.launch import main

sys.exit(main())
