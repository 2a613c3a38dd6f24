"""Security scanning of locked packages and SBOMs against APK security databases.

- :mod:`buildkit.secdb` (pure): the database formats.
- :mod:`match` (pure): installed packages x databases -> findings, with exact apk versions.
- :mod:`ignore` (pure): the ignore file, expiry, OpenVEX export.
- :mod:`report` (pure): the report model, JSON and SARIF.
- :mod:`sbom` (pure): APK packages from an SPDX JSON SBOM.
- :mod:`sources` (I/O): database config and fetching, lockfile packages and their metadata.
- :mod:`usecase`: ``scan_project``, the ids lock updates fix, ``outdated``.
"""
