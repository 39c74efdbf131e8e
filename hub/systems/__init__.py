"""Systems as data: the declarations under ``config/systems`` loaded, checked and compiled."""
