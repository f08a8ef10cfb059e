"""The incident as a Teams channel tab, signed in with Teams single sign-on."""
