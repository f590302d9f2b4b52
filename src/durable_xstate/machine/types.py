"""Static types for machines (xstate's ``types`` in ``setup``): context and event types that flow from
``setup(types=MachineTypes[Ctx, Ev]())`` to ``actor.get_snapshot().context`` and ``actor.send(...)``.

Only the type checker reads them: at run time nothing is checked and nothing costs anything. A machine
built without ``types`` is ``StateMachine[Any, Any]``: everything type-checks as before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic

if TYPE_CHECKING:
    from typing_extensions import TypeVar

    #: the machine's context type (default Any)
    TContext = TypeVar("TContext", default=Any)
    #: the machine's event type, e.g. a union of TypedDicts (default Any: an untyped ``Actor`` or
    #: ``StateMachine`` annotation accepts a typed one, and ``send`` checks events at run time as before)
    TEvent = TypeVar("TEvent", default=Any)
else:  # the defaults (PEP 696) matter only to the type checker; Python 3.11's TypeVar has none
    from typing import TypeVar

    TContext = TypeVar("TContext")
    TEvent = TypeVar("TEvent")

__all__ = ["MachineTypes", "TContext", "TEvent"]


class MachineTypes(Generic[TContext, TEvent]):
    """Declares a machine's types: ``setup(types=MachineTypes[Ctx, Ev]())`` or
    ``create_machine(config, types=MachineTypes[Ctx, Ev]())``.

    ``Ctx`` is the context (a TypedDict, a dataclass, ...), ``Ev`` the events the actor accepts, usually
    a union of TypedDicts each with a ``Literal`` ``type``::

        class Inc(TypedDict):
            type: Literal["INC"]
            by: int

        class Reset(TypedDict):
            type: Literal["RESET"]

        machine = setup(types=MachineTypes[Counter, Inc | Reset]()).create_machine(config)
        actor = create_actor(machine).start()
        actor.send({"type": "INC", "by": 2})   # checked; {"tipe": "INC"} is a type error
        actor.get_snapshot().context           # Counter
    """

    __slots__ = ()
