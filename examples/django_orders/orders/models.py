import uuid

from django.db import models


def new_actor_id() -> str:
    return f"order-{uuid.uuid4()}"


class Order(models.Model):
    """An order row; its state machine is the durable actor named by ``actor_id``."""

    customer = models.CharField(max_length=200)
    actor_id = models.CharField(max_length=100, unique=True, default=new_actor_id, editable=False)
    created = models.DateTimeField(auto_now_add=True)
