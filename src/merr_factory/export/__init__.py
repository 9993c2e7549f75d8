"""The export formats, one module each; ``writer.write_export`` writes them all."""
