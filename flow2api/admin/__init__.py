"""The admin site: server-rendered pages under ``/admin`` (login at ``/login``) and the admin JSON API under ``/api``.

Modules, one concern each::

    site           setup_admin(): builds the stores, the /login, /admin and /api sub-apps, their cleanup_ctx
    store          admin login (argon2), admin API tokens, revoked sessions — in the database
    throttle       failed-login throttling per client address
    session        encrypted session cookies (aiohttp-session), key in the data dir, Secure over https
    auth           session life cycle, idle/absolute timeouts, the forced password change
    csrf           per-session CSRF token on every state-changing form
    headers        security headers and HTML error pages of the admin pages
    render         Jinja2 environment (templates/), flash messages
    forms          input models shared by pages and JSON API
    views          what is shown of accounts, keys, tokens (secrets masked)
    transfer       account import/export (the original project's format)
    queries        read-only queries of request logs and tasks
    overrides      settings changed in the admin site: stored, re-applied at start-up
    settings_edit  which settings are editable, validating and applying a change
    proxytest      trying a proxy URL against a target URL
    pages/         one module per area of the site
    api/           the admin JSON API

This package imports nothing at import time, so importing one of its modules
does not pull in the whole admin site. See ``docs/admin.md``.
"""
