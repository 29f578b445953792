"""Pydantic JSON Schema -> Kubernetes structural OpenAPI v3 schema.

Kubernetes accepts only "structural" schemas (no $ref, no anyOf for nullability, no additionalProperties: false,
OpenAPI 3.0 style exclusive bounds), so the JSON Schema pydantic emits is rewritten here rather than kept by hand:
the models stay the single source of truth for the CLI, the operator and the CRD.
"""

from __future__ import annotations

import copy
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


def _convert(node: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    node = _resolve(node, definitions)
    variants = node.get("anyOf")
    if variants is not None:
        concrete = [v for v in variants if v.get("type") != "null"]
        if len(concrete) != 1:
            raise ValueError(f"cannot express anyOf with {len(concrete)} non-null variants structurally: {node}")
        merged = {**_resolve(concrete[0], definitions), **{k: v for k, v in node.items() if k != "anyOf"}}
        if len(concrete) < len(variants):
            merged["nullable"] = True
        node = merged
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED:
            continue
        if key == "default" and value is None:
            continue  # a null default is the same as no default
        if key == "exclusiveMinimum":
            out["minimum"], out["exclusiveMinimum"] = value, True
        elif key == "exclusiveMaximum":
            out["maximum"], out["exclusiveMaximum"] = value, True
        elif key == "properties":
            out["properties"] = {name: _convert(child, definitions) for name, child in value.items()}
        elif key == "items":
            out["items"] = _convert(value, definitions)
        elif key == "additionalProperties":
            if value is True:
                out["x-kubernetes-preserve-unknown-fields"] = True
            elif isinstance(value, dict):
                out["additionalProperties"] = _convert(value, definitions)
            # `false` is the structural default (unknown fields are pruned) and is not allowed to be spelt out.
        elif key == "const":
            out["enum"] = [value]
        else:
            out[key] = value
    if out.get("type") == "object" and "properties" not in out and "additionalProperties" not in out:
        out["x-kubernetes-preserve-unknown-fields"] = True
    return out
