"""Stand-alone tools handed to people outside the portal (no Django, no portal imports), importable by the portal
so that what they share with it is written once."""
