"""Compute helpers the positional-encoding families share: sinusoid pooling, table pooling,
banded convolution, SPE noise and codes. They import nothing above ``positional/base.py``."""
