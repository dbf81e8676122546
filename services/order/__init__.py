"""The order context: customers' orders, served as shop.order.v1."""
