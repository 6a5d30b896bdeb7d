"""The route table of the web app and the OpenAPI document built from it, with a docs page.

Every route is an `Operation`: the app registers its routes from the table and the document
describes the same table, so no route can be served without being described. Bodies and
answers are pydantic models; their JSON schemas (made OpenAPI 3.0 compatible: `nullable`)
go under `components`. The docs page is Swagger UI, served from the `swagger-ui-bundle`
package (no CDN).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import (
    Any,
    Awaitable,
    Callable,
    Dict,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Type,
    Union,
)

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue, models_json_schema
from pydantic_core import core_schema

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# An answer's body: a model, a media type (binary), several media types, or a JSON schema.
Answer = Union[Type[BaseModel], str, Tuple[str, ...], Dict[str, Any], None]
_PARAMETER = re.compile(r"{(\w+)}")

# Who may call a route: anyone; the admin token; an API key when keys are set (speech);
# the admin token or an API key (changes through /v1).
AUTH_NONE, AUTH_ADMIN, AUTH_SPEECH, AUTH_KEY = "none", "admin", "speech", "key"


@dataclass(frozen=True)
class Operation:
    """One route: what it takes, what it answers, and who may call it."""

    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    body: Optional[Type[BaseModel]] = None
    form: bool = False  # the body may also be a multipart form (files as binary fields)
    body_required: bool = True
    responses: Mapping[int, Answer] = field(default_factory=dict)
    auth: str = AUTH_NONE
    description: str = ""


class _OpenApi30(GenerateJsonSchema):
    """Pydantic's JSON schema, with `nullable` instead of a `null` type (OpenAPI 3.0)."""

    def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
        inner = self.generate_inner(schema["schema"])
        if "$ref" in inner:
            return {"allOf": [inner], "nullable": True}
        return {**inner, "nullable": True}


def openapi_document(
    operations: Sequence[Operation], title: str, version: str, errors: Mapping[str, Answer]
) -> Dict[str, Any]:
    """The OpenAPI 3.0 document of `operations`; `errors` maps a path prefix to the model of
    its error answers (added as the `default` response)."""
    models = _models(operations, errors)
    refs, definitions = models_json_schema(
        [(model, "validation") for model in models],
        ref_template="#/components/schemas/{model}",
        schema_generator=_OpenApi30,
    )
    schema_of = {model: refs[(model, "validation")] for model in models}
    paths: Dict[str, Dict[str, Any]] = {}
    for operation in operations:
        error = next(
            (answer for prefix, answer in errors.items() if operation.path.startswith(prefix)), None
        )
        paths.setdefault(operation.path, {})[operation.method.lower()] = _operation(
            operation, schema_of, error
        )
    return {
        "openapi": "3.0.3",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "an API key (--api-key) or the admin token",
                },
                "adminToken": {"type": "apiKey", "in": "header", "name": "X-Admin-Token"},
            },
        },
    }


def _models(operations: Sequence[Operation], errors: Mapping[str, Answer]) -> List[Type[BaseModel]]:
    found: List[Type[BaseModel]] = []
    answers = [answer for op in operations for answer in op.responses.values()]
    for candidate in [op.body for op in operations] + answers + list(errors.values()):
        if isinstance(candidate, type) and candidate not in found:
            found.append(candidate)
    return found


def _content(answer: Answer, schema_of: Mapping[Any, Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    if answer is None:
        return None
    if isinstance(answer, (str, tuple)):  # media types: binary content
        binary = {"schema": {"type": "string", "format": "binary"}}
        return {media: binary for media in ((answer,) if isinstance(answer, str) else answer)}
    if isinstance(answer, dict):
        return {"application/json": {"schema": answer}}
    return {"application/json": {"schema": schema_of[answer]}}


def _operation(
    operation: Operation, schema_of: Mapping[Any, Dict[str, Any]], error: Answer
) -> Dict[str, Any]:
    described: Dict[str, Any] = {
        "summary": operation.summary,
        "tags": [operation.tag],
        "operationId": f"{operation.method.lower()}_{operation.handler.__name__}",
    }
    if operation.description:
        described["description"] = operation.description
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PARAMETER.findall(operation.path)
    ]
    if parameters:
        described["parameters"] = parameters
    if operation.body is not None:
        schema = schema_of[operation.body]
        content = {"application/json": {"schema": schema}}
        if operation.form:
            content["multipart/form-data"] = {"schema": schema}
        described["requestBody"] = {"required": operation.body_required, "content": content}
    responses: Dict[str, Any] = {}
    for status, answer in operation.responses.items():
        response: Dict[str, Any] = {"description": _REASONS.get(status, "answer")}
        media = _content(answer, schema_of)
        if media:
            response["content"] = media
        responses[str(status)] = response
    if error is not None:
        responses["default"] = {"description": "an error", "content": _content(error, schema_of)}
    described["responses"] = responses
    security = _SECURITY.get(operation.auth)
    if security is not None:
        described["security"] = security
    return described


_REASONS = {200: "OK", 201: "Created"}
_SECURITY: Dict[str, List[Dict[str, List[str]]]] = {
    AUTH_ADMIN: [{"adminToken": []}, {"bearer": []}],
    AUTH_KEY: [{"bearer": []}, {"adminToken": []}],
    AUTH_SPEECH: [{}, {"bearer": []}],  # open unless the server has API keys
}


DOCS_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{title} API</title>
  <link rel="stylesheet" href="{prefix}/docs/static/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{prefix}/docs/static/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({{url: "{prefix}/openapi.json", dom_id: "#swagger-ui"}});
  </script>
</body>
</html>
"""


def swagger_ui_folder() -> Optional[str]:
    """Where Swagger UI's files are (the `swagger-ui-bundle` package), if installed."""
    try:
        import swagger_ui_bundle
    except ImportError:
        return None
    return str(swagger_ui_bundle.swagger_ui_path)
