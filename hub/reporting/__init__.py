"""Figures read from the store for the auditors' report and ``lgsp run``'s summary.

figures.py    the public-service figures: online, on time, synced to the portal, how fast it acknowledges
once_only.py  what the citizens were spared: the fields prefill would fill for their dossiers
"""
