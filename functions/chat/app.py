"""`POST /v1/chat/messages`: chat triage — intent, sentiment, templated reply, escalation, PII redaction.

The model in service is the promoted `chat` version from the model registry, swapped in without a redeploy;
until one is promoted, the default model shipped beside this file answers. Raw message text is never logged,
stored or published: logs carry the outcome and the message length only.
"""

from functools import cache
from pathlib import Path
from typing import Annotated, Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from shelfwise.api.access import caller
from shelfwise.api.http import create_resolver, error_response
from shelfwise.api.models import ErrorDetail, ErrorResponse
from shelfwise.chat.events import eventbridge_publisher
from shelfwise.chat.model import ChatModel
from shelfwise.chat.schemas import ChatMessageRequest, ChatMessageResponse
from shelfwise.chat.service import (
    ChatOutcome,
    ChatRequest,
    ChatService,
    EscalationNotPublished,
    MessageIdReused,
    SessionBusy,
    SessionForbidden,
)
from shelfwise.chat.sessions import DynamoSessionStore, session_owner
from shelfwise.chat.validation import ChatInputError
from shelfwise.model_serving import ModelStore
from shelfwise.privacy.pseudonyms import pseudonymizer_from_env
from shelfwise.settings import Settings

logger, tracer, metrics = Logger(), Tracer(), Metrics()
app = create_resolver()

DEFAULT_MODEL_DIR = Path(__file__).parent / "default_model"
ROUTE = "/v1/chat/messages"

model_store: ModelStore[ChatModel] = ModelStore(
    "chat",
    ChatModel.load,
    models_table=lambda: Settings.from_env().models_table,
    fallback=lambda: ChatModel.load(DEFAULT_MODEL_DIR),
    fallback_version="default",
)


def _model_in_service() -> ChatModel:
    served = model_store.current()
    assert served is not None, "the chat store always has the shipped default as fallback"
    return served.model


@cache
def _service(sessions_table: str, event_bus: str) -> ChatService:
    return ChatService(
        model=_model_in_service,
        sessions=DynamoSessionStore(sessions_table),
        publish=eventbridge_publisher(event_bus),
    )


@app.post(
    ROUTE,
    tags=["chat"],
    summary="Triage one customer chat message",
    description="Classifies the message (intent, sentiment), redacts personal data, extracts slots (order "
    "number, e-mail, amount ...), fills the intent's reply template and decides whether a person should take "
    "over, with a priority and the reasons. Conversation state is kept per `session_id` for 24 hours. Each "
    "escalation is published once to the event bus as `ChatEscalated` (again only when its priority rises). "
    "Limits: `text` 1-5,000 characters, UTF-8, no control characters; the body must be JSON. A 409 "
    "`session_busy` (with `Retry-After`) or 503 `escalation_not_published` answer can be retried with the "
    "same request; a 409 `message_id_reused` cannot. A session started by another caller is a 403.",
    # Declaring any response replaces Powertools' default 200, so the success model is named here too.
    responses={
        200: {
            "description": "The triage of the message.",
            "content": {"application/json": {"model": ChatMessageResponse}},
        },
        409: {
            "description": "`session_busy`: the session changed under this message too often; retry. "
            "`message_id_reused`: the message_id was used for another text.",
            "content": {"application/json": {"model": ErrorResponse}},
        },
        503: {
            "description": "Answer stored, escalation event not yet published; retry the same request.",
            "content": {"application/json": {"model": ErrorResponse}},
        },
    },
)
@tracer.capture_method(capture_response=False)
def post_message(body: Annotated[ChatMessageRequest, Body()]) -> ChatMessageResponse:
    settings = Settings.from_env()
    service = _service(settings.chat_sessions_table, settings.event_bus)
    principal = caller(app)
    request = ChatRequest(
        text=body.text,
        # A customer's sessions are kept under their pseudonym, like the rest of their data.
        owner=session_owner(principal.kind, principal.subject, pseudonymizer_from_env()().pseudonym),
        session_id=body.session_id,
        message_id=body.message_id,
    )
    try:
        outcome = service.handle(request)
    except ChatInputError as error:
        metrics.add_metric(name="ChatMessageRejected", unit=MetricUnit.Count, value=1)
        raise RequestValidationError(
            [{"loc": ("body", error.field), "msg": error.message, "type": "value_error"}]
        ) from None
    _record(outcome, len(body.text))
    return ChatMessageResponse.model_validate(outcome.response)


def _record(outcome: ChatOutcome, text_chars: int) -> None:
    response = outcome.response
    # Only the outcome: never the text, the redacted text or the reply (slots may echo order numbers).
    logger.info(
        "chat message triaged",
        extra={
            "session_id": response["session_id"],
            "text_chars": text_chars,
            "intent": response["intent"],
            "confidence": response["confidence"],
            "sentiment": response["sentiment"]["label"],
            "escalate": response["escalate"],
            "priority": response["priority"],
            "reasons": response["reasons"],
            "model_version": response["model_version"],
            "new_session": outcome.new_session,
            "replayed": outcome.replayed,
            "escalation_published": outcome.published,
        },
    )
    metrics.add_metric(name="ChatMessages", unit=MetricUnit.Count, value=1)
    if outcome.replayed:
        metrics.add_metric(name="ChatRetriesReplayed", unit=MetricUnit.Count, value=1)
    if response["escalate"]:
        metrics.add_metric(name="ChatEscalations", unit=MetricUnit.Count, value=1)
    if outcome.published:
        metrics.add_metric(
            name=f"ChatEscalationsPublished{response['priority']}", unit=MetricUnit.Count, value=1
        )


@app.exception_handler(SessionBusy)
def _session_busy(_: SessionBusy) -> Any:
    return error_response(
        409,
        "session_busy",
        "Other messages of this session were being processed at the same time; send the message again "
        "(with its message_id, so it is never counted twice).",
        [ErrorDetail(field="body.session_id", message="session is busy")],
        request_id=app.request_id(),
        headers={"Retry-After": "1"},
    )


@app.exception_handler(MessageIdReused)
def _message_id_reused(_: MessageIdReused) -> Any:
    return error_response(
        409,
        "message_id_reused",
        "This message_id was already used for another text in this session; give each message its own id.",
        [ErrorDetail(field="body.message_id", message="already used for another text")],
        request_id=app.request_id(),
    )


@app.exception_handler(SessionForbidden)
def _session_forbidden(_: SessionForbidden) -> Any:
    metrics.add_metric(name="ChatSessionForbidden", unit=MetricUnit.Count, value=1)
    return error_response(
        403,
        "forbidden",
        "This conversation belongs to another customer; start a new one (omit session_id).",
        [ErrorDetail(field="body.session_id", message="not your session")],
        request_id=app.request_id(),
    )


@app.exception_handler(EscalationNotPublished)
def _escalation_not_published(_: EscalationNotPublished) -> Any:
    logger.error("escalation event could not be published; a retry of the request publishes it")
    metrics.add_metric(name="ChatEscalationPublishFailed", unit=MetricUnit.Count, value=1)
    return error_response(
        503,
        "escalation_not_published",
        "The message was handled but its escalation could not be handed to the CRM yet; send the same "
        "request again.",
        request_id=app.request_id(),
    )


# log_event stays off whatever the environment says: the event body holds the customer's raw text.
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    response = app.resolve(event, context)
    if 400 <= response["statusCode"] < 500:
        metrics.add_metric(name="ChatRequestRejected", unit=MetricUnit.Count, value=1)
    return response
