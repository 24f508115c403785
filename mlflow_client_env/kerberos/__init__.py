"""Kerberos on the client, as Python and Java each see it.

- ``profile``: krb5.conf, the credential-cache name and type, what Java will read;
- ``libkrb5``: asking the system's libkrb5 (ctypes) for its default cache and realm;
- ``ccache``: credential caches as files (MIT's FILE format), read safely;
- ``ticket``: the ticket's state, from the cache file and gssapi;
- ``readiness``: the one ticket verdict of ``setup()``, ``env`` and the launcher;
- ``java_cache``: which FILE cache Java should read (cheap; decides before acting);
- ``login``: keytab logins and FILE copies of KEYRING/KCM tickets;
- ``renew``: keeping a ticket valid for hours (``keep_ticket_fresh``, ``run``).

Which ``kinit`` a shell runs, and its libkrb5, is the doctor's (``doctor.kinit_on_path``).
"""
