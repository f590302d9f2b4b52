"""Packaged example machines (used by ``durable-xstate demo`` and the tests).

``durable_xstate.examples.order:machine`` is an order-fulfilment machine whose config is plain JSON
(``ORDER_CONFIG``) and whose actions, guards and delays are Python (``implementations``).
"""
