"""The PBX administrator's kit: ``pacedial pbx render`` and ``pacedial pbx check``."""
