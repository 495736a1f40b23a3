"""The legal service: the victim-status residence procedure and the criminal proceedings of a case."""
