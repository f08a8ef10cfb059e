"""The Microsoft Graph permissions Incident Desk asks for: declared once, here.

Sign-in asks for the delegated ones (graph/entra.py), jobs acquire tokens for exactly
them (graph/tokens.py; asking for `.default` would never match the cached token's
concrete scopes, so every call would redeem the refresh token), the README's permission
table is held to this list by a test, and the sandbox tenant is set up from it the way
the README tells an administrator to set up theirs (graph/sandbox/seed.py).

Why Mail.ReadWrite as well as Mail.Send: stakeholder email is saved as a draft, then the
draft is sent. That is the one way Graph lets a retry find out whether an earlier attempt
got through (sending a draft twice answers 404, so nobody is mailed twice); sendMail's
202 names nothing that could be looked up afterwards. Creating a draft needs
Mail.ReadWrite; so does deleting one that will never be sent, and it covers Mail.Read,
which finding an earlier attempt's draft by its extended property takes. For the shared
mailbox both are granted through Exchange RBAC for Applications on that one mailbox, never
tenant-wide in Entra.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Permission:
    name: str
    why: str
    # Application permissions an administrator grants outside Entra's consent, on chosen
    # resources only: "site" (Sites.Selected grants), "mailbox" (Exchange RBAC for
    # Applications). Empty: consented in Entra as it is.
    scoped_to: str = ""


DELEGATED = (
    Permission("User.Read", "sign in and read the person's name and email"),
    Permission("Channel.Create", "create the incident's Teams channel"),
    Permission("Channel.ReadBasic.All", "find a channel an earlier attempt created, and "
                                        "names already taken"),
    Permission("ChannelMessage.Send", "post the kickoff card, updates and reminders"),
    Permission("ChannelMessage.Read.All", "read channel messages and replies into the "
                                          "timeline"),
    Permission("TeamMember.ReadWrite.All", "add people brought into an incident to the "
                                           "team"),
    Permission("ChannelMember.ReadWrite.All", "add people to a security incident's private "
                                              "channel, and take out those who are no "
                                              "longer working on it"),
    Permission("Mail.ReadWrite", "save stakeholder email as a draft before sending it, so "
                                 "a retry never mails anyone twice; find and delete drafts "
                                 "left unsent"),
    Permission("Mail.Send", "send stakeholder email as the person"),
    Permission("OnlineMeetings.ReadWrite", "open the Teams meeting used as command room"),
    Permission("Calendars.ReadWrite", "book the review meeting"),
)

APPLICATION = (
    Permission("ChannelSettings.ReadWrite.All", "archive closed incidents' channels, and "
                                                "unarchive them when an incident reopens"),
    Permission("Sites.Selected", "read the contacts list and write reports, on the two "
                                 "sites granted only", scoped_to="site"),
    Permission("Mail.ReadWrite", "draft stakeholder email in the shared mailbox; find and "
                                 "delete drafts left unsent", scoped_to="mailbox"),
    Permission("Mail.Send", "send stakeholder email from the shared mailbox",
               scoped_to="mailbox"),
)

# Sites.Selected grants (https://learn.microsoft.com/graph/permissions-selected-overview):
# what the app may do on each configured site.
SITE_GRANTS = {"contacts": "read", "reports": "write"}

# MSAL adds these to every sign-in itself (and refuses them in a scope list).
RESERVED_SCOPES = ("openid", "profile", "offline_access")


def delegated_scopes() -> tuple[str, ...]:
    """What sign-in asks for and what jobs acquire tokens for."""
    return tuple(p.name for p in DELEGATED)


def consented_application_roles() -> tuple[str, ...]:
    """Application permissions an administrator consents to in Entra (the rest are
    granted on single resources)."""
    return tuple(p.name for p in APPLICATION if p.scoped_to in ("", "site"))


def mailbox_permissions() -> tuple[str, ...]:
    return tuple(p.name for p in APPLICATION if p.scoped_to == "mailbox")
