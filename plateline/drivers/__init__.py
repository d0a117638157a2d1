"""Device drivers: registers, bytes and frames, nothing of trays or orders.

- ``tagmap``: Modbus tag maps (TOML), validated; ``modbus``: tag-level Modbus TCP client;
- ``supervisor``: keeps one connection up (backoff, state, observers);
- ``serialport``: async serial transport; ``codereader``: LON/LOFF code readers;
- ``camera`` and ``camera_http`` / ``camera_opencv`` / ``camera_files``: frame grabbers;
- ``registry``: driver name from the configuration -> class, imported lazily.
"""
