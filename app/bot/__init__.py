"""The Teams bot on the Microsoft 365 Agents SDK: POST /api/messages (routes), the
adapter that hosts the SDK in Flask (adapter), Bot Connector authentication (inbound) and
the commands it answers (commands). Only this package talks to the Bot Connector."""
