"""What Microsoft's API reference lists as the permissions for each call the sandbox
serves, delegated and application, least privileged first; any one of them suffices.

This is the sandbox's own reading of Microsoft's pages (the `doc` beside each), never the
app's wishes: graph/permissions.py is what Incident Desk asks for, and the two meet only
in tests.
"""

from __future__ import annotations

from graph.sandbox.auth import Requirement, requires

__all__ = ["requires"]  # routes mark themselves with permissions.requires(...)

API = "https://learn.microsoft.com/graph/api"
_SITES_READ = ("Sites.Selected", "Sites.Read.All", "Sites.ReadWrite.All", "Sites.Manage.All",
               "Sites.FullControl.All")
_FILES_READ = ("Files.Read.All", "Files.ReadWrite.All", *_SITES_READ)
_FILES_WRITE = ("Sites.Selected", "Files.ReadWrite.All", "Sites.ReadWrite.All",
                "Sites.Manage.All", "Sites.FullControl.All")
_TEAM_READ = ("Team.ReadBasic.All", "TeamSettings.Read.All", "TeamSettings.ReadWrite.All",
              "Group.Read.All", "Group.ReadWrite.All", "Directory.Read.All",
              "Directory.ReadWrite.All")
_CHANNEL_READ = ("Channel.ReadBasic.All", "ChannelSettings.Read.All",
                 "ChannelSettings.ReadWrite.All", "Group.Read.All", "Group.ReadWrite.All",
                 "Directory.Read.All", "Directory.ReadWrite.All")

GET_TEAM = Requirement(_TEAM_READ, _TEAM_READ, f"{API}/team-get")
LIST_CHANNELS = Requirement(_CHANNEL_READ, _CHANNEL_READ, f"{API}/channel-list")
GET_CHANNEL = Requirement(_CHANNEL_READ, _CHANNEL_READ, f"{API}/channel-get")
CREATE_CHANNEL = Requirement(
    ("Channel.Create", "Directory.ReadWrite.All", "Group.ReadWrite.All"),
    ("Channel.Create", "Teamwork.Migrate.All", "Directory.ReadWrite.All",
     "Group.ReadWrite.All"), f"{API}/channel-post")
# Application permission only for importing messages ("migration"): see routes_teams.
POST_MESSAGE = Requirement(("ChannelMessage.Send", "Group.ReadWrite.All"),
                           ("Teamwork.Migrate.All",), f"{API}/channel-post-messages")
POST_REPLY = Requirement(("ChannelMessage.Send", "Group.ReadWrite.All"),
                         ("Teamwork.Migrate.All",), f"{API}/chatmessage-post-replies")
# Application: ChannelMessage.Read.Group is resource-specific consent, held only in a team
# the Teams app is installed in (graph/sandbox/teams_apps.py), never in a token.
READ_MESSAGES = Requirement(("ChannelMessage.Read.All",), ("ChannelMessage.Read.All",),
                            f"{API}/channel-list-messages",
                            resource_specific=("ChannelMessage.Read.Group",))
READ_REPLIES = Requirement(("ChannelMessage.Read.All",), ("ChannelMessage.Read.All",),
                           f"{API}/chatmessage-list-replies",
                           resource_specific=("ChannelMessage.Read.Group",))
LIST_TEAM_MEMBERS = Requirement(
    ("TeamMember.Read.All", "TeamMember.ReadWrite.All"),
    ("TeamMember.Read.Group", "TeamMember.Read.All", "TeamMember.ReadWrite.All"),
    f"{API}/team-list-members")
ADD_TEAM_MEMBER = Requirement(("TeamMember.ReadWrite.All",), ("TeamMember.ReadWrite.All",),
                              f"{API}/team-post-members")
LIST_CHANNEL_MEMBERS = Requirement(
    ("ChannelMember.Read.All", "ChannelMember.ReadWrite.All"),
    ("ChannelMember.Read.All", "ChannelMember.ReadWrite.All"),
    f"{API}/channel-list-members")
ADD_CHANNEL_MEMBER = Requirement(("ChannelMember.ReadWrite.All",),
                                 ("ChannelMember.ReadWrite.All",),
                                 f"{API}/channel-post-members")
# Application: ChannelMember.ReadWrite.Group is resource-specific consent, least privileged.
REMOVE_CHANNEL_MEMBER = Requirement(("ChannelMember.ReadWrite.All",),
                                    ("ChannelMember.ReadWrite.Group",
                                     "ChannelMember.ReadWrite.All"),
                                    f"{API}/channel-delete-members")
GET_ME = Requirement(("User.Read", "User.ReadWrite", "User.ReadBasic.All", "User.Read.All",
                      "Directory.Read.All"), (), f"{API}/user-get")
SEND_MAIL = Requirement(("Mail.Send",), ("Mail.Send",), f"{API}/user-sendmail", mail=True)
CREATE_DRAFT = Requirement(("Mail.ReadWrite",), ("Mail.ReadWrite",),
                           f"{API}/user-post-messages", mail=True)
SEND_DRAFT = Requirement(("Mail.Send",), ("Mail.Send",), f"{API}/message-send", mail=True)
LIST_FOLDER_MESSAGES = Requirement(("Mail.ReadBasic", "Mail.Read", "Mail.ReadWrite"),
                                   ("Mail.ReadBasic.All", "Mail.Read", "Mail.ReadWrite"),
                                   f"{API}/mailfolder-list-messages", mail=True)
# A $filter on extended properties: Mail.ReadBasic excludes them (permissions-reference).
READ_EXTENDED_PROPERTIES = Requirement(("Mail.Read", "Mail.ReadWrite"),
                                       ("Mail.Read", "Mail.ReadWrite"),
                                       f"{API}/singlevaluelegacyextendedproperty-get",
                                       mail=True)
DELETE_MESSAGE = Requirement(("Mail.ReadWrite",), ("Mail.ReadWrite",),
                             f"{API}/message-delete", mail=True)
CREATE_EVENT = Requirement(("Calendars.ReadWrite",), ("Calendars.ReadWrite",),
                           f"{API}/user-post-events", mail=True)
# Application use also needs an application access policy naming the organiser.
CREATE_OR_GET_MEETING = Requirement(("OnlineMeetings.ReadWrite",),
                                    ("OnlineMeetings.ReadWrite.All",),
                                    f"{API}/application-post-onlinemeetings")
GET_SITE = Requirement(_SITES_READ, _SITES_READ, f"{API}/site-get")
READ_LIST = Requirement(_SITES_READ, _SITES_READ, f"{API}/list-get")
READ_LIST_ITEMS = Requirement(_SITES_READ, _SITES_READ, f"{API}/listitem-list")
GET_DRIVE = Requirement(_FILES_READ, _FILES_READ, f"{API}/drive-get")
READ_DRIVE_ITEM = Requirement(_FILES_READ, _FILES_READ, f"{API}/driveitem-get-content")
WRITE_DRIVE_ITEM = Requirement(_FILES_WRITE, _FILES_WRITE, f"{API}/driveitem-put-content")
