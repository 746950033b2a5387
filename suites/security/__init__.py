"""Security suite: authentication, authorization, tenant isolation, TLS, headers, errors."""
