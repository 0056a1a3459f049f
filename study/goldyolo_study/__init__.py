"""The reproduction study behind the notebooks: the report build, the claims register, the evidence read back
from the run records, and the notebooks' tables and figures. It uses the goldyolo library and is not part of
it (``pip install .`` installs the library alone; ``pip install -e study`` adds this)."""
