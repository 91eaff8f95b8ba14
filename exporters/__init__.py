"""jiancha."""
