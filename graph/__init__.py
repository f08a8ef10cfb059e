"""The only package that talks to Microsoft: Entra sign-in (MSAL) and, later, Graph."""
