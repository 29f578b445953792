"""Pydantic JSON Schema -> Kubernetes structural OpenAPI v3 schema.

Kubernetes accepts only "structural" schemas (no $ref, no anyOf for nullability, no additionalProperties: false,
OpenAPI 3.0 style exclusive bounds), so the JSON Schema pydantic emits is rewritten here rather than kept by hand:
the models stay the single source of truth for the CLI, the operator and the CRD.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema, to_jsonable_python

# Keywords of JSON Schema that structural schemas do not accept or that only add noise to `kubectl explain`.
_DROPPED = {"title", "$defs", "examples"}


class _WithFactoryDefaults(GenerateJsonSchema):
    """Also emit defaults produced by default_factory, so the API server fills them in like any other default."""

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        factory = schema.get("default_factory")
        if factory is not None and not schema.get("default_factory_takes_data"):
            value = factory()  # type: ignore[call-arg]
            schema = {**schema, "default": value}
            schema.pop("default_factory", None)
        return super().default_schema(schema)

    def encode_default(self, dft: Any) -> Any:
        # Defaults are written by alias (camelCase), as the API server will store them.
        return to_jsonable_python(dft, by_alias=True, exclude_none=True)


def structural_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The structural OpenAPI v3 schema of `model`, by alias, with defaults, enums, bounds and CEL rules."""
    raw = model.model_json_schema(by_alias=True, mode="validation", schema_generator=_WithFactoryDefaults)
    definitions = raw.get("$defs", {})
    return _convert(raw, definitions)


def _resolve(node: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref is None:
        return node
    target: dict[str, Any] = copy.deepcopy(definitions[ref.rsplit("/", 1)[-1]])
    # Keywords next to a $ref (a field's own default, description) win over the referenced model's.
    target.update({key: value for key, value in node.items() if key != "$ref"})
    return target


def _nullable_merged(node: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    """`X | None` (anyOf with a null) as X with `nullable: true`; any other anyOf cannot be structural."""
    variants = node.get("anyOf")
    if variants is None:
        return node
    concrete = [v for v in variants if v.get("type") != "null"]
    if len(concrete) != 1:
        raise ValueError(f"cannot express anyOf with {len(concrete)} non-null variants structurally: {node}")
    merged = {**_resolve(concrete[0], definitions), **{k: v for k, v in node.items() if k != "anyOf"}}
    if len(concrete) < len(variants):
        merged["nullable"] = True
    return merged


def _additional_properties(value: Any, definitions: dict[str, Any]) -> dict[str, Any]:
    if value is True:
        return {"x-kubernetes-preserve-unknown-fields": True}
    if isinstance(value, dict):
        return {"additionalProperties": _convert(value, definitions)}
    # `false` is the structural default (unknown fields are pruned) and is not allowed to be spelt out.
    return {}


Converter = Callable[[Any, dict[str, Any]], dict[str, Any]]

# Keywords the structural schema spells differently (the rest pass through as they are).
_CONVERTERS: dict[str, Converter] = {
    # OpenAPI 3.0 bounds: a number and a flag.
    "exclusiveMinimum": lambda value, _: {"minimum": value, "exclusiveMinimum": True},
    "exclusiveMaximum": lambda value, _: {"maximum": value, "exclusiveMaximum": True},
    "properties": lambda value, defs: {"properties": {name: _convert(child, defs) for name, child in value.items()}},
    "items": lambda value, defs: {"items": _convert(value, defs)},
    "additionalProperties": _additional_properties,
    "const": lambda value, _: {"enum": [value]},
}


def _keyword(key: str, value: Any, definitions: dict[str, Any]) -> dict[str, Any]:
    """One keyword of a JSON Schema node as the structural schema spells it (nothing when it has no place there)."""
    if key in _DROPPED or (key == "default" and value is None):  # a null default is the same as no default
        return {}
    converter = _CONVERTERS.get(key)
    return {key: value} if converter is None else converter(value, definitions)


def _convert(node: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    node = _nullable_merged(_resolve(node, definitions), definitions)
    out: dict[str, Any] = {}
    for key, value in node.items():
        out.update(_keyword(key, value, definitions))
    if out.get("type") == "object" and "properties" not in out and "additionalProperties" not in out:
        out["x-kubernetes-preserve-unknown-fields"] = True
    return out
