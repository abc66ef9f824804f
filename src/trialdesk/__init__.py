"""trialdesk: run a randomized multicenter clinical trial from registry record to posted results."""

__version__ = "0.1.0"
