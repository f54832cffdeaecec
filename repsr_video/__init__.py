"""repsr-video: fast video super-resolution with re-parameterized VGG-style networks."""

__version__ = "0.1.0"
