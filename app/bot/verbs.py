"""What each card button does, by its Action.Execute verb. Modules that own a card
register its verbs here with @verb; the invoke handler looks the verb up, so a new
button never needs an edit to the dispatcher."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from microsoft_agents.hosting.core import TurnContext

# (turn, the Incident Desk user or None, the action's data) -> the invoke response value
Handler = Callable[[TurnContext, object, dict], Awaitable[dict]]
VERBS: dict[str, Handler] = {}


def verb(name: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        if name in VERBS and VERBS[name] is not handler:
            raise ValueError(f"Two handlers for the card verb {name!r}")
        VERBS[name] = handler
        return handler

    return register
