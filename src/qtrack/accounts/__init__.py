"""Users, roles, permissions, API tokens, logins and sessions."""
