"""Load generator: a seeded, realistic mix of events sent to the producer API, with a summary.

``python -m eventlake.loadgen --count 1000 --concurrency 16`` (see ``--help``); also run by the
``load_generator`` DAG. :mod:`.plan` decides what to send (pure, seeded), :mod:`.runner` sends it.
"""

from eventlake.loadgen.plan import LoadPlan, PlannedRequest
from eventlake.loadgen.runner import LoadOptions, LoadSummary, run_load

__all__ = ["LoadOptions", "LoadPlan", "LoadSummary", "PlannedRequest", "run_load"]
