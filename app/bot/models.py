"""Where the Incident Desk Teams app is installed: the teams whose channels the bot may
post in, learnt from the activities Teams sends when the app is added to or removed from
a team (installationUpdate, conversationUpdate for the bot itself)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from app.core import clock
from app.db import Base, UTCDateTime


class BotInstallation(Base):
    __tablename__ = "bot_installations"

    # The team's Graph id (its Microsoft 365 group: channelData.team.aadGroupId), what
    # Incident Desk's settings and channels name a team by.
    team_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    # Teams' own id for the team (channelData.team.id, "19:...@thread.tacv2").
    thread_id: Mapped[str] = mapped_column(String(200), default="")
    tenant_id: Mapped[str] = mapped_column(String(100))
    # Where the Bot Connector answers for this team (the activity's serviceUrl).
    service_url: Mapped[str] = mapped_column(String(500))
    installed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=clock.now)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Why it was last marked removed: "uninstalled" (Teams said so) or "not_in_roster" (the
    # connector refused a post: the bot is no longer in the team).
    removed_because: Mapped[str | None] = mapped_column(String(40))

    @property
    def active(self) -> bool:
        return self.removed_at is None
