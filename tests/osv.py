"""An OSV API stand-in on a ``LoopbackServer``: ``POST /v1/query`` answered from real advisories.

pip-audit 2.10 (``-s osv``) sends one ``POST`` per package to its ``--osv-url`` with
``{"package": {"name": ..., "ecosystem": "PyPI"}, "version": ...}`` and reads ``vulns[]``: ``id``,
``aliases``, ``summary`` (else ``details``), ``withdrawn``, ``schema_version`` and
``affected[].package`` / ``affected[].ranges[]`` (the first ``ECOSYSTEM`` range's ``fixed``
events). It never calls ``/v1/querybatch``, so neither does this stand-in.

The records below are the real public advisories as their databases publish them
(github/advisory-database for the GHSA records, pypa/advisory-database for PYSEC-2023-74), with
what the OSV API adds when it serves a GHSA record: the package's ``purl`` and ``versions``, the
affected releases enumerated from the package's real release list on PyPI.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from tests.servers import LoopbackServer, Route

QUERY_PATH = "/v1/query"

REQUESTS_RELEASES = (
    "0.0.1",
    "0.2.0",
    "0.2.1",
    "0.2.2",
    "0.2.3",
    "0.2.4",
    "0.3.0",
    "0.3.1",
    "0.3.2",
    "0.3.3",
    "0.3.4",
    "0.4.0",
    "0.4.1",
    "0.5.0",
    "0.5.1",
    "0.6.0",
    "0.6.1",
    "0.6.2",
    "0.6.3",
    "0.6.4",
    "0.6.5",
    "0.6.6",
    "0.7.0",
    "0.7.1",
    "0.7.2",
    "0.7.3",
    "0.7.4",
    "0.7.5",
    "0.7.6",
    "0.8.0",
    "0.8.1",
    "0.8.2",
    "0.8.3",
    "0.8.4",
    "0.8.5",
    "0.8.6",
    "0.8.7",
    "0.8.8",
    "0.8.9",
    "0.9.0",
    "0.9.1",
    "0.9.2",
    "0.9.3",
    "0.10.0",
    "0.10.1",
    "0.10.2",
    "0.10.3",
    "0.10.4",
    "0.10.6",
    "0.10.7",
    "0.10.8",
    "0.11.1",
    "0.11.2",
    "0.12.0",
    "0.12.01",
    "0.12.1",
    "0.13.0",
    "0.13.1",
    "0.13.2",
    "0.13.3",
    "0.13.4",
    "0.13.5",
    "0.13.6",
    "0.13.7",
    "0.13.8",
    "0.13.9",
    "0.14.0",
    "0.14.1",
    "0.14.2",
    "1.0.0",
    "1.0.1",
    "1.0.2",
    "1.0.3",
    "1.0.4",
    "1.1.0",
    "1.2.0",
    "1.2.1",
    "1.2.2",
    "1.2.3",
    "2.0.0",
    "2.0.1",
    "2.1.0",
    "2.2.0",
    "2.2.1",
    "2.3.0",
    "2.4.0",
    "2.4.1",
    "2.4.2",
    "2.4.3",
    "2.5.0",
    "2.5.1",
    "2.5.2",
    "2.5.3",
    "2.6.0",
    "2.6.1",
    "2.6.2",
    "2.7.0",
    "2.8.0",
    "2.8.1",
    "2.9.0",
    "2.9.1",
    "2.9.2",
    "2.10.0",
    "2.11.0",
    "2.11.1",
    "2.12.0",
    "2.12.1",
    "2.12.2",
    "2.12.3",
    "2.12.4",
    "2.12.5",
    "2.13.0",
    "2.14.0",
    "2.14.1",
    "2.14.2",
    "2.15.0",
    "2.15.1",
    "2.16.0",
    "2.16.1",
    "2.16.2",
    "2.16.3",
    "2.16.4",
    "2.16.5",
    "2.17.0",
    "2.17.1",
    "2.17.2",
    "2.17.3",
    "2.18.0",
    "2.18.1",
    "2.18.2",
    "2.18.3",
    "2.18.4",
    "2.19.0",
    "2.19.1",
    "2.20.0",
    "2.20.1",
    "2.21.0",
    "2.22.0",
    "2.23.0",
    "2.24.0",
    "2.25.0",
    "2.25.1",
    "2.26.0",
    "2.27.0",
    "2.27.1",
    "2.28.0",
    "2.28.1",
    "2.28.2",
    "2.29.0",
    "2.30.0",
    "2.31.0",
    "2.32.0",
    "2.32.1",
    "2.32.2",
    "2.32.3",
    "2.32.4",
    "2.32.5",
    "2.33.0",
    "2.33.1",
    "2.34.0.dev1",
    "2.34.0",
    "2.34.1",
    "2.34.2",
)
"""Every release of requests on PyPI (the ``releases`` keys of its JSON API)."""

IDNA_RELEASES = (
    "0.1",
    "0.2",
    "0.3",
    "0.4",
    "0.5",
    "0.6",
    "0.7",
    "0.8",
    "0.9",
    "1.0",
    "1.1",
    "2.0",
    "2.1",
    "2.2",
    "2.3",
    "2.4",
    "2.5",
    "2.6",
    "2.7",
    "2.8",
    "2.9",
    "2.10",
    "3.0",
    "3.1",
    "3.2",
    "3.3",
    "3.4",
    "3.5",
    "3.6",
    "3.7",
    "3.8",
    "3.9",
    "3.10",
    "3.11",
    "3.12",
    "3.13",
    "3.14",
    "3.15",
    "3.16",
    "3.17",
    "3.18",
    "3.19",
    "3.20",
)
"""Every release of idna on PyPI."""

_RELEASES = {"requests": REQUESTS_RELEASES, "idna": IDNA_RELEASES}

GHSA_9WX4_H78V_VM56: dict[str, Any] = {
    "schema_version": "1.4.0",
    "id": "GHSA-9wx4-h78v-vm56",
    "modified": "2024-05-20T22:07:29Z",
    "published": "2024-05-20T20:15:00Z",
    "aliases": ["CVE-2024-35195"],
    "summary": (
        "Requests `Session` object does not verify requests after making first request with "
        "verify=False"
    ),
    "details": (
        "When making requests through a Requests `Session`, if the first request is made with "
        "`verify=False` to disable cert verification, all subsequent requests to the same origin "
        "will continue to ignore cert verification regardless of changes to the value of "
        "`verify`. This behavior will continue for the lifecycle of the connection in the "
        "connection pool.\n\n### Remediation\nAny of these options can be used to remediate the "
        "current issue, we highly recommend upgrading as the preferred mitigation.\n\n"
        "* Upgrade to `requests>=2.32.0`.\n* For `requests<2.32.0`, avoid setting `verify=False` "
        "for the first request to a host while using a Requests Session.\n* For "
        "`requests<2.32.0`, call `close()` on `Session` objects to clear existing connections if "
        "`verify=False` is used.\n\n### Related Links\n* https://github.com/psf/requests/pull/6655"
    ),
    "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:H/I:H/A:N"}],
    "affected": [
        {
            "package": {"ecosystem": "PyPI", "name": "requests"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.32.0"}]}],
        }
    ],
    "references": [
        {
            "type": "WEB",
            "url": "https://github.com/psf/requests/security/advisories/GHSA-9wx4-h78v-vm56",
        },
        {"type": "ADVISORY", "url": "https://nvd.nist.gov/vuln/detail/CVE-2024-35195"},
        {"type": "WEB", "url": "https://github.com/psf/requests/pull/6655"},
        {
            "type": "WEB",
            "url": "https://github.com/psf/requests/commit/a58d7f2ffb4d00b46dca2d70a3932a0b37e22fac",
        },
        {"type": "PACKAGE", "url": "https://github.com/psf/requests"},
    ],
    "database_specific": {
        "cwe_ids": ["CWE-670"],
        "severity": "MODERATE",
        "github_reviewed": True,
        "github_reviewed_at": "2024-05-20T20:15:00Z",
        "nvd_published_at": "2024-05-20T21:15:09Z",
    },
}

GHSA_9HJG_9R4M_MVJ7: dict[str, Any] = {
    "schema_version": "1.4.0",
    "id": "GHSA-9hjg-9r4m-mvj7",
    "modified": "2025-06-09T19:06:08Z",
    "published": "2025-06-09T19:06:08Z",
    "aliases": ["CVE-2024-47081"],
    "summary": "Requests vulnerable to .netrc credentials leak via malicious URLs",
    "details": (
        "### Impact\n\nDue to a URL parsing issue, Requests releases prior to 2.32.4 may leak "
        ".netrc credentials to third parties for specific maliciously-crafted URLs.\n\n"
        "### Workarounds\nFor older versions of Requests, use of the .netrc file can be disabled "
        "with `trust_env=False` on your Requests Session "
        "([docs](https://requests.readthedocs.io/en/latest/api/#requests.Session.trust_env)).\n\n"
        "### References\nhttps://github.com/psf/requests/pull/6965\n"
        "https://seclists.org/fulldisclosure/2025/Jun/2"
    ),
    "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:H/I:N/A:N"}],
    "affected": [
        {
            "package": {"ecosystem": "PyPI", "name": "requests"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.32.4"}]}],
        }
    ],
    "references": [
        {
            "type": "WEB",
            "url": "https://github.com/psf/requests/security/advisories/GHSA-9hjg-9r4m-mvj7",
        },
        {"type": "ADVISORY", "url": "https://nvd.nist.gov/vuln/detail/CVE-2024-47081"},
        {"type": "WEB", "url": "https://github.com/psf/requests/pull/6965"},
        {
            "type": "WEB",
            "url": "https://github.com/psf/requests/commit/96ba401c1296ab1dda74a2365ef36d88f7d144ef",
        },
        {"type": "PACKAGE", "url": "https://github.com/psf/requests"},
        {"type": "WEB", "url": "https://seclists.org/fulldisclosure/2025/Jun/2"},
    ],
    "database_specific": {
        "cwe_ids": ["CWE-522"],
        "severity": "MODERATE",
        "github_reviewed": True,
        "github_reviewed_at": "2025-06-09T19:06:08Z",
        "nvd_published_at": "2025-06-09T18:15:24Z",
    },
}

GHSA_GC5V_M9X4_R6X2: dict[str, Any] = {
    "schema_version": "1.4.0",
    "id": "GHSA-gc5v-m9x4-r6x2",
    "modified": "2026-03-25T16:56:28Z",
    "published": "2026-03-25T16:56:28Z",
    "aliases": ["CVE-2026-25645"],
    "summary": (
        "Requests has Insecure Temp File Reuse in its extract_zipped_paths() utility function"
    ),
    "details": (
        "### Impact\nThe `requests.utils.extract_zipped_paths()` utility function uses a "
        "predictable filename when extracting files from zip archives into the system temporary "
        "directory. If the target file already exists, it is reused without validation. A local "
        "attacker with write access to the temp directory could pre-create a malicious file that "
        "would be loaded in place of the legitimate one.\n\n### Affected usages\n**Standard usage "
        "of the Requests library is not affected by this vulnerability.** Only applications that "
        "call `extract_zipped_paths()` directly are impacted.\n\n### Remediation\nUpgrade to at "
        "least Requests 2.33.0, where the library now extracts files to a non-deterministic "
        "location.\n\nIf developers are unable to upgrade, they can set `TMPDIR` in their "
        "environment to a directory with restricted write access."
    ),
    "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:L/AC:H/PR:L/UI:R/S:U/C:N/I:H/A:N"}],
    "affected": [
        {
            "package": {"ecosystem": "PyPI", "name": "requests"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.33.0"}]}],
        }
    ],
    "references": [
        {
            "type": "WEB",
            "url": "https://github.com/psf/requests/security/advisories/GHSA-gc5v-m9x4-r6x2",
        },
        {
            "type": "WEB",
            "url": "https://github.com/psf/requests/commit/66d21cb07bd6255b1280291c4fafb71803cdb3b7",
        },
        {"type": "PACKAGE", "url": "https://github.com/psf/requests"},
        {"type": "WEB", "url": "https://github.com/psf/requests/releases/tag/v2.33.0"},
    ],
    "database_specific": {
        "cwe_ids": ["CWE-377"],
        "severity": "MODERATE",
        "github_reviewed": True,
        "github_reviewed_at": "2026-03-25T16:56:28Z",
        "nvd_published_at": None,
    },
}

GHSA_J8R2_6X86_Q33Q: dict[str, Any] = {
    "schema_version": "1.4.0",
    "id": "GHSA-j8r2-6x86-q33q",
    "modified": "2023-09-20T19:19:30Z",
    "published": "2023-05-22T20:36:32Z",
    "aliases": ["CVE-2023-32681"],
    "summary": "Unintended leak of Proxy-Authorization header in requests",
    "details": (
        "### Impact\n\nSince Requests v2.3.0, Requests has been vulnerable to potentially leaking "
        "`Proxy-Authorization` headers to destination servers, specifically during redirects to "
        "an HTTPS origin. This is a product of how `rebuild_proxies` is used to recompute and "
        "[reattach the `Proxy-Authorization` header](https://github.com/psf/requests/blob/"
        "f2629e9e3c7ce3c3c8c025bcd8db551101cbc773/requests/sessions.py#L319-L328) to requests "
        "when redirected. Note this behavior has _only_ been observed to affect proxied requests "
        "when credentials are supplied in the URL user information component (e.g. "
        "`https://username:password@proxy:8080`).\n\n**Current vulnerable behavior(s):**\n\n"
        "1. HTTP \u2192 HTTPS: **leak**\n2. HTTPS \u2192 HTTP: **no leak**\n"
        "3. HTTPS \u2192 HTTPS: **leak**\n4. HTTP \u2192 HTTP: **no leak**\n\n"
        "For HTTP connections sent through the proxy, the proxy will identify the header in the "
        "request itself and remove it prior to forwarding to the destination server. However "
        "when sent over HTTPS, the `Proxy-Authorization` header must be sent in the CONNECT "
        "request as the proxy has no visibility into further tunneled requests. This results in "
        "Requests forwarding the header to the destination server unintentionally, allowing a "
        "malicious actor to potentially exfiltrate those credentials.\n\n"
        "The reason this currently works for HTTPS connections in Requests is the "
        "`Proxy-Authorization` header is also handled by urllib3 with our usage of the "
        "ProxyManager in adapters.py with [`proxy_manager_for`](https://github.com/psf/requests/"
        "blob/f2629e9e3c7ce3c3c8c025bcd8db551101cbc773/requests/adapters.py#L199-L235). This "
        "will compute the required proxy headers in `proxy_headers` and pass them to the Proxy "
        "Manager, avoiding attaching them directly to the Request object. This will be our "
        "preferred option going forward for default usage.\n\n### Patches\nStarting in Requests "
        "v2.31.0, Requests will no longer attach this header to redirects with an HTTPS "
        "destination. This should have no negative impacts on the default behavior of the "
        "library as the proxy credentials are already properly being handled by urllib3's "
        "ProxyManager.\n\nFor users with custom adapters, this _may_ be potentially breaking if "
        "you were already working around this behavior. The previous functionality of "
        "`rebuild_proxies` doesn't make sense in any case, so we would encourage any users "
        "impacted to migrate any handling of Proxy-Authorization directly into their custom "
        "adapter.\n\n### Workarounds\nFor users who are not able to update Requests immediately, "
        "there is one potential workaround.\n\nYou may disable redirects by setting "
        "`allow_redirects` to `False` on all calls through Requests top-level APIs. Note that if "
        "you're currently relying on redirect behaviors, you will need to capture the 3xx "
        "response codes and ensure a new request is made to the redirect destination.\n```\n"
        "import requests\nr = requests.get('http://github.com/', allow_redirects=False)\n```\n\n"
        "### Credits\n\nThis vulnerability was discovered and disclosed by the following "
        "individuals.\n\nDennis Brinkrolf, Haxolot (https://haxolot.com/)\nTobias Funke, "
        "(tobiasfunke93@gmail.com)"
    ),
    "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:C/C:H/I:N/A:N"}],
    "affected": [
        {
            "package": {"ecosystem": "PyPI", "name": "requests"},
            "ecosystem_specific": {
                "affected_functions": ["requests.sessions.SessionRedirectMixin.rebuild_proxies"]
            },
            "ranges": [
                {"type": "ECOSYSTEM", "events": [{"introduced": "2.3.0"}, {"fixed": "2.31.0"}]}
            ],
        }
    ],
    "references": [
        {
            "type": "WEB",
            "url": "https://github.com/psf/requests/security/advisories/GHSA-j8r2-6x86-q33q",
        },
        {"type": "ADVISORY", "url": "https://nvd.nist.gov/vuln/detail/CVE-2023-32681"},
        {
            "type": "WEB",
            "url": "https://github.com/psf/requests/commit/74ea7cf7a6a27a4eeb2ae24e162bcc942a6706d5",
        },
        {"type": "PACKAGE", "url": "https://github.com/psf/requests"},
        {"type": "WEB", "url": "https://github.com/psf/requests/releases/tag/v2.31.0"},
        {
            "type": "WEB",
            "url": "https://github.com/pypa/advisory-database/tree/main/vulns/requests/PYSEC-2023-74.yaml",
        },
    ],
    "database_specific": {
        "cwe_ids": ["CWE-200"],
        "severity": "MODERATE",
        "github_reviewed": True,
        "github_reviewed_at": "2023-05-22T20:36:32Z",
        "nvd_published_at": None,
    },
}

PYSEC_2023_74: dict[str, Any] = {
    "id": "PYSEC-2023-74",
    "details": (
        "Requests is a HTTP library. Since Requests 2.3.0, Requests has been leaking "
        "Proxy-Authorization headers to destination servers when redirected to an HTTPS "
        "endpoint. This is a product of how we use `rebuild_proxies` to reattach the "
        "`Proxy-Authorization` header to requests. For HTTP connections sent through the tunnel, "
        "the proxy will identify the header in the request itself and remove it prior to "
        "forwarding to the destination server. However when sent over HTTPS, the "
        "`Proxy-Authorization` header must be sent in the CONNECT request as the proxy has no "
        "visibility into the tunneled request. This results in Requests forwarding proxy "
        "credentials to the destination server unintentionally, allowing a malicious actor to "
        "potentially exfiltrate sensitive information. This issue has been patched in version "
        "2.31.0.\n\n"
    ),
    "affected": [
        {
            "package": {"name": "requests", "ecosystem": "PyPI", "purl": "pkg:pypi/requests"},
            "ranges": [
                {
                    "type": "GIT",
                    "repo": "https://github.com/psf/requests",
                    "events": [
                        {"introduced": "0"},
                        {"fixed": "74ea7cf7a6a27a4eeb2ae24e162bcc942a6706d5"},
                    ],
                },
                {"type": "ECOSYSTEM", "events": [{"introduced": "2.3.0"}, {"fixed": "2.31.0"}]},
            ],
            # As the PYSEC record lists them: sorted as strings, not as versions.
            "versions": sorted(
                v for v in REQUESTS_RELEASES if Version("2.3.0") <= Version(v) < Version("2.31.0")
            ),
        }
    ],
    "references": [
        {
            "type": "ADVISORY",
            "url": "https://github.com/psf/requests/security/advisories/GHSA-j8r2-6x86-q33q",
        },
        {"type": "WEB", "url": "https://github.com/psf/requests/releases/tag/v2.31.0"},
        {
            "type": "FIX",
            "url": "https://github.com/psf/requests/commit/74ea7cf7a6a27a4eeb2ae24e162bcc942a6706d5",
        },
    ],
    "aliases": ["CVE-2023-32681", "GHSA-j8r2-6x86-q33q"],
    "modified": "2023-06-05T01:13:00.534973Z",
    "published": "2023-05-26T18:15:00Z",
}

GHSA_JJG7_2V4V_X38H: dict[str, Any] = {
    "schema_version": "1.4.0",
    "id": "GHSA-jjg7-2v4v-x38h",
    "modified": "2024-07-08T14:35:53Z",
    "published": "2024-04-11T21:32:40Z",
    "aliases": ["CVE-2024-3651"],
    "summary": (
        "Internationalized Domain Names in Applications (IDNA) vulnerable to denial of service "
        "from specially crafted inputs to idna.encode"
    ),
    "details": (
        "### Impact\nA specially crafted argument to the `idna.encode()` function could consume "
        "significant resources. This may lead to a denial-of-service.\n\n### Patches\nThe "
        "function has been refined to reject such strings without the associated resource "
        "consumption in version 3.7.\n\n### Workarounds\nDomain names cannot exceed 253 "
        "characters in length, if this length limit is enforced prior to passing the domain to "
        "the `idna.encode()` function it should no longer consume significant resources. This "
        "is triggered by arbitrarily large inputs that would not occur in normal usage, but may "
        "be passed to the library assuming there is no preliminary input validation by the "
        "higher-level application.\n\n### References\n"
        "* https://huntr.com/bounties/93d78d07-d791-4b39-a845-cbfabc44aadb"
    ),
    "severity": [
        {"type": "CVSS_V3", "score": "CVSS:3.1/AV:L/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"},
        {
            "type": "CVSS_V4",
            "score": "CVSS:4.0/AV:L/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:H/SC:N/SI:N/SA:N",
        },
    ],
    "affected": [
        {
            "package": {"ecosystem": "PyPI", "name": "idna"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.7"}]}],
        }
    ],
    "references": [
        {
            "type": "WEB",
            "url": "https://github.com/kjd/idna/security/advisories/GHSA-jjg7-2v4v-x38h",
        },
        {"type": "ADVISORY", "url": "https://nvd.nist.gov/vuln/detail/CVE-2024-3651"},
        {
            "type": "WEB",
            "url": "https://github.com/kjd/idna/commit/1d365e17e10d72d0b7876316fc7b9ca0eebdd38d",
        },
        {"type": "PACKAGE", "url": "https://github.com/kjd/idna"},
        {"type": "WEB", "url": "https://huntr.com/bounties/93d78d07-d791-4b39-a845-cbfabc44aadb"},
    ],
    "database_specific": {
        "cwe_ids": ["CWE-400"],
        "severity": "MODERATE",
        "github_reviewed": True,
        "github_reviewed_at": "2024-04-11T21:32:40Z",
        "nvd_published_at": "2024-07-07T18:15:09Z",
    },
}


def _key(version: str) -> Version:
    return Version("0") if version == "0" else Version(version)


def in_ranges(affected: dict[str, Any], version: Version) -> bool:
    """OSV's evaluation of ``ECOSYSTEM`` ranges: events in version order toggle "affected"."""
    for range_ in affected.get("ranges", []):
        if range_["type"] != "ECOSYSTEM":
            continue
        events = sorted(
            ((kind, _key(value)) for event in range_["events"] for kind, value in event.items()),
            key=lambda item: item[1],
        )
        affected_now = False
        for kind, at in events:
            if kind == "introduced" and version >= at:
                affected_now = True
            elif (kind == "fixed" and version >= at) or (kind == "last_affected" and version > at):
                affected_now = False
        if affected_now:
            return True
    return False


def served(record: dict[str, Any]) -> dict[str, Any]:
    """The record as the OSV API serves it: each PyPI package with its purl and versions."""
    out: dict[str, Any] = json.loads(json.dumps(record))
    for affected in out["affected"]:
        package = affected["package"]
        if package["ecosystem"] != "PyPI":
            continue
        package.setdefault("purl", f"pkg:pypi/{canonicalize_name(package['name'])}")
        releases = _RELEASES.get(canonicalize_name(package["name"]), ())
        affected.setdefault("versions", [v for v in releases if in_ranges(affected, Version(v))])
    return out


RECORDS: tuple[dict[str, Any], ...] = tuple(
    served(r)
    for r in (
        GHSA_9HJG_9R4M_MVJ7,
        GHSA_9WX4_H78V_VM56,
        GHSA_GC5V_M9X4_R6X2,
        GHSA_J8R2_6X86_Q33Q,
        PYSEC_2023_74,
        GHSA_JJG7_2V4V_X38H,
    )
)
"""Every advisory the stand-in knows, as ``/v1/query`` returns them."""


def affects(record: dict[str, Any], name: str, version: str) -> bool:
    """Whether ``record`` affects PyPI's ``name==version`` (listed version or ECOSYSTEM range)."""
    try:
        wanted = Version(version)
    except InvalidVersion:
        return False
    for affected in record["affected"]:
        package = affected["package"]
        if package["ecosystem"] != "PyPI" or canonicalize_name(package["name"]) != name:
            continue
        if any(Version(v) == wanted for v in affected.get("versions", [])):
            return True
        if in_ranges(affected, wanted):
            return True
    return False


class FakeOSV:
    """``POST /v1/query`` on a ``LoopbackServer``, answering from ``records``."""

    def __init__(self, server: LoopbackServer, records: Iterable[dict[str, Any]] = RECORDS) -> None:
        self.server = server
        self.records = list(records)
        self.queries: list[dict[str, Any]] = []
        self.route = server.route(QUERY_PATH, Route(respond=self._query))

    @property
    def query_url(self) -> str:
        """What pip-audit's ``--osv-url`` takes: the full query endpoint."""
        return self.server.url + QUERY_PATH

    def _query(self, body: bytes) -> tuple[int, bytes, str]:
        try:
            query = json.loads(body)
            package = query["package"]
            name, ecosystem, version = package["name"], package["ecosystem"], query["version"]
            if not all(isinstance(v, str) for v in (name, ecosystem, version)):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            # The real API answers malformed queries with a gRPC-style INVALID_ARGUMENT.
            error = {"code": 3, "message": "Invalid query."}
            return 400, json.dumps(error).encode(), "application/json"
        self.queries.append(query)
        vulns = [
            r
            for r in self.records
            if ecosystem == "PyPI" and affects(r, canonicalize_name(name), version)
        ]
        # No match is an empty object, not an empty list (as the real API answers).
        answer = {"vulns": vulns} if vulns else {}
        return 200, json.dumps(answer).encode(), "application/json"
