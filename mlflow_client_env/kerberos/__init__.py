"""Kerberos on the client, as Python and Java each see it.

- ``profile``: krb5.conf, the credential-cache name and type, what Java will read;
- ``ticket``: the ticket's state, from the cache file and gssapi;
- ``java_cache``: which FILE cache Java should read (cheap; decides before acting);
- ``login``: keytab logins and FILE copies of KEYRING/KCM tickets;
- ``renew``: keeping a ticket valid for hours (``keep_ticket_fresh``, ``run``).
"""
