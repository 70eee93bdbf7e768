"""HTTP plumbing with no domain logic: route policy markers, admission (shedding), error pages,
CSRF, security headers, the client's address, redirects, templating, form reading and request
completion when a client leaves."""
