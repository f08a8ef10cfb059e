"""The Incident Desk Teams app package administrators upload: its manifest (built from this
installation's address and ids), icons and the .zip (app/web/teams_app serves it,
`flask teams-app` writes it)."""
