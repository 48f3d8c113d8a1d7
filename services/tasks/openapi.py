"""The OpenAPI 3.1 document of the tasks API, built from its pydantic models."""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import models_json_schema

from slolab.faults import ALLOWED, FaultUpdate
from slolab.services.tasks.schemas import (
    MAX_LIST_LIMIT,
    MAX_LIST_OFFSET,
    Error,
    Health,
    TaskCreate,
    TaskList,
    TaskPatch,
)

__all__ = ["openapi_document"]

_REF = "#/components/schemas/{model}"
_JSON = "application/json"

_REASONS = {
    400: "the body is not valid JSON",
    401: "missing or wrong bearer token",
    404: "no such task",
    405: "method not allowed",
    409: "true_priority differs from the ground truth already given (it is given once)",
    411: "a chunked body (under granian only bodies with a Content-Length are taken)",
    413: "the body is larger than the limit",
    415: "the body is not application/json",
    422: "a field is invalid (`field` names it)",
    500: "an injected fault (error_rate)",
    503: "the store is unavailable",
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF.format(model=name)}


def _json(schema: dict[str, Any], description: str, **extra: Any) -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": schema}}, **extra}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(code): _json(_ref("Error"), _REASONS[code]) for code in codes}


def _schemas() -> dict[str, Any]:
    _, top = models_json_schema(
        [
            (TaskCreate, "validation"),
            (TaskPatch, "validation"),
            (FaultUpdate, "validation"),
            (TaskList, "serialization"),
            (Error, "serialization"),
            (Health, "serialization"),
        ],
        ref_template=_REF,
    )
    schemas: dict[str, Any] = top["$defs"]
    # Optional PATCH fields are absent when unchanged, never null: drop the
    # "default": null pydantic writes for them.
    for prop in schemas["TaskPatch"]["properties"].values():
        if prop.get("default", ...) is None:
            del prop["default"]
    # FaultUpdate is shared by both services: publish only the faults tasks accepts.
    fault_props = schemas["FaultUpdate"]["properties"]
    for name in set(fault_props) - ALLOWED["tasks"] - {"expires_in_s"}:
        del fault_props[name]
    for prop in fault_props.values():
        prop.pop("default", None)
    schemas["FaultsView"] = {
        "type": "object",
        "properties": {
            "service": {"type": "string"},
            "faults": {"type": "object"},
            "expires_at": {"type": ["number", "null"]},
            "active": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["service", "faults", "active"],
    }
    return schemas


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


_TASK_ID = {
    "name": "task_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[0-9a-f]{24}$"},
    "description": "task id (ObjectId hex); anything else is answered 404",
}
_ADMIN_AUTH = [{"adminToken": []}]


def _admin() -> dict[str, Any]:
    common = {"tags": ["admin"], "security": _ADMIN_AUTH}
    view = {"200": _json(_ref("FaultsView"), "the faults now in force")}
    return {
        "get": {
            "operationId": "getFaults",
            "summary": "Show the injected faults",
            **common,
            "responses": {**view, **_errors(401, 404)},
        },
        "put": {
            "operationId": "setFaults",
            "summary": "Switch faults on or off (partial update)",
            **common,
            "requestBody": {"required": True, "content": {_JSON: {"schema": _ref("FaultUpdate")}}},
            "responses": {**view, **_errors(400, 401, 404, 411, 413, 422)},
        },
        "delete": {
            "operationId": "clearFaults",
            "summary": "Switch every fault off",
            **common,
            "responses": {**view, **_errors(401, 404)},
        },
    }


def openapi_document() -> dict[str, Any]:
    """Return the OpenAPI 3.1 description of every operation of the tasks service."""
    task = _ref("Task")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "slolab tasks",
            "version": "1.0.0",
            "description": "Task backend of slolab. Errors are JSON: "
            '{"error": "...", "field": "..."}.',
        },
        "paths": {
            "/api/tasks": {
                "get": {
                    "operationId": "listTasks",
                    "summary": "List tasks, newest first",
                    "tags": ["tasks"],
                    "parameters": [
                        _query(
                            "limit",
                            {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": MAX_LIST_LIMIT,
                                "default": 50,
                            },
                            "page size",
                        ),
                        _query(
                            "offset",
                            {
                                "type": "integer",
                                "minimum": 0,
                                "maximum": MAX_LIST_OFFSET,
                                "default": 0,
                            },
                            "tasks to skip",
                        ),
                        _query("done", {"type": "boolean"}, "only done (true) or open (false)"),
                    ],
                    "responses": {
                        "200": _json(_ref("TaskList"), "one page of tasks"),
                        **_errors(422, 500, 503),
                    },
                },
                "post": {
                    "operationId": "createTask",
                    "summary": "Create a task (its priority is estimated by the predictor)",
                    "tags": ["tasks"],
                    "requestBody": {
                        "required": True,
                        "content": {_JSON: {"schema": _ref("TaskCreate")}},
                    },
                    "responses": {
                        "201": _json(
                            task,
                            "the stored task; priority is null when the predictor "
                            "did not answer in time",
                            headers={
                                "Location": {
                                    "schema": {"type": "string"},
                                    "description": "URL of the new task",
                                }
                            },
                        ),
                        **_errors(400, 411, 413, 415, 422, 500, 503),
                    },
                },
            },
            "/api/tasks/{task_id}": {
                "parameters": [_TASK_ID],
                "get": {
                    "operationId": "getTask",
                    "summary": "Read a task",
                    "tags": ["tasks"],
                    "responses": {"200": _json(task, "the task"), **_errors(404, 500, 503)},
                },
                "patch": {
                    "operationId": "updateTask",
                    "summary": "Change a task; true_priority (given once) goes to the predictor",
                    "tags": ["tasks"],
                    "requestBody": {
                        "required": True,
                        "content": {_JSON: {"schema": _ref("TaskPatch")}},
                    },
                    "responses": {
                        "200": _json(task, "the changed task"),
                        **_errors(400, 401, 404, 409, 411, 413, 415, 422, 500, 503),
                    },
                },
                "delete": {
                    "operationId": "deleteTask",
                    "summary": "Delete a task",
                    "tags": ["tasks"],
                    "responses": {"204": {"description": "deleted"}, **_errors(404, 500, 503)},
                },
            },
            "/admin/faults": _admin(),
            "/healthz": {
                "get": {
                    "operationId": "healthz",
                    "summary": "Liveness (does not touch the store)",
                    "tags": ["operations"],
                    "responses": {"200": _json(_ref("Health"), "alive")},
                }
            },
            "/readyz": {
                "get": {
                    "operationId": "readyz",
                    "summary": "Readiness: the store answers",
                    "tags": ["operations"],
                    "responses": {
                        "200": _json(_ref("Health"), "ready"),
                        "503": _json(_ref("Health"), "the store is unavailable"),
                    },
                }
            },
            "/metrics": {
                "get": {
                    "operationId": "metrics",
                    "summary": "Prometheus metrics",
                    "tags": ["operations"],
                    "responses": {
                        "200": {
                            "description": "Prometheus text or OpenMetrics exposition",
                            "content": {
                                "text/plain": {"schema": {"type": "string"}},
                                "application/openmetrics-text": {"schema": {"type": "string"}},
                            },
                        }
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document",
                    "tags": ["operations"],
                    "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1 document")},
                }
            },
        },
        "components": {
            "schemas": _schemas(),
            "securitySchemes": {
                "adminToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "SLOLAB_ADMIN_TOKEN; the admin surface answers 404 "
                    "when it is unset",
                }
            },
        },
    }
