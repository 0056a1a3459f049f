"""``python -m goldyolo``: the CLI, dumping its Python stacks on SIGUSR1 (see ``goldyolo.bench.watchdog``)."""
import sys

from .bench.watchdog import dump_stacks_on_signal
from .cli import main

dump_stacks_on_signal()
sys.exit(main())
