"""Helpers shared by every part of the package: the machine and its environment, child processes under a watchdog."""
