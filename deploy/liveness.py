"""Whether the server behind a connection still answers, asked over a second HTTP connection.

Any HTTP answer counts as alive (a 404 from the embedded server, a redirect or 403 from
Snowflake's front end, even a TLS handshake): the question is only whether something is
there. A refused connection, a reset, or no answer within the probe timeout (a black
hole: a socket that accepts and never replies) counts as gone. The statement itself runs
on its own connection and is not disturbed.
"""

from __future__ import annotations

import ipaddress
import logging

import requests

log = logging.getLogger(__name__)

# Per probe: connect and read timeouts, seconds. Short: the caller asks again every few seconds.
PROBE_TIMEOUT_S = (3.0, 5.0)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def http_probe(protocol: str, host: str, port: int | str) -> bool:
    """True when ``protocol://host:port/`` answers anything within the probe timeout."""
    url = f"{protocol}://{host}:{port}/"
    with requests.Session() as http:
        # Loopback goes direct, whatever HTTP(S)_PROXY says; elsewhere proxies apply as for the connector.
        http.trust_env = not _is_loopback(host)
        try:
            http.head(url, timeout=PROBE_TIMEOUT_S, allow_redirects=False)
        except requests.exceptions.SSLError:
            return True  # a TLS peer answered
        except requests.exceptions.RequestException as e:
            log.debug("probe of %s: %s", url, type(e).__name__)
            return False
    return True
