"""Uptime checks (replacing Upptime): HTTP(S) checks per catalogue service, run by the
scheduler; enough failures in a row open an incident through alert intake."""
