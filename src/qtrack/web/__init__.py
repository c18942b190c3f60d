"""Page plumbing that knows no domain: rendering in the signed-in layout, forms and their
field errors, CSRF tokens, and what makes the UI an installable PWA."""
