"""Operators goldyolo runs its own way: oneDNN convolutions (:mod:`goldyolo.ops.conv`)."""
