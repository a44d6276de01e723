"""Files in and out: atomic writes, pictures with their metadata, camera RAW and DNG."""
