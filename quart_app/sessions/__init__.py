"""Signed-in sessions: the ``UserSession`` row the cookie's random id points at, issued, resolved,
listed, rotated, revoked and purged (``store``), and quart-auth's user class that resolves it
once per request (``current_user``). ``SignedIn`` is the resolved view a page sees."""
