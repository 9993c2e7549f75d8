"""Reading media files with PyAV (ffmpeg ships inside its wheel: no system ffprobe needed)."""
