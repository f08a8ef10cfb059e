"""The only package that talks to Microsoft: Entra sign-in and tokens (MSAL) and
Microsoft Graph (msgraph-sdk), behind `port.Graph`; `sandbox/` is a local Graph and
Entra as strict as a tenant, `fake.py` an in-memory Graph for unit tests."""
