import json
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from durable_xstate.errors import LockTimeout

from .actors import order_actor
from .models import Order


def state(order: Order, snapshot: Any) -> JsonResponse:
    return JsonResponse({"order": order.pk, "state": snapshot.value, "context": snapshot.context})


@require_GET
def show(request: HttpRequest, pk: int) -> JsonResponse:
    order = get_object_or_404(Order, pk=pk)
    with order_actor(order, locking=None) as actor:  # no lease to read; saves only what changed (a due timer)
        return state(order, actor.get_snapshot())


@csrf_exempt  # a JSON API called by other services; keep CSRF for forms posted from your own pages
@require_POST
def send_event(request: HttpRequest, pk: int) -> JsonResponse:
    order = get_object_or_404(Order, pk=pk)
    try:
        event = json.loads(request.body)
    except json.JSONDecodeError:
        return JsonResponse({"error": "the body must be a JSON event"}, status=400)
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        return JsonResponse({"error": 'an event is an object with a "type"'}, status=400)
    try:
        with order_actor(order) as actor:
            actor.send(event)
            snapshot = actor.get_snapshot()
    except LockTimeout:
        return JsonResponse({"error": "the order is busy, try again"}, status=503, headers={"Retry-After": "1"})
    return state(order, snapshot)
