"""The user context: customer accounts, served as shop.user.v1 and shop.user.v2."""
