"""Request bodies report every problem at its field: none validates at model level, where pydantic can only
locate an error at the whole object (`body.events.0` instead of `body.events.0.value`)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError
from shelfwise.chat.schemas import ChatMessageRequest
from shelfwise.recommend.api_models import BehaviourEvent, EventBatch

REQUEST_BODIES = [EventBatch, BehaviourEvent, ChatMessageRequest]


@pytest.mark.parametrize("model", REQUEST_BODIES, ids=lambda model: model.__name__)
def test_request_bodies_validate_field_by_field(model: type[BaseModel]) -> None:
    assert not model.__pydantic_decorators__.model_validators, model.__name__


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({"event_type": "purchase"}, "purchase events need the line amount"),
        ({"event_type": "rating", "value": -1}, "rating events need the rating"),
        ({"event_type": "view", "value": 0}, "quantities must be > 0"),
    ],
)
def test_a_value_that_does_not_fit_the_event_is_reported_at_value(event: dict, message: str) -> None:
    base = {"user_id": "u1", "item_id": "i1", "timestamp": 1_700_000_000}
    with pytest.raises(ValidationError) as raised:
        EventBatch.model_validate({"events": [base | event]})
    [error] = raised.value.errors()
    assert error["loc"] == ("events", 0, "value") and message in error["msg"]


def test_an_invalid_event_type_is_reported_once_at_event_type_not_again_at_value() -> None:
    event = {"user_id": "u1", "item_id": "i1", "timestamp": 1_700_000_000, "event_type": "click"}
    with pytest.raises(ValidationError) as raised:
        EventBatch.model_validate({"events": [event]})
    assert [error["loc"] for error in raised.value.errors()] == [("events", 0, "event_type")]
