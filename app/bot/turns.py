"""The bot's turns, by activity type, each handed to the module that owns it: messages to
the commands (commands.py); others are added beside them as the bot learns them."""

from __future__ import annotations

from microsoft_agents.activity import InvokeResponse
from microsoft_agents.hosting.core import ActivityHandler, TurnContext

from app import db
from app.bot import card_actions, commands, installations, message_actions, teams_people


class IncidentDeskBot(ActivityHandler):
    async def on_turn(self, turn_context: TurnContext):
        teams_people.remember(db.Session, turn_context.activity)  # before anything else
        await super().on_turn(turn_context)

    async def on_message_activity(self, turn_context: TurnContext):
        await commands.answer(turn_context)

    async def on_invoke_activity(self, turn_context: TurnContext):
        """A card's button (adaptiveCard/action, the update form's too): card_actions.py;
        a message action's dialog (composeExtension/fetchTask, submitAction):
        message_actions.py; any other invoke as the SDK answers it."""
        if turn_context.activity.name == "adaptiveCard/action":
            return InvokeResponse(status=200, body=await card_actions.answer(turn_context))
        if turn_context.activity.name in message_actions.INVOKES:  # a message's More actions
            status, body = await message_actions.answer(turn_context)
            return InvokeResponse(status=status, body=body)
        return await super().on_invoke_activity(turn_context)

    # The app added to or removed from a team (app/bot/installations.py): where the bot
    # may post (app/bot/outbound.py).
    async def on_installation_update_add(self, turn_context: TurnContext):
        installations.added(db.Session, turn_context.activity)

    async def on_installation_update_remove(self, turn_context: TurnContext):
        installations.removed(db.Session, turn_context.activity)

    async def on_members_added_activity(self, members_added, turn_context: TurnContext):
        activity = turn_context.activity
        if installations.event_type(activity) == "teamMemberAdded" and \
                installations.names_the_bot(members_added, activity):
            installations.added(db.Session, activity)

    async def on_members_removed_activity(self, members_removed, turn_context: TurnContext):
        activity = turn_context.activity
        if installations.event_type(activity) == "teamMemberRemoved" and \
                installations.names_the_bot(members_removed, activity):
            installations.removed(db.Session, activity)
