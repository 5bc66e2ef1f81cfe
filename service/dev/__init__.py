"""Development mode only: the embedded demo shop, its Liquid environment and the /demo page."""
