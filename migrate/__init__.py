"""hdh-migrate: plan and execute the move of a health-data platform to a sovereign S3 cloud.

Kept light on purpose: importing a leaf module never loads the CLI or an SDK.
"""

__version__ = "0.1.0"
