"""The retrodiction engine: forecasting rules, their scores and Bayesian trust, in pure numpy.

No I/O, no Dask, no Kubernetes: callers hand in (rows, series) arrays and merge the returned Scores.
"""

from .config import MODEL_NAMES, EngineConfig, ses_terms
from .history import warmup_rows
from .intervals import ForecastSet, winkler_scores
from .metrics import derive_metrics
from .models import forecasts
from .scores import COUNT_FIELDS, INTERVAL_COUNT_FIELDS, SUM_FIELDS, Scores
from .scoring import score_forecasts, score_targets
from .trust import beta_trust

__all__ = [
    "COUNT_FIELDS",
    "INTERVAL_COUNT_FIELDS",
    "MODEL_NAMES",
    "SUM_FIELDS",
    "EngineConfig",
    "ForecastSet",
    "Scores",
    "beta_trust",
    "derive_metrics",
    "forecasts",
    "score_forecasts",
    "score_targets",
    "ses_terms",
    "warmup_rows",
    "winkler_scores",
]
