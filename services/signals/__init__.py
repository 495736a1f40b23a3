"""The signals service: the public signal check and the anonymous tip line (issue 17). Holds no case data."""
