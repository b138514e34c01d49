"""The deployment topology (one definition for compose and the process stack) and the process stack."""
