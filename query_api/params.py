"""Request parameters: declared once, validated all at once, described in the OpenAPI document.

A :class:`Param` says where a value comes from (header, query, path), its type and default, and
its OpenAPI schema. :func:`parse` validates every parameter of an operation together and raises
one :class:`ValidationFailed` naming every problem, with FastAPI's ``loc`` shape
(``["query", "limit"]``) that generated clients expect.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ValidationError, create_model

from core.errors import ValidationFailed, problem

Location = Literal["header", "query", "path"]
_REQUIRED: Any = ...


@dataclass(frozen=True)
class Param:
    name: str
    location: Location
    annotation: Any
    schema: dict[str, Any]
    default: Any = _REQUIRED
    description: str = ""

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED

    def openapi(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "name": self.name,
            "in": self.location,
            "required": self.required,
            "schema": {
                **self.schema,
                "title": self.name.replace("-", " ").title(),
            },
        }
        if self.description:
            doc["description"] = self.description
            doc["schema"]["description"] = self.description
        if not self.required and self.default is not None:
            doc["schema"]["default"] = self.default
        return doc


# A cross-parameter rule: gets the validated values, returns problems as (param name, message).
Check = Callable[[dict[str, Any]], list[tuple[str, str]]]


@dataclass(frozen=True)
class ParamSet:
    params: Sequence[Param]
    checks: Sequence[Check] = field(default_factory=tuple)
    _models: dict[str, type[BaseModel]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # One single-field model per parameter: each is validated on its own, so the
        # cross-parameter checks can still run on the parameters that were valid.
        models = {
            p.name: create_model(
                "Param", value=(p.annotation, p.default if not p.required else ...)
            )
            for p in self.params
        }
        object.__setattr__(self, "_models", models)

    def parse(
        self,
        headers: Mapping[str, str],
        query: Mapping[str, str],
        path: Mapping[str, str],
    ) -> dict[str, Any]:
        """Validated values keyed by parameter name, or ValidationFailed listing every problem."""
        sources: dict[str, Mapping[str, str]] = {"header": headers, "query": query, "path": path}
        errors: list[dict[str, Any]] = []
        values: dict[str, Any] = {}
        for p in self.params:
            raw = sources[p.location].get(p.name)
            try:
                model = self._models[p.name].model_validate({} if raw is None else {"value": raw})
            except ValidationError as exc:
                for err in exc.errors(include_url=False, include_input=False):
                    loc = [p.location, p.name, *err["loc"][1:]]
                    errors.append(problem(loc, err["msg"], err["type"]))
                continue
            values[p.name] = model.value  # type: ignore[attr-defined]
        by_name = {p.name: p for p in self.params}
        for check in self.checks:
            try:
                problems = check(values)
            except KeyError:
                continue  # a parameter it needs is already reported as invalid
            for name, msg in problems:
                p = by_name[name]
                errors.append(problem([p.location, p.name], msg, "value_error"))
        if errors:
            raise ValidationFailed(errors)
        return values
