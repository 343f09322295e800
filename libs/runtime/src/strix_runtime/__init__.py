"""Process plumbing shared by Strix services."""
