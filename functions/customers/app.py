"""`GET /v1/customers/{user_id}/data`: the right of access — everything held about one customer.

Operations credential with the read scope. The work is `shelfwise.privacy.access`: the id is pseudonymized
with the platform's key and every store is searched for the pseudonym; the answer names the customer by the id
given and never shows the pseudonym. An id nothing is held about gets the same shape with empty sections.
"""

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from shelfwise.api.access import require_scope
from shelfwise.api.customer_path import CustomerIdPath, customer_id_in_path
from shelfwise.api.http import create_resolver
from shelfwise.auth import READ_SCOPE
from shelfwise.privacy.access import AccessTargets, CustomerData, CustomerDataFinder
from shelfwise.privacy.identities import CustomerIdVault
from shelfwise.privacy.pseudonyms import pseudonymizer_from_env
from shelfwise.settings import Settings

logger, tracer, metrics = Logger(), Tracer(), Metrics()
app = create_resolver()


@cache
def _finder() -> CustomerDataFinder:
    settings = Settings.from_env()
    return CustomerDataFinder(
        targets=AccessTargets(
            data_bucket=settings.data_bucket,
            user_activity_table=settings.user_activity_table,
            segments_table=settings.segments_table,
            chat_sessions_table=settings.chat_sessions_table,
            models_table=settings.models_table,
            customer_ids_table=CustomerIdVault.from_env().table_name,
        ),
        pseudonym=lambda customer_id: pseudonymizer_from_env()().pseudonym(customer_id),
    )


@app.get(
    "/v1/customers/<user_id>/data",
    tags=["privacy"],
    summary="Everything held about a customer (right of access)",
    description="The customer's recent activity, RFM segment, chat sessions (the stored, redacted state), "
    "the curated interactions files that hold rows of theirs and the recommender versions trained on them, "
    "and whether the retailer's id is kept for the CRM export. A customer nothing is held about gets the "
    "same answer with every section empty. Raw files under incoming/, rejection reports and CRM exports are "
    "the retailer's own files and are not searched (docs/privacy.md).",
)
# The answer is one customer's data: kept out of traces like out of logs.
@tracer.capture_method(capture_response=False)
def get_customer_data(
    user_id: CustomerIdPath,
) -> CustomerData:
    require_scope(app, READ_SCOPE)
    decoded = customer_id_in_path(app, user_id)
    data = _finder().find(decoded)
    # Counts only: what was found, never whose.
    logger.info(
        "customer data assembled",
        extra={
            "activity_events": len(data.activity.events),
            "segment": data.segment is not None,
            "chat_sessions": len(data.chat_sessions),
            "curated_files": len(data.curated_files),
            "model_versions": len(data.model_versions),
        },
    )
    metrics.add_metric(name="CustomerDataServed", unit=MetricUnit.Count, value=1)
    return data


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
