"""eventlake: the shared package of the event platform (settings, event catalog, stack, jobs' cores)."""

__version__ = "0.1.0"
