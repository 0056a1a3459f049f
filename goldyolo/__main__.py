"""``python -m goldyolo``: the CLI, dumping its Python stacks on SIGUSR1 (see ``goldyolo.utils.watchdog``)."""
import sys

from .cli import main
from .utils.watchdog import dump_stacks_on_signal

dump_stacks_on_signal()
sys.exit(main())
