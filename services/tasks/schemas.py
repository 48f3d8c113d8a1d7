"""Request and response models of the tasks API (the source of its OpenAPI document)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "MAX_LIST_LIMIT",
    "MAX_TITLE_LENGTH",
    "Error",
    "Health",
    "Priority",
    "Task",
    "TaskCreate",
    "TaskList",
    "TaskPatch",
]

MAX_TITLE_LENGTH = 200
MAX_LIST_LIMIT = 100
MAX_LIST_OFFSET = 1_000_000
DEFAULT_DUE_IN_DAYS = 7.0
DEFAULT_ESTIMATED_HOURS = 1.0

Priority = Literal["low", "medium", "high"]
Title = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_TITLE_LENGTH,
        # Not whitespace alone (\x1c-\x1f count as whitespace for str.strip()).
        pattern=r"[^\s\x1c-\x1f]",
        description="what to do (surrounding whitespace is removed before storing)",
    ),
    AfterValidator(str.strip),
]
DueInDays = Annotated[float, Field(ge=0, le=3650, description="days until the task is due")]
EstimatedHours = Annotated[float, Field(gt=0, le=1000, description="estimated effort in hours")]

# Strict: JSON types must match (no "5" for 5, no "yes" for true), unknown fields
# are refused, NaN/Infinity are refused.
# Lengths are checked before stripping, so the published schema is exact.
_INPUT = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)


class TaskCreate(BaseModel):
    """Body of ``POST /api/tasks``."""

    model_config = _INPUT

    title: Title
    due_in_days: DueInDays = DEFAULT_DUE_IN_DAYS
    estimated_hours: EstimatedHours = DEFAULT_ESTIMATED_HOURS


class TaskPatch(BaseModel):
    """Body of ``PATCH /api/tasks/<task_id>``: only the fields given change."""

    model_config = ConfigDict(**_INPUT, json_schema_extra={"minProperties": 1})

    # Absent means "unchanged"; null is refused (the defaults are never validated).
    title: Title = None  # type: ignore[assignment]
    done: bool = None  # type: ignore[assignment]
    true_priority: Priority = Field(
        None,  # type: ignore[arg-type]
        description="the real priority, forwarded to the predictor as ground truth",
    )

    @model_validator(mode="after")
    def _not_empty(self) -> TaskPatch:
        if not self.model_fields_set:
            raise ValueError("give at least one of title, done, true_priority")
        return self

    def changes(self) -> dict[str, object]:
        return self.model_dump(include=self.model_fields_set)


class Task(BaseModel):
    """A stored task."""

    id: str = Field(pattern=r"^[0-9a-f]{24}$")
    title: str
    done: bool
    created_at: datetime
    updated_at: datetime
    priority: Priority | None = Field(description="the predictor's estimate, null if unavailable")
    prediction_id: str | None
    true_priority: Priority | None = None
    due_in_days: float
    estimated_hours: float


class TaskList(BaseModel):
    """A page of tasks, newest first."""

    items: list[Task]
    total: int = Field(ge=0, description="tasks matching the filter, over all pages")
    limit: int
    offset: int


class Error(BaseModel):
    """Every error answer."""

    error: str
    field: str | None = Field(None, description="the input field at fault, when there is one")


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    store: str | None = None
    error: str | None = None
