"""Models users bring (statsforecast classes and plugins), run at every origin of a batch with exact refit rules.

Imported only where tenant work runs (a run's driver, its Dask workers, `retrodiction train`): resolving a model
imports statsforecast or a plugin's code, which never happens in the operator.
"""

from .histories import fill_gaps
from .plan import CustomModelPlan, custom_warmup_rows
from .registry import ENTRY_POINT_GROUP, ModelFactory, cached_model_factory, check_custom_models, model_factory
from .rolling import BatchRows, ModelErrors, custom_forecasts

__all__ = [
    "ENTRY_POINT_GROUP",
    "BatchRows",
    "CustomModelPlan",
    "ModelErrors",
    "ModelFactory",
    "cached_model_factory",
    "check_custom_models",
    "custom_forecasts",
    "custom_warmup_rows",
    "fill_gaps",
    "model_factory",
]
