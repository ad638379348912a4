"""POST /api/v1/usage/records: a JSON batch of up to 1,000 usage records, bearer-token auth."""

import json
import logging

from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from usage import ingest
from usage.models import UsageRecord
from usage.services import ingest_token_authenticate

log = logging.getLogger(__name__)
MAX_BATCH = 1000


def _error(status: int, message: str, **headers: str) -> JsonResponse:
    response = JsonResponse({"error": message}, status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


@csrf_exempt  # a machine client with a bearer token, not a browser session
@require_POST
def usage_records(request: HttpRequest) -> JsonResponse:
    try:
        token = ingest_token_authenticate(request.headers.get("Authorization", ""))
    except (OperationalError, InterfaceError):
        return _error(
            503, "The database is unavailable: retry with the same keys.", Retry_After="5"
        )
    if token is None:
        return _error(401, "A valid bearer token is required.", WWW_Authenticate="Bearer")
    try:
        body = request.body
    except RequestDataTooBig:
        return _error(413, f"The body is too large: send at most {MAX_BATCH} records a batch.")
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        return _error(400, f"The body is not valid JSON: {error}.")
    records = payload.get("records") if isinstance(payload, dict) else payload
    if not isinstance(records, list):
        return _error(400, 'Send {"records": [...]} or a JSON array of records.')
    if len(records) > MAX_BATCH:
        return _error(413, f"{len(records)} records: a batch holds at most {MAX_BATCH}.")
    try:
        result = ingest.ingest(records, source=UsageRecord.Source.API)
    except (OperationalError, InterfaceError):
        log.warning("usage batch from %s refused: database unavailable", token)
        # Nothing of the batch was kept (one transaction): the same keys can simply be resent.
        return _error(
            503, "The database is unavailable: retry with the same keys.", Retry_After="5"
        )
    except DatabaseError:
        log.exception("usage batch from %s failed", token)
        return _error(500, "The batch could not be stored; nothing of it was kept.")
    log.info(
        "usage batch from %s: %s accepted, %s duplicates, %s rejected",
        token,
        result.accepted,
        result.duplicates,
        len(result.rejected),
    )
    return JsonResponse(result.as_json())
