"""Accounts: the ``User`` row, usernames (NFKC, casefolded key, syntax), and creating, finding,
authenticating and deleting users. The unique constraint on the key decides duplicates."""
