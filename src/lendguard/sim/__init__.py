"""A synthetic borrower population for simulations, back-tests and model training.

``config`` holds the validated YAML configuration (distributions, segment mix and
behaviour); ``population`` draws borrowers from it, deterministically by seed and in
chunks. The engine that turns borrowers into ledger events lives elsewhere and depends on
this package, never the other way round. Nothing here does I/O at import time.
"""

from lendguard.sim.config import (
    Channel,
    Device,
    Employment,
    FraudType,
    Segment,
    SegmentConfig,
    SimulationConfig,
    default_config_data,
    load_config,
    parse_config,
)
from lendguard.sim.population import (
    APPLICATION_COLUMNS,
    BORROWER_SCHEMA,
    GENERATOR_VERSION,
    GROUND_TRUTH_COLUMNS,
    HIDDEN_DRIVER_COLUMNS,
    applications,
    generate,
    ground_truth,
)

__all__ = [
    "APPLICATION_COLUMNS",
    "BORROWER_SCHEMA",
    "GENERATOR_VERSION",
    "GROUND_TRUTH_COLUMNS",
    "HIDDEN_DRIVER_COLUMNS",
    "Channel",
    "Device",
    "Employment",
    "FraudType",
    "Segment",
    "SegmentConfig",
    "SimulationConfig",
    "applications",
    "default_config_data",
    "generate",
    "ground_truth",
    "load_config",
    "parse_config",
]
