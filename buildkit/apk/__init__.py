"""APK formats as apk-tools, apko and melange speak them: versions, atoms, indexes, packages."""
