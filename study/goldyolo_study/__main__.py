"""``python -m goldyolo_study``: the study's commands, through goldyolo's command-line machinery."""
import sys

from goldyolo.cli import main
from goldyolo.commands import Command, Option

COMMANDS = {
    "report": Command("goldyolo_study.report:report_command", "execute the notebooks and build the HTML/PDF report", [
        Option("profile", "parameter set (study/goldyolo_study/profiles.py)", choices=["quick", "full", "ci"]),
        Option("only", "comma-separated notebook prefixes or names to execute, e.g. 02,03"),
        Option("pdf", "the PDF beside the HTML (needs Chromium)"),
        Option("train", "running or finishing the training before notebook 03"),
        Option("show_code", "keep the notebooks' code in the HTML and PDF (default: results only)")]),
    "keep-detector": Command("goldyolo_study.detector:keep_command",
                             "keep the EMA weights of a comparison's best run, or of a training run's best "
                             "checkpoint, for notebook 04", [
        Option("run_dir", "compare-train's output folder (--out), or a training folder (train --out)",
               positional=True),
        Option("records", "the records folder: a comparison's (--records, where compare.json is) or the "
               "training run's", positional=True)]),
}
DESCRIPTION = ("The Gold-YOLO reproduction study: execute the notebooks and build the report. Exit codes: 0 done, "
               "1 a check failed, 2 bad input.")

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], COMMANDS, "python -m goldyolo_study", DESCRIPTION))
