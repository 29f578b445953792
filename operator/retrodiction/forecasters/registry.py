"""From a custom model's spec to a factory of model objects: a statsforecast class, or a plugin's entry point.

A model object follows statsforecast's model interface: `forecast(y, h, level=...)` returns a mapping with "mean"
and, per level, "lo-{level}" and "hi-{level}" arrays of length h; models refitted every few origins also need
`fit(y)` (returning the fitted model) and `forward(y, h, level=...)`, which forecasts from y with the parameters of
the last fit. Every statsforecast model is one; a plugin's factory returns one (see examples/plugin-model).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from retrodiction.data.errors import DataError, describe_exception, name_list

if TYPE_CHECKING:  # imported when a custom model is built: workers of builtin-only runs never need them
    from importlib.metadata import EntryPoint

    from retrodiction.api.training import CustomModel

ENTRY_POINT_GROUP = "retrodiction.models"

# Makes a fresh, unfitted model object.
ModelFactory = Callable[[], Any]


def _field(index: int, spec: CustomModel) -> str:
    return f"spec.retrodiction.customModels[{index}] ({spec.name})"


def _statsforecast_class(spec: CustomModel, where: str) -> Callable[..., Any]:
    assert spec.statsforecast is not None
    try:
        import statsforecast.models
    except ImportError as err:
        raise DataError(
            f"{where}.statsforecast.model",
            "statsforecast is not installed in this image (the worker image carries it)",
            describe_exception(err),
        ) from None
    model_class: Callable[..., Any] = getattr(statsforecast.models, spec.statsforecast.model)
    return model_class


def _installed_entry_points() -> list[EntryPoint]:
    from importlib.metadata import entry_points

    return list(entry_points(group=ENTRY_POINT_GROUP))


def _plugin_factory(spec: CustomModel, where: str) -> Callable[..., Any]:
    assert spec.plugin is not None
    reference = spec.plugin.entry_point
    installed = _installed_entry_points()
    matches = [point for point in installed if reference in (point.name, point.value)]
    if not matches:
        names = sorted({point.name for point in installed})
        shown = name_list(names) if names else "none"
        raise DataError(
            f"{where}.plugin.entryPoint",
            f"no entry point {reference!r} in group {ENTRY_POINT_GROUP} of this image (installed: {shown})",
        )
    try:
        factory = matches[0].load()
    except Exception as err:  # the plugin's own import: any error it raises means the same thing
        raise DataError(
            f"{where}.plugin.entryPoint", f"entry point {reference!r} failed to load: {describe_exception(err)}"
        ) from None
    if not callable(factory):
        raise DataError(f"{where}.plugin.entryPoint", f"entry point {reference!r} is not callable")
    loaded: Callable[..., Any] = factory
    return loaded


def _constructor(spec: CustomModel, where: str) -> tuple[Callable[..., Any], Mapping[str, Any], str]:
    if spec.statsforecast is not None:
        return _statsforecast_class(spec, where), spec.statsforecast.params, f"{where}.statsforecast.params"
    assert spec.plugin is not None
    return _plugin_factory(spec, where), spec.plugin.params, f"{where}.plugin.params"


def _has_level(method: Callable[..., Any]) -> bool:
    try:
        return "level" in inspect.signature(method).parameters
    except (TypeError, ValueError):  # no signature to read (a builtin): assume the statsforecast interface
        return True


def _check_interface(model: Any, spec: CustomModel, where: str, label: str) -> None:
    missing = [name for name in ("forecast",) if not callable(getattr(model, name, None))]
    if (spec.refit_every or 1) > 1:
        missing += [name for name in ("fit", "forward") if not callable(getattr(model, name, None))]
    if missing:
        field = f"{where}.refitEvery" if "forecast" not in missing else where
        fix = "; leave refitEvery unset to refit at every origin" if "forecast" not in missing else ""
        raise DataError(field, f"{label} has no {', '.join(missing)} method{fix}")
    if spec.levels and not _has_level(model.forecast):
        raise DataError(f"{where}.levels", f"{label} gives no prediction intervals (its forecast takes no level)")


def model_factory(spec: CustomModel, index: int = 0) -> ModelFactory:
    """A factory of fresh model objects for `spec`; DataError naming the field when the spec cannot be built.

    The model is built once here, so bad params fail now, before any batch runs, not on every worker."""
    where = _field(index, spec)
    constructor, params, params_field = _constructor(spec, where)
    label = (
        spec.statsforecast.model if spec.statsforecast is not None else repr(spec.plugin and spec.plugin.entry_point)
    )
    arguments = dict(params)
    try:
        model = constructor(**arguments)
    except Exception as err:  # a constructor rejects bad arguments with TypeError, ValueError, AssertionError, ...
        # The library's words about params the tenant wrote (not data): the status shows them, as a user needs.
        raise DataError(params_field, f"{label} rejects these params: {describe_exception(err)}") from None
    _check_interface(model, spec, where, label)

    def make() -> Any:
        return constructor(**arguments)

    return make


@functools.lru_cache(maxsize=64)
def _factory_of(spec_json: str) -> ModelFactory:
    from retrodiction.api.training import CustomModel

    return model_factory(CustomModel.model_validate_json(spec_json))


def cached_model_factory(spec: CustomModel) -> ModelFactory:
    """model_factory, built once per process and spec: a worker scores many batches of the same run, and each build
    scans the installed entry points and constructs a model. A spec that fails raises every time (nothing cached)."""
    return _factory_of(spec.model_dump_json())


def check_custom_models(models: Sequence[CustomModel]) -> None:
    """Build every custom model once: DataError (naming the field) for an unknown class, bad params, a missing or
    broken entry point, or a model that lacks what its spec asks of it."""
    for index, spec in enumerate(models):
        model_factory(spec, index)
