"""Request parameters: declared once, validated all at once, described in the OpenAPI document.

A :class:`Param` says where a value comes from (header, query, path), its type and default, and
its OpenAPI schema. :func:`parse` validates every parameter of an operation together and raises
one :class:`ValidationFailed` naming every problem, with FastAPI's ``loc`` shape
(``["query", "limit"]``) that generated clients expect.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ValidationError, create_model

from core.errors import ValidationFailed

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
                "title": self.name.replace("-", " ").title().replace(" ", " "),
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
    _model: type[BaseModel] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        fields: dict[str, Any] = {
            _field(p): (p.annotation, p.default if not p.required else ...) for p in self.params
        }
        object.__setattr__(self, "_model", create_model("Params", **fields))

    def parse(
        self,
        headers: Mapping[str, str],
        query: Mapping[str, str],
        path: Mapping[str, str],
    ) -> dict[str, Any]:
        """Validated values keyed by parameter name, or ValidationFailed listing every problem."""
        sources: dict[str, Mapping[str, str]] = {"header": headers, "query": query, "path": path}
        raw: dict[str, Any] = {}
        for p in self.params:
            value = sources[p.location].get(p.name)
            if value is not None:
                raw[_field(p)] = value
        errors: list[dict[str, Any]] = []
        values: dict[str, Any] = {}
        try:
            model = self._model.model_validate(raw)
            values = {p.name: getattr(model, _field(p)) for p in self.params}
        except ValidationError as exc:
            by_field = {_field(p): p for p in self.params}
            for err in exc.errors(include_url=False, include_input=False):
                p = by_field[str(err["loc"][0])]
                errors.append(
                    {
                        "loc": [p.location, p.name, *err["loc"][1:]],
                        "msg": err["msg"],
                        "type": err["type"],
                    }
                )
        if not errors:
            by_name = {p.name: p for p in self.params}
            for check in self.checks:
                for name, msg in check(values):
                    p = by_name[name]
                    errors.append({"loc": [p.location, p.name], "msg": msg, "type": "value_error"})
        if errors:
            raise ValidationFailed(errors)
        return values


def _field(p: Param) -> str:
    return p.name.replace("-", "_")


def as_utc(value: datetime) -> datetime:
    """Aware datetimes are converted to UTC; naive ones are taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
