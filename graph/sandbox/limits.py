"""The sandbox tenant's limits and delays, as Microsoft documents them; settings, so a
test can make them small (`SandboxState.configure_tenant(...)`).

Each default names the page it comes from.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

# Entra: access tokens live 60-90 minutes by default.
# https://learn.microsoft.com/entra/identity-platform/access-tokens#token-lifetime
TOKEN_LIFETIME = 3600.0
# Teams: "A team can have up to 1,000 channels, including those deleted in the last 30
# days"; a deleted channel's name stays taken meanwhile (NameAlreadyExists).
# https://learn.microsoft.com/microsoftteams/limits-specifications-teams
CHANNELS_PER_TEAM = 1000
DELETED_CHANNEL_DAYS = 30
# Add member to team: "the member might not be visible ... for a while; stagger calls".
# https://learn.microsoft.com/graph/api/team-post-members#response
MEMBER_PROPAGATION = 2.0
# A channel just created may be missing from lists for a moment (eventual consistency,
# as reported for channel-list after channel-post); GET by id finds it at once.
CHANNEL_LIST_LAG = 2.0
# Throttling, https://learn.microsoft.com/graph/throttling-limits (enforced by
# graph/sandbox/throttling.py; 0 turns a rule off):
# Teams, "POST channel message": 50 rps per app per tenant; "A maximum of 4 requests per
# second per app can be issued on a given team or channel"; "A maximum of 3000 messages
# per app per day can be sent to a given channel".
TEAMS_RPS_PER_CHANNEL = 4.0
TEAMS_RPS_PER_TENANT = 50.0
TEAMS_POSTS_PER_CHANNEL_PER_DAY = 3000
# The same 4 rps "on a given team" for requests on the team itself (creating a channel,
# adding a member); "POST/PUT channel": 30 rps per app per tenant.
TEAMS_RPS_PER_TEAM = 4.0
TEAMS_CHANNEL_WRITES_PER_TENANT = 30.0
# Outlook: 4 concurrent requests, evaluated for each app ID and mailbox combination;
# "10,000 API requests in a 10 minute period" for the same combination.
OUTLOOK_CONCURRENT_PER_MAILBOX = 4
OUTLOOK_REQUESTS_PER_MAILBOX = 10_000
OUTLOOK_REQUESTS_WINDOW = 600.0


@dataclass(frozen=True)
class TenantLimits:
    token_lifetime: float = TOKEN_LIFETIME
    channels_per_team: int = CHANNELS_PER_TEAM
    deleted_channel_days: int = DELETED_CHANNEL_DAYS
    member_propagation: float = MEMBER_PROPAGATION
    channel_list_lag: float = CHANNEL_LIST_LAG
    teams_rps_per_channel: float = TEAMS_RPS_PER_CHANNEL
    teams_rps_per_tenant: float = TEAMS_RPS_PER_TENANT
    teams_posts_per_channel_per_day: int = TEAMS_POSTS_PER_CHANNEL_PER_DAY
    teams_rps_per_team: float = TEAMS_RPS_PER_TEAM
    teams_channel_writes_per_tenant: float = TEAMS_CHANNEL_WRITES_PER_TENANT
    outlook_concurrent_per_mailbox: int = OUTLOOK_CONCURRENT_PER_MAILBOX
    outlook_requests_per_mailbox: int = OUTLOOK_REQUESTS_PER_MAILBOX

    @classmethod
    def from_doc(cls, doc: dict | None) -> TenantLimits:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (doc or {}).items() if k in known})

    def as_doc(self) -> dict:
        return asdict(self)
