"""What an inspector reads off scores: connected regions above a threshold and the verdict."""
