"""A UDF import placed in its worker's import folder without copying the staged bytes.

A 1 GB model staged once must not be written again on a function's first call. The import is a
hard link to the staged file when both sit on one file system (the home's stages/ and udf/
folders normally do), else a copy (EXDEV across devices, or a file system without links).

Why a link cannot change the stage: the link is the same inode as the stage file, and uploads
make every stage file read-only (0444, localsnow.stage_upload), so a worker opening its import
for writing gets EACCES (unless it runs as root, or chmods the file back on purpose). In
Snowflake a handler "can read staged files specified in the IMPORTS clause" and writes only to /tmp
(https://docs.snowflake.com/en/developer-guide/udf-stored-procedure-security-practices).
The stage never writes a stored file in place either: a re-upload renames a new inode over the
name (rename(2)) and REMOVE unlinks the name, so an import folder keeps the bytes it linked.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
from pathlib import Path

from localsnow.stage_upload import READ_ONLY

logger = logging.getLogger("localsnow.stage_links")

LINKED, COPIED = "linked", "copied"
# link(2) fails so where linking cannot work, and a copy is the answer: other file system
# (EXDEV), no hard links there (EPERM, EOPNOTSUPP: e.g. some FUSE/SMB mounts), link count (EMLINK).
_COPY_INSTEAD = {errno.EXDEV, errno.EPERM, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOTSUP}


def place_read_only(source: Path, target: Path) -> str:
    """Make `target` a read-only view of the staged file `source`; LINKED or COPIED."""
    try:
        os.chmod(source, READ_ONLY)  # files stored before uploads were made read-only
        os.link(source, target)
        how = LINKED
    except OSError as error:
        if error.errno not in _COPY_INSTEAD:
            raise
        logger.info("import %s copied, not linked (%s)", source.name, os.strerror(error.errno or 0))
        shutil.copyfile(source, target)
        how = COPIED
    os.chmod(target, READ_ONLY)
    return how
