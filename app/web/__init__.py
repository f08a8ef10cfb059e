"""The web layer: each area's blueprint (routes), WTForms, page helpers and the panels the
incident page shows, and the JSON API (`api/`). It sits above the features, the outbox and
the Microsoft 365 adapter and below the composition roots; nothing beneath imports it."""
