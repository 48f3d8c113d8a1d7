"""Request and response models of the predictor API (the source of its OpenAPI document)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

__all__ = [
    "Error",
    "FaultsView",
    "Features",
    "Feedback",
    "FeedbackResult",
    "Health",
    "ModelInfo",
    "Prediction",
    "RetrainRequest",
]

Label = Literal["low", "medium", "high"]
PREDICTION_ID = r"^[0-9a-f]{32}$"


def _integral(value: Any) -> Any:
    # JSON has one number type: 116.0 is the integer 116 (JSON Schema agrees); 2.5 is not.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Integer = Annotated[int, BeforeValidator(_integral)]

# Strict: JSON types must match (no "5" for 5, no true for 1), unknown fields are
# refused, NaN/Infinity are refused.
_INPUT = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False)


class Features(BaseModel):
    """Body of ``POST /predict``: what the model knows about a task."""

    model_config = _INPUT

    title_length: Integer = Field(ge=1, le=500, description="characters in the title")
    urgent_words: Integer = Field(ge=0, le=50, description='words like "urgent", "asap", "fix"')
    due_in_days: float = Field(ge=0, le=3650, description="days until the task is due")
    estimated_hours: float = Field(ge=0, le=1000, description="estimated effort in hours")

    def row(self) -> tuple[float, float, float, float]:
        return (self.title_length, self.urgent_words, self.due_in_days, self.estimated_hours)


class Prediction(BaseModel):
    prediction_id: str = Field(pattern=PREDICTION_ID, description="quote it in /feedback")
    label: Label
    probability: float = Field(ge=0, le=1, description="the model's probability of label")
    model_version: str


class Feedback(BaseModel):
    """Body of ``POST /feedback``: the true label of an earlier prediction."""

    model_config = _INPUT

    prediction_id: str = Field(pattern=PREDICTION_ID, description="from the /predict answer")
    true_label: Label


class FeedbackResult(BaseModel):
    correct: bool = Field(description="whether the prediction had the true label")
    duplicate: bool = Field(
        False, description="true when this feedback had already been recorded (not counted again)"
    )


class ModelInfo(BaseModel):
    version: str = Field(description="hash of the fitted parameters: same data, same version")
    trained_at: float = Field(description="unix time of the training that produced this model")
    accuracy: float = Field(ge=0, le=1, description="accuracy on held-out generated data")
    n_train: int = Field(description="training examples, feedback included")
    n_feedback: int = Field(description="feedback examples among them")
    seed: int
    train_seconds: float
    labels: list[Label]
    features: list[str]


class RetrainRequest(BaseModel):
    """Body of ``POST /model/retrain`` (optional)."""

    model_config = _INPUT

    seed: Annotated[int, Field(ge=0, le=2**32 - 1), BeforeValidator(_integral)] | None = Field(
        None, description="data seed (default: the current model's)"
    )
    include_feedback: bool = Field(
        True, description="train on the ground truth received so far as well"
    )


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    model_version: str | None = None


class Error(BaseModel):
    error: str = Field(description="what went wrong, naming the field when there is one")
    field: str | None = None


class FaultsView(BaseModel):
    """What ``/admin/faults`` answers: the faults of this service."""

    service: str
    faults: dict[str, float | int | bool | None]
    expires_at: float | None
    active: list[str]
