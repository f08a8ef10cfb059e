"""The bot's turns, by activity type, each handed to the module that owns it: messages to
the commands (commands.py); others are added beside them as the bot learns them."""

from __future__ import annotations

from microsoft_agents.hosting.core import ActivityHandler, TurnContext

from app.bot import commands


class IncidentDeskBot(ActivityHandler):
    async def on_message_activity(self, turn_context: TurnContext):
        await commands.answer(turn_context)
